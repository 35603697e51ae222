//! Tenants and the subject directory on PostgreSQL, with the change feed every node's
//! index follows.

use crate::store::us;
use crate::{Error, PgStore, Result};
use chrono::Utc;
use dsr_model::{Subject, SubjectId, TenantId};

/// A tenant as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRow {
    /// Its name.
    pub name: TenantId,
    /// Its default phone region.
    pub default_region: Option<String>,
    /// How many subjects it holds.
    pub subjects: u64,
}

/// One change of the directory: a subject written (`subject` is its new value) or
/// deleted (`None`), at position `seq` of the feed.
#[derive(Debug, Clone)]
pub struct SubjectChange {
    /// Position in the feed (strictly increasing).
    pub seq: i64,
    /// The subject's id.
    pub id: SubjectId,
    /// The new value, or `None` when deleted.
    pub subject: Option<Subject>,
}

impl PgStore {
    /// Creates a tenant; `false` if it existed.
    pub async fn create_tenant(&self, tenant: &TenantId, region: Option<&str>) -> Result<bool> {
        let c = self.client().await?;
        let n = c
            .execute(
                &c.prepare_cached(
                    "INSERT INTO tenants (name, created_us, default_region) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING",
                )
                .await?,
                &[&tenant.as_str(), &us(Utc::now()), &region],
            )
            .await?;
        Ok(n == 1)
    }

    /// Whether the tenant exists.
    pub async fn tenant_exists(&self, tenant: &TenantId) -> Result<bool> {
        let c = self.client().await?;
        Ok(c.query_opt(
            &c.prepare_cached("SELECT 1 FROM tenants WHERE name = $1")
                .await?,
            &[&tenant.as_str()],
        )
        .await?
        .is_some())
    }

    /// Every tenant with its subject count, by name.
    pub async fn tenants(&self) -> Result<Vec<TenantRow>> {
        let c = self.client().await?;
        let rows = c.query(&c.prepare_cached("SELECT t.name, t.default_region, (SELECT count(*) FROM subjects s WHERE s.tenant = t.name)
                 FROM tenants t ORDER BY t.name").await?,
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TenantRow {
                    name: TenantId::new(r.get::<_, String>(0)).map_err(|e| Error::Unreadable {
                        what: "tenant".into(),
                        reason: e.to_string(),
                    })?,
                    default_region: r.get(1),
                    subjects: r.get::<_, i64>(2) as u64,
                })
            })
            .collect()
    }

    /// Writes subjects (insert or replace) and their changes to the feed, in one
    /// transaction. Returns how many were written.
    pub async fn upsert_subjects(&self, tenant: &TenantId, subjects: &[Subject]) -> Result<usize> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let now = us(Utc::now());
        let up = tx
            .prepare(
                "INSERT INTO subjects (tenant, id, doc, updated_us) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant, id) DO UPDATE SET doc = excluded.doc, updated_us = excluded.updated_us",
            )
            .await?;
        let feed = tx
            .prepare(
                "INSERT INTO subject_changes (tenant, subject_id, deleted) VALUES ($1, $2, FALSE)",
            )
            .await?;
        for s in subjects {
            let doc = serde_json::to_string(s).unwrap_or_default();
            tx.execute(&up, &[&tenant.as_str(), &s.id.as_str(), &doc, &now])
                .await?;
            tx.execute(&feed, &[&tenant.as_str(), &s.id.as_str()])
                .await?;
        }
        tx.commit().await?;
        Ok(subjects.len())
    }

    /// Deletes a subject (and records it in the feed); `false` if there was none.
    pub async fn delete_subject(&self, tenant: &TenantId, id: &SubjectId) -> Result<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                &tx.prepare_cached("DELETE FROM subjects WHERE tenant = $1 AND id = $2")
                    .await?,
                &[&tenant.as_str(), &id.as_str()],
            )
            .await?;
        if n > 0 {
            tx.execute(&tx.prepare_cached("INSERT INTO subject_changes (tenant, subject_id, deleted) VALUES ($1, $2, TRUE)").await?,
                &[&tenant.as_str(), &id.as_str()],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// One subject.
    pub async fn get_subject(&self, tenant: &TenantId, id: &SubjectId) -> Result<Option<Subject>> {
        let c = self.client().await?;
        c.query_opt(
            &c.prepare_cached("SELECT doc FROM subjects WHERE tenant = $1 AND id = $2")
                .await?,
            &[&tenant.as_str(), &id.as_str()],
        )
        .await?
        .map(|r| decode(r.get(0)))
        .transpose()
    }

    /// Every subject of the tenant, and the feed position they reflect (follow the
    /// feed from there with [`PgStore::subject_changes`]).
    pub async fn load_subjects(&self, tenant: &TenantId) -> Result<(Vec<Subject>, i64)> {
        let mut c = self.client().await?;
        // One snapshot for both reads, so no change falls between them.
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let seq: i64 = tx
            .query_one(
                &tx.prepare_cached(
                    "SELECT coalesce(max(seq), 0) FROM subject_changes WHERE tenant = $1",
                )
                .await?,
                &[&tenant.as_str()],
            )
            .await?
            .get(0);
        let rows = tx
            .query(
                &tx.prepare_cached("SELECT doc FROM subjects WHERE tenant = $1 ORDER BY id")
                    .await?,
                &[&tenant.as_str()],
            )
            .await?;
        tx.commit().await?;
        let subjects = rows
            .iter()
            .map(|r| decode(r.get(0)))
            .collect::<Result<Vec<_>>>()?;
        Ok((subjects, seq))
    }

    /// The directory's changes after position `after`, oldest first (at most `limit`),
    /// each with the subject's current value.
    ///
    /// A change whose sequence number was taken by a transaction still in flight can
    /// commit after a later one, so a follower that moves its cursor to the highest
    /// `seq` it saw may miss it: re-read a window behind the cursor (no follower in
    /// this release does yet; commands load the whole directory when they start).
    pub async fn subject_changes(
        &self,
        tenant: &TenantId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<SubjectChange>> {
        let c = self.client().await?;
        let rows = c
            .query(
                &c.prepare_cached(
                    "SELECT ch.seq, ch.subject_id, s.doc FROM subject_changes ch
                 LEFT JOIN subjects s ON s.tenant = ch.tenant AND s.id = ch.subject_id
                 WHERE ch.tenant = $1 AND ch.seq > $2 ORDER BY ch.seq LIMIT $3",
                )
                .await?,
                &[&tenant.as_str(), &after, &(limit as i64)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let doc: Option<String> = r.get(2);
                Ok(SubjectChange {
                    seq: r.get(0),
                    id: SubjectId::new(r.get::<_, String>(1)).map_err(|e| Error::Unreadable {
                        what: "subject change".into(),
                        reason: e.to_string(),
                    })?,
                    subject: doc.as_deref().map(decode).transpose()?,
                })
            })
            .collect()
    }

    /// How many subjects the tenant holds.
    pub async fn count_subjects(&self, tenant: &TenantId) -> Result<u64> {
        let c = self.client().await?;
        Ok(c.query_one(
            &c.prepare_cached("SELECT count(*) FROM subjects WHERE tenant = $1")
                .await?,
            &[&tenant.as_str()],
        )
        .await?
        .get::<_, i64>(0) as u64)
    }
}

fn decode(doc: &str) -> Result<Subject> {
    serde_json::from_str(doc).map_err(|e| Error::Unreadable {
        what: "subject".into(),
        reason: e.to_string(),
    })
}
