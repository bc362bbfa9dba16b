//! [`CatalogueStore`] on the `catalogue` table. A listing is recorded in one `BEGIN IMMEDIATE`
//! transaction (read the server's rows, merge, write back), so an approval made by another process
//! meanwhile is never overwritten by a stale read.

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;
use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, Row, Sqlite, SqliteConnection, Transaction};

use crate::StoreError;
use crate::catalogue::merge::{EntryKey, approve_entry, merge_listing};
use crate::catalogue::{
    CatalogueEntry, CatalogueStore, EntryKind, Observed, PinApproval, PinEvent, PinEventKind,
    PinState, ToolDigest,
};
use crate::sqlite::{SqliteStore, to_i64, to_u64, unavailable};

const COLUMNS: &str = "server, kind, tool, state, pinned_digest, pinned_definition, \
                       pinned_format, current_digest, current_definition, current_format, \
                       classification, first_seen_ms, last_seen_ms, approved_by, approved_at_ms";

fn corrupt(server: &str, tool: &str, message: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what: format!("catalogue entry {server}/{tool}"),
        message: message.to_string(),
    }
}

fn decode(row: &SqliteRow) -> Result<CatalogueEntry, StoreError> {
    let text = |col: &str| -> Result<String, StoreError> { row.try_get(col).map_err(unavailable) };
    let opt_text =
        |col: &str| -> Result<Option<String>, StoreError> { row.try_get(col).map_err(unavailable) };
    let (server, tool) = (text("server")?, text("tool")?);
    let bad = |m: String| corrupt(&server, &tool, m);
    let int = |col: &str| -> Result<u64, StoreError> {
        to_u64(
            &format!("catalogue entry {server}/{tool}"),
            row.try_get(col).map_err(unavailable)?,
        )
    };
    let format = |col: &str| -> Result<u32, StoreError> {
        let v: Option<i64> = row.try_get(col).map_err(unavailable)?;
        u32::try_from(v.unwrap_or(1)).map_err(|e| bad(e.to_string()))
    };
    let definition =
        |digest: String, json: String, format: u32| -> Result<ToolDigest, StoreError> {
            Ok(ToolDigest {
                digest,
                definition: serde_json::from_str(&json).map_err(|e| bad(e.to_string()))?,
                format,
            })
        };
    let state = text("state")?;
    let kind = text("kind")?;
    let pinned = match (opt_text("pinned_digest")?, opt_text("pinned_definition")?) {
        (Some(d), Some(j)) => Some(definition(d, j, format("pinned_format")?)?),
        _ => None,
    };
    let classification = opt_text("classification")?
        .map(|c| serde_json::from_str(&c).map_err(|e| bad(e.to_string())))
        .transpose()?;
    let approved_at: Option<i64> = row.try_get("approved_at_ms").map_err(unavailable)?;
    Ok(CatalogueEntry {
        kind: EntryKind::parse(&kind).ok_or_else(|| bad(format!("unknown kind {kind:?}")))?,
        state: PinState::parse(&state).ok_or_else(|| bad(format!("unknown state {state:?}")))?,
        pinned,
        current: definition(
            text("current_digest")?,
            text("current_definition")?,
            format("current_format")?,
        )?,
        classification,
        first_seen_ms: int("first_seen_ms")?,
        last_seen_ms: int("last_seen_ms")?,
        approved_by: opt_text("approved_by")?,
        approved_at_ms: approved_at
            .map(|v| to_u64("catalogue approval time", v))
            .transpose()?,
        server,
        tool,
    })
}

async fn server_entries(
    conn: &mut SqliteConnection,
    server: &str,
) -> Result<Vec<CatalogueEntry>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM catalogue WHERE server = ? ORDER BY kind, tool"
    ))
    .bind(server)
    .fetch_all(conn)
    .await
    .map_err(unavailable)?;
    rows.iter().map(decode).collect()
}

async fn next_seq(conn: &mut SqliteConnection) -> Result<i64, StoreError> {
    let max: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM catalogue")
        .fetch_one(conn)
        .await
        .map_err(unavailable)?;
    Ok(max + 1)
}

/// Inserts or replaces one entry; `seq` is given only when its pin or state changed.
async fn write(
    conn: &mut SqliteConnection,
    e: &CatalogueEntry,
    seq: Option<i64>,
) -> Result<(), StoreError> {
    let classification = e
        .classification
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|err| StoreError::InvalidInput {
            field: "classification",
            message: err.to_string(),
        })?;
    sqlx::query(
        "INSERT INTO catalogue (server, kind, tool, seq, state, pinned_digest, pinned_definition, \
         pinned_format, current_digest, current_definition, current_format, category, severity, \
         classification, first_seen_ms, last_seen_ms, approved_by, approved_at_ms) \
         VALUES (?, ?, ?, COALESCE(?, 0), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (server, kind, tool) DO UPDATE SET seq = COALESCE(?, seq), \
         state = excluded.state, pinned_digest = excluded.pinned_digest, \
         pinned_definition = excluded.pinned_definition, pinned_format = excluded.pinned_format, \
         current_digest = excluded.current_digest, current_definition = excluded.current_definition, \
         current_format = excluded.current_format, \
         category = excluded.category, severity = excluded.severity, \
         classification = excluded.classification, last_seen_ms = excluded.last_seen_ms, \
         approved_by = excluded.approved_by, approved_at_ms = excluded.approved_at_ms",
    )
    .bind(&e.server)
    .bind(e.kind.as_str())
    .bind(&e.tool)
    .bind(seq)
    .bind(e.state.as_str())
    .bind(e.pinned.as_ref().map(|p| p.digest.as_str()))
    .bind(e.pinned.as_ref().map(ToolDigest::canonical_text))
    .bind(e.pinned.as_ref().map(|p| i64::from(p.format)))
    .bind(&e.current.digest)
    .bind(e.current.canonical_text())
    .bind(i64::from(e.current.format))
    .bind(e.classification.as_ref().map(|c| c.category.as_str()))
    .bind(e.classification.as_ref().map(|c| c.severity.as_str()))
    .bind(classification)
    .bind(to_i64("first_seen_ms", e.first_seen_ms)?)
    .bind(to_i64("last_seen_ms", e.last_seen_ms)?)
    .bind(e.approved_by.as_deref())
    .bind(e.approved_at_ms.map(|v| to_i64("approved_at_ms", v)).transpose()?)
    .bind(seq)
    .execute(conn)
    .await
    .map_err(unavailable)?;
    Ok(())
}

/// Runs `$work` (which uses the transaction `$tx`) in a `BEGIN IMMEDIATE` transaction after this
/// process's other writers; commits on `Ok`, rolls back on `Err`.
macro_rules! in_write_transaction {
    ($store:expr, $tx:ident => $work:expr) => {{
        let _writer = $store.write_lock.lock().await;
        let mut conn = $store.pool.acquire().await.map_err(unavailable)?;
        let mut $tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)?;
        let result = $work;
        end($tx, result).await
    }};
}

/// Commits on `Ok`, rolls back on `Err`.
async fn end<T>(
    tx: Transaction<'_, Sqlite>,
    result: Result<T, StoreError>,
) -> Result<T, StoreError> {
    match result {
        Ok(v) => {
            tx.commit().await.map_err(unavailable)?;
            Ok(v)
        }
        Err(e) => {
            tx.rollback().await.map_err(unavailable)?;
            Err(e)
        }
    }
}

async fn record_in(
    conn: &mut SqliteConnection,
    server: &str,
    tools: Vec<Observed>,
    pin_new_tools: bool,
    now_ms: u64,
) -> Result<Vec<PinEvent>, StoreError> {
    let existing: BTreeMap<EntryKey, CatalogueEntry> = server_entries(conn, server)
        .await?
        .into_iter()
        .map(|e| ((e.kind, e.tool.clone()), e))
        .collect();
    let merged = merge_listing(server, &existing, tools, pin_new_tools, now_ms);
    let seq = if merged.pins_changed {
        Some(next_seq(conn).await?)
    } else {
        None
    };
    for (entry, event) in merged.entries.iter().zip(&merged.events) {
        let changed = event.kind != PinEventKind::Unchanged;
        write(conn, entry, seq.filter(|_| changed)).await?;
    }
    Ok(merged.events)
}

async fn approve_in(
    conn: &mut SqliteConnection,
    (server, kind, tool): (&str, EntryKind, &str),
    by: &str,
    expected_digest: Option<&str>,
    now_ms: u64,
) -> Result<PinApproval, StoreError> {
    let entry = server_entries(conn, server)
        .await?
        .into_iter()
        .find(|e| e.kind == kind && e.tool == tool);
    let done = approve_entry(entry, (server, kind, tool), by, expected_digest, now_ms)?;
    if done.changed {
        let seq = next_seq(conn).await?;
        write(conn, &done.entry, Some(seq)).await?;
    }
    Ok(done)
}

impl CatalogueStore for SqliteStore {
    fn record<'a>(
        &'a self,
        server: &'a str,
        tools: Vec<Observed>,
        pin_new_tools: bool,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Vec<PinEvent>, StoreError>> {
        Box::pin(async move {
            in_write_transaction!(self, tx => record_in(&mut tx, server, tools, pin_new_tools, now_ms).await)
        })
    }

    fn entries<'a>(
        &'a self,
        server: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<CatalogueEntry>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM catalogue WHERE ? IS NULL OR server = ? ORDER BY server, kind, tool"
            ))
            .bind(server)
            .bind(server)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
            rows.iter().map(decode).collect()
        })
    }

    fn approve_pin<'a>(
        &'a self,
        server: &'a str,
        kind: EntryKind,
        tool: &'a str,
        by: &'a str,
        expected_digest: Option<&'a str>,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<PinApproval, StoreError>> {
        Box::pin(async move {
            in_write_transaction!(self, tx => approve_in(&mut tx, (server, kind, tool), by, expected_digest, now_ms).await)
        })
    }

    fn pins_version(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let max: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM catalogue")
                .fetch_one(&self.pool)
                .await
                .map_err(unavailable)?;
            to_u64("catalogue seq", max)
        })
    }
}
