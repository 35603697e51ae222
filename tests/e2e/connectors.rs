//! `kind = "sql"` through the `dsr` command: `services check` before any request (exit
//! status 1 naming service, table and column), then a delete request that anonymizes
//! the subject's customer row and deletes its orders in another SQLite database, and
//! the blind spots in `services` and in the request's result.

use crate::harness::{Dsr, sample};

const CRM: &str = "
CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT UNIQUE, full_name TEXT NOT NULL, notes TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), total INTEGER NOT NULL);
INSERT INTO customers VALUES (1, 'Jean.Dupont@example.fr', 'Jean Dupont', 'calls on Mondays'),
                             (2, 'zoe.faure@gmail.com', 'Zoë Faure', NULL);
INSERT INTO orders VALUES (10, 1, 42), (11, 2, 7);
";

fn config(mask: &str) -> String {
    format!(
        r#"
[[services]]
name = "crm"
kind = "sql"
erasure = "anonymize"
[services.sql]
url = "sqlite:crm.db"
[[services.sql.tables]]
name = "customers"
key = "id"
find = {{ email = "email" }}
fields = {{ full_name = "name" }}
unsearchable = ["notes"]
mask = {{ email = "email_domain", full_name = {mask} }}
[[services.sql.tables]]
name = "orders"
key = "id"
category = "transactional"
erasure = "delete"
references = [{{ column = "customer_id", table = "customers" }}]
"#
    )
}

fn rows(d: &Dsr, sql: &str) -> Vec<String> {
    let c = rusqlite::Connection::open(d.path().join("crm.db")).unwrap();
    let mut st = c.prepare(sql).unwrap();
    st.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[test]
fn a_sql_service_is_checked_then_erased_through_the_cli() {
    let d = Dsr::new();
    d.ok(&["import", &sample(), "--quiet"]);
    rusqlite::Connection::open(d.path().join("crm.db"))
        .unwrap()
        .execute_batch(CRM)
        .unwrap();

    // A mask that cannot be written: the check says where, with status 1.
    let bad = d.file("bad.toml", config("\"null\""));
    let (code, text) = d.fails(&["services", "check", "--config", &bad]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("PROBLEM  crm customers.full_name:")
            && text.contains("mask null: the column is NOT"),
        "{text}"
    );

    let good = d.file("dsr.toml", config("{ fixed = \"[erased]\" }"));
    let text = d.ok(&["services", "check", "--config", &good]);
    assert!(
        text.contains("ok       crm mapping: SQLite: 2 tables"),
        "{text}"
    );
    let v = d.json(&["services", "--config", &good]);
    assert!(
        v["blindSpots"]
            .to_string()
            .contains("service crm: field customers.notes"),
        "{v}"
    );

    let r = d.json(&[
        "request", "create", "--type", "delete", "--id", "c-1001", "--wait", "--config", &good,
    ]);
    let crm = r["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["service"] == "crm")
        .unwrap();
    assert_eq!(crm["action"], "anonymized", "{r}");
    assert_eq!(crm["records"], 2, "customer 1 anonymized, order 10 deleted");
    assert_eq!(crm["blindSpots"][0], "customers.notes");
    let customers = rows(
        &d,
        "SELECT id || ' ' || email || ' ' || full_name || ' ' || coalesce(notes, '-') FROM customers ORDER BY id",
    );
    assert!(
        customers[0].starts_with("1 erased-") && customers[0].ends_with("@example.fr [erased] -"),
        "{customers:?}"
    );
    assert_eq!(customers[1], "2 zoe.faure@gmail.com Zoë Faure -");
    assert_eq!(rows(&d, "SELECT CAST(id AS TEXT) FROM orders"), ["11"]);
}
