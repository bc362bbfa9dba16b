//! JSONL export: one [`crate::audit::Chained`] record per line, oldest first, read from the store in pages
//! so that a large log is never held in memory. The lines carry `seq`, `prev_hash` and `hash`, so an
//! export can be verified without the store.

use std::io::Write;

use serde::Serialize;

use crate::StoreError;
use crate::audit::{AdminQuery, AuditQuery, AuditStore, Chained};

/// Records read from the store per round trip.
const PAGE: u32 = 1_000;

/// An export that stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the export failed: {0}")]
    Io(#[from] std::io::Error),
}

fn write_lines<T: Serialize>(out: &mut impl Write, page: &[Chained<T>]) -> Result<(), ExportError> {
    for record in page {
        serde_json::to_writer(&mut *out, record).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes every request record matching `query` (its `limit`, `newest_first` and `after_seq` are
/// ignored: the export pages oldest first through everything) and returns how many were written.
pub async fn export_jsonl(
    store: &dyn AuditStore,
    query: &AuditQuery,
    out: &mut impl Write,
) -> Result<u64, ExportError> {
    let mut page_query = AuditQuery {
        newest_first: false,
        limit: PAGE,
        after_seq: None,
        ..query.clone()
    };
    let mut written = 0;
    loop {
        let page = store.query(&page_query).await?;
        write_lines(out, &page)?;
        written += page.len() as u64;
        match page.last() {
            Some(last) if page.len() == PAGE as usize => page_query.after_seq = Some(last.seq),
            _ => break,
        }
    }
    out.flush()?;
    Ok(written)
}

/// [`export_jsonl`] for the admin stream.
pub async fn export_admin_jsonl(
    store: &dyn AuditStore,
    query: &AdminQuery,
    out: &mut impl Write,
) -> Result<u64, ExportError> {
    let mut page_query = AdminQuery {
        newest_first: false,
        limit: PAGE,
        after_seq: None,
        ..query.clone()
    };
    let mut written = 0;
    loop {
        let page = store.query_admin(&page_query).await?;
        write_lines(out, &page)?;
        written += page.len() as u64;
        match page.last() {
            Some(last) if page.len() == PAGE as usize => page_query.after_seq = Some(last.seq),
            _ => break,
        }
    }
    out.flush()?;
    Ok(written)
}
