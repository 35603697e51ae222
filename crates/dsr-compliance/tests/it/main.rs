//! Integration tests of dsr-compliance: one binary, one module per area.
//!
//! The base of most cases is `examples/compliance/compliant.toml`, on which every rule
//! passes (the one note rule reports information); a case edits it (set or delete a key
//! path) and states the exact outcome of every rule that changes. Every other rule must
//! still pass.

mod config;
mod coverage;
mod docs;
mod reports;
mod rules;
mod server;
mod tenant;
mod waivers;

use chrono::NaiveDate;
use dsr_compliance::{
    CatalogVersion, Config, EVERY_TENANT_SECTIONS, Report, Status, Waivers, catalog, evaluate,
};
use std::collections::BTreeMap;

/// The compliant example, shipped with the project.
pub const COMPLIANT: &str = include_str!("../../../../examples/compliance/compliant.toml");
/// The example with typical mistakes.
pub const MISTAKES: &str = include_str!("../../../../examples/compliance/mistakes.toml");
/// The example waiver file.
pub const WAIVERS: &str = include_str!("../../../../examples/compliance/waivers.toml");

/// The evaluation date the examples are written for.
pub fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

/// A date from `YYYY-MM-DD`.
pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// An edit of a configuration: set a key path to a TOML value, or delete it.
#[derive(Debug, Clone, Copy)]
pub enum Edit {
    /// Set the key path (e.g. `api.tokens[0].rotated`) to a TOML value (`2026-01-01`,
    /// `"sso"`, `[]`), creating tables on the way.
    Set(&'static str, &'static str),
    /// Delete the key path.
    Del(&'static str),
}
pub use Edit::{Del, Set};

fn segments(path: &str) -> Vec<(String, Option<usize>)> {
    path.split('.')
        .map(|s| match s.split_once('[') {
            Some((n, i)) => (n.to_owned(), Some(i.trim_end_matches(']').parse().unwrap())),
            None => (s.to_owned(), None),
        })
        .collect()
}

fn step<'a>(
    v: &'a mut toml::Value,
    (name, index): &(String, Option<usize>),
    create: bool,
) -> &'a mut toml::Value {
    let table = v
        .as_table_mut()
        .unwrap_or_else(|| panic!("{name}: parent is not a table"));
    if create && !table.contains_key(name) {
        table.insert(name.clone(), toml::Value::Table(Default::default()));
    }
    let child = table
        .get_mut(name)
        .unwrap_or_else(|| panic!("no key {name}"));
    match index {
        Some(i) => child
            .as_array_mut()
            .unwrap_or_else(|| panic!("{name} is not an array"))
            .get_mut(*i)
            .unwrap_or_else(|| panic!("{name}[{i}] missing")),
        None => child,
    }
}

/// Applies edits to TOML text and returns the new text.
pub fn edited(base: &str, edits: &[Edit]) -> String {
    let mut doc: toml::Value = toml::from_str(base).unwrap();
    for e in edits {
        match *e {
            Set(path, value) => {
                let segs = segments(path);
                let (last, parents) = segs.split_last().unwrap();
                let mut cur = &mut doc;
                for s in parents {
                    cur = step(cur, s, true);
                }
                let parsed: toml::Table = toml::from_str(&format!("v = {value}"))
                    .unwrap_or_else(|e| panic!("bad value {value}: {e}"));
                let value = parsed["v"].clone();
                match last.1 {
                    None => {
                        cur.as_table_mut().unwrap().insert(last.0.clone(), value);
                    }
                    Some(_) => *step(cur, last, false) = value,
                }
            }
            Del(path) => {
                let segs = segments(path);
                let (last, parents) = segs.split_last().unwrap();
                let mut cur = &mut doc;
                for s in parents {
                    cur = step(cur, s, false);
                }
                let removed = cur.as_table_mut().unwrap().remove(&last.0);
                assert!(removed.is_some(), "Del({path}): no such key");
            }
        }
    }
    toml::to_string(&doc).unwrap()
}

/// Evaluates TOML text without waivers on [`today`].
pub fn report_of(text: &str) -> Report {
    let config =
        Config::from_toml(text).unwrap_or_else(|e| panic!("config does not parse: {e}\n{text}"));
    evaluate(&config, &Waivers::none(), today()).unwrap()
}

/// Every rule's status.
pub fn statuses(report: &Report) -> BTreeMap<&'static str, Status> {
    report
        .findings
        .iter()
        .map(|f| (f.rule.id(), f.status))
        .collect()
}

/// The rules of the current catalog.
pub fn rules() -> impl Iterator<Item = &'static dsr_compliance::Rule> {
    CatalogVersion::current().rules()
}

/// Asserts the exact status of every rule: those listed as given, every other one
/// `Pass` (`Info` for a note) — except rules of areas whose section the edits deleted,
/// which are `NotApplicable` for a product and `Fail` ("not stated") for an every-tenant
/// or regime section, unless listed.
pub fn assert_outcomes(report: &Report, deleted_sections: &[&str], expected: &[(&str, Status)]) {
    for (id, _) in expected {
        assert!(
            dsr_compliance::find_rule(id).is_some(),
            "unknown rule {id} in expectations"
        );
    }
    let mut want: BTreeMap<&str, Status> = BTreeMap::new();
    for r in rules() {
        let section = r.area().section();
        let default = if r.is_note() {
            Status::Info
        } else if deleted_sections.contains(&section) {
            if EVERY_TENANT_SECTIONS.contains(&section) || section == "hipaa" || section == "hds" {
                Status::Fail
            } else {
                Status::NotApplicable
            }
        } else {
            Status::Pass
        };
        want.insert(r.id(), default);
    }
    for (id, s) in expected {
        want.insert(id, *s);
    }
    let got = statuses(report);
    let diff: Vec<String> = want
        .iter()
        .filter(|(id, s)| got.get(*id) != Some(*s))
        .map(|(id, s)| {
            format!(
                "{id}: want {s}, got {} ({})",
                got[id],
                report.finding(id).unwrap().message
            )
        })
        .collect();
    assert!(
        diff.is_empty(),
        "unexpected outcomes:\n  {}",
        diff.join("\n  ")
    );
}

/// Top-level sections deleted by the edits.
pub fn deleted_sections(edits: &[Edit]) -> Vec<&'static str> {
    edits
        .iter()
        .filter_map(|e| match e {
            Del(p) if !p.contains(['.', '[']) => Some(*p),
            _ => None,
        })
        .collect()
}

/// Edits the compliant example and asserts the exact outcomes.
pub fn check(edits: &[Edit], expected: &[(&str, Status)]) -> Report {
    let report = report_of(&edited(COMPLIANT, edits));
    assert_outcomes(&report, &deleted_sections(edits), expected);
    report
}
