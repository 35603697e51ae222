//! Every rule: a pass case, a fail case and a not-applicable case, with the exact
//! outcome of every rule in each.

use super::*;
use dsr_compliance::Status::{self, Error, Fail, NotApplicable as NA, Pass};
use std::collections::BTreeSet;

/// One rule's cases. The pass case is the compliant example itself (every rule passes
/// there, asserted by `compliant_example_passes_every_rule`).
struct Case {
    rule: &'static str,
    fail: &'static [Edit],
    /// Other rules the fail edit changes, with their status.
    fail_also: &'static [(&'static str, Status)],
    na: &'static [Edit],
    /// Other rules the not-applicable edit changes (rules of a deleted section are
    /// expected not applicable automatically).
    na_also: &'static [(&'static str, Status)],
}

const fn case(rule: &'static str, fail: &'static [Edit], na: &'static [Edit]) -> Case {
    Case {
        rule,
        fail,
        fail_also: &[],
        na,
        na_also: &[],
    }
}

/// No such case: the rule has no condition that switches it off (it holds for every
/// tenant), or it never fails (information).
const NONE: &[Edit] = &[];

const API_TOKEN_RULES_NA: &[(&str, Status)] = &[
    ("api.token-per-service", NA),
    ("api.token-sharing", NA),
    ("api.token-breach-rotation", NA),
    ("api.token-rotation", NA),
];
const CONV_TOKEN_RULES_NA: &[(&str, Status)] = &[
    ("conversations-api.token-per-service", NA),
    ("conversations-api.token-sharing", NA),
    ("conversations-api.token-breach-rotation", NA),
    ("conversations-api.token-rotation", NA),
];
const DASHBOARDS_NA: &[(&str, Status)] = &[
    ("analytics.dashboard-audience", NA),
    ("analytics.dashboard-ip-restriction", NA),
    ("analytics.dashboard-links", NA),
];

const CASES: &[Case] = &[
    Case {
        rule: "hipaa.baa-before-toggle",
        fail: &[Set("hipaa.baa_signed", "false")],
        fail_also: &[],
        na: &[Set("tenant.regime", "\"hds\"")],
        na_also: &[("hipaa.region", NA)],
    },
    Case {
        rule: "hipaa.region",
        fail: &[Set("hipaa.region", "\"eu-west-1\"")],
        fail_also: &[],
        na: &[Set("tenant.regime", "\"hds\"")],
        na_also: &[("hipaa.baa-before-toggle", NA)],
    },
    Case {
        rule: "hds.subprocessor-notifications",
        fail: &[Set("hds.subprocessor_notifications", "false")],
        fail_also: &[],
        na: &[Set("tenant.regime", "\"hipaa\"")],
        na_also: &[],
    },
    Case {
        rule: "authentication.password-policy",
        fail: &[Set("authentication.sso.at_least_recommended", "false")],
        fail_also: &[],
        na: NONE,
        na_also: &[],
    },
    Case {
        rule: "authentication.two-factor",
        fail: &[Set("authentication.two_factor_enforced", "false")],
        fail_also: &[],
        na: NONE,
        na_also: &[],
    },
    Case {
        rule: "authentication.end-user-passwords",
        fail: &[Set(
            "authentication.admins_can_set_end_user_passwords",
            "true",
        )],
        fail_also: &[],
        na: NONE,
        na_also: &[],
    },
    case(
        "authentication.sso-password-login",
        &[Set("authentication.sso.password_login_enabled", "true")],
        &[
            Set("authentication.method", "\"native\""),
            Set("authentication.password_policy", "\"recommended\""),
        ],
    ),
    Case {
        rule: "transport.tls",
        fail: &[Set("transport.tls_enforced", "false")],
        fail_also: &[],
        na: NONE,
        na_also: &[],
    },
    case(
        "transport.custom-domain-ssl",
        &[Set("transport.hosted_ssl", "false")],
        &[Del("transport.custom_domain")],
    ),
    Case {
        rule: "network.agent-ip-restriction",
        fail: &[
            Set("network.agent_ip_allowlist", "[]"),
            Set("authentication.two_factor_enforced", "false"),
        ],
        fail_also: &[("authentication.two-factor", Fail)],
        na: NONE,
        na_also: &[],
    },
    case(
        "api.password-access",
        &[Set("api.password_access_enabled", "true")],
        &[Del("api")],
    ),
    Case {
        rule: "api.oauth-clients",
        fail: &[Set("api.oauth_clients[1].name", "\"client 2\"")],
        fail_also: &[],
        na: &[Del("api.oauth_clients")],
        na_also: &[("api.oauth-scopes", NA)],
    },
    Case {
        rule: "api.oauth-scopes",
        fail: &[Set("api.oauth_clients[0].scopes", "[\"read\", \"write\"]")],
        fail_also: &[],
        na: &[Del("api.oauth_clients")],
        na_also: &[("api.oauth-clients", NA)],
    },
    Case {
        rule: "api.token-per-service",
        fail: &[Set("api.tokens[1].service", "\"billing-export\"")],
        fail_also: &[],
        na: &[Del("api.tokens")],
        na_also: API_TOKEN_RULES_NA,
    },
    Case {
        rule: "api.token-sharing",
        fail: &[Set("api.tokens[0].shared_end_to_end_encrypted", "false")],
        fail_also: &[],
        na: &[Del("api.tokens")],
        na_also: API_TOKEN_RULES_NA,
    },
    case(
        "api.token-breach-rotation",
        &[Set("api.tokens[0].third_party_breach_on", "2026-10-20")],
        &[Del("api.tokens[0].third_party_breach_on")],
    ),
    Case {
        rule: "api.token-rotation",
        fail: &[Set("api.tokens[1].created", "2026-09-01")],
        fail_also: &[],
        na: &[Del("api.tokens")],
        na_also: API_TOKEN_RULES_NA,
    },
    Case {
        rule: "attachments.download-authentication",
        fail: &[Set(
            "attachments.require_authentication_to_download",
            "false",
        )],
        fail_also: &[],
        na: NONE,
        na_also: &[],
    },
    case(
        "sessions.idle-timeout",
        &[Set("sessions.idle_timeout_minutes", "12")],
        &[Del("sessions")],
    ),
    case(
        "sessions.api-client-idle-timeout",
        &[Set("sessions.idle_timeout_applies_to_api_clients", "false")],
        &[Del("sessions")],
    ),
    case(
        "sessions.access-token-lifetime",
        &[Set("sessions.access_token_lifetime_minutes", "60")],
        &[Del("sessions.access_token_lifetime_minutes")],
    ),
    Case {
        rule: "workstations.inactivity-lock",
        fail: &[Set("workstations.inactivity_lock_minutes", "30")],
        fail_also: &[],
        na: NONE,
        na_also: &[],
    },
    Case {
        rule: "workstations.full-disk-encryption",
        fail: &[Set("workstations.full_disk_encryption", "false")],
        fail_also: &[],
        na: NONE,
        na_also: &[],
    },
    Case {
        rule: "workstations.local-token-storage",
        fail: NONE,
        fail_also: &[],
        na: NONE,
        na_also: &[],
    },
    Case {
        rule: "view-permissions.agent-scope",
        fail: &[Set("view_permissions.agent_ticket_scope", "\"all\"")],
        fail_also: &[],
        na: NONE,
        na_also: &[],
    },
    Case {
        rule: "view-permissions.end-user-scope",
        fail: &[Set(
            "view_permissions.end_user_organization_level",
            "\"organization\"",
        )],
        fail_also: &[],
        na: NONE,
        na_also: &[],
    },
    Case {
        rule: "notifications.email-content",
        fail: &[Set("notifications.triggers_include_ticket_content", "true")],
        fail_also: &[],
        na: NONE,
        na_also: &[],
    },
    Case {
        rule: "sms.no-phi",
        fail: &[
            Set("sms.two_factor_only", "false"),
            Set("sms.phi_excluded", "false"),
        ],
        fail_also: &[],
        na: &[Del("sms")],
        na_also: &[],
    },
    Case {
        rule: "acd-email.no-phi",
        fail: &[Set("acd_email.phi_excluded", "false")],
        fail_also: &[],
        na: &[Del("acd_email")],
        na_also: &[],
    },
    case(
        "surveys.legacy",
        &[Set("surveys.legacy_enabled", "true")],
        &[Del("surveys")],
    ),
    Case {
        rule: "surveys.email-body",
        fail: &[Set(
            "surveys.email_body",
            "\"Dear {{ticket.requester.name}}, rate us: {{satisfaction.survey_url}}\"",
        )],
        fail_also: &[],
        na: &[Set("surveys.enabled", "false")],
        na_also: &[("surveys.open-questions", NA)],
    },
    Case {
        rule: "surveys.open-questions",
        fail: &[Set("surveys.open_ended_questions", "true")],
        fail_also: &[],
        na: &[Set("surveys.enabled", "false")],
        na_also: &[("surveys.email-body", NA)],
    },
    case(
        "help-center.public-content",
        &[Set("help_center.public_content_phi_free", "false")],
        &[Del("help_center")],
    ),
    case(
        "help-center.comments",
        &[Set("help_center.comments_moderated", "false")],
        &[Del("help_center")],
    ),
    Case {
        rule: "community.posts",
        fail: &[Set("community.phi_submissions_rejected", "false")],
        fail_also: &[],
        na: &[Del("community")],
        na_also: &[],
    },
    case(
        "community.moderators",
        &[Set("community.moderators_all_employees", "false")],
        &[Del("community")],
    ),
    case(
        "community.public-profiles",
        &[Set("community.mentions", "true")],
        &[Del("community")],
    ),
    case(
        "messaging.social-channels",
        &[Set("messaging.social_channels[0].baa_signed", "false")],
        &[Del("messaging.social_channels")],
    ),
    case(
        "messaging.attachments",
        &[Set("messaging.secure_attachments", "false")],
        &[Del("messaging")],
    ),
    case(
        "messaging.agent-visibility",
        &[Set("messaging.all_agents_see_all_messages", "false")],
        &[Del("messaging")],
    ),
    case(
        "messaging.widget-persistence",
        &[Set("messaging.shared_devices_excluded", "false")],
        &[Del("messaging")],
    ),
    Case {
        rule: "messaging.jwt-signing-keys",
        fail: &[Set("messaging.jwt_keys[1].channel", "\"web-widget\"")],
        fail_also: &[],
        na: &[Set("messaging.end_user_authentication", "\"none\"")],
        na_also: &[
            ("messaging.jwt-expiry", NA),
            ("messaging.jwt-key-sharing", NA),
            ("messaging.jwt-key-breach-rotation", NA),
        ],
    },
    Case {
        rule: "messaging.jwt-key-sharing",
        fail: &[Set(
            "messaging.jwt_keys[0].shared_end_to_end_encrypted",
            "false",
        )],
        fail_also: &[],
        na: &[Set("messaging.end_user_authentication", "\"none\"")],
        na_also: &[
            ("messaging.jwt-signing-keys", NA),
            ("messaging.jwt-expiry", NA),
            ("messaging.jwt-key-breach-rotation", NA),
        ],
    },
    Case {
        rule: "messaging.jwt-key-breach-rotation",
        fail: &[Set(
            "messaging.jwt_keys[0].third_party_breach_on",
            "2026-09-05",
        )],
        fail_also: &[],
        na: &[Del("messaging.jwt_keys[0].third_party_breach_on")],
        na_also: &[],
    },
    Case {
        rule: "messaging.jwt-expiry",
        fail: &[Set("messaging.jwt_keys[0].exp_minutes", "60")],
        fail_also: &[],
        na: &[Set("messaging.end_user_authentication", "\"none\"")],
        na_also: &[
            ("messaging.jwt-signing-keys", NA),
            ("messaging.jwt-key-sharing", NA),
            ("messaging.jwt-key-breach-rotation", NA),
        ],
    },
    case(
        "messaging.ai-conversation-deletion",
        &[Set("messaging.ai_conversation_deletion", "\"none\"")],
        &[Set("messaging.ai_agents", "false")],
    ),
    Case {
        rule: "messaging.malware-control",
        fail: &[Set("messaging.malware_control_in_place", "false")],
        fail_also: &[],
        na: &[Set("messaging.end_user_attachments", "false")],
        na_also: &[],
    },
    case(
        "messaging.agent-removal",
        &[Set(
            "messaging.revoke_access_on_permission_removal",
            "false",
        )],
        &[Del("messaging")],
    ),
    case(
        "side-conversations.no-phi",
        &[Set("side_conversations.phi_excluded", "false")],
        &[Del("side_conversations")],
    ),
    case(
        "conversations-api.third-party-channels",
        &[Set(
            "conversations_api.third_party_channels[0].baa_signed",
            "false",
        )],
        &[Del("conversations_api.third_party_channels")],
    ),
    Case {
        rule: "conversations-api.oauth-clients",
        fail: &[Set("conversations_api.oauth_clients[0].name", "\"oauth\"")],
        fail_also: &[],
        na: &[Del("conversations_api.oauth_clients")],
        na_also: &[("conversations-api.oauth-scopes", NA)],
    },
    Case {
        rule: "conversations-api.oauth-scopes",
        fail: &[Set("conversations_api.oauth_clients[0].scopes", "[\"*\"]")],
        fail_also: &[],
        na: &[Del("conversations_api.oauth_clients")],
        na_also: &[("conversations-api.oauth-clients", NA)],
    },
    Case {
        rule: "conversations-api.token-per-service",
        fail: &[Set(
            "conversations_api.tokens[1].service",
            "\"care-router\"",
        )],
        fail_also: &[],
        na: &[Del("conversations_api.tokens")],
        na_also: CONV_TOKEN_RULES_NA,
    },
    Case {
        rule: "conversations-api.token-sharing",
        fail: &[
            Set(
                "conversations_api.tokens[0].shared_with",
                "[\"Chatbot vendor\"]",
            ),
            Set(
                "conversations_api.tokens[0].shared_end_to_end_encrypted",
                "false",
            ),
        ],
        fail_also: &[],
        na: &[Del("conversations_api.tokens")],
        na_also: CONV_TOKEN_RULES_NA,
    },
    case(
        "conversations-api.token-breach-rotation",
        &[Set(
            "conversations_api.tokens[1].third_party_breach_on",
            "2026-11-05",
        )],
        &[Del("conversations_api.tokens[1].third_party_breach_on")],
    ),
    Case {
        rule: "conversations-api.token-rotation",
        fail: &[Set("conversations_api.tokens[0].created", "2026-05-01")],
        fail_also: &[],
        na: &[Del("conversations_api.tokens")],
        na_also: CONV_TOKEN_RULES_NA,
    },
    case(
        "conversations-api.attachments",
        &[
            Set("conversations_api.end_user_attachments", "true"),
            Set("conversations_api.secure_attachments", "false"),
        ],
        &[Del("conversations_api")],
    ),
    Case {
        rule: "conversations-api.jwt-signing-keys",
        fail: &[Set("conversations_api.jwt_keys[0].name", "\"jwt\"")],
        fail_also: &[],
        na: &[Set("conversations_api.end_user_authentication", "\"none\"")],
        na_also: &[
            ("conversations-api.jwt-expiry", NA),
            ("conversations-api.jwt-key-sharing", NA),
            ("conversations-api.jwt-key-breach-rotation", NA),
        ],
    },
    Case {
        rule: "conversations-api.jwt-key-sharing",
        fail: &[Set(
            "conversations_api.jwt_keys[0].shared_end_to_end_encrypted",
            "false",
        )],
        fail_also: &[],
        na: &[Set("conversations_api.end_user_authentication", "\"none\"")],
        na_also: &[
            ("conversations-api.jwt-signing-keys", NA),
            ("conversations-api.jwt-expiry", NA),
            ("conversations-api.jwt-key-breach-rotation", NA),
        ],
    },
    Case {
        rule: "conversations-api.jwt-key-breach-rotation",
        fail: &[Set(
            "conversations_api.jwt_keys[0].third_party_breach_on",
            "2026-10-05",
        )],
        fail_also: &[],
        na: &[Del("conversations_api.jwt_keys[0].third_party_breach_on")],
        na_also: &[],
    },
    Case {
        rule: "conversations-api.jwt-expiry",
        fail: &[Del("conversations_api.jwt_keys[0].exp_minutes")],
        fail_also: &[],
        na: &[Set("conversations_api.end_user_authentication", "\"none\"")],
        na_also: &[
            ("conversations-api.jwt-signing-keys", NA),
            ("conversations-api.jwt-key-sharing", NA),
            ("conversations-api.jwt-key-breach-rotation", NA),
        ],
    },
    case(
        "conversations-api.ai-conversation-deletion",
        &[Set(
            "conversations_api.ai_conversation_deletion",
            "\"none\"",
        )],
        &[Set("conversations_api.ai_agents", "false")],
    ),
    case(
        "conversations-api.deleted-messages",
        &[Set("conversations_api.deleted_messages_redacted", "false")],
        &[Del("conversations_api")],
    ),
    case(
        "conversations-api.malware-control",
        &[Set("conversations_api.malware_control_in_place", "false")],
        &[Del("conversations_api")],
    ),
    case(
        "chat.agent-authentication",
        &[Set("chat.agents_authenticate_via_support", "false")],
        &[Del("chat")],
    ),
    case(
        "chat.no-email-transcripts",
        &[Set("chat.transcript_email", "true")],
        &[Del("chat")],
    ),
    case(
        "analytics.access",
        &[Set("analytics.least_privilege_roles", "false")],
        &[Del("analytics")],
    ),
    case(
        "analytics.email-export",
        &[Set("analytics.email_transport_encrypted", "false")],
        &[Del("analytics")],
    ),
    Case {
        rule: "analytics.dashboard-audience",
        fail: &[Set(
            "analytics.dashboards_shared_with_approved_only",
            "false",
        )],
        fail_also: &[],
        na: &[Set("analytics.dashboard_sharing", "false")],
        na_also: DASHBOARDS_NA,
    },
    Case {
        rule: "analytics.dashboard-ip-restriction",
        fail: &[Set("analytics.ip_restricted", "false")],
        fail_also: &[],
        na: &[Set("analytics.dashboard_sharing", "false")],
        na_also: DASHBOARDS_NA,
    },
    case(
        "analytics.dashboard-links",
        &[Set("analytics.link_password_protected", "false")],
        &[Set("analytics.link_sharing", "false")],
    ),
    case(
        "mobile.device-encryption",
        &[Set("mobile.device_encryption_required", "false")],
        &[Del("mobile")],
    ),
    case(
        "mobile.unlock",
        &[Set("mobile.unlock_method", "\"none\"")],
        &[Del("mobile")],
    ),
    case(
        "mobile.lock-screen-notifications",
        &[Set("mobile.lock_screen_ticket_content", "true")],
        &[Del("mobile")],
    ),
    case(
        "mobile.screen-lock",
        &[Set("mobile.screen_lock_minutes", "20")],
        &[Del("mobile")],
    ),
    case(
        "ai.no-medical-use",
        &[Set("ai.medical_use_excluded", "false")],
        &[Del("ai")],
    ),
    case(
        "ai.disclaimer-variants",
        &[Set("ai.generate_variants", "true")],
        &[Set("ai.greeting_carries_disclaimer", "false")],
    ),
    case(
        "quality-assurance.ai-assistance",
        &[Set("quality_assurance.reviewers_see_all_data", "false")],
        &[Del("quality_assurance")],
    ),
    case(
        "quality-assurance.survey-content",
        &[Set("quality_assurance.survey_content_phi_free", "false")],
        &[Del("quality_assurance")],
    ),
    case(
        "quality-assurance.chat-retention",
        &[Set("quality_assurance.chat_retention_days", "0")],
        &[Set("quality_assurance.chat_integration", "false")],
    ),
    case(
        "quality-assurance.deletion-delay",
        &[Set(
            "quality_assurance.deletion_delay_acknowledged",
            "false",
        )],
        &[Del("quality_assurance")],
    ),
    case(
        "quality-assurance.attachments",
        &[Set("quality_assurance.attachments_phi_free", "false")],
        &[Del("quality_assurance")],
    ),
    case(
        "workforce.default-roles",
        &[Set("workforce.default_roles_reviewed", "false")],
        &[Del("workforce")],
    ),
    case(
        "workforce.sensitive-tags",
        &[Set("workforce.sensitive_tag_access_restricted", "false")],
        &[Set("workforce.sensitive_tags", "false")],
    ),
    case(
        "integrations.third-party-baa",
        &[Set("integrations[0].baa_signed", "false")],
        &[Del("integrations")],
    ),
];

#[test]
fn the_case_table_covers_every_rule_once() {
    let ids: Vec<&str> = CASES.iter().map(|c| c.rule).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "a rule has two cases");
    let catalog_ids: BTreeSet<&str> = catalog().iter().map(|r| r.id()).collect();
    let missing: Vec<&&str> = catalog_ids.difference(&unique).collect();
    let unknown: Vec<&&str> = unique.difference(&catalog_ids).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "rules without cases: {missing:?}; unknown rules: {unknown:?}"
    );
}

#[test]
fn compliant_example_passes_every_rule() {
    let report = report_of(COMPLIANT);
    assert_outcomes(&report, &[], &[]);
    assert!(report.passed());
    assert_eq!(report.summary().pass, catalog().len() - 1);
    assert_eq!(report.summary().info, 1);
}

#[test]
fn every_rule_fails_on_its_fail_case() {
    for c in CASES.iter().filter(|c| !c.fail.is_empty()) {
        let mut expected = vec![(c.rule, Fail)];
        expected.extend_from_slice(c.fail_also);
        let report = check(c.fail, &expected);
        let f = report.finding(c.rule).unwrap();
        assert!(
            !f.evidence.is_empty(),
            "{}: a failure without evidence",
            c.rule
        );
        assert!(!report.passed(), "{}: the gate must fail", c.rule);
    }
}

#[test]
fn every_rule_is_not_applicable_on_its_na_case() {
    for c in CASES.iter().filter(|c| !c.na.is_empty()) {
        let mut expected = vec![(c.rule, NA)];
        expected.extend_from_slice(c.na_also);
        let report = check(c.na, &expected);
        assert!(
            report.passed(),
            "{}: not applicable must not fail the gate",
            c.rule
        );
    }
}

#[test]
fn a_present_but_empty_section_is_an_error_never_a_pass() {
    let report = report_of("[mobile]\n");
    for id in [
        "mobile.device-encryption",
        "mobile.unlock",
        "mobile.lock-screen-notifications",
        "mobile.screen-lock",
    ] {
        let f = report.finding(id).unwrap();
        assert_eq!(f.status, Error, "{id}");
        assert!(
            f.message.starts_with("cannot decide: `mobile."),
            "{id}: {}",
            f.message
        );
    }
    assert!(!report.passed());
}

#[test]
fn a_missing_value_names_its_key() {
    let report = check(
        &[Del("authentication.two_factor_enforced")],
        &[("authentication.two-factor", Error)],
    );
    let f = report.finding("authentication.two-factor").unwrap();
    assert_eq!(
        f.message,
        "cannot decide: `authentication.two_factor_enforced` is not set: state the value explicitly; a rule never passes on a missing value"
    );
    assert_eq!(
        f.evidence.last().unwrap().to_string(),
        "authentication.two_factor_enforced = (not set)"
    );
}

// ---------------------------------------------------------------- variants of single rules

#[test]
fn hipaa_toggle_must_follow_the_baa() {
    check(
        &[Set("hipaa.enabled", "false")],
        &[("hipaa.baa-before-toggle", Fail)],
    );
    let r = check(
        &[Set("hipaa.enabled_on", "2026-01-01")],
        &[("hipaa.baa-before-toggle", Fail)],
    );
    assert_eq!(
        r.finding("hipaa.baa-before-toggle").unwrap().message,
        "the HIPAA toggle was set on 2026-01-01, before the BAA was signed on 2026-01-05"
    );
    // Without dates, only the two flags decide.
    check(&[Del("hipaa.enabled_on"), Del("hipaa.baa_signed_on")], &[]);
}

#[test]
fn hipaa_regions_accept_the_us_east_and_west_family() {
    for ok in [
        "\"us-west-2\"",
        "\"US East 1\"",
        "\"us_east_2\"",
        "\"us-east\"",
    ] {
        check(&[Set("hipaa.region", ok)], &[]);
    }
    for bad in [
        "\"eu-central-1\"",
        "\"us-eastern-1\"",
        "\"ca-central-1\"",
        "\"usa\"",
    ] {
        check(&[Set("hipaa.region", bad)], &[("hipaa.region", Fail)]);
    }
    // Tightened by the organisation.
    check(
        &[Set("parameters.hipaa_regions", "[\"us-west-2\"]")],
        &[("hipaa.region", Fail)],
    );
    check(
        &[Set(
            "parameters.hipaa_regions",
            "[\"us-east-1\", \"us-west-2\"]",
        )],
        &[],
    );
}

#[test]
fn native_login_password_policies() {
    let native = |policy: &'static str| {
        [
            Set("authentication.method", "\"native\""),
            Set("authentication.password_policy", policy),
            Del("authentication.sso"),
        ]
    };
    let na = ("authentication.sso-password-login", NA);
    check(&native("\"recommended\""), &[na]);
    check(&native("\"strict\""), &[na]);
    check(
        &native("\"medium\""),
        &[na, ("authentication.password-policy", Fail)],
    );
    check(
        &native("\"low\""),
        &[na, ("authentication.password-policy", Fail)],
    );
    // A custom policy needs the attestation.
    check(
        &native("\"custom\""),
        &[na, ("authentication.password-policy", Error)],
    );
    let mut edits = native("\"custom\"").to_vec();
    edits.push(Set(
        "authentication.custom_policy_at_least_recommended",
        "true",
    ));
    check(&edits, &[na]);
    edits.pop();
    edits.push(Set(
        "authentication.custom_policy_at_least_recommended",
        "false",
    ));
    check(&edits, &[na, ("authentication.password-policy", Fail)]);
}

#[test]
fn sso_without_its_table_is_an_error() {
    check(
        &[Del("authentication.sso")],
        &[
            ("authentication.password-policy", Error),
            ("authentication.sso-password-login", Error),
        ],
    );
}

#[test]
fn ip_allow_list_may_be_replaced_by_enforced_mfa() {
    check(&[Set("network.agent_ip_allowlist", "[]")], &[]);
    check(&[Del("network")], &[("network.agent-ip-restriction", Pass)]);
    // No allow-list and MFA unknown: not a pass.
    check(
        &[Del("network"), Del("authentication.two_factor_enforced")],
        &[
            ("network.agent-ip-restriction", Fail),
            ("authentication.two-factor", Error),
        ],
    );
}

#[test]
fn ip_allow_list_entries_are_validated() {
    let err = Config::from_toml(&edited(
        COMPLIANT,
        &[Set(
            "network.agent_ip_allowlist",
            "[\"203.0.113.0/24\", \"10.0.0.0/33\"]",
        )],
    ))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "network.agent_ip_allowlist[1]: `10.0.0.0/33`: prefix /33 is longer than /32"
    );
    let err = Config::from_toml("[network]\nagent_ip_allowlist = [\"office\"]").unwrap_err();
    assert_eq!(
        err.to_string(),
        "network.agent_ip_allowlist[0]: `office` is not an IP address or CIDR range (e.g. 203.0.113.0/24 or 2001:db8::/32)"
    );
    let err = Config::from_toml("[network]\nagent_ip_allowlist = [\"0.0.0.0/0\"]").unwrap_err();
    assert!(err.to_string().contains("restricts nothing"), "{err}");
}

#[test]
fn token_problems_are_listed_with_their_paths() {
    let r = check(
        &[Set("api.tokens[1].name", "\"token 2\"")],
        &[("api.token-per-service", Fail)],
    );
    assert_eq!(
        r.finding("api.token-per-service").unwrap().message,
        "api.tokens[1].name \"token 2\": generic name: say which service or channel it is for"
    );
    let r = check(
        &[Set("api.tokens[1].service", "\"billing-export\"")],
        &[("api.token-per-service", Fail)],
    );
    assert_eq!(
        r.finding("api.token-per-service").unwrap().message,
        "api.tokens[1].service \"billing-export\" repeats api.tokens[0] (one token per service)"
    );
}

#[test]
fn shared_token_without_a_stated_channel_is_an_error() {
    check(
        &[Del("api.tokens[0].shared_end_to_end_encrypted")],
        &[("api.token-sharing", Error)],
    );
    // Nobody outside holds a token: pass.
    check(
        &[
            Set("api.tokens[0].shared_with", "[]"),
            Del("api.tokens[0].shared_end_to_end_encrypted"),
        ],
        &[],
    );
}

#[test]
fn token_age_counts_from_rotation_and_uses_the_parameter() {
    // The oldest token, created 2026-10-01 and never rotated, is 53 days old.
    check(&[Set("parameters.api_token_max_age_days", "53")], &[]);
    let r = check(
        &[Set("parameters.api_token_max_age_days", "52")],
        &[("api.token-rotation", Fail)],
    );
    let msg = &r.finding("api.token-rotation").unwrap().message;
    assert_eq!(
        msg,
        "api.tokens[1] (\"Backup job\") is 53 days old (rotate at least every 52 days)"
    );
    // The other one counts from its rotation (2026-10-15, 39 days), not its creation.
    let r = check(
        &[Set("parameters.api_token_max_age_days", "38")],
        &[("api.token-rotation", Fail)],
    );
    let msg = &r.finding("api.token-rotation").unwrap().message;
    assert!(
        msg.starts_with("api.tokens[0] (\"Billing export\") is 39 days old"),
        "{msg}"
    );
    // The same parameter applies to the conversations API (2026-10-20 → 34 days).
    check(
        &[Set("parameters.api_token_max_age_days", "33")],
        &[
            ("api.token-rotation", Fail),
            ("conversations-api.token-rotation", Fail),
        ],
    );
}

#[test]
fn a_credential_dated_after_the_evaluation_date_is_an_error() {
    let r = check(
        &[Set("api.tokens[1].created", "2026-12-01")],
        &[("api.token-rotation", Error)],
    );
    let msg = &r.finding("api.token-rotation").unwrap().message;
    assert!(
        msg.contains("is after the evaluation date 2026-11-23"),
        "{msg}"
    );
}

#[test]
fn rotation_before_creation_is_refused_while_parsing() {
    let err = Config::from_toml(&edited(
        COMPLIANT,
        &[Set("api.tokens[0].rotated", "2026-01-01")],
    ))
    .unwrap_err();
    assert_eq!(err.path(), Some("api.tokens[0].rotated"));
    assert!(
        err.to_string().contains("is before `created` (2026-02-01)"),
        "{err}"
    );
}

#[test]
fn idle_timeout_bounds_come_from_the_parameters() {
    // The example tightens the maximum to 10.
    check(&[Set("sessions.idle_timeout_minutes", "10")], &[]);
    check(
        &[Set("sessions.idle_timeout_minutes", "11")],
        &[("sessions.idle-timeout", Fail)],
    );
    check(
        &[
            Set("sessions.idle_timeout_minutes", "5"),
            Set("sessions.access_token_lifetime_minutes", "5"),
        ],
        &[],
    );
    let r = check(
        &[Set("sessions.idle_timeout_minutes", "4")],
        &[("sessions.idle-timeout", Fail)],
    );
    assert_eq!(
        r.finding("sessions.idle-timeout").unwrap().message,
        "idle timeout of 4 minutes is below the platform's minimum of 5"
    );
    // With the sources' defaults, 15 passes and 16 fails.
    check(
        &[
            Del("parameters"),
            Set("sessions.idle_timeout_minutes", "15"),
        ],
        &[],
    );
    check(
        &[
            Del("parameters"),
            Set("sessions.idle_timeout_minutes", "16"),
        ],
        &[("sessions.idle-timeout", Fail)],
    );
}

#[test]
fn local_token_storage_passes_when_tokens_are_not_kept() {
    check(
        &[
            Set("workstations.session_tokens_in_local_storage", "false"),
            Set("workstations.full_disk_encryption", "false"),
        ],
        &[("workstations.full-disk-encryption", Fail)],
    );
}

#[test]
fn end_user_scope_reports_which_level_widens_it() {
    let r = check(
        &[Set(
            "view_permissions.end_user_user_level",
            "\"organization\"",
        )],
        &[("view-permissions.end-user-scope", Fail)],
    );
    assert_eq!(
        r.finding("view-permissions.end-user-scope")
            .unwrap()
            .message,
        "end users see their organisation's requests (set on user profiles; the permissive setting wins)"
    );
}

#[test]
fn notification_emails_need_login() {
    check(
        &[Set("notifications.end_user_login_required", "false")],
        &[("notifications.email-content", Fail)],
    );
}

#[test]
fn sms_off_passes() {
    check(
        &[Set("sms.enabled", "false"), Del("sms.two_factor_only")],
        &[],
    );
}

#[test]
fn survey_body_needs_the_placeholder() {
    let r = check(
        &[Set(
            "surveys.email_body",
            "\"Please rate us on our website.\"",
        )],
        &[("surveys.email-body", Fail)],
    );
    assert!(
        r.finding("surveys.email-body")
            .unwrap()
            .message
            .contains("does not contain the survey link placeholder {{satisfaction.survey_url}}")
    );
    // Spacing inside the braces is tolerated; a custom placeholder can be configured.
    check(
        &[Set(
            "surveys.email_body",
            "\"Rate us: {{satisfaction.survey_url}} {{ satisfaction.survey_url }}\"",
        )],
        &[],
    );
    check(
        &[
            Set("surveys.email_body", "\"Rate us: [[survey]]\""),
            Set("surveys.survey_url_placeholder", "\"[[survey]]\""),
        ],
        &[],
    );
}

#[test]
fn either_or_rules_need_one_stated_true() {
    // email_exports_phi_free = false and encryption not stated: undecidable.
    check(
        &[Del("analytics.email_transport_encrypted")],
        &[("analytics.email-export", Error)],
    );
    check(
        &[
            Del("analytics.email_transport_encrypted"),
            Set("analytics.email_exports_phi_free", "true"),
        ],
        &[],
    );
    check(&[Set("analytics.email_export", "false")], &[]);
    check(
        &[
            Set("analytics.dashboards_identifier_free", "true"),
            Set("analytics.dashboards_shared_with_approved_only", "false"),
        ],
        &[],
    );
}

#[test]
fn dashboard_links_need_a_policy_compliant_password() {
    check(
        &[Set("analytics.link_password_policy_compliant", "false")],
        &[("analytics.dashboard-links", Fail)],
    );
}

#[test]
fn community_profiles_pass_when_profiles_are_off() {
    check(
        &[
            Set("community.public_profiles", "false"),
            Set("community.mentions", "true"),
        ],
        &[],
    );
}

#[test]
fn messaging_features_off_pass() {
    check(
        &[
            Set("messaging.end_user_attachments", "false"),
            Del("messaging.secure_attachments"),
        ],
        &[("messaging.malware-control", NA)],
    );
    // The malware rule's subject is switched off: not applicable, not an error, even
    // when the attestation is left out.
    check(
        &[
            Set("messaging.end_user_attachments", "false"),
            Del("messaging.malware_control_in_place"),
        ],
        &[("messaging.malware-control", NA)],
    );
    check(
        &[
            Set("messaging.web_widget_persistence", "false"),
            Del("messaging.shared_devices_excluded"),
        ],
        &[],
    );
    check(
        &[
            Set("side_conversations.enabled", "false"),
            Del("side_conversations.phi_excluded"),
        ],
        &[],
    );
    check(
        &[
            Set("help_center.public_articles", "false"),
            Del("help_center.public_content_phi_free"),
        ],
        &[],
    );
    check(
        &[
            Set("community.end_user_posts", "false"),
            Set("community.moderate_all_content", "false"),
        ],
        &[],
    );
}

#[test]
fn jwt_without_keys_fails_and_key_problems_are_named() {
    check(
        &[Del("messaging.jwt_keys")],
        &[
            ("messaging.jwt-signing-keys", Fail),
            ("messaging.jwt-expiry", Fail),
            ("messaging.jwt-key-sharing", NA),
            ("messaging.jwt-key-breach-rotation", NA),
        ],
    );
    let r = check(
        &[Set("messaging.jwt_keys[1].key_id", "\"app_6541a1f0\"")],
        &[("messaging.jwt-signing-keys", Fail)],
    );
    assert_eq!(
        r.finding("messaging.jwt-signing-keys").unwrap().message,
        "messaging.jwt_keys[1].key_id \"app_6541a1f0\" repeats messaging.jwt_keys[0] (each channel needs its own key)"
    );
    // Rotation age: the web-widget key was rotated 2026-09-01, 83 days earlier.
    check(
        &[Set("parameters.jwt_key_max_age_days", "82")],
        &[("messaging.jwt-signing-keys", Fail)],
    );
    // exp: the limit is a parameter too.
    check(
        &[Set("parameters.jwt_exp_max_minutes", "10")],
        &[("messaging.jwt-expiry", Fail)],
    );
    check(
        &[Set("messaging.jwt_keys[0].exp_minutes", "0")],
        &[("messaging.jwt-expiry", Fail)],
    );
}

#[test]
fn mobile_unlock_must_be_at_the_strongest_setting() {
    check(&[Set("mobile.unlock_method", "\"pin\"")], &[]);
    check(
        &[Set("mobile.unlock_at_strongest_setting", "false")],
        &[("mobile.unlock", Fail)],
    );
    check(
        &[Set("mobile.screen_lock_minutes", "0")],
        &[("mobile.screen-lock", Fail)],
    );
}

#[test]
fn ai_inaccuracy_must_be_acknowledged() {
    check(
        &[Set("ai.inaccuracy_acknowledged", "false")],
        &[("ai.no-medical-use", Fail)],
    );
}

#[test]
fn qa_ai_assistance_off_passes() {
    check(
        &[
            Set("quality_assurance.ai_assistance", "false"),
            Set("quality_assurance.reviewers_see_all_data", "false"),
        ],
        &[],
    );
}

#[test]
fn integrations_without_phi_need_no_baa_and_an_empty_list_is_not_applicable() {
    check(
        &[
            Set("integrations[0].carries_phi", "false"),
            Set("integrations[0].baa_signed", "false"),
        ],
        &[],
    );
    let r = report_of("integrations = []");
    assert_eq!(
        r.finding("integrations.third-party-baa").unwrap().status,
        NA
    );
    assert_eq!(
        r.finding("integrations.third-party-baa").unwrap().message,
        "integrations = []: no third-party integrations"
    );
}

#[test]
fn access_token_lifetime_is_bounded_by_the_idle_timeout_limit() {
    check(
        &[Set("sessions.access_token_lifetime_minutes", "11")],
        &[("sessions.access-token-lifetime", Fail)],
    );
    check(
        &[Set("sessions.access_token_lifetime_minutes", "0")],
        &[("sessions.access-token-lifetime", Fail)],
    );
}

#[test]
fn json_configuration_gives_the_same_outcomes() {
    let value: toml::Value = toml::from_str(COMPLIANT).unwrap();
    let json = fix_dates(&serde_json::to_value(&value).unwrap());
    let config = Config::from_json(&json.to_string()).unwrap();
    assert_eq!(config, Config::from_toml(COMPLIANT).unwrap());
    let report = evaluate(&config, &Waivers::none(), today()).unwrap();
    assert_outcomes(&report, &[], &[]);
    // Config::parse guesses the format.
    assert_eq!(Config::parse(&json.to_string()).unwrap(), config);
}

/// TOML dates serialize to JSON as `{"$__toml_private_datetime": "…"}`; JSON configs
/// write them as strings.
fn fix_dates(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        J::Object(m) if m.len() == 1 && m.contains_key("$__toml_private_datetime") => {
            m["$__toml_private_datetime"].clone()
        }
        J::Object(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), fix_dates(v))).collect()),
        J::Array(a) => J::Array(a.iter().map(fix_dates).collect()),
        other => other.clone(),
    }
}
