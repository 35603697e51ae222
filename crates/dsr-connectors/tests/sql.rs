//! The SQL connector on a SQLite file and on a real PostgreSQL (from
//! `DSR_TEST_POSTGRES`; `.ci/run` starts one), each with customers, orders, tickets and
//! attachments, driven through the engine and its worker: an export holds exactly the
//! subject's rows; a delete anonymizes and deletes exactly what the mapping says and
//! nothing else, checked row by row; an update rewrites the mapped columns.

mod support;

use dsr_connectors::check::Level;
use dsr_engine::{Action, RequestStatus, TaskStatus};
use dsr_model::RequestType;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use support::*;

const SCHEMA: &str = "
CREATE TABLE customers (id integer PRIMARY KEY, email varchar(200) UNIQUE, full_name text NOT NULL,
                        phone text, notes text, crm_ref text);
CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers(id),
                     total numeric(10,2) NOT NULL, shipping_address text);
CREATE TABLE tickets (id integer PRIMARY KEY, order_id integer REFERENCES orders(id),
                      customer_email text, subject text NOT NULL, body text);
CREATE TABLE attachments (id integer PRIMARY KEY, ticket_id integer NOT NULL REFERENCES tickets(id),
                          file_name text NOT NULL, mime text, content BYTES NOT NULL);
CREATE TABLE products (id integer PRIMARY KEY, name text NOT NULL);
INSERT INTO customers VALUES
  (1, 'jeanne.martin@Example.com', 'Jeanne Martin', '+33 6 11 22 33 44', 'VIP, allergic to nuts', 'crm-77'),
  (2, 'paul@example.org', 'Paul Durand', '+33 7 00 00 00 01', NULL, 'crm-78'),
  (3, 'jm@other.example', 'Jeanne Martin', '+44 20 7946 0000', 'the other Jeanne Martin', NULL),
  (4, NULL, 'J. Martin', '+33611223344', NULL, NULL);
INSERT INTO orders VALUES
  (10, 1, 12.50, '1 rue de la Paix, Paris'), (11, 1, 99.00, '1 rue de la Paix, Paris'),
  (12, 2, 5.00, '2 Main St'), (13, 4, 7.25, '1 rue de la Paix'), (14, 3, 3.00, '3 High St, London');
INSERT INTO tickets VALUES
  (100, 10, NULL, 'late parcel', 'Jeanne here, my parcel is late'),
  (101, 11, NULL, 'refund', 'please refund'),
  (102, 12, NULL, 'broken', 'Paul: it arrived broken'),
  (103, NULL, 'JEANNE.MARTIN@example.com', 'question', 'do you ship to Lyon?'),
  (104, 14, NULL, 'hello', 'from the other Jeanne'),
  (105, NULL, 'paul@example.org', 'newsletter', 'unsubscribe me');
INSERT INTO products VALUES (1, 'teapot');
";

fn attachments_sql(pg: bool) -> String {
    let b = |s: &str| {
        if pg {
            format!("'\\x{}'::bytea", hex::encode(s))
        } else {
            format!("X'{}'", hex::encode(s))
        }
    };
    format!(
        "INSERT INTO attachments VALUES (1000, 100, 'parcel.jpg', 'image/jpeg', {}), (1001, 103, 'id.pdf', 'application/pdf', {}), (1002, 102, 'broken.jpg', 'image/jpeg', {}), (1003, 104, 'x.txt', NULL, {});",
        b("photo of a parcel"),
        b("Jeanne's passport"),
        b("photo of Paul's cup"),
        b("other")
    )
}

fn mapping(url: &str) -> String {
    format!(
        r#"
[[services]]
name = "crm"
kind = "sql"
erasure = "anonymize"
description = "the shop's CRM"
[services.sql]
url = "{url}"
hash_key_file = "hash.key"

[[services.sql.tables]]
name = "customers"
key = "id"
category = "customer_relationship"
find = {{ email = "email", phone = "phone", crm_ref = "external_id" }}
fields = {{ full_name = "name", email = "email", phone = "phone" }}
unsearchable = ["notes"]
mask = {{ email = "email_domain", full_name = {{ fixed = "[erased]" }}, phone = "phone_country", crm_ref = "hash" }}

[[services.sql.tables]]
name = "orders"
key = "id"
category = "transactional"
references = [{{ column = "customer_id", table = "customers" }}]
fields = {{ shipping_address = "address" }}

[[services.sql.tables]]
name = "tickets"
key = "id"
category = "traces"
erasure = "delete"
find = {{ customer_email = "email" }}
references = [{{ column = "order_id", table = "orders" }}]
unsearchable = ["body"]

[[services.sql.tables]]
name = "attachments"
key = "id"
category = "communications"
erasure = "delete"
references = [{{ column = "ticket_id", table = "tickets" }}]
attachment = {{ content = "content", name = "file_name", content_type = "mime" }}
"#
    )
}

const TABLES: [&str; 5] = ["customers", "orders", "tickets", "attachments", "products"];

type Dump = BTreeMap<(String, i64), Map<String, Value>>;

enum Db {
    Sqlite(std::path::PathBuf),
    Pg(String),
}

impl Db {
    fn url(&self) -> String {
        match self {
            Db::Sqlite(p) => format!("sqlite:{}", p.display()),
            Db::Pg(u) => u.clone(),
        }
    }

    async fn exec(&self, sql: &str) {
        match self {
            Db::Sqlite(p) => {
                let c = rusqlite::Connection::open(p).unwrap();
                c.execute_batch(sql).unwrap();
            }
            Db::Pg(u) => {
                let (c, conn) = tokio_postgres::connect(u, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                c.batch_execute(sql).await.unwrap();
            }
        }
    }

    async fn dump(&self) -> Dump {
        let mut out = Dump::new();
        for t in TABLES {
            let rows: Vec<Map<String, Value>> = match self {
                Db::Sqlite(p) => {
                    let c = rusqlite::Connection::open(p).unwrap();
                    let mut st = c
                        .prepare(&format!("SELECT * FROM {t} ORDER BY id"))
                        .unwrap();
                    let names: Vec<String> = st.column_names().map(str::to_owned).collect();
                    st.query_map([], |r| {
                        let mut m = Map::new();
                        for (i, n) in names.iter().enumerate() {
                            use rusqlite::types::ValueRef;
                            let v = match r.get_ref(i)? {
                                ValueRef::Null => Value::Null,
                                ValueRef::Integer(x) => json!(x),
                                ValueRef::Real(x) => json!(x),
                                ValueRef::Text(x) => json!(String::from_utf8_lossy(x)),
                                ValueRef::Blob(x) => json!(hex::encode(x)),
                            };
                            m.insert(n.clone(), v);
                        }
                        Ok(m)
                    })
                    .unwrap()
                    .collect::<rusqlite::Result<_>>()
                    .unwrap()
                }
                Db::Pg(u) => {
                    let (c, conn) = tokio_postgres::connect(u, tokio_postgres::NoTls)
                        .await
                        .unwrap();
                    tokio::spawn(conn);
                    c.query(&format!("SELECT to_jsonb(t) FROM {t} t ORDER BY id"), &[])
                        .await
                        .unwrap()
                        .iter()
                        .map(|r| match r.get::<_, Value>(0) {
                            Value::Object(m) => m,
                            _ => unreachable!(),
                        })
                        .collect()
                }
            };
            for r in rows {
                out.insert((t.to_owned(), r["id"].as_i64().unwrap()), r);
            }
        }
        out
    }
}

async fn fresh(name: &str, dir: &std::path::Path) -> Option<Db> {
    let db = if name.starts_with("sqlite") {
        let p = dir.join(format!("{name}.db"));
        rusqlite::Connection::open(&p).unwrap();
        Db::Sqlite(p)
    } else {
        let Ok(admin) = std::env::var("DSR_TEST_POSTGRES") else {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "CI must run the PostgreSQL tests: set DSR_TEST_POSTGRES (see .ci/postgres)"
                );
            }
            eprintln!(
                "SKIPPED {name}: no PostgreSQL (set DSR_TEST_POSTGRES, e.g. with `eval \"$(bash .ci/postgres start /tmp/dsr-pg)\"`)"
            );
            return None;
        };
        let db = format!("dsr_conn_{name}_{}", std::process::id());
        let (c, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .await
            .unwrap();
        c.batch_execute(&format!("CREATE DATABASE {db}"))
            .await
            .unwrap();
        let base = admin.rsplit_once('/').unwrap().0;
        Db::Pg(format!("{base}/{db}"))
    };
    let pg = matches!(db, Db::Pg(_));
    let schema = SCHEMA.replace("BYTES", if pg { "bytea" } else { "BLOB" });
    db.exec(&schema).await;
    db.exec(&attachments_sql(pg)).await;
    Some(db)
}

fn rig_for(db: &Db, dir: &std::path::Path) -> Rig {
    write_key(dir, "hash.key", "hash-key-for-the-tests-0123456789");
    let cfg = config(&mapping(&db.url()), dir);
    rig(
        dsr_connectors::build_services(&cfg).unwrap(),
        vec![jeanne(), paul()],
    )
}

fn ids(d: &Dump, table: &str) -> BTreeSet<i64> {
    d.keys()
        .filter(|(t, _)| t == table)
        .map(|(_, i)| *i)
        .collect()
}

/// The subject's rows (customer 1 by email and external id, customer 4 by phone only;
/// never customer 3, the other Jeanne Martin, who shares the name).
const JEANNE: [(&str, &[i64]); 4] = [
    ("customers", &[1, 4]),
    ("orders", &[10, 11, 13]),
    ("tickets", &[100, 101, 103]),
    ("attachments", &[1000, 1001]),
];

async fn export_and_delete(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = fresh(name, dir.path()).await else {
        return;
    };
    let rig = rig_for(&db, dir.path());
    let cfg = config(&mapping(&db.url()), dir.path());
    let report = dsr_connectors::check::check(&cfg).await;
    assert!(!report.has_problems(), "{report:#?}");
    assert_eq!(
        report.findings.last().unwrap().level,
        Level::Ok,
        "{report:#?}"
    );

    // Export: exactly the subject's rows, with the attachments' bytes.
    let before = db.dump().await;
    let (req, tasks) = rig.run(RequestType::Export, "c-1").await;
    assert_eq!(req.status(), RequestStatus::Completed, "{tasks:#?}");
    let o = task(&tasks, "crm").outcome.clone().unwrap();
    let mut got: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for r in &o.data {
        got.entry(r.data["table"].as_str().unwrap().to_owned())
            .or_default()
            .insert(r.data["row"]["id"].as_i64().unwrap());
    }
    let want: BTreeMap<String, BTreeSet<i64>> = JEANNE
        .iter()
        .map(|(t, i)| ((*t).to_owned(), i.iter().copied().collect()))
        .collect();
    assert_eq!(got, want);
    assert_eq!((o.records, o.attachments), (10, 2));
    let passport = o.data.iter().find(|r| r.data["row"]["id"] == 1001).unwrap();
    assert_eq!(passport.attachments[0].name, "id.pdf");
    assert_eq!(passport.attachments[0].content_type, "application/pdf");
    assert_eq!(
        passport.attachments[0].content_base64,
        "SmVhbm5lJ3MgcGFzc3BvcnQ="
    );
    assert!(
        passport.data["row"].get("content").is_none(),
        "the bytes are the attachment"
    );
    let customer = o
        .data
        .iter()
        .find(|r| r.data["table"] == "customers")
        .unwrap();
    assert_eq!(
        customer.category,
        dsr_engine::Category::CustomerRelationship
    );
    assert_eq!(customer.data["row"]["notes"], "VIP, allergic to nuts");
    assert_eq!(
        o.blind_spots,
        vec!["customers.notes".to_owned(), "tickets.body".to_owned()]
    );
    assert_eq!(db.dump().await, before, "an export changes nothing");
    assert!(!rig.engine.package(&req.id).await.unwrap().is_empty());

    // Delete: customers and orders anonymized, tickets and attachments deleted.
    let (req, tasks) = rig.run(RequestType::Delete, "c-1").await;
    assert_eq!(req.status(), RequestStatus::Completed, "{tasks:#?}");
    let t = task(&tasks, "crm");
    assert_eq!(t.status(), TaskStatus::Done);
    let o = t.outcome.as_ref().unwrap();
    assert_eq!(
        (o.action, o.records, o.attachments),
        (Action::Anonymized, 8, 2)
    );
    let after = db.dump().await;
    for (key, row) in &before {
        let (table, id) = (key.0.as_str(), key.1);
        let theirs = JEANNE.iter().any(|(t, i)| *t == table && i.contains(&id));
        let now = after.get(key);
        match (table, theirs) {
            (_, false) => assert_eq!(
                now,
                Some(row),
                "{table} {id} is not the subject's: untouched"
            ),
            ("tickets" | "attachments", true) => assert_eq!(now, None, "{table} {id} deleted"),
            ("orders", true) => {
                let mut want = row.clone();
                want.insert("shipping_address".into(), Value::Null);
                assert_eq!(now, Some(&want), "order {id}: only the address is masked");
            }
            ("customers", true) => {
                let now = now.unwrap();
                assert_eq!(now["full_name"], "[erased]");
                assert_eq!(now["notes"], Value::Null);
                if id == 1 {
                    let email = now["email"].as_str().unwrap();
                    assert!(
                        email.starts_with("erased-") && email.ends_with("@Example.com"),
                        "{email}"
                    );
                    assert_eq!(now["phone"], "+33 0 00 00 00 00");
                    let h = now["crm_ref"].as_str().unwrap();
                    assert!(
                        h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()),
                        "{h}"
                    );
                } else {
                    assert_eq!(now["email"], Value::Null, "NULL stays NULL");
                    assert_eq!(now["phone"], "+33000000000");
                    assert_eq!(now["crm_ref"], Value::Null);
                }
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        after.len(),
        before.len() - 5,
        "no row appeared; five deleted"
    );
    assert_eq!(ids(&after, "products"), BTreeSet::from([1]));

    // Erasing again finds nothing (idempotent).
    let mut again = rig.engine.get(&req.id).await.unwrap().0;
    again.subject = jeanne();
    let call = dsr_engine::ServiceCall {
        tenant: again.tenant.clone(),
        request_id: again.id.clone(),
        request_type: RequestType::Delete,
        subject: jeanne(),
        attempt: 2,
    };
    let svc = rig.engine.services().get("crm").unwrap();
    let e = svc.erase(&call, &[]).await.unwrap();
    assert_eq!((e.records, e.attachments), (0, 0));
    assert_eq!(db.dump().await, after);
}

async fn update_and_keep(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = fresh(name, dir.path()).await else {
        return;
    };
    let rig = rig_for(&db, dir.path());
    let before = db.dump().await;
    let (req, tasks) = rig.run(RequestType::Update, "c-1").await;
    assert_eq!(req.status(), RequestStatus::Completed, "{tasks:#?}");
    let o = task(&tasks, "crm").outcome.as_ref().unwrap();
    assert_eq!(
        (o.action, o.records),
        (Action::Updated, 2),
        "customer 1 and ticket 103"
    );
    let after = db.dump().await;
    let k = |t: &str, i: i64| (t.to_owned(), i);
    assert_eq!(after[&k("customers", 1)]["email"], "jeanne@new.example");
    assert_eq!(
        after[&k("tickets", 103)]["customer_email"],
        "jeanne@new.example"
    );
    for (key, row) in &before {
        if *key != k("customers", 1) && *key != k("tickets", 103) {
            assert_eq!(after.get(key), Some(row), "{key:?}");
        }
    }

    // A retention rule keeps transactional data: orders stay as they are, and the
    // result says so; the rest is erased.
    let call = dsr_engine::ServiceCall {
        tenant: req.tenant.clone(),
        request_id: req.id.clone(),
        request_type: RequestType::Delete,
        subject: jeanne(),
        attempt: 1,
    };
    let keep = [dsr_engine::service::KeepRule {
        category: Some(dsr_engine::Category::Transactional),
        ground: "invoices: 10 years (commercial code)".into(),
    }];
    let svc = rig.engine.services().get("crm").unwrap();
    let e = svc.erase(&call, &keep).await.unwrap();
    assert_eq!(e.kept.len(), 1);
    assert_eq!(
        (e.kept[0].what.as_str(), e.kept[0].records),
        ("transactional", 3)
    );
    let last = db.dump().await;
    assert_eq!(last[&k("orders", 10)], before[&k("orders", 10)]);
    assert!(!last.contains_key(&k("tickets", 100)));
}

async fn check_names_what_is_wrong(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = fresh(name, dir.path()).await else {
        return;
    };
    db.exec("CREATE TABLE ticket_events (id integer PRIMARY KEY, ticket_id integer REFERENCES tickets(id), what text);")
        .await;
    write_key(dir.path(), "hash.key", "hash-key-for-the-tests-0123456789");
    let bad = mapping(&db.url())
        .replace("crm_ref = \"hash\" }", "crm_ref = \"hash\", notes = { fixed = \"x\" } }")
        .replace(
            "fields = { shipping_address = \"address\" }",
            "fields = { shipping_address = \"address\", nickname = \"name\" }\nmask = { total = { fixed = \"n/a\" } }",
        )
        .replace("full_name = { fixed = \"[erased]\" }", "full_name = \"null\"")
        .replace("email = \"email_domain\"", "email = { fixed = \"gone\" }")
        + "\n[[services.sql.tables]]\nname = \"invoices\"\nkey = \"id\"\nreferences = [{ column = \"customer_id\", table = \"customers\" }]\n";
    let mut text = bad;
    // And a database nobody answers for.
    text.push_str(
        &mapping("postgres://nobody@127.0.0.1:9/none")
            .replace("name = \"crm\"", "name = \"old_crm\""),
    );
    let report = dsr_connectors::check::check(&config(&text, dir.path())).await;
    let problems: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.level == Level::Problem)
        .map(|f| format!("{} {}: {}", f.service, f.place, f.message))
        .collect();
    let want = [
        "crm orders.nickname: fields.nickname: column nickname does not exist in orders",
        "crm invoices: table invoices does not exist",
        "crm customers.full_name: mask.full_name: mask null: the column is NOT NULL",
        "crm customers.email: mask.email: mask fixed = \"gone\": the column is unique",
        "crm orders.total: mask.total: mask fixed = \"n/a\" does not fit the column's type",
        "crm ticket_events.ticket_id: foreign key ticket_events.ticket_id → tickets.id (on delete no action): ticket_events is not mapped, and deleting them would fail",
        "old_crm database: PostgreSQL: unreachable",
    ];
    for w in want {
        assert!(
            problems.iter().any(|p| p.starts_with(w)),
            "missing {w:?} in\n{problems:#?}"
        );
    }
    assert_eq!(problems.len(), want.len(), "{problems:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_export_and_delete_touch_exactly_the_subjects_rows() {
    export_and_delete("sqlite_erase").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_export_and_delete_touch_exactly_the_subjects_rows() {
    export_and_delete("pg_erase").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_update_rewrites_mapped_columns_and_retention_keeps() {
    update_and_keep("sqlite_update").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_update_rewrites_mapped_columns_and_retention_keeps() {
    update_and_keep("pg_update").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_services_check_names_service_table_and_column() {
    check_names_what_is_wrong("sqlite_check").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_services_check_names_service_table_and_column() {
    check_names_what_is_wrong("pg_check").await;
}

#[test]
fn mapping_mistakes_are_refused_when_the_configuration_loads() {
    let dir = tempfile::tempdir().unwrap();
    write_key(dir.path(), "hash.key", "hash-key-for-the-tests-0123456789");
    let base = mapping("sqlite:crm.db");
    for (from, to, want) in [
        (
            "find = { customer_email = \"email\" }\n",
            "find = { customer_email = \"name\" }\n",
            "unknown variant `name`",
        ),
        (
            "references = [{ column = \"ticket_id\", table = \"tickets\" }]",
            "references = [{ column = \"ticket_id\", table = \"ticketz\" }]",
            "not mapped",
        ),
        (
            "erasure = \"anonymize\"\ndescription",
            "erasure = \"delete\"\ndescription",
            "(customers): `mask` is for tables that anonymize",
        ),
        (
            "name = \"attachments\"\nkey = \"id\"\ncategory = \"communications\"\nerasure = \"delete\"",
            "name = \"attachments\"\nkey = \"id\"\ncategory = \"communications\"\nerasure = \"anonymize\"",
            "must delete its rows",
        ),
        (
            "phone = \"phone_country\"",
            "phone = \"scramble\"",
            "mask \"scramble\" is not known",
        ),
        ("url = \"sqlite:crm.db\"", "url = \"mysql://x/y\"", "MySQL"),
        (
            "name = \"orders\"\nkey = \"id\"",
            "name = \"orders\"\nkey = \"id; drop table x\"",
            "not accepted as a table or column name",
        ),
        (
            "references = [{ column = \"customer_id\", table = \"customers\" }]",
            "references = [{ column = \"customer_id\", table = \"tickets\" }]",
            "form a cycle",
        ),
    ] {
        assert!(base.contains(from), "{from}");
        let cfg = config(&base.replacen(from, to, 1), dir.path());
        let err = dsr_connectors::build_services(&cfg)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("services[crm]: ") && err.contains(want),
            "{to}\n→ {err}"
        );
    }
}
