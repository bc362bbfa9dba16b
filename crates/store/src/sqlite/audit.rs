//! [`AuditStore`] on two tables, `audit_records` and `admin_events`, one per stream. An append is one
//! `BEGIN IMMEDIATE` transaction: read the stream's head, seal the batch onto it, insert, move the
//! head. Verification reads the stream in pages inside one read transaction (a consistent snapshot
//! that does not block the writer under WAL).

use futures_util::future::BoxFuture;
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::{Connection, QueryBuilder, Row, SqliteConnection};

use crate::StoreError;
use crate::audit::canonical::Canonical;
use crate::audit::chain::seal;
use crate::audit::key::ChainKey;
use crate::audit::{
    AdminEvent, AdminQuery, Appended, AuditQuery, AuditRecord, AuditSink, AuditStore, AuditStream,
    CallView, ChainAnchor, ChainReport, ChainVerifier, Chained, RecordPhase, Retention,
};
use crate::sqlite::{SqliteStore, to_i64, to_u64, unavailable};

/// Rows read per round trip while verifying.
const VERIFY_PAGE: i64 = 1_000;

/// How one stream maps to its table.
trait StreamTable: Canonical + Clone + Send + Sync + 'static {
    const STREAM: AuditStream;
    const TABLE: &'static str;
    /// Every column but `seq`, `prev_hash` and `hash`, in [`StreamTable::bind`] order.
    const COLUMNS: &'static [&'static str];

    /// Pushes the record's values for [`StreamTable::COLUMNS`].
    fn bind(
        &self,
        q: &mut sqlx::query_builder::Separated<'_, '_, Sqlite, &'static str>,
    ) -> Result<(), StoreError>;

    /// The record from a row; `Err` names what could not be read.
    fn decode(row: &SqliteRow) -> Result<Self, String>;
}

fn int(v: u64, field: &'static str) -> Result<i64, StoreError> {
    to_i64(field, v)
}

fn get<'r, T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>>(
    row: &'r SqliteRow,
    col: &str,
) -> Result<T, String> {
    row.try_get(col).map_err(|e| format!("column {col}: {e}"))
}

fn get_u64(row: &SqliteRow, col: &str) -> Result<u64, String> {
    let v: i64 = get(row, col)?;
    u64::try_from(v).map_err(|_| format!("column {col}: negative value {v}"))
}

fn get_opt_u64(row: &SqliteRow, col: &str) -> Result<Option<u64>, String> {
    let v: Option<i64> = get(row, col)?;
    v.map(|v| u64::try_from(v).map_err(|_| format!("column {col}: negative value {v}")))
        .transpose()
}

fn get_json<T: serde::de::DeserializeOwned>(row: &SqliteRow, col: &str) -> Result<T, String> {
    let text: String = get(row, col)?;
    serde_json::from_str(&text).map_err(|e| format!("column {col}: {e}"))
}

impl StreamTable for AuditRecord {
    const STREAM: AuditStream = AuditStream::Requests;
    const TABLE: &'static str = "audit_records";
    const COLUMNS: &'static [&'static str] = &[
        "time_ms",
        "request_id",
        "session",
        "agent",
        "grant_label",
        "server",
        "method",
        "tool",
        "decision",
        "rule",
        "message",
        "policy_version",
        "arg_keys",
        "args",
        "upstream_status",
        "gateway_latency_us",
        "upstream_latency_us",
        "phase",
    ];

    fn bind(
        &self,
        q: &mut sqlx::query_builder::Separated<'_, '_, Sqlite, &'static str>,
    ) -> Result<(), StoreError> {
        q.push_bind(int(self.time_ms, "time_ms")?)
            .push_bind(self.request_id.clone())
            .push_bind(self.session.clone())
            .push_bind(self.agent.clone())
            .push_bind(self.grant.clone())
            .push_bind(self.server.clone())
            .push_bind(self.method.clone())
            .push_bind(self.tool.clone())
            .push_bind(self.decision.as_str())
            .push_bind(self.rule.clone())
            .push_bind(self.message.clone())
            .push_bind(self.policy_version.clone())
            .push_bind(serde_json::to_string(&self.arg_keys).expect("strings serialise"))
            .push_bind(self.args.as_ref().map(|a| a.to_string()))
            .push_bind(self.upstream_status.clone())
            .push_bind(int(self.gateway_latency_us, "gateway_latency_us")?)
            .push_bind(
                self.upstream_latency_us
                    .map(|v| int(v, "upstream_latency_us"))
                    .transpose()?,
            )
            .push_bind(self.phase.map(|p| p.as_str()));
        Ok(())
    }

    fn decode(row: &SqliteRow) -> Result<AuditRecord, String> {
        let decision: String = get(row, "decision")?;
        let args: Option<String> = get(row, "args")?;
        Ok(AuditRecord {
            time_ms: get_u64(row, "time_ms")?,
            request_id: get(row, "request_id")?,
            session: get(row, "session")?,
            agent: get(row, "agent")?,
            grant: get(row, "grant_label")?,
            server: get(row, "server")?,
            method: get(row, "method")?,
            tool: get(row, "tool")?,
            decision: decision
                .parse()
                .map_err(|e| format!("column decision: {e}"))?,
            rule: get(row, "rule")?,
            message: get(row, "message")?,
            policy_version: get(row, "policy_version")?,
            arg_keys: get_json(row, "arg_keys")?,
            args: args
                .map(|a| serde_json::from_str(&a).map_err(|e| format!("column args: {e}")))
                .transpose()?,
            upstream_status: get(row, "upstream_status")?,
            gateway_latency_us: get_u64(row, "gateway_latency_us")?,
            upstream_latency_us: get_opt_u64(row, "upstream_latency_us")?,
            phase: get::<Option<String>>(row, "phase")?
                .map(|p| {
                    RecordPhase::parse(&p).ok_or_else(|| format!("column phase: unknown {p:?}"))
                })
                .transpose()?,
        })
    }
}

impl StreamTable for AdminEvent {
    const STREAM: AuditStream = AuditStream::Admin;
    const TABLE: &'static str = "admin_events";
    const COLUMNS: &'static [&'static str] = &["time_ms", "actor", "action", "target", "details"];

    fn bind(
        &self,
        q: &mut sqlx::query_builder::Separated<'_, '_, Sqlite, &'static str>,
    ) -> Result<(), StoreError> {
        q.push_bind(int(self.time_ms, "time_ms")?)
            .push_bind(self.actor.clone())
            .push_bind(self.action.clone())
            .push_bind(self.target.clone())
            .push_bind(self.details.to_string());
        Ok(())
    }

    fn decode(row: &SqliteRow) -> Result<AdminEvent, String> {
        Ok(AdminEvent {
            time_ms: get_u64(row, "time_ms")?,
            actor: get(row, "actor")?,
            action: get(row, "action")?,
            target: get(row, "target")?,
            details: get_json(row, "details")?,
        })
    }
}

/// `seq, prev_hash, hash, key_id` and the table's own columns.
fn select_list<T: StreamTable>() -> String {
    format!("seq, prev_hash, hash, key_id, {}", T::COLUMNS.join(", "))
}

fn decode_chained<T: StreamTable>(row: &SqliteRow) -> Result<Chained<T>, StoreError> {
    let seq: i64 = row.try_get("seq").map_err(unavailable)?;
    let record = T::decode(row).map_err(|message| StoreError::Corrupt {
        what: format!("{} record {seq}", T::STREAM),
        message,
    })?;
    Ok(Chained {
        seq: to_u64("audit sequence number", seq)?,
        prev_hash: row.try_get("prev_hash").map_err(unavailable)?,
        hash: row.try_get("hash").map_err(unavailable)?,
        key_id: row.try_get("key_id").map_err(unavailable)?,
        record,
    })
}

/// The anchor retention left (or the genesis).
async fn anchor(
    conn: &mut SqliteConnection,
    stream: AuditStream,
) -> Result<ChainAnchor, StoreError> {
    Ok(read_mark(conn, "audit_checkpoints", stream)
        .await?
        .unwrap_or_else(ChainAnchor::genesis))
}

/// A row of `audit_heads` or `audit_checkpoints`.
async fn read_mark(
    conn: &mut SqliteConnection,
    table: &str,
    stream: AuditStream,
) -> Result<Option<ChainAnchor>, StoreError> {
    let row = sqlx::query(&format!("SELECT seq, hash FROM {table} WHERE stream = ?"))
        .bind(stream.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(unavailable)?;
    row.map(|row| {
        Ok(ChainAnchor {
            seq: to_u64(table, row.try_get("seq").map_err(unavailable)?)?,
            hash: row.try_get("hash").map_err(unavailable)?,
        })
    })
    .transpose()
}

async fn write_mark(
    conn: &mut SqliteConnection,
    table: &str,
    stream: AuditStream,
    mark: &ChainAnchor,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO {table} (stream, seq, hash) VALUES (?, ?, ?) \
         ON CONFLICT (stream) DO UPDATE SET seq = excluded.seq, hash = excluded.hash"
    ))
    .bind(stream.as_str())
    .bind(to_i64("seq", mark.seq)?)
    .bind(&mark.hash)
    .execute(&mut *conn)
    .await
    .map_err(unavailable)?;
    Ok(())
}

/// The last appended record (or the anchor, for a stream retention emptied or nothing was written to).
async fn head(conn: &mut SqliteConnection, stream: AuditStream) -> Result<ChainAnchor, StoreError> {
    match read_mark(conn, "audit_heads", stream).await? {
        Some(head) => Ok(head),
        None => anchor(conn, stream).await,
    }
}

/// Rows per INSERT statement: multi-row statements save round trips to SQLite's worker thread, but
/// very long ones cost more to prepare and bind than they save (on batches of 128, 32 rows measured
/// about 3x faster than 1 row and 1.5x faster than the whole batch in one statement).
const ROWS_PER_INSERT: usize = 32;

/// Walks records `anchor.seq + 1 ..= until` (all of them when `until` is `None`) through a verifier.
async fn walk<T: StreamTable>(
    conn: &mut SqliteConnection,
    verifier: &mut ChainVerifier,
    from_seq: u64,
    until: Option<u64>,
) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT {} FROM {} WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
        select_list::<T>(),
        T::TABLE
    );
    let until = until.map_or(Ok(i64::MAX), |u| to_i64("seq", u))?;
    let mut after = to_i64("seq", from_seq)?;
    loop {
        let rows = sqlx::query(&sql)
            .bind(after)
            .bind(until)
            .bind(VERIFY_PAGE)
            .fetch_all(&mut *conn)
            .await
            .map_err(unavailable)?;
        for row in &rows {
            let seq: i64 = row.try_get("seq").map_err(unavailable)?;
            after = seq;
            let ok = match T::decode(row) {
                Ok(record) => {
                    let prev: String = row.try_get("prev_hash").map_err(unavailable)?;
                    let hash: String = row.try_get("hash").map_err(unavailable)?;
                    let key_id: Option<String> = row.try_get("key_id").map_err(unavailable)?;
                    let seq = u64::try_from(seq).unwrap_or(0);
                    verifier.check_parts(seq, &prev, &hash, key_id.as_deref(), &record)
                }
                Err(message) => verifier.unreadable(u64::try_from(seq).unwrap_or(0), message),
            };
            if !ok {
                return Ok(());
            }
        }
        if (rows.len() as i64) < VERIFY_PAGE {
            return Ok(());
        }
    }
}

/// Refuses to extend a keyed chain without its key, or with another key: the records would not
/// verify.
async fn check_key<T: StreamTable>(
    conn: &mut SqliteConnection,
    head: &ChainAnchor,
    key: Option<&ChainKey>,
) -> Result<(), StoreError> {
    let sealed_with: Option<String> =
        sqlx::query_scalar(&format!("SELECT key_id FROM {} WHERE seq = ?", T::TABLE))
            .bind(to_i64("seq", head.seq)?)
            .fetch_optional(&mut *conn)
            .await
            .map_err(unavailable)?
            .flatten();
    match (sealed_with, key) {
        (Some(id), None) => Err(StoreError::InvalidInput {
            field: "audit record",
            message: format!(
                "the {} stream is sealed with audit key {id}: give its key (TOOLGATE_AUDIT_KEY, [audit] key_file or --audit-key) to write to it",
                T::STREAM
            ),
        }),
        (Some(id), Some(k)) if id != k.id() => Err(StoreError::InvalidInput {
            field: "audit record",
            message: format!(
                "the {} stream is sealed with audit key {id}, not with the key given ({})",
                T::STREAM,
                k.id()
            ),
        }),
        _ => Ok(()),
    }
}

async fn set_synchronous(conn: &mut SqliteConnection, level: &str) -> Result<(), StoreError> {
    sqlx::query(&format!("PRAGMA synchronous = {level}"))
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// One append transaction: read the head, seal the batch onto it (keyed with `key`), insert,
/// move the head.
async fn append_on<T: StreamTable>(
    conn: &mut SqliteConnection,
    records: &[T],
    key: Option<&ChainKey>,
) -> Result<Appended, StoreError> {
    let mut tx = conn
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(unavailable)?;
    let start = head(&mut tx, T::STREAM).await?;
    check_key::<T>(&mut tx, &start, key).await?;
    let links = seal(&start, records, key)?;
    for (chunk, chunk_records) in links
        .chunks(ROWS_PER_INSERT)
        .zip(records.chunks(ROWS_PER_INSERT))
    {
        let mut q: QueryBuilder<'_, Sqlite> = QueryBuilder::new(format!(
            "INSERT INTO {} (seq, prev_hash, hash, key_id, {}) ",
            T::TABLE,
            T::COLUMNS.join(", ")
        ));
        let mut failed = None;
        q.push_values(chunk.iter().zip(chunk_records), |mut row, (link, r)| {
            row.push_bind(link.seq as i64)
                .push_bind(link.prev_hash.clone())
                .push_bind(link.hash.clone())
                .push_bind(link.key_id.clone());
            if let Err(e) = r.bind(&mut row) {
                failed.get_or_insert(e);
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        q.build().execute(&mut *tx).await.map_err(unavailable)?;
    }
    let new_head = links.last().map_or_else(
        || start.clone(),
        |r| ChainAnchor {
            seq: r.seq,
            hash: r.hash.clone(),
        },
    );
    if !links.is_empty() {
        write_mark(&mut tx, "audit_heads", T::STREAM, &new_head).await?;
    }
    tx.commit().await.map_err(unavailable)?;
    Ok(Appended {
        first_seq: start.seq + 1,
        count: links.len() as u64,
        head_hash: new_head.hash,
    })
}

impl SqliteStore {
    /// Appends `records` in one transaction; `durable`: synced to disk before it returns (one
    /// fsync for the whole batch), not only handed to the operating system. A connection on which
    /// the append failed is closed rather than given back to the pool.
    async fn append_to<T: StreamTable>(
        &self,
        records: &[T],
        durable: bool,
    ) -> Result<Appended, StoreError> {
        let _writer = self.write_lock.lock().await;
        let mut conn = self.pool.acquire().await.map_err(unavailable)?;
        let key = self.chain_key.as_ref();
        let appended = if durable {
            // The sync level cannot change inside a transaction: set it around this one.
            let synced = async {
                set_synchronous(&mut conn, "FULL").await?;
                let appended = append_on::<T>(&mut conn, records, key).await?;
                set_synchronous(&mut conn, "NORMAL").await?;
                Ok(appended)
            };
            synced.await
        } else {
            append_on::<T>(&mut conn, records, key).await
        };
        if appended.is_err() && self.on_file {
            conn.close_on_drop();
        }
        appended
    }

    async fn verify_stream<T: StreamTable>(&self) -> Result<ChainReport, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(unavailable)?;
        let mut tx = conn.begin().await.map_err(unavailable)?;
        let start = anchor(&mut tx, T::STREAM).await?;
        let recorded_head = read_mark(&mut tx, "audit_heads", T::STREAM).await?;
        let mut verifier =
            ChainVerifier::new(T::STREAM, start.clone()).with_key(self.chain_key.clone());
        walk::<T>(&mut tx, &mut verifier, start.seq, None).await?;
        tx.rollback().await.map_err(unavailable)?;
        Ok(verifier.finish(recorded_head.as_ref()))
    }

    async fn delete_stream_before<T: StreamTable>(
        &self,
        before_ms: u64,
    ) -> Result<Retention, StoreError> {
        let _writer = self.write_lock.lock().await;
        let mut conn = self.pool.acquire().await.map_err(unavailable)?;
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)?;
        let start = anchor(&mut tx, T::STREAM).await?;
        let end = head(&mut tx, T::STREAM).await?;
        let first_kept: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT MIN(seq) FROM {} WHERE time_ms >= ?",
            T::TABLE
        ))
        .bind(to_i64("before_ms", before_ms)?)
        .fetch_one(&mut *tx)
        .await
        .map_err(unavailable)?;
        let last_deleted = match first_kept {
            Some(seq) => to_u64("audit sequence number", seq)?.saturating_sub(1),
            None => end.seq,
        };
        if last_deleted <= start.seq {
            return Ok(Retention {
                deleted: 0,
                anchor: start,
            });
        }
        // Never launder tampering: what is deleted must verify first, and the new anchor is the hash
        // the chain itself vouches for.
        let mut verifier =
            ChainVerifier::new(T::STREAM, start.clone()).with_key(self.chain_key.clone());
        walk::<T>(&mut tx, &mut verifier, start.seq, Some(last_deleted)).await?;
        let new_anchor = verifier.prefix_end(last_deleted)?;
        let done = sqlx::query(&format!("DELETE FROM {} WHERE seq <= ?", T::TABLE))
            .bind(to_i64("seq", last_deleted)?)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        write_mark(&mut tx, "audit_checkpoints", T::STREAM, &new_anchor).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(Retention {
            deleted: done.rows_affected(),
            anchor: new_anchor,
        })
    }
}

impl AuditSink for SqliteStore {
    fn append<'a>(
        &'a self,
        records: &'a [AuditRecord],
    ) -> BoxFuture<'a, Result<Appended, StoreError>> {
        Box::pin(self.append_to(records, false))
    }

    fn append_durable<'a>(
        &'a self,
        records: &'a [AuditRecord],
    ) -> BoxFuture<'a, Result<Appended, StoreError>> {
        Box::pin(self.append_to(records, true))
    }

    fn append_admin<'a>(
        &'a self,
        events: &'a [AdminEvent],
    ) -> BoxFuture<'a, Result<Appended, StoreError>> {
        Box::pin(self.append_to(events, false))
    }
}

/// `ORDER BY seq` and `LIMIT` for a query.
fn finish_query(q: &mut QueryBuilder<'_, Sqlite>, newest_first: bool, limit: u32) {
    q.push(if newest_first {
        " ORDER BY seq DESC"
    } else {
        " ORDER BY seq"
    });
    q.push(" LIMIT ").push_bind(i64::from(limit));
}

/// The filters every stream shares.
fn push_range(
    q: &mut QueryBuilder<'_, Sqlite>,
    from_ms: Option<u64>,
    to_ms: Option<u64>,
    after_seq: Option<u64>,
    before_seq: Option<u64>,
) -> Result<(), StoreError> {
    for (cond, v) in [
        (" AND time_ms >= ", from_ms),
        (" AND time_ms < ", to_ms),
        (" AND seq > ", after_seq),
        (" AND seq < ", before_seq),
    ] {
        if let Some(v) = v {
            q.push(cond).push_bind(to_i64("query bound", v)?);
        }
    }
    Ok(())
}

fn push_eq(q: &mut QueryBuilder<'_, Sqlite>, column: &str, v: &Option<String>) {
    if let Some(v) = v {
        q.push(format!(" AND {column} = ")).push_bind(v.clone());
    }
}

impl AuditStore for SqliteStore {
    fn query<'a>(
        &'a self,
        query: &'a AuditQuery,
    ) -> BoxFuture<'a, Result<Vec<Chained<AuditRecord>>, StoreError>> {
        Box::pin(async move {
            let mut q = QueryBuilder::new(format!(
                "SELECT {} FROM audit_records WHERE 1 = 1",
                select_list::<AuditRecord>()
            ));
            push_range(
                &mut q,
                query.from_ms,
                query.to_ms,
                query.after_seq,
                query.before_seq,
            )?;
            push_eq(&mut q, "agent", &query.agent);
            push_eq(&mut q, "server", &query.server);
            push_eq(&mut q, "tool", &query.tool);
            if let Some(d) = query.decision {
                q.push(" AND decision = ").push_bind(d.as_str());
            }
            const NO_OUTCOME: &str = "phase = 'request' AND NOT EXISTS (SELECT 1 FROM audit_records o \
                 WHERE o.phase = 'outcome' AND o.request_id = audit_records.request_id)";
            match query.view {
                CallView::Records => {}
                CallView::Calls => {
                    q.push(format!(
                        " AND (phase IS NULL OR phase <> 'request' OR ({NO_OUTCOME}))"
                    ));
                }
                CallView::Unfinished => {
                    q.push(format!(" AND {NO_OUTCOME}"));
                }
            }
            finish_query(&mut q, query.newest_first, query.limit);
            let rows = q.build().fetch_all(&self.pool).await.map_err(unavailable)?;
            rows.iter().map(decode_chained).collect()
        })
    }

    fn query_admin<'a>(
        &'a self,
        query: &'a AdminQuery,
    ) -> BoxFuture<'a, Result<Vec<Chained<AdminEvent>>, StoreError>> {
        Box::pin(async move {
            let mut q = QueryBuilder::new(format!(
                "SELECT {} FROM admin_events WHERE 1 = 1",
                select_list::<AdminEvent>()
            ));
            push_range(
                &mut q,
                query.from_ms,
                query.to_ms,
                query.after_seq,
                query.before_seq,
            )?;
            push_eq(&mut q, "actor", &query.actor);
            push_eq(&mut q, "action", &query.action);
            push_eq(&mut q, "target", &query.target);
            finish_query(&mut q, query.newest_first, query.limit);
            let rows = q.build().fetch_all(&self.pool).await.map_err(unavailable)?;
            rows.iter().map(decode_chained).collect()
        })
    }

    fn verify(&self, stream: AuditStream) -> BoxFuture<'_, Result<ChainReport, StoreError>> {
        match stream {
            AuditStream::Requests => Box::pin(self.verify_stream::<AuditRecord>()),
            AuditStream::Admin => Box::pin(self.verify_stream::<AdminEvent>()),
        }
    }

    fn delete_before(
        &self,
        stream: AuditStream,
        before_ms: u64,
    ) -> BoxFuture<'_, Result<Retention, StoreError>> {
        match stream {
            AuditStream::Requests => Box::pin(self.delete_stream_before::<AuditRecord>(before_ms)),
            AuditStream::Admin => Box::pin(self.delete_stream_before::<AdminEvent>(before_ms)),
        }
    }
}
