//! [`MemoryStore`]: the [`Store`] contract kept in memory, in a few lines, as the model
//! every backend follows (the conformance suite, `dsr_engine::conformance`, runs on it
//! like on SQLite and PostgreSQL). For tests, examples and a host that keeps nothing
//! across restarts.
//!
//! A commit holds one lock, checks everything first (tenant, duplicate guard, versions)
//! and only then applies: all of the change or none of it.

use crate::audit::{self, AuditEntry};
use crate::privacy::{self, Key};
use crate::store::{Change, ClaimSpec, Store, Suppressed};
use crate::types::{Request, RequestFilter, RequestId, Task, TaskStatus};
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dsr_model::TenantId;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

#[derive(Debug, Default)]
struct Tenant {
    /// By id, with the insertion sequence (lists are oldest first).
    requests: BTreeMap<RequestId, (u64, Request)>,
    /// By (request, service).
    tasks: BTreeMap<(RequestId, String), Task>,
    audit: Vec<AuditEntry>,
    packages: HashMap<RequestId, String>,
    secret: Option<Key>,
    subject_keys: HashMap<String, Key>,
    suppression: HashMap<String, (DateTime<Utc>, RequestId)>,
    default_region: Option<String>,
}

/// The whole store in memory (see the module documentation).
#[derive(Debug, Default)]
pub struct MemoryStore {
    tenants: Mutex<HashMap<TenantId, Tenant>>,
    seq: std::sync::atomic::AtomicU64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a tenant's default phone region (what `dsr tenant create --region` stores).
    pub fn set_default_region(&self, tenant: &TenantId, region: Option<&str>) {
        self.with(tenant, |t| t.default_region = region.map(str::to_owned));
    }

    fn with<T>(&self, tenant: &TenantId, f: impl FnOnce(&mut Tenant) -> T) -> T {
        let mut all = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        f(all.entry(tenant.clone()).or_default())
    }
}

/// The oldest unfinished request of `ty` for one of the guard's subjects or its merge
/// set, as the duplicate error names it (the parent of a related request).
fn duplicate(t: &Tenant, g: &crate::store::DuplicateGuard) -> Option<Error> {
    let hit = t
        .requests
        .values()
        .filter(|(_, r)| r.ty == g.ty && !r.status.is_finished())
        .filter(|(_, r)| {
            g.subjects.contains(&r.subject.id)
                || (g.merge_set.is_some() && r.merge_set == g.merge_set)
        })
        .min_by_key(|(seq, r)| (r.created_at, *seq))?;
    let r = &hit.1;
    Some(Error::Duplicate {
        existing: r.parent.as_ref().unwrap_or(&r.id).to_string(),
        status: r.status.as_str().into(),
        ty: g.ty.as_str().into(),
        subject: match &g.merge_set {
            Some(m) => format!("merge set {m} (member {})", r.subject.id),
            None => r.subject.id.to_string(),
        },
    })
}

fn append(t: &mut Tenant, tenant: &TenantId, at: DateTime<Utc>, events: Vec<audit::AuditEvent>) {
    for e in events {
        let (index, prev) = match t.audit.last() {
            Some(last) => (last.index + 1, last.hash.clone()),
            None => (0, audit::GENESIS.to_owned()),
        };
        t.audit.push(audit::seal(tenant, index, at, e, &prev));
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn commit(&self, change: Change) -> Result<()> {
        let tenant = change.tenant.clone();
        let mut all = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        let t = all.entry(tenant.clone()).or_default();
        // Check everything before changing anything.
        if change.requests.iter().any(|w| w.request.tenant != tenant)
            || change.tasks.iter().any(|w| w.task.tenant != tenant)
        {
            return Err(Error::Invalid("a change mixes tenants".into()));
        }
        if let Some(g) = &change.guard
            && let Some(e) = duplicate(t, g)
        {
            return Err(e);
        }
        for w in &change.requests {
            let stored = t.requests.get(&w.request.id).map(|(_, r)| r.version);
            if stored != w.expected_version {
                return Err(Error::Conflict(format!("request {}", w.request.id)));
            }
        }
        for w in &change.tasks {
            let key = (w.task.request_id.clone(), w.task.service.clone());
            if t.tasks.get(&key).map(|x| x.version) != w.expected_version {
                return Err(Error::Conflict(format!(
                    "task {} / {}",
                    w.task.request_id, w.task.service
                )));
            }
        }
        for w in change.requests {
            let seq = match t.requests.get(&w.request.id) {
                Some((seq, _)) => *seq,
                None => self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            };
            t.requests.insert(w.request.id.clone(), (seq, w.request));
        }
        for w in change.tasks {
            t.tasks
                .insert((w.task.request_id.clone(), w.task.service.clone()), w.task);
        }
        for (id, doc) in change.packages {
            t.packages.entry(id).or_insert(doc);
        }
        for id in &change.remove_packages {
            t.packages.remove(id);
        }
        for e in change.erasures {
            t.subject_keys.remove(&e.subject_ref);
            for h in e.suppress {
                t.suppression.insert(h, (change.at, e.request_id.clone()));
            }
        }
        append(t, &tenant, change.at, change.audit);
        Ok(())
    }

    async fn claim(&self, spec: ClaimSpec<'_>) -> Result<Vec<Task>> {
        let mut all = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        let t = all.entry(spec.tenant.clone()).or_default();
        let mut candidates: Vec<&Task> = t.tasks.values().filter(|x| spec.wants(x)).collect();
        candidates.sort_by_key(|x| x.next_at);
        let claims: Vec<_> = candidates
            .into_iter()
            .take(spec.limit)
            .filter_map(|x| spec.claim(x))
            .collect();
        let mut out = Vec::with_capacity(claims.len());
        let mut events = Vec::with_capacity(claims.len());
        for c in claims {
            t.tasks.insert(
                (c.task.request_id.clone(), c.task.service.clone()),
                c.task.clone(),
            );
            events.push(c.event);
            out.push(c.task);
        }
        append(t, spec.tenant, spec.now, events);
        Ok(out)
    }

    async fn request(&self, tenant: &TenantId, id: &RequestId) -> Result<Option<Request>> {
        Ok(self.with(tenant, |t| t.requests.get(id).map(|(_, r)| r.clone())))
    }

    async fn requests(&self, tenant: &TenantId, filter: &RequestFilter) -> Result<Vec<Request>> {
        Ok(self.with(tenant, |t| {
            let mut rows: Vec<&(u64, Request)> = t
                .requests
                .values()
                .filter(|(_, r)| filter.status.is_none_or(|s| r.status == s))
                .filter(|(_, r)| filter.overdue_at.is_none_or(|at| r.is_overdue(at)))
                .filter(|(_, r)| filter.subject.as_ref().is_none_or(|s| r.subject.id == *s))
                .collect();
            rows.sort_by(|a, b| (a.1.created_at, &a.1.id).cmp(&(b.1.created_at, &b.1.id)));
            if filter.limit > 0 {
                rows.truncate(filter.limit);
            }
            rows.into_iter().map(|(_, r)| r.clone()).collect()
        }))
    }

    async fn tasks(&self, tenant: &TenantId, id: &RequestId) -> Result<Vec<Task>> {
        Ok(self.with(tenant, |t| {
            t.tasks
                .range((id.clone(), String::new())..)
                .take_while(|((r, _), _)| r == id)
                .map(|(_, x)| x.clone())
                .collect()
        }))
    }

    async fn tasks_with_status(&self, tenant: &TenantId, status: TaskStatus) -> Result<Vec<Task>> {
        Ok(self.with(tenant, |t| {
            t.tasks
                .values()
                .filter(|x| x.status == status)
                .cloned()
                .collect()
        }))
    }

    async fn open_tasks(&self, tenant: &TenantId) -> Result<(u64, Option<DateTime<Utc>>)> {
        Ok(self.with(tenant, |t| {
            let open = t
                .tasks
                .values()
                .filter(|x| TaskStatus::OPEN.contains(&x.status));
            let (mut n, mut first) = (0, None::<DateTime<Utc>>);
            for x in open {
                n += 1;
                let at = if x.status == ClaimSpec::EXPIRED {
                    x.lease_expires.unwrap_or(x.next_at)
                } else {
                    x.next_at
                };
                first = Some(first.map_or(at, |f| f.min(at)));
            }
            (n, first)
        }))
    }

    async fn audit(&self, tenant: &TenantId) -> Result<(Vec<AuditEntry>, Option<(u64, String)>)> {
        Ok(self.with(tenant, |t| {
            let head = t.audit.last().map(|e| (e.index, e.hash.clone()));
            (t.audit.clone(), head)
        }))
    }

    async fn package(&self, tenant: &TenantId, id: &RequestId) -> Result<Option<String>> {
        Ok(self.with(tenant, |t| t.packages.get(id).cloned()))
    }

    async fn tenant_secret(&self, tenant: &TenantId) -> Result<Key> {
        let fresh = privacy::random_key()?;
        Ok(self.with(tenant, |t| *t.secret.get_or_insert(fresh)))
    }

    async fn subject_key(
        &self,
        tenant: &TenantId,
        subject_ref: &str,
        create: bool,
    ) -> Result<Option<Key>> {
        let fresh = if create {
            Some(privacy::random_key()?)
        } else {
            None
        };
        Ok(
            self.with(tenant, |t| match (t.subject_keys.get(subject_ref), fresh) {
                (Some(k), _) => Some(*k),
                (None, Some(k)) => Some(*t.subject_keys.entry(subject_ref.to_owned()).or_insert(k)),
                (None, None) => None,
            }),
        )
    }

    async fn suppressed(&self, tenant: &TenantId, hashes: &[String]) -> Result<Vec<Suppressed>> {
        Ok(self.with(tenant, |t| {
            hashes
                .iter()
                .filter_map(|h| {
                    t.suppression.get(h).map(|(at, id)| Suppressed {
                        hash: h.clone(),
                        erased_at: *at,
                        request_id: id.clone(),
                    })
                })
                .collect()
        }))
    }

    async fn default_region(&self, tenant: &TenantId) -> Result<Option<String>> {
        Ok(self.with(tenant, |t| t.default_region.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keeps_the_store_contract() {
        let store = std::sync::Arc::new(MemoryStore::new());
        crate::conformance::run(store.as_ref()).await;
        crate::conformance::run_concurrent(store).await;
    }
}
