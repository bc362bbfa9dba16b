//! [`CatalogueStore`] on the `catalogue` table. A listing is recorded in one `BEGIN IMMEDIATE`
//! transaction (read the server's rows, merge, write back), so an approval made by another process
//! meanwhile is never overwritten by a stale read.

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;
use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, Row, Sqlite, SqliteConnection, Transaction};

use crate::StoreError;
use crate::catalogue::merge::{approve_entry, merge_listing};
use crate::catalogue::{
    CatalogueEntry, CatalogueStore, ObservedTool, PinApproval, PinEvent, PinEventKind, PinState,
    ToolDigest,
};
use crate::sqlite::{SqliteStore, to_i64, to_u64, unavailable};

const COLUMNS: &str = "server, tool, state, pinned_digest, pinned_definition, current_digest, \
                       current_definition, classification, first_seen_ms, last_seen_ms, \
                       approved_by, approved_at_ms";

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
    let definition = |digest: String, json: String| -> Result<ToolDigest, StoreError> {
        Ok(ToolDigest {
            digest,
            definition: serde_json::from_str(&json).map_err(|e| bad(e.to_string()))?,
        })
    };
    let state = text("state")?;
    let pinned = match (opt_text("pinned_digest")?, opt_text("pinned_definition")?) {
        (Some(d), Some(j)) => Some(definition(d, j)?),
        _ => None,
    };
    let approved_at: Option<i64> = row.try_get("approved_at_ms").map_err(unavailable)?;
    Ok(CatalogueEntry {
        state: PinState::parse(&state).ok_or_else(|| bad(format!("unknown state {state:?}")))?,
        pinned,
        current: definition(text("current_digest")?, text("current_definition")?)?,
        classification: serde_json::from_str(&text("classification")?)
            .map_err(|e| bad(e.to_string()))?,
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
        "SELECT {COLUMNS} FROM catalogue WHERE server = ? ORDER BY tool"
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
    let classification =
        serde_json::to_string(&e.classification).map_err(|err| StoreError::InvalidInput {
            field: "classification",
            message: err.to_string(),
        })?;
    sqlx::query(
        "INSERT INTO catalogue (server, tool, seq, state, pinned_digest, pinned_definition, \
         current_digest, current_definition, category, severity, classification, first_seen_ms, \
         last_seen_ms, approved_by, approved_at_ms) \
         VALUES (?, ?, COALESCE(?, 0), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (server, tool) DO UPDATE SET seq = COALESCE(?, seq), state = excluded.state, \
         pinned_digest = excluded.pinned_digest, pinned_definition = excluded.pinned_definition, \
         current_digest = excluded.current_digest, current_definition = excluded.current_definition, \
         category = excluded.category, severity = excluded.severity, \
         classification = excluded.classification, last_seen_ms = excluded.last_seen_ms, \
         approved_by = excluded.approved_by, approved_at_ms = excluded.approved_at_ms",
    )
    .bind(&e.server)
    .bind(&e.tool)
    .bind(seq)
    .bind(e.state.as_str())
    .bind(e.pinned.as_ref().map(|p| p.digest.as_str()))
    .bind(e.pinned.as_ref().map(ToolDigest::canonical_text))
    .bind(&e.current.digest)
    .bind(e.current.canonical_text())
    .bind(e.classification.category.as_str())
    .bind(e.classification.severity.as_str())
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
    tools: Vec<ObservedTool>,
    pin_new_tools: bool,
    now_ms: u64,
) -> Result<Vec<PinEvent>, StoreError> {
    let existing: BTreeMap<String, CatalogueEntry> = server_entries(conn, server)
        .await?
        .into_iter()
        .map(|e| (e.tool.clone(), e))
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
    (server, tool): (&str, &str),
    by: &str,
    expected_digest: Option<&str>,
    now_ms: u64,
) -> Result<PinApproval, StoreError> {
    let entry = server_entries(conn, server)
        .await?
        .into_iter()
        .find(|e| e.tool == tool);
    let done = approve_entry(entry, (server, tool), by, expected_digest, now_ms)?;
    if done.changed {
        let seq = next_seq(conn).await?;
        write(conn, &done.entry, Some(seq)).await?;
    }
    Ok(done)
}

impl CatalogueStore for SqliteStore {
    fn record_listing<'a>(
        &'a self,
        server: &'a str,
        tools: Vec<ObservedTool>,
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
                "SELECT {COLUMNS} FROM catalogue WHERE ? IS NULL OR server = ? ORDER BY server, tool"
            ))
            .bind(server)
            .bind(server)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
            rows.iter().map(decode).collect()
        })
    }

    fn approve<'a>(
        &'a self,
        server: &'a str,
        tool: &'a str,
        by: &'a str,
        expected_digest: Option<&'a str>,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<PinApproval, StoreError>> {
        Box::pin(async move {
            in_write_transaction!(self, tx => approve_in(&mut tx, (server, tool), by, expected_digest, now_ms).await)
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
