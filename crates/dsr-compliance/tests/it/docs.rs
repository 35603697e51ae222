//! `docs/compliance.md` stays in step with the code: it names every rule and every
//! configuration key.

use super::*;
use serde_json::Value;
use std::collections::BTreeSet;

const DOC: &str = include_str!("../../../../docs/compliance.md");

fn keys(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                out.insert(k.clone());
                keys(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

#[test]
fn the_reference_names_every_rule() {
    for r in catalog() {
        assert!(
            DOC.contains(&format!("| `{}` | {} |", r.id(), r.severity())),
            "docs/compliance.md lacks a catalog row for {}",
            r.id()
        );
    }
}

#[test]
fn the_reference_names_every_configuration_key() {
    // The compliant example has every section, and optional keys serialize as null, so
    // this walks every key of the model.
    let config = Config::from_toml(COMPLIANT).unwrap();
    let mut all = BTreeSet::new();
    keys(&serde_json::to_value(&config).unwrap(), &mut all);
    assert!(
        all.contains("custom_policy_at_least_recommended")
            && all.contains("survey_url_placeholder")
    );
    let described = |k: &String| {
        DOC.contains(&format!("`{k}`"))
            || DOC.contains(&format!("### `[{k}]`"))
            || DOC.contains(&format!("### `[[{k}]]`"))
    };
    let missing: Vec<&String> = all.iter().filter(|k| !described(k)).collect();
    assert!(
        missing.is_empty(),
        "docs/compliance.md does not describe: {missing:?}"
    );
}
