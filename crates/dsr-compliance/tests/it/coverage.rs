//! Every `Z-…` and `H-…` requirement is implemented by at least one rule, and every rule
//! names only requirements that exist.
//!
//! The requirement lines are a verbatim copy of the Z and H sections of the project's
//! requirements (`tests/data/requirements-z-h.md`), so the crate builds and tests
//! without the shared documents.

use super::*;
use std::collections::BTreeSet;

const REQUIREMENTS: &str = include_str!("../data/requirements-z-h.md");

/// Tags of requirement lines: `- Z-SUP-1 Agent …` → `Z-SUP-1`.
fn requirement_tags() -> BTreeSet<String> {
    REQUIREMENTS
        .lines()
        .filter_map(|l| l.strip_prefix("- "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|t| {
            (t.starts_with("Z-") || t.starts_with("H-"))
                && t.chars().last().is_some_and(|c| c.is_ascii_digit())
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_requirement_list_is_complete() {
    let tags = requirement_tags();
    // 11 SUP + 5 GUI + 9 MSG + 6 SUN + 2 CHT + 3 EXP + MOB + AI + QA + WFM + HDS, and H-1..H-7.
    assert_eq!(tags.len(), 11 + 5 + 9 + 6 + 2 + 3 + 5 + 7, "{tags:?}");
}

#[test]
fn every_requirement_tag_is_implemented_by_a_rule() {
    let implemented: BTreeSet<&str> = catalog()
        .iter()
        .flat_map(|r| r.tags().iter().copied())
        .collect();
    let missing: Vec<String> = requirement_tags()
        .into_iter()
        .filter(|t| !implemented.contains(t.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "requirements without a rule: {missing:?}"
    );
}

#[test]
fn every_rule_tag_is_a_requirement() {
    let tags = requirement_tags();
    for r in catalog() {
        assert!(!r.tags().is_empty(), "{} implements no requirement", r.id());
        for t in r.tags() {
            assert!(
                tags.contains(*t),
                "{} names unknown requirement {t}",
                r.id()
            );
        }
    }
}

#[test]
fn rule_metadata_is_complete_and_ids_follow_the_scheme() {
    let mut ids = BTreeSet::new();
    for r in catalog() {
        assert!(ids.insert(r.id()), "duplicate id {}", r.id());
        let (prefix, slug) = r
            .id()
            .split_once('.')
            .unwrap_or_else(|| panic!("{}: id must be <area>.<slug>", r.id()));
        assert_eq!(
            prefix,
            r.area().id_prefix(),
            "{}: prefix must be the area's section",
            r.id()
        );
        assert!(
            !slug.is_empty()
                && slug
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{}: slug must be kebab-case",
            r.id()
        );
        for (what, text) in [
            ("title", r.title()),
            ("applies", r.applies()),
            ("requirement", r.requirement()),
            ("remediation", r.remediation()),
            ("source section", r.source().section),
        ] {
            assert!(!text.trim().is_empty(), "{}: empty {what}", r.id());
        }
        assert!(!r.source().document.version.is_empty());
        if let Some(l) = r.legal() {
            assert!(
                l.starts_with("45 CFR 164.") || l.starts_with("GDPR"),
                "{}: legal reference {l}",
                r.id()
            );
        }
        // Rules from the help-desk document cite its dated version.
        if r.tags().iter().any(|t| t.starts_with("Z-")) && r.source().document.key == "seed-001" {
            assert!(r.source().document.version.starts_with("2025-01-24"));
        }
    }
}

#[test]
fn legal_references_named_by_the_issue_are_present() {
    let legal = |id: &str| dsr_compliance::find_rule(id).unwrap().legal().unwrap();
    assert_eq!(legal("sessions.idle-timeout"), "45 CFR 164.312(a)(2)(iii)");
    assert_eq!(legal("authentication.two-factor"), "45 CFR 164.312(d)");
    assert_eq!(legal("transport.tls"), "45 CFR 164.312(e)(1)");
}
