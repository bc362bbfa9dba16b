//! [`GrantStore`] on the `grants` table. Lookups by token hash hit its UNIQUE index; revocation and
//! expiry are checked in the query, so they hold from the next request on.

use futures_util::future::BoxFuture;
use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, Row};

use crate::StoreError;
use crate::grant::{Grant, GrantStore, NewGrant};
use crate::sqlite::{SqliteStore, to_i64, to_u64, unavailable};
use crate::token::TokenHash;

const COLUMNS: &str = "label, agent, token_sha256, servers, policies, tags, expires_at_ms, \
                       created_at_ms, rotated_at_ms, revoked_at_ms";

fn json_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("lists and string maps serialise")
}

fn corrupt(label: &str, message: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what: format!("grant {label:?}"),
        message: message.to_string(),
    }
}

fn opt_u64(label: &str, v: Option<i64>) -> Result<Option<u64>, StoreError> {
    v.map(|v| to_u64(&format!("grant {label:?}"), v))
        .transpose()
}

fn decode(row: &SqliteRow) -> Result<Grant, StoreError> {
    let label: String = row.try_get("label").map_err(unavailable)?;
    let text = |col: &str| -> Result<String, StoreError> { row.try_get(col).map_err(unavailable) };
    let int =
        |col: &str| -> Result<Option<i64>, StoreError> { row.try_get(col).map_err(unavailable) };
    let token = TokenHash::from_hex(&text("token_sha256")?).map_err(|e| corrupt(&label, e))?;
    Ok(Grant {
        agent: text("agent")?,
        token_sha256: token,
        servers: serde_json::from_str(&text("servers")?).map_err(|e| corrupt(&label, e))?,
        policies: serde_json::from_str(&text("policies")?).map_err(|e| corrupt(&label, e))?,
        tags: serde_json::from_str(&text("tags")?).map_err(|e| corrupt(&label, e))?,
        expires_at_ms: opt_u64(&label, int("expires_at_ms")?)?,
        created_at_ms: opt_u64(&label, int("created_at_ms")?)?.unwrap_or(0),
        rotated_at_ms: opt_u64(&label, int("rotated_at_ms")?)?,
        revoked_at_ms: opt_u64(&label, int("revoked_at_ms")?)?,
        label,
    })
}

/// A UNIQUE violation on `grants`, told apart by the column SQLite names.
fn conflict(e: sqlx::Error, label: &str) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            let label = label.to_owned();
            return if db.message().contains("token_sha256") {
                StoreError::TokenInUse { label }
            } else {
                StoreError::GrantExists { label }
            };
        }
    }
    unavailable(e)
}

impl SqliteStore {
    /// The grant `label`, which must exist (it was just changed).
    async fn existing_grant(&self, label: &str) -> Result<Grant, StoreError> {
        self.grant_by_label(label)
            .await?
            .ok_or_else(|| StoreError::GrantNotFound {
                label: label.to_owned(),
            })
    }

    async fn grant_by_label(&self, label: &str) -> Result<Option<Grant>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM grants WHERE label = ?"))
            .bind(label)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(decode).transpose()
    }
}

impl GrantStore for SqliteStore {
    fn create(&self, grant: NewGrant) -> BoxFuture<'_, Result<Grant, StoreError>> {
        Box::pin(async move {
            let grant = Grant::from_new(grant);
            sqlx::query(
                "INSERT INTO grants (label, agent, token_sha256, servers, policies, tags, \
                 expires_at_ms, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&grant.label)
            .bind(&grant.agent)
            .bind(grant.token_sha256.to_hex())
            .bind(json_text(&grant.servers))
            .bind(json_text(&grant.policies))
            .bind(json_text(&grant.tags))
            .bind(
                grant
                    .expires_at_ms
                    .map(|v| to_i64("expires_at_ms", v))
                    .transpose()?,
            )
            .bind(to_i64("created_at_ms", grant.created_at_ms)?)
            .execute(&self.pool)
            .await
            .map_err(|e| conflict(e, &grant.label))?;
            Ok(grant)
        })
    }

    fn get_by_token<'a>(
        &'a self,
        token: &'a TokenHash,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<Grant>, StoreError>> {
        Box::pin(async move {
            let row = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM grants WHERE token_sha256 = ? AND revoked_at_ms IS NULL \
                 AND (expires_at_ms IS NULL OR expires_at_ms > ?)"
            ))
            .bind(token.to_hex())
            .bind(to_i64("now_ms", now_ms)?)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
            row.as_ref().map(decode).transpose()
        })
    }

    fn get<'a>(&'a self, label: &'a str) -> BoxFuture<'a, Result<Option<Grant>, StoreError>> {
        Box::pin(self.grant_by_label(label))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<Grant>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM grants ORDER BY label"))
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
            rows.iter().map(decode).collect()
        })
    }

    fn revoke<'a>(
        &'a self,
        label: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Grant, StoreError>> {
        Box::pin(async move {
            sqlx::query(
                "UPDATE grants SET revoked_at_ms = COALESCE(revoked_at_ms, ?) WHERE label = ?",
            )
            .bind(to_i64("now_ms", now_ms)?)
            .bind(label)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
            self.existing_grant(label).await
        })
    }

    fn rotate<'a>(
        &'a self,
        label: &'a str,
        token: TokenHash,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Grant, StoreError>> {
        Box::pin(async move {
            let now = to_i64("now_ms", now_ms)?;
            let mut conn = self.pool.acquire().await.map_err(unavailable)?;
            let mut tx = conn
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(unavailable)?;
            let revoked: Option<Option<i64>> =
                sqlx::query_scalar("SELECT revoked_at_ms FROM grants WHERE label = ?")
                    .bind(label)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(unavailable)?;
            match revoked {
                None => {
                    return Err(StoreError::GrantNotFound {
                        label: label.to_owned(),
                    });
                }
                Some(Some(_)) => {
                    return Err(StoreError::GrantRevoked {
                        label: label.to_owned(),
                    });
                }
                Some(None) => {}
            }
            sqlx::query("UPDATE grants SET token_sha256 = ?, rotated_at_ms = ? WHERE label = ?")
                .bind(token.to_hex())
                .bind(now)
                .bind(label)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict(e, label))?;
            tx.commit().await.map_err(unavailable)?;
            drop(conn);
            self.existing_grant(label).await
        })
    }
    fn set_policy<'a>(
        &'a self,
        label: &'a str,
        server: &'a str,
        text: Option<String>,
    ) -> BoxFuture<'a, Result<Grant, StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await.map_err(unavailable)?;
            let mut tx = conn
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(unavailable)?;
            let row: Option<(String, Option<i64>)> =
                sqlx::query_as("SELECT policies, revoked_at_ms FROM grants WHERE label = ?")
                    .bind(label)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(unavailable)?;
            let mut policies: std::collections::BTreeMap<String, String> = match row {
                None => {
                    return Err(StoreError::GrantNotFound {
                        label: label.to_owned(),
                    });
                }
                Some((_, Some(_))) => {
                    return Err(StoreError::GrantRevoked {
                        label: label.to_owned(),
                    });
                }
                Some((text, None)) => serde_json::from_str(&text).map_err(|e| corrupt(label, e))?,
            };
            match text {
                Some(t) => policies.insert(server.to_owned(), t),
                None => policies.remove(server),
            };
            sqlx::query("UPDATE grants SET policies = ? WHERE label = ?")
                .bind(json_text(&policies))
                .bind(label)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            tx.commit().await.map_err(unavailable)?;
            drop(conn);
            self.existing_grant(label).await
        })
    }

    fn set_expiry<'a>(
        &'a self,
        label: &'a str,
        expires_at_ms: Option<u64>,
    ) -> BoxFuture<'a, Result<Grant, StoreError>> {
        Box::pin(async move {
            let at = expires_at_ms
                .map(|at| to_i64("expires_at_ms", at))
                .transpose()?;
            let done = sqlx::query(
                "UPDATE grants SET expires_at_ms = ? WHERE label = ? AND revoked_at_ms IS NULL",
            )
            .bind(at)
            .bind(label)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
            let grant = self.existing_grant(label).await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::GrantRevoked {
                    label: label.to_owned(),
                });
            }
            Ok(grant)
        })
    }
}
