//! Reading configurations: unknown keys, wrong types and bad values name the key path.

use super::*;
use dsr_compliance::{Error, Parameters};

fn toml_err(text: &str) -> Error {
    Config::from_toml(text).expect_err("must not parse")
}

fn json_err(text: &str) -> Error {
    Config::from_json(text).expect_err("must not parse")
}

#[test]
fn wrong_type_names_the_key_and_what_is_expected() {
    let err = toml_err("[authentication]\nmethod = \"sso\"\ntwo_factor_enforced = \"yes\"\n");
    assert_eq!(err.path(), Some("authentication.two_factor_enforced"));
    assert_eq!(
        err.to_string(),
        "authentication.two_factor_enforced (line 3): invalid type: string \"yes\", expected a boolean"
    );
}

#[test]
fn unknown_key_names_the_key_and_the_accepted_ones() {
    let err = toml_err("[transport]\ntls = true\n");
    assert_eq!(err.path(), Some("transport.tls"));
    let msg = err.to_string();
    assert!(msg.starts_with("transport.tls (line 2): unknown field `tls`, expected one of `tls_enforced`, `custom_domain`, `hosted_ssl`"), "{msg}");
}

#[test]
fn unknown_section_is_an_error() {
    let err = toml_err("[telepathy]\nenabled = true\n");
    assert_eq!(err.path(), Some("telepathy"));
    assert!(
        err.to_string().contains("unknown field `telepathy`"),
        "{err}"
    );
}

#[test]
fn errors_inside_arrays_of_tables_name_the_element() {
    let err = toml_err(
        "[api]\n[[api.tokens]]\nname = \"Billing\"\nservice = \"billing\"\ncreated = 2026-01-01\n\n[[api.tokens]]\nname = \"Backup\"\nservice = \"backup\"\ncreated = \"soon\"\n",
    );
    assert_eq!(err.path(), Some("api.tokens[1].created"));
    assert!(
        err.to_string()
            .contains("`soon` is not a date: expected YYYY-MM-DD"),
        "{err}"
    );
}

#[test]
fn missing_required_key_of_a_list_item_names_the_item() {
    let err =
        toml_err("[[integrations]]\nname = \"Dialogflow\"\nkind = \"bot\"\ncarries_phi = true\n");
    assert_eq!(err.path(), Some("integrations[0]"));
    assert!(
        err.to_string().contains("missing field `baa_signed`"),
        "{err}"
    );
}

#[test]
fn enumerations_list_the_accepted_values() {
    let err = toml_err("[authentication]\nmethod = \"kerberos\"\n");
    assert_eq!(err.path(), Some("authentication.method"));
    assert!(
        err.to_string()
            .contains("unknown variant `kerberos`, expected `native` or `sso`"),
        "{err}"
    );
}

#[test]
fn negative_numbers_are_refused() {
    let err = toml_err("[sessions]\nidle_timeout_minutes = -5\n");
    assert_eq!(err.path(), Some("sessions.idle_timeout_minutes"));
}

#[test]
fn date_times_are_not_dates() {
    let err = toml_err("[hipaa]\nbaa_signed_on = 2026-01-05T10:00:00Z\n");
    assert_eq!(err.path(), Some("hipaa.baa_signed_on"));
    assert!(
        err.to_string()
            .contains("is a date-time or a time: expected a date YYYY-MM-DD"),
        "{err}"
    );
    // Quoted dates are accepted, and impossible dates refused.
    Config::from_toml("[hipaa]\nbaa_signed_on = \"2026-01-05\"\n").unwrap();
    let err = toml_err("[hipaa]\nbaa_signed_on = \"2026-02-30\"\n");
    assert!(err.to_string().contains("is not a valid date"), "{err}");
}

#[test]
fn toml_syntax_errors_give_the_line() {
    let err = toml_err("[sessions]\nidle_timeout_minutes = = 5\n");
    match err {
        Error::Parse { line, .. } => assert_eq!(line, Some(2)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn json_errors_name_the_key_too() {
    let err = json_err(r#"{"authentication": {"two_factor_enforced": "yes"}}"#);
    assert_eq!(
        err.to_string(),
        "authentication.two_factor_enforced (line 1): invalid type: string \"yes\", expected a boolean"
    );
    let err = json_err(
        r#"{"api": {"tokens": [{"name": "a", "service": "b", "created": "2026-01-01", "colour": "red"}]}}"#,
    );
    assert_eq!(err.path(), Some("api.tokens[0].colour"));
    let err = json_err(r#"{"sessions": {}} trailing"#);
    assert!(matches!(err, Error::Parse { .. }), "{err:?}");
}

#[test]
fn parameters_can_be_tightened_but_not_loosened() {
    let p = Parameters::from_overrides(Config::from_toml(COMPLIANT).unwrap().parameters.as_ref())
        .unwrap();
    assert_eq!(p.idle_timeout_max_minutes(), 10);
    assert_eq!(p.api_token_max_age_days(), 60);
    assert_eq!(p.jwt_exp_max_minutes(), 15);
    let d = Parameters::default();
    assert_eq!(
        (
            d.idle_timeout_max_minutes(),
            d.idle_timeout_min_minutes(),
            d.screen_lock_max_minutes(),
            d.jwt_exp_max_minutes(),
            d.api_token_max_age_days(),
            d.jwt_key_max_age_days()
        ),
        (15, 5, 15, 15, 90, 90)
    );

    let err = toml_err("[parameters]\nidle_timeout_max_minutes = 30\n");
    assert_eq!(
        err.to_string(),
        "parameters.idle_timeout_max_minutes: 30 loosens the limit of 15 minutes; only 1 to 15 is accepted (tighten, or record a waiver for the rule)"
    );
    assert_eq!(
        toml_err("[parameters]\njwt_exp_max_minutes = 16\n").path(),
        Some("parameters.jwt_exp_max_minutes")
    );
    assert_eq!(
        toml_err("[parameters]\nscreen_lock_max_minutes = 0\n").path(),
        Some("parameters.screen_lock_max_minutes")
    );
    assert_eq!(
        toml_err("[parameters]\napi_token_max_age_days = 400\n").path(),
        Some("parameters.api_token_max_age_days")
    );
    // The minimum may not exceed the (tightened) maximum.
    assert_eq!(
        toml_err("[parameters]\nidle_timeout_max_minutes = 3\n").path(),
        Some("parameters.idle_timeout_min_minutes")
    );
    Config::from_toml("[parameters]\nidle_timeout_max_minutes = 3\nidle_timeout_min_minutes = 1\n")
        .unwrap();
    let err = toml_err("[parameters]\nhipaa_regions = [\"us-east-1\", \"eu-west-1\"]\n");
    assert_eq!(err.path(), Some("parameters.hipaa_regions[1]"));
    assert_eq!(
        toml_err("[parameters]\nhipaa_regions = []\n").path(),
        Some("parameters.hipaa_regions")
    );
}

#[test]
fn the_mistakes_example_parses() {
    Config::from_toml(MISTAKES).unwrap();
}
