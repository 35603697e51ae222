//! `POST /api/v1/subjects/import`, streamed: the body is read as it arrives and handed,
//! through a small bounded channel, to `dsr-ops::import` (the pipeline of `dsr import`,
//! one line at a time) on a blocking thread; each batch is committed and then brought
//! into the live index while the rest of the body is still arriving.
//!
//! Bounds: a `Content-Length` over `max_import_bytes` is 413 before anything is read; a
//! body that grows past it while streaming stops there with 413, whose details hold the
//! report of what landed before the limit; a line over `max_import_line_bytes` is an
//! error for that line (skipped as it is read, never held whole) and the import goes
//! on. Memory stays at a few chunks plus one batch, whatever the body's size.
//!
//! The index: a batch is committed first, then, under the tenant's index write lock,
//! each of its ids is read back from the store and put in the index as stored, so a
//! PUT or DELETE of the same id racing with the import leaves index and store equal
//! (they take the same lock around their own write). The lock is not held while the
//! body is read: a slow upload does not stop lookups.

use crate::app::{App, Tenant};
use crate::body::too_large;
use crate::error::{ApiError, ApiResult};
use crate::views::ImportReportView;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use dsr_model::TenantId;
use futures_util::StreamExt as _;
use serde_json::json;
use std::io::{BufRead, Read};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Chunks in flight between the connection and the import (backpressure beyond).
const CHANNEL_CHUNKS: usize = 8;

enum Chunk {
    Data(Bytes),
    /// The body ended as it should.
    End,
    /// Reading the body failed.
    Failed(String),
}

/// The body as a blocking `BufRead` for the import thread. The channel closing without
/// an [`Chunk::End`] (the request was dropped: timeout, client gone) is an error, never
/// the end of the input, so a partial body is not taken for a whole one.
struct BodyReader {
    rx: mpsc::Receiver<Chunk>,
    cur: Bytes,
    done: bool,
}

impl Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let buf = self.fill_buf()?;
        let n = buf.len().min(out.len());
        out[..n].copy_from_slice(&buf[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for BodyReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.cur.is_empty() && !self.done {
            match self.rx.blocking_recv() {
                Some(Chunk::Data(b)) => self.cur = b,
                Some(Chunk::End) => self.done = true,
                Some(Chunk::Failed(e)) => return Err(std::io::Error::other(e)),
                None => {
                    return Err(std::io::Error::other(
                        "the body ended before it was complete",
                    ));
                }
            }
        }
        Ok(&self.cur)
    }

    fn consume(&mut self, n: usize) {
        self.cur = self.cur.slice(n..);
    }
}

/// Whether a `Content-Length` already says the body is over `limit`.
fn declared_too_large(headers: &HeaderMap, limit: usize) -> bool {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > limit as u64)
}

/// Reads `body` until its first byte that is not white space; the chunks read (the
/// first ones of the input), or `None` for a body of white space only.
async fn first_chunks(
    stream: &mut (impl futures_util::Stream<Item = Result<Bytes, axum::Error>> + Unpin),
    limit: usize,
) -> ApiResult<Option<Vec<Bytes>>> {
    let mut read = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| unreadable())?;
        total += chunk.len();
        let content = chunk.iter().any(|b| !b.is_ascii_whitespace());
        read.push(chunk);
        if content {
            return Ok(Some(read));
        }
        if total > limit {
            return Err(too_large(limit));
        }
    }
    Ok(None)
}

fn unreadable() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "the body could not be read",
    )
}

/// Streams `body` into the tenant; the per-line report.
pub async fn run(
    app: &App,
    t: Arc<Tenant>,
    tenant: TenantId,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<ImportReportView> {
    let limit = app.settings().max_import_bytes;
    if declared_too_large(headers, limit) {
        return Err(too_large(limit));
    }
    let mut stream = body.into_data_stream();
    let Some(first) = first_chunks(&mut stream, limit).await? else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "empty_body",
            "the body is empty: send JSON Lines, one subject per line (docs/import-format.md)",
        ));
    };
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let opts = dsr_ops::import::ImportOptions {
        max_bytes: Some(limit as u64),
        max_line_bytes: Some(app.settings().max_import_line_bytes),
        ..Default::default()
    };
    let store = app.store().clone();
    let rt = tokio::runtime::Handle::current();
    let importing = tokio::task::spawn_blocking(move || -> ApiResult<_> {
        let reader = BodyReader {
            rx,
            cur: Bytes::new(),
            done: false,
        };
        let mut target = dsr_ops::import::StoreImport {
            rt: rt.clone(),
            store: store.as_ref(),
        };
        let report = dsr_ops::import::import_jsonl_into(
            &mut target,
            &tenant,
            reader,
            &opts,
            |_| {},
            |batch| {
                // The index as the store has it, under the lock PUT and DELETE take.
                let mut dir = t.dir.blocking_write();
                for s in batch {
                    match rt.block_on(store.get_subject(&tenant, &s.id))? {
                        Some(stored) => {
                            dir.upsert(stored)?;
                        }
                        None => {
                            dir.remove(&s.id);
                        }
                    }
                }
                Ok(())
            },
        );
        match report {
            Ok(r) => Ok(r),
            Err(dsr_ops::Error::Io { what, source }) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!(
                    "{what}: {source}; the batches before it were imported (sending the whole input again is safe: existing ids are updated)"
                ),
            )),
            Err(e) => Err(e.into()),
        }
    });
    // The connection side: chunks into the channel as they arrive. The import may stop
    // reading early (the size limit): the channel closes and so does this loop.
    let pump = async {
        for c in first {
            if tx.send(Chunk::Data(c)).await.is_err() {
                return;
            }
        }
        while let Some(chunk) = stream.next().await {
            let msg = match chunk {
                Ok(c) => Chunk::Data(c),
                Err(e) => Chunk::Failed(format!("the body could not be read: {e}")),
            };
            let failed = matches!(msg, Chunk::Failed(_));
            if tx.send(msg).await.is_err() || failed {
                return;
            }
        }
        let _ = tx.send(Chunk::End).await;
    };
    pump.await;
    drop(tx);
    let report = importing.await.map_err(|_| ApiError::internal())??;
    let view = ImportReportView::from(&report);
    if report.truncated {
        return Err(too_large(limit).details(json!({
            "limitBytes": limit,
            "report": view,
        })));
    }
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader of these chunks, the sender gone after them.
    fn reader(chunks: Vec<Chunk>) -> BodyReader {
        let (tx, rx) = mpsc::channel(chunks.len() + 1);
        for c in chunks {
            assert!(tx.try_send(c).is_ok());
        }
        BodyReader {
            rx,
            cur: Bytes::new(),
            done: false,
        }
    }

    #[test]
    fn the_reader_gives_the_chunks_as_lines_and_a_dropped_body_is_an_error() {
        let mut r = reader(vec![
            Chunk::Data(Bytes::from_static(b"ab")),
            Chunk::Data(Bytes::from_static(b"c\nd")),
            Chunk::End,
        ]);
        let mut text = String::new();
        r.read_to_string(&mut text).unwrap();
        assert_eq!(text, "abc\nd");
        let mut r = reader(vec![Chunk::Data(Bytes::from_static(b"ab"))]);
        let mut text = String::new();
        let e = r.read_to_string(&mut text).unwrap_err();
        assert!(e.to_string().contains("before it was complete"), "{e}");
        let mut r = reader(vec![Chunk::Failed("reset".into())]);
        assert!(r.fill_buf().is_err());
    }
}
