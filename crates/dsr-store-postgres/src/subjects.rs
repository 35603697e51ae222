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

pub use dsr_engine::server_store::{SubjectChange, UpsertCounts};

/// How long a deletion keeps the deleted subject's id in the change feed, for the
/// followers (every node reads the feed every `follow_ms`, 200 ms by default); then
/// the id is scrubbed by the next subject write. A node that falls further behind
/// reloads the tenant's directory (`dsr_ops::follow`).
pub const DELETED_ID_RETENTION: std::time::Duration = std::time::Duration::from_secs(3600);

/// Scrubs the ids of the tenant's deletions older than [`DELETED_ID_RETENTION`].
async fn scrub_old_deletions(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &TenantId,
    now_us: i64,
) -> Result<()> {
    let before = now_us - DELETED_ID_RETENTION.as_micros() as i64;
    tx.execute(
        &tx.prepare_cached(
            "UPDATE subject_changes SET subject_id = NULL
             WHERE tenant = $1 AND deleted AND subject_id IS NOT NULL AND recorded_us < $2",
        )
        .await?,
        &[&tenant.as_str(), &before],
    )
    .await?;
    Ok(())
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
        self.upsert_subjects_counted(tenant, subjects)
            .await
            .map(|c| c.created + c.updated)
    }

    /// [`PgStore::upsert_subjects`], telling how many subjects were new and how many
    /// replaced one with the same id. Two statements whatever the batch size (arrays
    /// through `UNNEST`); an id given twice keeps its last value.
    pub async fn upsert_subjects_counted(
        &self,
        tenant: &TenantId,
        subjects: &[Subject],
    ) -> Result<UpsertCounts> {
        if subjects.is_empty() {
            return Ok(UpsertCounts::default());
        }
        // One row per id (a statement may not touch a row twice), the last value wins.
        let mut last: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (i, s) in subjects.iter().enumerate() {
            last.insert(s.id.as_str(), i);
        }
        let repeated = subjects.len() - last.len();
        let mut keep: Vec<usize> = last.into_values().collect();
        keep.sort_unstable();
        let ids: Vec<&str> = keep.iter().map(|&i| subjects[i].id.as_str()).collect();
        let docs = keep
            .iter()
            .map(|&i| {
                serde_json::to_string(&subjects[i]).map_err(|e| Error::Unreadable {
                    what: format!("subject {}", subjects[i].id),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<Vec<String>>>()?;
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let now = us(Utc::now());
        // `xmax = 0` on the returned row: it was inserted, not updated.
        let rows = tx
            .query(
                &tx.prepare_cached(
                    "INSERT INTO subjects (tenant, id, doc, updated_us)
                     SELECT $1, u.id, u.doc, $4 FROM UNNEST($2::text[], $3::text[]) AS u(id, doc)
                     ON CONFLICT (tenant, id) DO UPDATE SET doc = excluded.doc, updated_us = excluded.updated_us
                     RETURNING (xmax = 0)",
                )
                .await?,
                &[&tenant.as_str(), &ids, &docs, &now],
            )
            .await?;
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO subject_changes (tenant, subject_id, deleted)
                 SELECT $1, u.id, FALSE FROM UNNEST($2::text[]) WITH ORDINALITY AS u(id, n) ORDER BY u.n",
            )
            .await?,
            &[&tenant.as_str(), &ids],
        )
        .await?;
        scrub_old_deletions(&tx, tenant, now).await?;
        tx.commit().await?;
        let created = rows.iter().filter(|r| r.get::<_, bool>(0)).count();
        Ok(UpsertCounts {
            created,
            updated: rows.len() - created + repeated,
        })
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
            // The subject's earlier changes stop naming it; its deletion names it for
            // the followers until it is older than DELETED_ID_RETENTION.
            tx.execute(
                &tx.prepare_cached(
                    "UPDATE subject_changes SET subject_id = NULL WHERE tenant = $1 AND subject_id = $2",
                )
                .await?,
                &[&tenant.as_str(), &id.as_str()],
            )
            .await?;
            tx.execute(&tx.prepare_cached("INSERT INTO subject_changes (tenant, subject_id, deleted) VALUES ($1, $2, TRUE)").await?,
                &[&tenant.as_str(), &id.as_str()],
            )
            .await?;
            scrub_old_deletions(&tx, tenant, us(Utc::now())).await?;
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
                    "SELECT ch.seq, ch.subject_id, s.doc, ch.deleted FROM subject_changes ch
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
                let id = r
                    .get::<_, Option<String>>(1)
                    .map(|id| {
                        SubjectId::new(id).map_err(|e| Error::Unreadable {
                            what: "subject change".into(),
                            reason: e.to_string(),
                        })
                    })
                    .transpose()?;
                Ok(SubjectChange {
                    seq: r.get(0),
                    subject: if id.is_some() {
                        doc.as_deref().map(decode).transpose()?
                    } else {
                        None
                    },
                    id,
                    deleted: r.get(3),
                })
            })
            .collect()
    }

    /// How many identifiers of erased subjects the tenant's suppression list holds.
    pub async fn suppression_count(&self, tenant: &TenantId) -> Result<u64> {
        let c = self.client().await?;
        Ok(c.query_one(
            &c.prepare_cached("SELECT count(*) FROM suppression WHERE tenant = $1")
                .await?,
            &[&tenant.as_str()],
        )
        .await?
        .get::<_, i64>(0) as u64)
    }

    /// Whether an import refuses (rather than warns about) a subject with an identifier
    /// of a person erased earlier.
    pub async fn refuse_erased(&self, tenant: &TenantId) -> Result<bool> {
        let c = self.client().await?;
        Ok(c.query_opt(
            &c.prepare_cached("SELECT refuse_erased FROM tenants WHERE name = $1")
                .await?,
            &[&tenant.as_str()],
        )
        .await?
        .is_some_and(|r| r.get::<_, bool>(0)))
    }

    /// Sets [`PgStore::refuse_erased`] (the tenant must exist).
    pub async fn set_refuse_erased(&self, tenant: &TenantId, refuse: bool) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            &c.prepare_cached("UPDATE tenants SET refuse_erased = $2 WHERE name = $1")
                .await?,
            &[&tenant.as_str(), &refuse],
        )
        .await?;
        Ok(())
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
