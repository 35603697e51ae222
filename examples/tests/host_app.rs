//! The `host_app` example's workflow (G-13), run as a test: what it printed and what it
//! did to the shop's own systems.

use dsr_engine::RequestStatus;
use dsr_examples::shop::{self, ANONYMIZED, Shop};
use dsr_model::RequestType;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_workflow_runs_in_code() {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    let report = shop::run(dir.path(), &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();

    // (1) each identifier on its own: the name finds both Jeanne Martins (and the merged
    // second account), the messy email finds only the Paris one's accounts.
    let by: Vec<(&str, Vec<&str>)> = report
        .found_by_identifier
        .iter()
        .map(|(t, ids)| (t.as_str(), ids.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(by.len(), 2);
    for id in ["cust-1", "cust-2", "cust-3"] {
        assert!(by[0].1.contains(&id), "name finds {id}: {by:?}");
    }
    assert!(!by[1].1.contains(&"cust-3"), "{by:?}");
    // (2) only the corroborated subjects are acted upon; the namesake is set aside.
    assert_eq!(report.corroborated, vec!["cust-1", "cust-2"]);
    assert!(report.set_aside.contains(&"cust-3".to_string()));
    assert!(!report.corroborated.contains(&"cust-4".to_string()));

    // (3, 4) one export for the merge set, made for the canonical contact, with a related
    // request for the other account; both completed, both packages verified.
    assert_eq!(report.exports.len(), 1, "{:?}", report.exports);
    let e = &report.exports[0];
    assert_eq!((e.ty, e.subject.as_str()), (RequestType::Export, "cust-1"));
    assert_eq!(e.related_subjects, vec!["cust-2"]);
    assert_eq!(e.status, RequestStatus::Completed);
    assert_eq!(report.packages_verified, 2);
    assert_eq!(report.attachments_exported, 1, "the damaged-parcel photo");

    // The erasure, per service in its own mode.
    assert_eq!(report.deletes.len(), 1);
    let d = &report.deletes[0];
    assert_eq!(d.status, RequestStatus::Completed);
    // Once erased, the engine's own records name the subjects by keyed reference only.
    assert_eq!(d.related_subjects.len(), 1, "{:?}", d.related_subjects);
    assert!(
        d.related_subjects[0].starts_with("s-") && !d.subject.contains("cust-"),
        "{d:?}"
    );
    let action = |svc: &str| {
        d.outcomes
            .iter()
            .find(|o| o.0 == svc)
            .map(|o| (o.1.as_str(), o.2, o.3))
    };
    assert_eq!(action("orders"), Some(("anonymized", 1, 1)));
    assert_eq!(
        action("newsletter"),
        Some(("deleted", 0, 0)),
        "cust-1 had no subscription of its own"
    );
    assert!(
        text.contains("deleted 1 record(s)"),
        "cust-2's subscription:\n{text}"
    );

    assert!(report.audit_verified);
    assert!(report.audit_entries > 20);
    assert!(report.blind_spots >= 5);
    assert!(
        text.contains("set aside") && text.contains("related requests"),
        "{text}"
    );

    // The engine's record is durable: a host restarting on the same directory sees every
    // request, finished.
    let again = Shop::open(dir.path()).unwrap();
    let all = again.engine.list(&Default::default()).await.unwrap();
    assert_eq!(
        all.len(),
        4,
        "two exports and two deletes (parents and related)"
    );
    assert!(all.iter().all(|r| r.status() == RequestStatus::Completed));
    assert!(again.engine.verify_audit().await.unwrap().ok());
}

#[tokio::test]
async fn the_shops_services_erase_in_their_own_mode_and_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::open(dir.path()).unwrap();
    let mut opts = dsr_engine::CreateOptions::new(
        RequestType::Delete,
        dsr_engine::Target::Id("cust-3".into()),
    );
    opts.requested_by = "test".into();
    let r = shop.engine.create(&shop.directory, opts).await.unwrap();
    assert!(r.related.is_empty());
    shop.process().await.unwrap();
    let subs = shop.newsletter.rows();
    assert!(subs.iter().all(|s| s.email != "jm.lyon@example.net"));
    assert_eq!(subs.len(), 2, "the others' subscriptions stay");
    let orders = shop.orders.rows();
    let lyon = orders.iter().find(|o| o.number == "BL-2026-0110").unwrap();
    assert_eq!(lyon.email, ANONYMIZED);
    assert_eq!(lyon.amount_eur, 310.00, "amounts stay for the accounts");
    let paris = orders.iter().find(|o| o.number == "BL-2026-0042").unwrap();
    assert_eq!(
        paris.uploads.len(),
        1,
        "another customer's order is untouched"
    );
    // A retry of the same erasure finds nothing more to do.
    let call = dsr_engine::ServiceCall {
        tenant: shop.engine.tenant().clone(),
        request_id: r.request.id.clone(),
        request_type: RequestType::Delete,
        subject: r.request.subject.clone(),
        attempt: 2,
    };
    use dsr_engine::Service as _;
    assert_eq!(shop.newsletter.erase(&call, &[]).await.unwrap().records, 0);
}
