//! What an import does with data people really have: ids with stray white space, the
//! same id twice, large numbers, arrays, byte order marks, text that is not UTF-8.

use crate::harness::{Dsr, stderr, stdout};
use serde_json::Value;

fn import_json(d: &Dsr, content: &[u8]) -> (Option<i32>, Value, String) {
    let f = d.file("in.jsonl", content);
    let out = d.run(&["import", &f, "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", stdout(&out), stderr(&out)));
    (out.status.code(), v, stderr(&out))
}

fn errors(v: &Value) -> Vec<(u64, String)> {
    v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn ids_that_differ_only_by_white_space_are_one_id_and_the_second_line_is_refused() {
    let d = Dsr::new();
    let (code, v, _) = import_json(
        &d,
        b"{\"type\":\"external_contact\",\"id\":\"c-1\",\"name\":\"Anne First\"}\n{\"type\":\"external_contact\",\"id\":\" c-1\\t\",\"name\":\"Bob Second\"}\n",
    );
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["imported"], 1, "{v}");
    assert_eq!(v["created"], 1, "{v}");
    let e = errors(&v);
    assert_eq!(e.len(), 1, "{v}");
    assert_eq!(e[0].0, 2);
    assert!(
        e[0].1.contains("line 1"),
        "the error names the first line: {e:?}"
    );
    // The first record was not lost.
    let r = d.json(&["subjects", "name:Anne First"]);
    assert_eq!(r["matches"][0]["subject_id"], "c-1", "{r}");
    // White space around an id that lands is a warning, not silence.
    let (code, v, _) = import_json(
        &d,
        b"{\"type\":\"external_contact\",\"id\":\"  c-2 \",\"name\":\"Cleo\"}\n",
    );
    assert_eq!(code, Some(0), "{v}");
    assert!(v["warnings"].to_string().contains("white space"), "{v}");
}

#[test]
fn the_same_id_twice_in_one_file_is_reported_and_counted_once() {
    let d = Dsr::new();
    let (code, v, _) = import_json(
        &d,
        b"{\"type\":\"user\",\"id\":\"u-1\",\"name\":\"Ann Lee\"}\n{\"type\":\"user\",\"id\":\"u-2\",\"name\":\"Bo Lee\"}\n{\"type\":\"user\",\"id\":\"u-1\",\"name\":\"Ann Leigh\"}\n",
    );
    assert_eq!(code, Some(1));
    assert_eq!(
        (v["imported"].as_u64(), v["created"].as_u64()),
        (Some(2), Some(2)),
        "{v}"
    );
    assert_eq!(errors(&v)[0].0, 3, "{v}");
    assert_eq!(d.json(&["tenant", "show"])["subjects"], 2);
    // Text output says the same.
    let f = d.file(
        "again.jsonl",
        "{\"type\":\"user\",\"id\":\"u-9\"}\n{\"type\":\"user\",\"id\":\"u-9\"}\n",
    );
    let out = d.run(&["import", &f]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("imported 1 subject "),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("line 2: id u-9 was already given on line 1"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn large_integers_and_other_json_in_custom_keep_their_text() {
    let d = Dsr::new();
    let (code, v, _) = import_json(
        &d,
        br#"{"type":"external_contact","id":"c-1","custom":{"big":98765432109876543210,"exp":1.50e3,"flag":true,"nested":{"a":[1,2]},"text":"x"}}
"#,
    );
    assert_eq!(code, Some(0), "{v}");
    let list = d.json(&["subjects", "list"]);
    let custom = &list[0]["custom"];
    assert_eq!(custom["big"], "98765432109876543210", "{list}");
    assert_eq!(custom["exp"], "1.50e3");
    assert_eq!(custom["flag"], "true");
    assert_eq!(custom["nested"], r#"{"a":[1,2]}"#);
    assert_eq!(custom["text"], "x");
}

#[test]
fn a_byte_order_mark_is_skipped_and_an_array_line_is_refused_by_number() {
    let d = Dsr::new();
    let (code, v, _) = import_json(
        &d,
        b"\xef\xbb\xbf{\"type\":\"external_contact\",\"id\":\"c-1\",\"name\":\"Zoe\"}\n[\"external_contact\",\"c-2\",\"Eve\"]\n\"c-3\"\n",
    );
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["imported"], 1, "{v}");
    let e = errors(&v);
    assert_eq!(e.iter().map(|x| x.0).collect::<Vec<_>>(), [2, 3], "{v}");
    assert!(
        e[0].1.contains("expected a JSON object") && e[0].1.contains("an array"),
        "{e:?}"
    );
}

#[test]
fn an_import_error_carries_one_line_number() {
    let d = Dsr::new();
    let f = d.file(
        "in.jsonl",
        "{\"type\":\"user\",\"id\":\"u-1\"}\n{\"type\":\"user\",\"id\":\"u-2\",\"name\": }\n",
    );
    let out = d.run(&["import", &f]);
    let err = stderr(&out);
    let l = err
        .lines()
        .find(|l| l.starts_with("line 2:"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(!l.contains("at line"), "one line number only: {l}");
    assert!(l.contains("column"), "{l}");
}

#[test]
fn a_batch_file_with_a_bad_line_runs_every_other_line_and_skips_comments() {
    let d = Dsr::with_sample();
    let q = d.file(
        "q.txt",
        b"# terms for the audit\njean.dupont@example.fr\n\xff\xfe not utf-8\n  # an indented comment\nphone:+33 6 12 34 56 78\n".as_slice(),
    );
    let out = d.run(&["subjects", "--batch", &q, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the bad line shows in the status"
    );
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let nums: Vec<u64> = lines.iter().map(|l| l["line"].as_u64().unwrap()).collect();
    assert_eq!(nums, [2, 3, 5], "{lines:?}");
    assert!(
        lines[1]["error"].as_str().unwrap().contains("UTF-8"),
        "{lines:?}"
    );
    assert!(!lines[0]["result"]["matches"].as_array().unwrap().is_empty());
    assert!(!lines[2]["result"]["matches"].as_array().unwrap().is_empty());
}
