//! Rendering a [`Report`]: a terminal table, JSON, SARIF 2.1.0.
//!
//! Rendering is pure (it returns strings and JSON values) so a host application — the
//! HTTP server, a CI plug-in — renders exactly what the CLI prints.

use crate::evaluate::{Finding, Report, Status, WaiverState};
use crate::rules::{Area, Rule, Severity, catalog};
use crate::waiver::Expiry;
use serde_json::{Map, Value, json};
use std::fmt::Write as _;

/// The SARIF schema the output follows.
pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
/// The SARIF version the output follows.
pub const SARIF_VERSION: &str = "2.1.0";

const TOOL_NAME: &str = "dsr-compliance";
const TOOL_URI: &str = env!("CARGO_PKG_REPOSITORY");

/// Options for [`Report::to_sarif`].
#[derive(Debug, Clone, Default)]
pub struct SarifOptions<'a> {
    /// The configuration file's URI (e.g. its path relative to the repository root), so
    /// code-scanning dashboards can attach results to it.
    pub artifact_uri: Option<&'a str>,
    /// The configuration's text, to point results at the line of the deciding key
    /// (TOML only).
    pub source_text: Option<&'a str>,
}

fn label(s: Status) -> &'static str {
    match s {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::NotApplicable => "N/A",
        Status::Waived => "WAIVED",
        Status::Error => "ERROR",
        Status::Info => "INFO",
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

fn short_evidence(f: &Finding) -> String {
    f.evidence
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The areas in catalog order, each once.
fn areas() -> Vec<Area> {
    let mut out: Vec<Area> = Vec::new();
    for r in catalog() {
        if !out.contains(&r.area()) {
            out.push(r.area());
        }
    }
    out
}

fn waiver_json(f: &Finding) -> Value {
    match &f.waiver {
        None => Value::Null,
        Some(u) => json!({
            "index": u.waiver.index,
            "state": u.state,
            "justification": u.waiver.justification,
            "accepted_by": u.waiver.accepted_by,
            "accepted_at": u.waiver.accepted_at,
            "expires": match u.waiver.expiry { Expiry::On(d) => Value::String(d.to_string()), Expiry::Permanent => Value::Null },
            "permanent": matches!(u.waiver.expiry, Expiry::Permanent),
            "reference": u.waiver.reference,
        }),
    }
}

impl Report {
    /// A terminal report: one line per rule grouped by product area, then the details of
    /// every failure, error and waiver, then a summary line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let tenant = self
            .tenant
            .as_deref()
            .map(|t| format!(" — {t}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "HIPAA / HDS configuration check{tenant} — as of {} — catalog {}",
            self.as_of, self.catalog.version
        );
        if self.as_of_from_config {
            let age = (self.run_on - self.as_of).num_days();
            let _ = writeln!(
                out,
                "The configuration describes the tenant as of {} (tenant.as_of){}",
                self.as_of,
                if age > 0 {
                    format!(
                        "; the check ran {age} days later, so re-export it to check the tenant as it is today"
                    )
                } else {
                    String::new()
                }
            );
        }
        let _ = writeln!(out, "Regime: {}", self.regime.why);
        let used: Vec<String> = self
            .products
            .iter()
            .filter(|p| p.in_use)
            .map(|p| format!("{} ({})", p.product, p.why))
            .collect();
        let _ = writeln!(
            out,
            "Products in use: {}",
            if used.is_empty() {
                "none besides the every-tenant areas".to_owned()
            } else {
                used.join("; ")
            }
        );
        let unused: Vec<String> = self
            .products
            .iter()
            .filter(|p| !p.in_use)
            .map(|p| p.product.to_string())
            .collect();
        if !unused.is_empty() {
            let _ = writeln!(
                out,
                "Not used (section absent, not in tenant.products): {}",
                unused.join(", ")
            );
        }
        let id_w = self
            .findings
            .iter()
            .map(|f| f.rule.id().len())
            .max()
            .unwrap_or(0);
        for area in areas() {
            let rows: Vec<&Finding> = self
                .findings
                .iter()
                .filter(|f| f.rule.area() == area)
                .collect();
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n{} [{}]", area.title(), area.section());
            for f in rows {
                let detail = match f.status {
                    Status::Pass | Status::NotApplicable => clip(&short_evidence(f), 60),
                    _ => clip(&f.message, 60),
                };
                let detail = if f.recommendation.is_some() {
                    format!("[dsr recommendation] {detail}")
                } else {
                    detail
                };
                let _ = writeln!(
                    out,
                    "  {:<6}  {:<id_w$}  {:<52}  {}",
                    label(f.status),
                    f.rule.id(),
                    clip(f.rule.title(), 52),
                    detail
                );
            }
        }
        let blocking: Vec<&Finding> = self.blocking().collect();
        if !blocking.is_empty() {
            let _ = writeln!(out, "\nFailures and errors");
            for f in blocking {
                let r = f.rule;
                let _ = writeln!(
                    out,
                    "  {} {} ({}; source refs {})",
                    label(f.status),
                    r.id(),
                    r.severity(),
                    r.tags().join(", ")
                );
                let _ = writeln!(out, "    {}", f.message);
                if let Some(rec) = &f.recommendation {
                    let _ = writeln!(out, "    {rec}");
                }
                let _ = writeln!(out, "    evidence: {}", short_evidence(f));
                let _ = writeln!(out, "    fix: {}", r.remediation());
                if let Some(l) = r.legal() {
                    let _ = writeln!(out, "    legal: {l}");
                }
            }
        }
        let waived: Vec<&Finding> = self
            .findings
            .iter()
            .filter(|f| f.waiver.is_some())
            .collect();
        if !waived.is_empty() {
            let _ = writeln!(out, "\nWaivers");
            for f in waived {
                let Some(u) = &f.waiver else { continue };
                let state = match u.state {
                    WaiverState::Applied => "applied",
                    WaiverState::Expired => "EXPIRED",
                    WaiverState::NotYetInForce => "not yet in force",
                    WaiverState::NotNeeded => "not needed (rule passes or does not apply)",
                };
                let _ = writeln!(
                    out,
                    "  {} — {state}; accepted by {} on {}, {}: {}",
                    f.rule.id(),
                    u.waiver.accepted_by,
                    u.waiver.accepted_at,
                    u.waiver.expiry,
                    u.waiver.justification
                );
            }
        }
        let verdict = if self.passed() { "PASSED" } else { "FAILED" };
        let _ = writeln!(out, "\n{} — {verdict}", self.summary());
        out
    }

    /// The JSON report (documented in `docs/compliance.md`).
    pub fn to_json(&self) -> Value {
        json!({
            "tool": { "name": TOOL_NAME, "version": env!("CARGO_PKG_VERSION"), "catalog_version": self.catalog.version },
            "tenant": self.tenant,
            "as_of": self.as_of.format("%Y-%m-%d").to_string(),
            "as_of_from": if self.as_of_from_config { "tenant.as_of" } else { "run" },
            "run_on": self.run_on.format("%Y-%m-%d").to_string(),
            "regime": self.regime,
            "products": self.products,
            "passed": self.passed(),
            "summary": self.summary(),
            "parameters": self.parameters,
            "findings": self.findings.iter().map(|f| json!({
                "rule": f.rule.id(),
                "title": f.rule.title(),
                "area": f.rule.area().section(),
                "severity": f.rule.severity().as_str(),
                "tags": f.rule.tags(),
                "source": { "document": f.rule.source().document.title, "version": f.rule.source().document.version, "section": f.rule.source().section },
                "kind": if f.rule.is_note_in(self.catalog) { "information" } else { "requirement" },
                "recommendation": f.recommendation,
                "status": f.status,
                "evaluated": f.evaluated,
                "message": f.message,
                "evidence": f.evidence,
                "location": f.location(),
                "legal": f.rule.legal(),
                "remediation": f.rule.remediation(),
                "waiver": waiver_json(f),
            })).collect::<Vec<_>>(),
        })
    }

    /// A SARIF 2.1.0 log with one run: every catalog rule as a reporting descriptor and
    /// every finding as a result (kind `pass`, `fail` or `notApplicable`). Waived
    /// results carry an accepted external suppression with the justification.
    pub fn to_sarif(&self, options: &SarifOptions<'_>) -> Value {
        let rules_of: Vec<&Rule> = self.catalog.rules().collect();
        let rules: Vec<Value> = rules_of.iter().map(|r| sarif_rule(r)).collect();
        let results: Vec<Value> = self
            .findings
            .iter()
            .map(|f| {
                let index = rules_of
                    .iter()
                    .position(|r| r.id() == f.rule.id())
                    .unwrap_or(0);
                sarif_result(f, index, options)
            })
            .collect();
        let mut run = Map::new();
        run.insert(
            "tool".into(),
            json!({ "driver": {
                "name": TOOL_NAME,
                // The rules are what a result depends on, so the driver's version is
                // the catalog's; the program's own version is a property.
                "version": self.catalog.version,
                "semanticVersion": self.catalog.version,
                "informationUri": TOOL_URI,
                "rules": rules,
                "properties": { "catalogVersion": self.catalog.version, "toolVersion": env!("CARGO_PKG_VERSION") },
            }}),
        );
        if let Some(uri) = options.artifact_uri {
            run.insert("artifacts".into(), json!([{ "location": { "uri": uri } }]));
        }
        run.insert("results".into(), Value::Array(results));
        run.insert(
            "invocations".into(),
            json!([{ "executionSuccessful": true, "properties": { "asOf": self.as_of.format("%Y-%m-%d").to_string(), "passed": self.passed() } }]),
        );
        run.insert(
            "properties".into(),
            json!({ "tenant": self.tenant, "summary": self.summary(), "regime": self.regime, "products": self.products }),
        );
        json!({ "$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [Value::Object(run)] })
    }
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub code scanning reads `security-severity` (0–10) to rank security alerts.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

fn sarif_rule(r: &Rule) -> Value {
    let mut tags: Vec<String> = r.tags().iter().map(|t| (*t).to_owned()).collect();
    tags.push("security".into());
    tags.push(format!("area:{}", r.area().section()));
    let full = format!(
        "{} Applies: {}. Source: {}.{}",
        r.requirement(),
        r.applies(),
        r.source(),
        r.legal()
            .map(|l| format!(" Legal: {l}."))
            .unwrap_or_default()
    );
    let help_md = format!(
        "**{}**\n\n{}\n\n*Passes when:* {}\n\n*Applies:* {}\n\n*Requirements:* {}\n\n*Source:* {}{}",
        r.title(),
        r.remediation(),
        r.requirement(),
        r.applies(),
        r.tags().join(", "),
        r.source(),
        r.legal()
            .map(|l| format!("\n\n*Legal:* {l}"))
            .unwrap_or_default()
    );
    json!({
        "id": r.id(),
        "name": camel(r.id()),
        "shortDescription": { "text": r.title() },
        "fullDescription": { "text": full },
        "help": { "text": r.remediation(), "markdown": help_md },
        "defaultConfiguration": { "level": sarif_level(r.severity()) },
        "properties": {
            "tags": tags,
            "severity": r.severity().as_str(),
            "security-severity": security_severity(r.severity()),
            "requirements": r.tags(),
            "legal": r.legal(),
            "source": { "document": r.source().document.title, "version": r.source().document.version, "section": r.source().section },
        },
    })
}

/// `view-permissions.agent-scope` → `ViewPermissionsAgentScope` (SARIF `name` is an
/// identifier-like string).
fn camel(id: &str) -> String {
    id.split(['.', '-', '_'])
        .filter(|s| !s.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn sarif_result(f: &Finding, index: usize, options: &SarifOptions<'_>) -> Value {
    let (kind, level) = match f.status {
        Status::Pass => ("pass", "none"),
        Status::NotApplicable => ("notApplicable", "none"),
        Status::Info => ("informational", "none"),
        Status::Fail | Status::Error | Status::Waived => ("fail", sarif_level(f.rule.severity())),
    };
    let text = format!("{}: {}", f.rule.title(), f.message);
    let location_key = f.location().to_owned();
    let mut location = Map::new();
    if let Some(uri) = options.artifact_uri {
        let mut phys = Map::new();
        phys.insert("artifactLocation".into(), json!({ "uri": uri, "index": 0 }));
        if let Some(line) = options
            .source_text
            .and_then(|t| locate_toml_key(t, &location_key))
        {
            phys.insert("region".into(), json!({ "startLine": line }));
        }
        location.insert("physicalLocation".into(), Value::Object(phys));
    }
    location.insert(
        "logicalLocations".into(),
        json!([{ "fullyQualifiedName": location_key, "kind": "member" }]),
    );
    let mut result = Map::new();
    result.insert("ruleId".into(), json!(f.rule.id()));
    result.insert("ruleIndex".into(), json!(index));
    result.insert("kind".into(), json!(kind));
    result.insert("level".into(), json!(level));
    result.insert("message".into(), json!({ "text": text }));
    result.insert("locations".into(), json!([Value::Object(location)]));
    result.insert(
        "properties".into(),
        json!({ "status": f.status, "evaluated": f.evaluated, "evidence": f.evidence, "tags": f.rule.tags(), "recommendation": f.recommendation }),
    );
    if let (Status::Waived, Some(u)) = (f.status, &f.waiver) {
        result.insert(
            "suppressions".into(),
            json!([{
                "kind": "external",
                "status": "accepted",
                "justification": u.waiver.justification,
                "properties": {
                    "acceptedBy": u.waiver.accepted_by,
                    "acceptedAt": u.waiver.accepted_at,
                    "expires": match u.waiver.expiry { Expiry::On(d) => Value::String(d.to_string()), Expiry::Permanent => Value::Null },
                    "permanent": matches!(u.waiver.expiry, Expiry::Permanent),
                    "reference": u.waiver.reference,
                },
            }]),
        );
    }
    Value::Object(result)
}

/// The 1-based line of a key path such as `api.tokens[1].created` in TOML text, by a
/// line scan of table headers and keys; `None` when it cannot tell (inline tables,
/// dotted keys, a key that is not written).
pub(crate) fn locate_toml_key(text: &str, path: &str) -> Option<usize> {
    // Split "a.b[2].c" into (table path with array indices, last key).
    let segments: Vec<&str> = path.split('.').collect();
    let (last, tables) = segments.split_last()?;
    let want_table: Vec<(String, Option<usize>)> = tables.iter().map(|s| split_index(s)).collect();
    let (last_name, _) = split_index(last);
    let mut current: Vec<(String, Option<usize>)> = Vec::new();
    let mut counters: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut section_line = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(h) = line.strip_prefix("[[").and_then(|l| l.split("]]").next()) {
            let name = h.trim().to_owned();
            let n = counters
                .entry(name.clone())
                .and_modify(|c| *c += 1)
                .or_insert(0);
            current = header_path(&name, Some(*n));
        } else if let Some(h) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            current = header_path(h.trim(), None);
        } else {
            if current == want_table {
                let key = line.split('=').next().map(str::trim).unwrap_or("");
                if !line.starts_with('#') && line.contains('=') && key == last_name {
                    return Some(i + 1);
                }
            }
            continue;
        }
        if current == want_table && section_line.is_none() {
            section_line = Some(i + 1);
        }
        // A path that names a whole table (e.g. "transport" or "api.tokens[0]").
        let mut whole = want_table.clone();
        whole.push(split_index(last));
        if current == whole {
            return Some(i + 1);
        }
    }
    section_line
}

fn split_index(seg: &str) -> (String, Option<usize>) {
    match seg.split_once('[') {
        Some((name, rest)) => (name.to_owned(), rest.trim_end_matches(']').parse().ok()),
        None => (seg.to_owned(), None),
    }
}

/// `[api.tokens]` as the n-th array element → `[("api", None), ("tokens", Some(n))]`.
fn header_path(header: &str, index: Option<usize>) -> Vec<(String, Option<usize>)> {
    let parts: Vec<&str> = header.split('.').map(str::trim).collect();
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| (p.to_owned(), if i + 1 == n { index } else { None }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[tenant]\nname = \"x\"\n\n[api]\npassword_access_enabled = false\n\n[[api.tokens]]\nname = \"a\"\ncreated = 2026-01-01\n\n[[api.tokens]]\nname = \"b\"\ncreated = 2026-01-02\n";

    #[test]
    fn locates_keys_tables_and_array_elements() {
        assert_eq!(
            locate_toml_key(TEXT, "api.password_access_enabled"),
            Some(5)
        );
        assert_eq!(locate_toml_key(TEXT, "api.tokens[1].created"), Some(13));
        assert_eq!(locate_toml_key(TEXT, "api.tokens[0].name"), Some(8));
        assert_eq!(locate_toml_key(TEXT, "tenant"), Some(1));
        // A key that is not written points at its table.
        assert_eq!(locate_toml_key(TEXT, "tenant.missing"), Some(1));
        assert_eq!(locate_toml_key(TEXT, "mobile.screen_lock_minutes"), None);
    }

    #[test]
    fn camel_case_names() {
        assert_eq!(
            camel("view-permissions.agent-scope"),
            "ViewPermissionsAgentScope"
        );
    }
}
