//! The shapes of every `--json` output (field names and value types, not values),
//! snapshotted: a change to the output shows up in review as a change to
//! `tests/e2e/snapshots/`. Update with `INSTA_UPDATE=always cargo test --test e2e shapes`
//! (or `cargo insta review`).

use crate::harness::{Dsr, repo_file};
use serde_json::{Map, Value};

/// Field names and value types: scalars become their type's name, an array the shape of
/// its first element.
fn shape(v: &Value) -> Value {
    match v {
        Value::Null => Value::String("null".into()),
        Value::Bool(_) => Value::String("bool".into()),
        Value::Number(_) => Value::String("number".into()),
        Value::String(_) => Value::String("string".into()),
        Value::Array(a) => Value::Array(a.first().map(shape).into_iter().collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), shape(v)))
                .collect::<Map<String, Value>>(),
        ),
    }
}

#[test]
fn json_outputs_keep_their_shape() {
    let d = Dsr::new();
    d.ok(&["tenant", "create", "--region", "FR"]);
    d.ok(&["import", &crate::harness::sample()]);
    // One line with a warning (a national number without region) and one bad line, so
    // the shapes of both lists are in the snapshot.
    let f = d.file(
        "more.jsonl",
        "{\"type\":\"external_contact\",\"id\":\"c-77\",\"phones\":[\"123\"],\"custom\":{\"n\":1}}\n{\"type\":\"alien\",\"id\":\"x\"}\n",
    );
    let out = d.run(&["import", &f, "--json"]);
    let import: Value = serde_json::from_slice(&out.stdout).unwrap();
    insta::assert_json_snapshot!("import", shape(&import));
    insta::assert_json_snapshot!(
        "subjects",
        shape(&d.json(&["subjects", "email:jean.dupont@example.fr"]))
    );
    insta::assert_json_snapshot!(
        "subjects_correlation",
        shape(&d.json(&[
            "subjects",
            "--term",
            "name:Jean Dupont",
            "--term",
            "email:jean.dupont@example.fr"
        ]))
    );
    insta::assert_json_snapshot!("subjects_list", shape(&d.json(&["subjects", "list"])));
    insta::assert_json_snapshot!(
        "normalize",
        shape(&d.json(&["normalize", "06 12 34 56 78"]))
    );
    insta::assert_json_snapshot!("tenant_show", shape(&d.json(&["tenant", "show"])));
    insta::assert_json_snapshot!("tenant_list", shape(&d.json(&["tenant", "list"])));
    let created = d.json(&["request", "create", "--type", "export", "--id", "c-1005"]);
    insta::assert_json_snapshot!("request_create", shape(&created));
    let id = created["id"].as_str().unwrap().to_owned();
    insta::assert_json_snapshot!("worker", shape(&d.json(&["worker", "--until-idle"])));
    insta::assert_json_snapshot!("request_show", shape(&d.json(&["request", "show", &id])));
    insta::assert_json_snapshot!("request_list", shape(&d.json(&["request", "list"])));
    let pkg = d.path().join("p.json").display().to_string();
    insta::assert_json_snapshot!(
        "request_download",
        shape(&d.json(&["request", "download", &id, "--out", &pkg]))
    );
    insta::assert_json_snapshot!("verify", shape(&d.json(&["verify", &pkg])));
    let unpacked = d.path().join("unpacked").display().to_string();
    insta::assert_json_snapshot!(
        "package_unpack",
        shape(&d.json(&["package", "unpack", &pkg, &unpacked]))
    );
    insta::assert_json_snapshot!("services", shape(&d.json(&["services"])));
    insta::assert_json_snapshot!("audit_verify", shape(&d.json(&["audit", "verify"])));
    let rules = d.json(&[
        "compliance",
        "check",
        &repo_file("examples/compliance/compliant.toml"),
    ]);
    insta::assert_json_snapshot!("compliance_check", shape(&rules));
}
