//! What the admin API needs from a running gateway beyond its public state: replacing a server's
//! policy (validated, written to its file, swapped in, audited — serialised with hot reloads),
//! recording admin events, noticing grant changes at once, listing a server's tools over a
//! short-lived upstream session.

use crate::Gateway;
use crate::enforce::now_ms;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use toolgate_policy::{Diagnostics, Policy, SourceFormat};
use toolgate_store::StoreError;
use toolgate_store::audit::AdminEvent;

/// What a policy replacement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyReplaced {
    pub server: String,
    pub previous_version: String,
    pub version: String,
    /// The file the policy was written to.
    pub path: PathBuf,
    /// False when the new text is the one already in force and on disk (nothing was done).
    pub changed: bool,
    /// Whether an admin event was recorded (false when no store is configured).
    pub audited: bool,
}

/// Why a policy was not replaced. In every case nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum ReplacePolicyError {
    #[error("no server named {0:?}")]
    UnknownServer(String),
    #[error(
        "server {0:?} has no policy file (it allows every call); give it `policy = \"<file>\"` in the config first"
    )]
    NoPolicyFile(String),
    #[error("the policy in force is {current}, not {expected}")]
    VersionMismatch { expected: String, current: String },
    #[error("the policy is invalid ({} errors)", .0.len())]
    Invalid(Diagnostics),
    #[error("cannot record the change in the audit log: {0}")]
    Audit(#[from] StoreError),
    #[error("cannot write {path}: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl Gateway {
    /// Compiles `text` as `server`'s policy; on success writes it to the server's policy file
    /// (atomically: a temporary file renamed over it), records `policy.replace` in the admin
    /// audit stream, and swaps it in so the very next call is decided by it. Serialised with
    /// configuration reloads, so a reload never interleaves with a replacement. With
    /// `expected_version`, the replacement happens only if the policy in force has that version.
    pub async fn replace_policy(
        &self,
        server: &str,
        text: &str,
        format: SourceFormat,
        expected_version: Option<&str>,
        actor: &str,
    ) -> Result<PolicyReplaced, ReplacePolicyError> {
        let _one_at_a_time = self.reloading.lock().await;
        let state = self.state();
        let runtime = state
            .servers
            .get(server)
            .ok_or_else(|| ReplacePolicyError::UnknownServer(server.to_owned()))?
            .clone();
        let path = runtime
            .settings
            .policy_path
            .clone()
            .ok_or_else(|| ReplacePolicyError::NoPolicyFile(server.to_owned()))?;
        let previous = runtime.policy.load_full();
        if let Some(expected) = expected_version
            && expected != previous.version_hash()
        {
            return Err(ReplacePolicyError::VersionMismatch {
                expected: expected.to_owned(),
                current: previous.version_hash().to_owned(),
            });
        }
        let policy = Arc::new(
            toolgate_policy::compile(text, &path.display().to_string(), format)
                .map_err(ReplacePolicyError::Invalid)?,
        );
        let mut done = PolicyReplaced {
            server: server.to_owned(),
            previous_version: previous.version_hash().to_owned(),
            version: policy.version_hash().to_owned(),
            path: path.clone(),
            changed: false,
            audited: false,
        };
        let on_disk = tokio::fs::read_to_string(&path).await.ok();
        if done.version == done.previous_version && on_disk.as_deref() == Some(text) {
            return Ok(done);
        }
        // Recorded first: when the audit log cannot take it, nothing has changed yet.
        done.audited = self
            .record_admin_event(
                actor,
                "policy.replace",
                server,
                serde_json::json!({
                    "previous_version": done.previous_version,
                    "version": done.version,
                    "path": path.display().to_string(),
                }),
            )
            .await?;
        if let Err(error) = write_atomically(&path, text).await {
            let _ = self
                .record_admin_event(
                    actor,
                    "policy.replace_failed",
                    server,
                    serde_json::json!({ "version": done.version, "error": error.to_string() }),
                )
                .await;
            return Err(ReplacePolicyError::Write { path, error });
        }
        runtime.policy.store(policy);
        done.changed = true;
        tracing::warn!(
            server,
            actor,
            previous = %done.previous_version,
            version = %done.version,
            "policy replaced through the admin API"
        );
        Ok(done)
    }

    /// Appends one event to the admin audit stream. `Ok(false)` when no store is configured
    /// (the event is logged instead).
    pub async fn record_admin_event(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        details: Value,
    ) -> Result<bool, StoreError> {
        let event = AdminEvent {
            time_ms: now_ms(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            details,
        };
        match &self.stores {
            Some(stores) => {
                stores.audit_sink.append_admin(&[event]).await?;
                Ok(true)
            }
            None => {
                tracing::warn!(actor, action, target, details = %event.details, "admin change (no store: not in an audit log)");
                Ok(false)
            }
        }
    }

    /// Re-reads whether the store holds grants, so that a grant created or revoked through the
    /// admin API decides whether tokens are required from the very next request.
    pub async fn grants_changed(&self) -> Result<(), StoreError> {
        self.refresh_store_grants().await
    }

    /// The tools `server` lists, read over a short-lived session of the gateway's own, as the
    /// catalogue reads them (`catalogue::fetch`). `None` for an unknown server.
    pub async fn list_upstream_tools(&self, server: &str) -> Option<Result<Vec<Value>, String>> {
        let state = self.state();
        let runtime = state.servers.get(server)?.clone();
        let timeout = state.settings.upstream_connect_timeout;
        Some(
            crate::catalogue::fetch::list_tools(&runtime, timeout)
                .await
                .map_err(|e| e.to_string()),
        )
    }
}

/// Writes `text` to a temporary file beside `path` and renames it over `path`, so a reader (the
/// hot-reload watcher, a restart) sees the old file or the new one, never half of one.
async fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.toolgate-{}.tmp", uuid::Uuid::new_v4()));
    tokio::fs::write(&tmp, text).await?;
    if let Err(e) = tokio::fs::rename(&tmp, path).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e);
    }
    Ok(())
}

/// The policy's compiled form for a text, without touching any server (what `validate` does).
pub fn validate_policy(
    text: &str,
    origin: &str,
    format: SourceFormat,
) -> Result<Policy, Diagnostics> {
    toolgate_policy::compile(text, origin, format)
}
