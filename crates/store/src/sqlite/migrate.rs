//! Versioned schema migrations, embedded in the binary and applied on open, in one transaction. The
//! applied versions are kept in `toolgate_schema`; a database from a newer toolgate is refused rather
//! than written to.

use sqlx::{Connection, SqlitePool};

use crate::StoreError;
use crate::sqlite::{BACKEND, now_ms, unavailable};

/// One schema change. Versions only grow; a released migration is never edited.
struct Migration {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "grants, audit streams, kill switches",
        sql: include_str!("migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        description: "approvals",
        sql: include_str!("migrations/0002_approvals.sql"),
    },
    Migration {
        version: 3,
        description: "tool catalogue and pins",
        sql: include_str!("migrations/0003_catalogue.sql"),
    },
    Migration {
        version: 4,
        description: "approvals: when the caller left",
        sql: include_str!("migrations/0004_approval_caller_left.sql"),
    },
    Migration {
        version: 5,
        description: "audit: request and outcome records of strict durability",
        sql: include_str!("migrations/0005_audit_phase.sql"),
    },
    Migration {
        version: 6,
        description: "audit: keyed chains",
        sql: include_str!("migrations/0006_audit_keys.sql"),
    },
    Migration {
        version: 7,
        description: "catalogue: pins of instructions, pin formats",
        sql: include_str!("migrations/0007_catalogue_kinds.sql"),
    },
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 7;

/// Brings the database to [`SCHEMA_VERSION`]; returns the migrations applied.
pub(crate) async fn migrate(pool: &SqlitePool) -> Result<Vec<i64>, StoreError> {
    let mut conn = pool.acquire().await.map_err(unavailable)?;
    let mut tx = conn
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(unavailable)?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS toolgate_schema (
            version INTEGER PRIMARY KEY NOT NULL,
            description TEXT NOT NULL,
            applied_at_ms INTEGER NOT NULL)",
    )
    .execute(&mut *tx)
    .await
    .map_err(unavailable)?;
    let current: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM toolgate_schema")
        .fetch_one(&mut *tx)
        .await
        .map_err(unavailable)?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::Migration {
            backend: BACKEND,
            version: current,
            message: format!(
                "the database is at schema version {current}, newer than this toolgate's {SCHEMA_VERSION}; upgrade toolgate"
            ),
        });
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let failed = |e: sqlx::Error| StoreError::Migration {
            backend: BACKEND,
            version: m.version,
            message: e.to_string(),
        };
        sqlx::raw_sql(m.sql)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        sqlx::query(
            "INSERT INTO toolgate_schema (version, description, applied_at_ms) VALUES (?, ?, ?)",
        )
        .bind(m.version)
        .bind(m.description)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
        applied.push(m.version);
    }
    tx.commit().await.map_err(unavailable)?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_grow_and_end_at_the_schema_version() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(SCHEMA_VERSION));
    }
}
