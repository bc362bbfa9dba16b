//! [`ApprovalStore`] on the `approvals` table. Every change runs in a `BEGIN IMMEDIATE` transaction, so
//! that reading the current state, checking it and writing the new one is atomic across connections and
//! processes (two retries racing for one approval: exactly one finds it `approved`), and so that the
//! change sequence numbers (`MAX(seq) + 1`) are unique and commit in increasing order.

use futures_util::future::BoxFuture;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, Row, Sqlite, SqliteConnection, Transaction};

use crate::StoreError;
use crate::approval::{
    Approval, ApprovalBinding, ApprovalFilter, ApprovalMode, ApprovalStatus, ApprovalStore,
    NewApproval, check_decidable, new_approval_id,
};
use crate::sqlite::{SqliteStore, to_i64, to_u64, unavailable};

const COLUMNS: &str = "id, seq, created_at_ms, expires_at_ms, mode, status, grant_label, agent, \
                       server, tool, args_digest, policy_version, rule, arguments, decided_by, note, \
                       decided_at_ms, used_at_ms, caller_left_at_ms";

/// The binding's columns, compared with `IS` so that a `NULL` grant matches only a `NULL` grant.
const BINDING_MATCHES: &str = "grant_label IS ? AND agent = ? AND server = ? AND tool = ? \
                               AND args_digest = ? AND policy_version = ?";

/// How many times `create` draws a new id after a collision (≈ 95 random bits: never, in practice).
const ID_ATTEMPTS: usize = 3;

fn corrupt(id: &str, message: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what: format!("approval {id:?}"),
        message: message.to_string(),
    }
}

fn decode(row: &SqliteRow) -> Result<Approval, StoreError> {
    let id: String = row.try_get("id").map_err(unavailable)?;
    let text = |col: &str| -> Result<String, StoreError> { row.try_get(col).map_err(unavailable) };
    let opt_text =
        |col: &str| -> Result<Option<String>, StoreError> { row.try_get(col).map_err(unavailable) };
    let int = |col: &str| -> Result<u64, StoreError> {
        to_u64(
            &format!("approval {id:?}"),
            row.try_get(col).map_err(unavailable)?,
        )
    };
    let opt_int = |col: &str| -> Result<Option<u64>, StoreError> {
        let v: Option<i64> = row.try_get(col).map_err(unavailable)?;
        v.map(|v| to_u64(&format!("approval {id:?}"), v))
            .transpose()
    };
    let mode = text("mode")?;
    let status = text("status")?;
    Ok(Approval {
        seq: int("seq")?,
        created_at_ms: int("created_at_ms")?,
        expires_at_ms: int("expires_at_ms")?,
        mode: ApprovalMode::parse(&mode)
            .ok_or_else(|| corrupt(&id, format!("unknown mode {mode:?}")))?,
        status: ApprovalStatus::parse(&status)
            .ok_or_else(|| corrupt(&id, format!("unknown status {status:?}")))?,
        binding: ApprovalBinding {
            grant: opt_text("grant_label")?,
            agent: text("agent")?,
            server: text("server")?,
            tool: text("tool")?,
            args_digest: text("args_digest")?,
            policy_version: text("policy_version")?,
        },
        rule: text("rule")?,
        arguments: opt_text("arguments")?
            .map(|a| serde_json::from_str(&a))
            .transpose()
            .map_err(|e| corrupt(&id, e))?,
        decided_by: opt_text("decided_by")?,
        note: opt_text("note")?,
        decided_at_ms: opt_int("decided_at_ms")?,
        used_at_ms: opt_int("used_at_ms")?,
        caller_left_at_ms: opt_int("caller_left_at_ms")?,
        id,
    })
}

/// The next change sequence number; only inside a write transaction.
async fn next_seq(conn: &mut SqliteConnection) -> Result<i64, StoreError> {
    let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM approvals")
        .fetch_one(conn)
        .await
        .map_err(unavailable)?;
    Ok(last + 1)
}

async fn by_id(conn: &mut SqliteConnection, id: &str) -> Result<Option<Approval>, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM approvals WHERE id = ?"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(unavailable)?;
    row.as_ref().map(decode).transpose()
}

/// Writes the mutable columns of `approval` (status, decision, use, caller) under a new sequence
/// number, which it is given.
async fn write_change(
    conn: &mut SqliteConnection,
    approval: &mut Approval,
) -> Result<(), StoreError> {
    let seq = next_seq(conn).await?;
    sqlx::query(
        "UPDATE approvals SET seq = ?, status = ?, decided_by = ?, note = ?, decided_at_ms = ?, \
         used_at_ms = ?, caller_left_at_ms = ? WHERE id = ?",
    )
    .bind(seq)
    .bind(approval.status.as_str())
    .bind(approval.decided_by.as_deref())
    .bind(approval.note.as_deref())
    .bind(
        approval
            .decided_at_ms
            .map(|v| to_i64("decided_at_ms", v))
            .transpose()?,
    )
    .bind(
        approval
            .used_at_ms
            .map(|v| to_i64("used_at_ms", v))
            .transpose()?,
    )
    .bind(
        approval
            .caller_left_at_ms
            .map(|v| to_i64("caller_left_at_ms", v))
            .transpose()?,
    )
    .bind(&approval.id)
    .execute(conn)
    .await
    .map_err(unavailable)?;
    approval.seq = to_u64("approval seq", seq)?;
    Ok(())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl SqliteStore {
    /// A connection for a write transaction, after this process's other writers.
    async fn approval_writer(
        &self,
    ) -> Result<(tokio::sync::MutexGuard<'_, ()>, PoolConnection<Sqlite>), StoreError> {
        let writer = self.write_lock.lock().await;
        let conn = self.pool.acquire().await.map_err(unavailable)?;
        Ok((writer, conn))
    }
}

/// Ends a write transaction: commits on `Ok`, and on `Err` with its flag set (an expiry noticed on the
/// way is kept); rolls back otherwise.
async fn finish<T>(
    tx: Transaction<'_, Sqlite>,
    result: Result<T, (StoreError, bool)>,
) -> Result<T, StoreError> {
    match result {
        Ok(v) => {
            tx.commit().await.map_err(unavailable)?;
            Ok(v)
        }
        Err((e, true)) => {
            tx.commit().await.map_err(unavailable)?;
            Err(e)
        }
        Err((e, false)) => {
            tx.rollback().await.map_err(unavailable)?;
            Err(e)
        }
    }
}

/// Starts a `BEGIN IMMEDIATE` transaction on the connection.
macro_rules! begin {
    ($conn:expr) => {
        $conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)?
    };
}

/// A store failure inside a transaction: roll back.
fn abort(e: StoreError) -> (StoreError, bool) {
    (e, false)
}

/// Inserts a pending approval under `id`; `Err((_, true))` when the id is taken.
async fn insert(
    conn: &mut SqliteConnection,
    id: String,
    new: NewApproval,
    arguments: Option<&str>,
) -> Result<Approval, (StoreError, bool)> {
    let seq = next_seq(conn).await.map_err(abort)?;
    let approval = Approval::from_new(id, to_u64("approval seq", seq).map_err(abort)?, new);
    sqlx::query(
        "INSERT INTO approvals (id, seq, created_at_ms, expires_at_ms, mode, status, grant_label, \
         agent, server, tool, args_digest, policy_version, rule, arguments, caller_left_at_ms) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&approval.id)
    .bind(seq)
    .bind(to_i64("created_at_ms", approval.created_at_ms).map_err(abort)?)
    .bind(to_i64("expires_at_ms", approval.expires_at_ms).map_err(abort)?)
    .bind(approval.mode.as_str())
    .bind(ApprovalStatus::Pending.as_str())
    .bind(approval.binding.grant.as_deref())
    .bind(&approval.binding.agent)
    .bind(&approval.binding.server)
    .bind(&approval.binding.tool)
    .bind(&approval.binding.args_digest)
    .bind(&approval.binding.policy_version)
    .bind(&approval.rule)
    .bind(arguments)
    .bind(
        approval
            .caller_left_at_ms
            .map(|v| to_i64("caller_left_at_ms", v))
            .transpose()
            .map_err(abort)?,
    )
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        let taken = is_unique_violation(&e);
        (unavailable(e), taken)
    })?;
    Ok(approval)
}

async fn decide_in(
    conn: &mut SqliteConnection,
    id: &str,
    approve: bool,
    by: &str,
    note: Option<&str>,
    now_ms: u64,
) -> Result<Approval, (StoreError, bool)> {
    let mut approval = by_id(conn, id)
        .await
        .map_err(abort)?
        .ok_or_else(|| abort(StoreError::ApprovalNotFound { id: id.to_owned() }))?;
    if let Err((error, expire)) = check_decidable(&approval, now_ms) {
        if expire {
            approval.status = ApprovalStatus::Expired;
            write_change(conn, &mut approval).await.map_err(abort)?;
        }
        return Err((error, expire));
    }
    approval.status = if approve {
        ApprovalStatus::Approved
    } else {
        ApprovalStatus::Denied
    };
    approval.decided_by = Some(by.to_owned());
    approval.note = note.map(str::to_owned);
    approval.decided_at_ms = Some(now_ms);
    write_change(conn, &mut approval).await.map_err(abort)?;
    Ok(approval)
}

async fn expire_in(conn: &mut SqliteConnection, now: i64) -> Result<Vec<Approval>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM approvals WHERE status = 'pending' AND expires_at_ms <= ? \
         ORDER BY created_at_ms, id"
    ))
    .bind(now)
    .fetch_all(&mut *conn)
    .await
    .map_err(unavailable)?;
    let mut expired = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
    for approval in &mut expired {
        approval.status = ApprovalStatus::Expired;
        write_change(conn, approval).await?;
    }
    Ok(expired)
}

/// What a retry may use: approved, and its caller left.
const RETRY_MAY_TAKE: &str = "status = 'approved' AND caller_left_at_ms IS NOT NULL";
/// What a retry may wait for again: a pending hold whose caller left.
const RETRY_MAY_REJOIN: &str =
    "status = 'pending' AND mode = 'hold' AND caller_left_at_ms IS NOT NULL";

/// The oldest unexpired approval with exactly this binding that matches `condition`.
async fn find_for_retry(
    conn: &mut SqliteConnection,
    condition: &str,
    binding: &ApprovalBinding,
    now: i64,
) -> Result<Option<Approval>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM approvals WHERE {condition} \
         AND expires_at_ms > ? AND {BINDING_MATCHES} ORDER BY created_at_ms, id LIMIT 1"
    ))
    .bind(now)
    .bind(binding.grant.as_deref())
    .bind(&binding.agent)
    .bind(&binding.server)
    .bind(&binding.tool)
    .bind(&binding.args_digest)
    .bind(&binding.policy_version)
    .fetch_optional(conn)
    .await
    .map_err(unavailable)?;
    row.as_ref().map(decode).transpose()
}

async fn take_in(
    conn: &mut SqliteConnection,
    binding: &ApprovalBinding,
    now: i64,
    now_ms: u64,
) -> Result<Option<Approval>, StoreError> {
    let Some(mut approval) = find_for_retry(conn, RETRY_MAY_TAKE, binding, now).await? else {
        return Ok(None);
    };
    approval.status = ApprovalStatus::Used;
    approval.used_at_ms = Some(now_ms);
    write_change(conn, &mut approval).await?;
    Ok(Some(approval))
}

async fn rejoin_in(
    conn: &mut SqliteConnection,
    binding: &ApprovalBinding,
    now: i64,
) -> Result<Option<Approval>, StoreError> {
    let Some(mut approval) = find_for_retry(conn, RETRY_MAY_REJOIN, binding, now).await? else {
        return Ok(None);
    };
    approval.caller_left_at_ms = None;
    write_change(conn, &mut approval).await?;
    Ok(Some(approval))
}

async fn caller_left_in(
    conn: &mut SqliteConnection,
    id: &str,
    now_ms: u64,
) -> Result<Approval, StoreError> {
    let mut approval = by_id(conn, id)
        .await?
        .ok_or_else(|| StoreError::ApprovalNotFound { id: id.to_owned() })?;
    if approval.caller_left_at_ms.is_none() && !approval.status.is_final() {
        approval.caller_left_at_ms = Some(now_ms);
        write_change(conn, &mut approval).await?;
    }
    Ok(approval)
}

async fn mark_used_in(
    conn: &mut SqliteConnection,
    id: &str,
    now_ms: u64,
) -> Result<Approval, StoreError> {
    let mut approval = by_id(conn, id)
        .await?
        .ok_or_else(|| StoreError::ApprovalNotFound { id: id.to_owned() })?;
    if approval.status != ApprovalStatus::Approved {
        return Err(StoreError::ApprovalNotPending {
            id: id.to_owned(),
            status: approval.status,
        });
    }
    approval.status = ApprovalStatus::Used;
    approval.used_at_ms = Some(now_ms);
    write_change(conn, &mut approval).await?;
    Ok(approval)
}

impl ApprovalStore for SqliteStore {
    fn create(&self, new: NewApproval) -> BoxFuture<'_, Result<Approval, StoreError>> {
        Box::pin(async move {
            let arguments = new
                .arguments
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| StoreError::InvalidInput {
                    field: "arguments",
                    message: e.to_string(),
                })?;
            let mut attempt = 1;
            loop {
                let (_writer, mut conn) = self.approval_writer().await?;
                let mut tx = begin!(conn);
                match insert(
                    &mut tx,
                    new_approval_id(),
                    new.clone(),
                    arguments.as_deref(),
                )
                .await
                {
                    Err((_, true)) if attempt < ID_ATTEMPTS => {
                        tx.rollback().await.map_err(unavailable)?;
                        attempt += 1;
                    }
                    result => return finish(tx, result.map_err(|(e, _)| abort(e))).await,
                }
            }
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Approval>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await.map_err(unavailable)?;
            by_id(&mut conn, id).await
        })
    }

    fn list(&self, filter: ApprovalFilter) -> BoxFuture<'_, Result<Vec<Approval>, StoreError>> {
        Box::pin(async move {
            let mut sql = format!("SELECT {COLUMNS} FROM approvals WHERE 1 = 1");
            if filter.status.is_some() {
                sql.push_str(" AND status = ?");
            }
            if filter.binding.is_some() {
                sql.push_str(" AND ");
                sql.push_str(BINDING_MATCHES);
            }
            sql.push_str(" ORDER BY created_at_ms DESC, id DESC LIMIT ?");
            let mut query = sqlx::query(&sql);
            if let Some(status) = filter.status {
                query = query.bind(status.as_str());
            }
            if let Some(b) = &filter.binding {
                query = query
                    .bind(b.grant.as_deref())
                    .bind(&b.agent)
                    .bind(&b.server)
                    .bind(&b.tool)
                    .bind(&b.args_digest)
                    .bind(&b.policy_version);
            }
            let rows = query
                .bind(i64::try_from(filter.limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
            rows.iter().map(decode).collect()
        })
    }

    fn decide<'a>(
        &'a self,
        id: &'a str,
        approve: bool,
        by: &'a str,
        note: Option<&'a str>,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Approval, StoreError>> {
        Box::pin(async move {
            let (_writer, mut conn) = self.approval_writer().await?;
            let mut tx = begin!(conn);
            let result = decide_in(&mut tx, id, approve, by, note, now_ms).await;
            finish(tx, result).await
        })
    }

    fn count_pending<'a>(
        &'a self,
        grant: Option<&'a str>,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(async move {
            let now = to_i64("now_ms", now_ms)?;
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM approvals \
                 WHERE status = 'pending' AND expires_at_ms > ? AND grant_label IS ?",
            )
            .bind(now)
            .bind(grant)
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
    }

    fn expire_due(&self, now_ms: u64) -> BoxFuture<'_, Result<Vec<Approval>, StoreError>> {
        Box::pin(async move {
            let now = to_i64("now_ms", now_ms)?;
            // Most polls find nothing: look before taking the write lock.
            let any: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM approvals WHERE status = 'pending' AND expires_at_ms <= ? LIMIT 1",
            )
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
            if any.is_none() {
                return Ok(Vec::new());
            }
            let (_writer, mut conn) = self.approval_writer().await?;
            let mut tx = begin!(conn);
            let result = expire_in(&mut tx, now).await.map_err(abort);
            finish(tx, result).await
        })
    }

    fn take_approved<'a>(
        &'a self,
        binding: &'a ApprovalBinding,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<Approval>, StoreError>> {
        Box::pin(async move {
            let now = to_i64("now_ms", now_ms)?;
            // Most calls have no approval waiting: look before taking the write lock.
            {
                let mut conn = self.pool.acquire().await.map_err(unavailable)?;
                if find_for_retry(&mut conn, RETRY_MAY_TAKE, binding, now)
                    .await?
                    .is_none()
                {
                    return Ok(None);
                }
            }
            let (_writer, mut conn) = self.approval_writer().await?;
            let mut tx = begin!(conn);
            // Found again under the write lock: another taker may have used it meanwhile.
            let result = take_in(&mut tx, binding, now, now_ms).await.map_err(abort);
            finish(tx, result).await
        })
    }

    fn caller_left<'a>(
        &'a self,
        id: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Approval, StoreError>> {
        Box::pin(async move {
            let (_writer, mut conn) = self.approval_writer().await?;
            let mut tx = begin!(conn);
            let result = caller_left_in(&mut tx, id, now_ms).await.map_err(abort);
            finish(tx, result).await
        })
    }

    fn rejoin<'a>(
        &'a self,
        binding: &'a ApprovalBinding,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<Approval>, StoreError>> {
        Box::pin(async move {
            let now = to_i64("now_ms", now_ms)?;
            // Most calls have no approval to rejoin: look before taking the write lock.
            {
                let mut conn = self.pool.acquire().await.map_err(unavailable)?;
                if find_for_retry(&mut conn, RETRY_MAY_REJOIN, binding, now)
                    .await?
                    .is_none()
                {
                    return Ok(None);
                }
            }
            let (_writer, mut conn) = self.approval_writer().await?;
            let mut tx = begin!(conn);
            let result = rejoin_in(&mut tx, binding, now).await.map_err(abort);
            finish(tx, result).await
        })
    }

    fn mark_used<'a>(
        &'a self,
        id: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Approval, StoreError>> {
        Box::pin(async move {
            let (_writer, mut conn) = self.approval_writer().await?;
            let mut tx = begin!(conn);
            let result = mark_used_in(&mut tx, id, now_ms).await.map_err(abort);
            finish(tx, result).await
        })
    }

    fn changed_since(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Approval>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM approvals WHERE seq > ? ORDER BY seq LIMIT ?"
            ))
            .bind(to_i64("after_seq", after_seq)?)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
            rows.iter().map(decode).collect()
        })
    }

    fn last_seq(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM approvals")
                .fetch_one(&self.pool)
                .await
                .map_err(unavailable)?;
            to_u64("approval seq", last)
        })
    }
}
