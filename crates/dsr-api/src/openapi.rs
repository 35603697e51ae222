//! The OpenAPI 3.1 document, generated from the handlers' annotations and the wire
//! types (so it cannot drift from what is served; `.ci/schemathesis` checks the running
//! server against it).

use crate::routes;
use crate::views::*;
use axum::Json;
use utoipa::openapi::security::{
    ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityScheme,
};
use utoipa::{Modify, OpenApi};

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        let scopes = Scopes::from_iter(
            dsr_ops::clients::Scope::ALL
                .iter()
                .map(|s| (s.as_str(), s.as_str())),
        );
        c.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::ClientCredentials(ClientCredentials::new("/oauth/token", scopes))],
                "OAuth 2.0 client credentials: POST /oauth/token gives a Bearer access token (at most 15 minutes)",
            )),
        );
        c.add_security_scheme(
            "apiToken",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A static API token (dsr.ID.SECRET) made by `dsr client create --kind token`"))
                    .build(),
            ),
        );
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "dsr",
        description = "GDPR data subject requests over HTTP: look subjects up, make export, update, delete and portability requests for one subject at a time, follow them, download signed packages. See docs/api.md.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        routes::search, routes::correlate, routes::put_subject, routes::delete_subject, routes::import,
        routes::create_request, routes::list_requests, routes::get_request, routes::cancel, routes::decide,
        routes::extend, routes::retry, routes::package, routes::events, routes::services,
        routes::compliance, routes::audit_verify, routes::callback_key, routes::token,
        routes::healthz, routes::readyz,
        crate::opendsr::discovery, crate::opendsr::service_status, crate::opendsr::create,
        crate::opendsr::status_of, crate::opendsr::cancel, crate::opendsr::certificate,
    ),
    components(schemas(
        crate::error::ErrorBody, SearchType, SearchResponse, Entity, SubjectView, HandleView, EvidenceView,
        MergeSetView, CorrelateBody, CorrelateResponse, CorrelatedView, TermBody, SubjectWritten,
        ImportReportView, LineIssueView, ApiRequestType, SubjectRef, ReplacementTerm, CreateRequestBody,
        CallbackView, NotificationView, RequestDetail, RequestPage, DecisionBody, DecisionKind, ExtensionBody, EventView,
        EventsResponse, ServiceView, BlindSpotView, ServicesResponse, ComplianceBody, AuditVerifyResponse,
        CallbackKey, TokenResponse, TokenErrorBody, TokenForm, Health, StatusFilter, SubjectBody,
        SubjectKindBody, HandleBody, EmploymentBody, NameText, EmailText, PhoneText,
        dsr_ops::wire::RequestView, dsr_ops::wire::RequestSummaryView, dsr_ops::wire::TaskView,
        dsr_ops::wire::KeptView, dsr_ops::wire::RequestSubjectView, dsr_ops::wire::RelatedView,
        dsr_ops::wire::ReplacementView, dsr_ops::wire::ExtensionView, dsr_ops::wire::HoldView,
        dsr_ops::wire::DecisionView, dsr_ops::wire::HandOverView, dsr_ops::wire::ManualView,
        dsr_ops::wire::ReminderView, dsr_ops::wire::AnswerView,
        crate::opendsr::OpenDsrRequest, crate::opendsr::Identity, crate::opendsr::SubjectRequestType,
    )),
    modifiers(&Security),
    tags(
        (name = "subjects", description = "Looking people up; keeping subjects current"),
        (name = "requests", description = "Data subject requests, one subject at a time"),
        (name = "services", description = "The inventory and its blind spots"),
        (name = "compliance", description = "HIPAA / HDS configuration checks"),
        (name = "audit", description = "The hash-chained audit log"),
        (name = "auth", description = "OAuth 2.0 client credentials"),
        (name = "opendsr", description = "OpenDSR 2.0 (formerly OpenGDPR) for controllers, when [opendsr] is enabled; 1.0 is served under /opendsr/v1 with /opengdpr_requests (docs/opendsr.md)"),
        (name = "operations", description = "Health and readiness (metrics are on the operator's listener, `metrics_listen`)"),
    )
)]
pub struct ApiDoc;

/// The document as JSON.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `GET /openapi.json`.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}

#[cfg(test)]
mod tests {
    /// Every `$ref` in the document names a schema it defines (a wire type added to a
    /// view must be registered in `components`).
    #[test]
    fn every_reference_resolves() {
        let doc = serde_json::to_value(super::document()).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut refs = Vec::new();
        fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, x) in m {
                        if k == "$ref" {
                            if let Some(s) = x.as_str() {
                                out.push(s.to_owned());
                            }
                        } else {
                            walk(x, out);
                        }
                    }
                }
                serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        walk(&doc, &mut refs);
        assert!(
            refs.iter().any(|r| r.ends_with("/ManualView")),
            "TaskView refers to ManualView"
        );
        // Absent for services a worker carries out: never a required property.
        let required = schemas["TaskView"]["required"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!required.iter().any(|r| r == "manual"), "{required:?}");
        for r in refs {
            let name = r.trim_start_matches("#/components/schemas/");
            assert!(schemas.contains_key(name), "dangling reference {r}");
        }
    }
}
