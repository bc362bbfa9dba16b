//! The embedded default store: one SQLite file (`sqlite://toolgate.db`), created and migrated on open,
//! in WAL mode so that readers (queries, verification) never block the audit writer. Implements
//! [`crate::GrantStore`], [`crate::AuditStore`], [`crate::KillSwitchStore`], [`crate::ApprovalStore`] and
//! [`crate::CatalogueStore`]
//! with plain SQL that a PostgreSQL twin can mirror statement for statement.

mod approvals;
mod audit;
mod catalogue;
mod grants;
mod kill_switch;
mod migrate;

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use migrate::SCHEMA_VERSION;

use crate::StoreError;

pub(crate) const BACKEND: &str = "sqlite";

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections to a file database (WAL: many readers, one writer at a time).
const FILE_CONNECTIONS: u32 = 4;

/// A SQLite database holding grants, the audit streams, kill switches and approvals.
#[derive(Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Serialises this process's audit writers so they queue here instead of spinning in SQLite's busy
    /// handler; `BEGIN IMMEDIATE` still guards against other processes.
    write_lock: tokio::sync::Mutex<()>,
    /// A file database: a connection that failed mid-transaction is closed rather than reused
    /// (an in-memory database would be lost with its only connection).
    on_file: bool,
    /// Seals the audit chain's links, and checks them.
    chain_key: Option<crate::audit::ChainKey>,
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates the database at `url`: `sqlite://path/to/file.db`,
    /// `sqlite:///absolute/path.db`, or `sqlite::memory:` for a private in-memory database.
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        let invalid = |reason: String| StoreError::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        if !url.starts_with("sqlite:") {
            return Err(invalid("a SQLite store URL starts with sqlite:".into()));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| invalid(e.to_string()))?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let in_memory = url.starts_with("sqlite::memory:") || url.contains("mode=memory");
        let pool = if in_memory {
            // An in-memory database lives as long as one of its connections: keep exactly one, forever.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
        } else {
            pool_options()
                .max_connections(FILE_CONNECTIONS)
                .connect_with(
                    options
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal),
                )
                .await
        }
        .map_err(unavailable)?;
        migrate::migrate(&pool).await?;
        Ok(SqliteStore {
            pool,
            write_lock: tokio::sync::Mutex::new(()),
            on_file: !in_memory,
            chain_key: None,
        })
    }

    /// Seals new audit links with `key`, and checks keyed links with it.
    pub fn with_chain_key(mut self, key: Option<crate::audit::ChainKey>) -> SqliteStore {
        self.chain_key = key;
        self
    }

    /// Waits for running statements, then closes every connection (checkpointing the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The pool's rules for every connection: one given back still inside a transaction is closed,
/// never reused. A statement that fails inside a transaction (disk full, read-only file, lock
/// timeout) can make SQLite end the transaction by itself; the driver then cannot roll it back
/// and would count the connection as inside a transaction for good, refusing every later
/// `BEGIN` on it. Dropping such a connection lets the store recover as soon as the file does.
fn pool_options() -> SqlitePoolOptions {
    SqlitePoolOptions::new().after_release(|conn, _| {
        Box::pin(async move {
            // The ping runs after any rollback queued by a dropped transaction.
            use sqlx::Connection;
            conn.ping().await?;
            Ok(!conn.is_in_transaction())
        })
    })
}

/// Any driver failure: the store is unavailable and the gateway fails closed.
pub(crate) fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable {
        backend: BACKEND,
        message: e.to_string(),
    }
}

/// A u64 as SQLite's INTEGER (i64).
pub(crate) fn to_i64(field: &'static str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::InvalidInput {
        field,
        message: format!("{v} is above {}", i64::MAX),
    })
}

/// An INTEGER read back as u64; a negative one was not written by toolgate.
pub(crate) fn to_u64(what: &str, v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt {
        what: what.to_owned(),
        message: format!("negative value {v}"),
    })
}

/// Wall-clock ms, for bookkeeping columns only (callers pass the times that matter).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
