//! HIPAA / HDS minimum security configuration checks for a "health-enabled" tenant.
//!
//! A health-enabled account must meet a vendor's minimum security configurations before
//! protected health information (PHI) enters it (requirements `Z-…`, seed 001), and a
//! contact-center platform adds its own HIPAA conditions (requirements `H-…`, seed 002).
//! This crate turns those documents into a checkable catalog:
//!
//! * [`Config`] — a vendor-neutral description of the tenant's settings, read from TOML
//!   or JSON ([`Config::from_toml`], [`Config::from_json`]). The areas that hold for
//!   every health-enabled tenant ([`EVERY_TENANT_SECTIONS`]) fail as "not stated" when
//!   absent; `tenant.regime` decides the HIPAA and HDS rules; any other section is a
//!   product, *not applicable* when absent and not listed in `tenant.products` — never
//!   "compliant". A value a rule needs but the section leaves out is an
//!   [`Status::Error`], never a pass.
//! * [`catalog()`] — one [`Rule`] per checkable configuration, versioned
//!   ([`CatalogVersion`], with a change log mapped to the source's dated change log;
//!   [`evaluate_catalog`] reproduces an earlier version's report), each with a stable id,
//!   the requirement tags it implements, its source document and dated version, the
//!   legal reference where one exists, a severity and remediation text.
//! * [`Waivers`] — the subscriber may forgo a configuration and accept responsibility;
//!   the waiver is recorded (who, when, why, until when) and the rule is still
//!   evaluated and reported as [`Status::Waived`]. An expired waiver is a failure again.
//! * [`evaluate`] → [`Report`], rendered as a terminal table ([`Report::to_text`]),
//!   JSON ([`Report::to_json`]) or SARIF 2.1.0 ([`Report::to_sarif`]).
//! * [`ServerSettings`] — the engine's own HTTP server checks its settings against the
//!   same rules when it runs in HIPAA mode (dogfooding).
//!
//! The key design decision: **the crate is pure.** Parsing takes `&str`, and "today"
//! (for waiver expiry and credential age) is a parameter, so every outcome is a function
//! of its inputs and the tests are deterministic. Reading files, the clock and the exit
//! status belong to the binary (`dsr compliance`).
//!
//! ```
//! use dsr_compliance::{evaluate, Config, Status, Waivers};
//! let config = Config::from_toml(r#"
//!     [transport]
//!     tls_enforced = true
//! "#).unwrap();
//! let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
//! let report = evaluate(&config, &Waivers::none(), today).unwrap();
//! assert_eq!(report.finding("transport.tls").unwrap().status, Status::Pass);
//! // A product whose section is absent is not applicable, not compliant:
//! assert_eq!(report.finding("mobile.screen-lock").unwrap().status, Status::NotApplicable);
//! // What holds for every tenant fails when not stated:
//! assert_eq!(report.finding("workstations.inactivity-lock").unwrap().status, Status::Fail);
//! ```

#![warn(missing_docs)]

mod checks;
mod config;
mod date;
mod error;
mod evaluate;
mod params;
mod report;
mod rules;
mod server;
mod waiver;

pub use config::*;
pub use date::Date;
pub use error::{Error, Result};
pub use evaluate::{
    Evidence, Finding, ProductUse, RegimeUse, Report, Status, Summary, WaiverState, WaiverUse,
    evaluate, evaluate_catalog,
};
pub use params::{ParameterOverrides, Parameters};
pub use report::SarifOptions;
pub use rules::{
    Area, CATALOG_VERSION, CATALOG_VERSIONS, CatalogVersion, DsrRecommendation, Rule,
    SOURCE_CHANGE_LOG, Severity, SourceDocument, SourceRef, catalog, catalog_json, find_rule,
    rule_or_error,
};
pub use server::ServerSettings;
pub use waiver::{Expiry, Waiver, Waivers};
