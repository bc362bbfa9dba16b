//! [`KillSwitchStore`] on the `kill_switches` table: one row per engaged switch.

use futures_util::future::BoxFuture;
use sqlx::Row;

use crate::StoreError;
use crate::kill_switch::{KillScope, KillSwitch, KillSwitchStore};
use crate::sqlite::{SqliteStore, to_i64, to_u64, unavailable};

impl KillSwitchStore for SqliteStore {
    fn engage(
        &self,
        scope: KillScope,
        reason: Option<String>,
        now_ms: u64,
    ) -> BoxFuture<'_, Result<KillSwitch, StoreError>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO kill_switches (scope, target, reason, engaged_at_ms) VALUES (?, ?, ?, ?)
                 ON CONFLICT (scope, target) DO UPDATE
                 SET reason = excluded.reason, engaged_at_ms = excluded.engaged_at_ms",
            )
            .bind(scope.kind())
            .bind(scope.target())
            .bind(reason.as_deref())
            .bind(to_i64("engaged_at_ms", now_ms)?)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
            Ok(KillSwitch {
                scope,
                reason,
                engaged_at_ms: now_ms,
            })
        })
    }

    fn release<'a>(&'a self, scope: &'a KillScope) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let done = sqlx::query("DELETE FROM kill_switches WHERE scope = ? AND target = ?")
                .bind(scope.kind())
                .bind(scope.target())
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
            Ok(done.rows_affected() > 0)
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<KillSwitch>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT scope, target, reason, engaged_at_ms FROM kill_switches ORDER BY scope, target",
            )
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
            let mut switches = Vec::with_capacity(rows.len());
            for row in rows {
                let kind: String = row.try_get("scope").map_err(unavailable)?;
                let target: String = row.try_get("target").map_err(unavailable)?;
                let scope =
                    KillScope::from_parts(&kind, &target).ok_or_else(|| StoreError::Corrupt {
                        what: "kill switch".into(),
                        message: format!("unknown scope {kind:?}"),
                    })?;
                switches.push(KillSwitch {
                    scope,
                    reason: row.try_get("reason").map_err(unavailable)?,
                    engaged_at_ms: to_u64(
                        "kill switch time",
                        row.try_get("engaged_at_ms").map_err(unavailable)?,
                    )?,
                });
            }
            // Same order as KillScope's Ord (global, server, grant), like the memory store.
            switches.sort_by(|a, b| a.scope.cmp(&b.scope));
            Ok(switches)
        })
    }
}
