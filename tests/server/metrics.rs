//! Metrics on the operator's listener (`metrics_listen`): every tenant's gauges with a
//! `tenant` label, no client token (a `metrics_token` when configured), and not on the
//! API's listener.

use crate::harness::{OPEN_LIMITS, Server};

#[test]
fn metrics_show_every_tenant_on_the_operators_listener_only() {
    let token = "metrics-0123456789abcdef";
    let s = Server::start(&format!(
        "metrics_listen = \"127.0.0.1:0\"\nmetrics_token = \"{token}\"\n{OPEN_LIMITS}"
    ));
    // Not on the API's listener, whatever the client's scopes.
    let a = s.get("/metrics", &s.db.acme);
    assert_eq!(
        (a.status, a.json()["code"].as_str()),
        (404, Some("no_route")),
        "{}",
        a.body
    );
    assert!(
        !s.get("/openapi.json", &s.db.acme)
            .body
            .contains("\"/metrics\"")
    );
    // The token is needed; a client token is not it.
    assert_eq!(s.scrape(None).status, 401);
    assert_eq!(s.scrape(Some(&s.db.acme)).status, 401);
    let a = s.get(
        "/api/v1/subjects?searchType=EMAIL&searchValue=jean.dupont%40example.fr",
        &s.db.other,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let m = s.scrape(Some(token));
    assert_eq!(m.status, 200, "{}", m.body);
    for tenant in ["acme", "other"] {
        for family in ["dsr_index_subjects", "dsr_queue_depth"] {
            let line = format!("{family}{{tenant=\"{tenant}\"}} ");
            assert!(m.body.contains(&line), "{line} in {}", m.body);
        }
        assert!(
            m.body.contains(&format!(
                "dsr_task_outcomes_total{{tenant=\"{tenant}\",outcome=\"task.done\"}}"
            )),
            "{}",
            m.body
        );
    }
    assert!(
        m.body.contains("dsr_index_subjects{tenant=\"other\"} 18"),
        "{}",
        m.body
    );
    assert!(m.body.contains("dsr_tenants_loaded 2"), "{}", m.body);
    assert!(
        m.body.contains(
            "dsr_http_requests_total{method=\"GET\",route=\"/api/v1/subjects\",status=\"200\"} 1"
        ),
        "{}",
        m.body
    );
    // No value or path as sent.
    assert!(
        !m.body.contains("jean") && !m.body.contains("example.fr"),
        "{}",
        m.body
    );
}
