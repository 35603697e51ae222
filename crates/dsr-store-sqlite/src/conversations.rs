//! Writing the conversations of the built-in conversations service (G-12): what
//! `dsr import --conversations` lands. Reading and erasing them is the service's
//! (`engine_store::ConversationsService`).

use crate::{Result, SqliteStore};
use dsr_model::TenantId;
use rusqlite::params;

/// A file attached to a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRow {
    /// File name.
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// The bytes.
    pub data: Vec<u8>,
    /// Uploaded by the subject (erased on DELETE whatever the service's mode) rather
    /// than by an agent.
    pub uploaded_by_subject: bool,
}

/// A conversation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRow {
    /// Its id (unique per tenant).
    pub id: String,
    /// What it is linked to: a subject id or one of a subject's external ids; `None`
    /// for a conversation linked to no contact (a blind spot, G-14).
    pub link: Option<String>,
    /// `email`, `whatsapp`, …
    pub channel: String,
    /// RFC 3339.
    pub started_at: String,
    /// The messages (JSON text).
    pub body: String,
    /// Its attachments.
    pub attachments: Vec<AttachmentRow>,
}

impl SqliteStore {
    /// Inserts or replaces conversations (by id) with their attachments, in one
    /// transaction: a replaced conversation's earlier attachments are removed.
    pub fn replace_conversations(&self, tenant: &TenantId, rows: &[ConversationRow]) -> Result<()> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for c in rows {
                tx.prepare_cached(
                    "DELETE FROM attachments WHERE tenant = ?1 AND conversation_id = ?2",
                )?
                .execute(params![tenant.as_str(), c.id])?;
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO conversations (tenant, id, subject_id, channel, started_at, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![tenant.as_str(), c.id, c.link, c.channel, c.started_at, c.body])?;
                for (i, a) in c.attachments.iter().enumerate() {
                    tx.prepare_cached(
                        "INSERT INTO attachments (tenant, id, conversation_id, name, content_type, data, uploaded_by_subject)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )?
                    .execute(params![
                        tenant.as_str(),
                        format!("{}-{i}", c.id),
                        c.id,
                        a.name,
                        a.content_type,
                        a.data,
                        a.uploaded_by_subject
                    ])?;
                }
            }
            tx.commit()
        })
    }

    /// Whether a conversation with this id is stored for the tenant.
    pub fn conversation_exists(&self, tenant: &TenantId, id: &str) -> Result<bool> {
        self.with_conn(|c| {
            c.prepare_cached("SELECT 1 FROM conversations WHERE tenant = ?1 AND id = ?2")?
                .exists(params![tenant.as_str(), id])
        })
    }
}
