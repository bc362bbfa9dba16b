//! Hot reload: the config file and every policy it names are checked every second (and on
//! SIGHUP). A valid change is applied atomically without dropping sessions; an invalid one is
//! rejected with all its errors and the configuration in force stays. The admin plane's
//! credentials (`[admin] token_sha256`, `[admin.tokens.*]`) and the UI's mode (`[admin] ui`)
//! follow too, from the next admin request on.

use crate::config;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use toolgate_admin::LiveAccess;
use toolgate_gateway::Gateway;
use toolgate_gateway::settings::Settings;

/// How often the files are checked.
const INTERVAL: Duration = Duration::from_secs(1);

/// The files a configuration depends on, with a hash of their content (`None`: unreadable).
fn fingerprint(config: &Path, settings: &Settings) -> Vec<(PathBuf, Option<u64>)> {
    let mut files = vec![config.to_path_buf()];
    files.extend(
        settings
            .servers
            .iter()
            .filter_map(|s| s.policy_path.clone()),
    );
    files
        .into_iter()
        .map(|p| {
            let hash = std::fs::read(&p).ok().map(|bytes| {
                let mut h = DefaultHasher::new();
                bytes.hash(&mut h);
                h.finish()
            });
            (p, hash)
        })
        .collect()
}

/// Runs until the process ends; `access` is the admin plane's, replaced on every reload.
pub async fn watch(gateway: Arc<Gateway>, config_path: PathBuf, access: LiveAccess) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup()).ok();
    let mut last = fingerprint(&config_path, &gateway.state().settings);
    loop {
        let forced = tokio::select! {
            _ = tokio::time::sleep(INTERVAL) => false,
            _ = async { match hangup.as_mut() { Some(h) => { h.recv().await; } None => std::future::pending().await } } => true,
        };
        let now = fingerprint(&config_path, &gateway.state().settings);
        if !forced && now == last {
            continue;
        }
        last = now;
        match config::load(&config_path) {
            Err(errors) => {
                tracing::error!(
                    "configuration change rejected ({} errors); the configuration in force stays:\n{errors}",
                    errors.items.len()
                );
            }
            Ok(settings) => match gateway.reload(settings).await {
                Ok(summary) => {
                    tracing::info!(
                        policies = ?summary.policies_changed,
                        restarted = ?summary.servers_restarted,
                        added = ?summary.servers_added,
                        removed = ?summary.servers_removed,
                        "configuration reloaded"
                    );
                    last = fingerprint(&config_path, &gateway.state().settings);
                    reload_access(&config_path, &access);
                }
                Err(e) => {
                    tracing::error!(error = %e, "configuration change could not be applied; the configuration in force stays")
                }
            },
        }
    }
}

/// Puts the admin credentials and UI mode of the configuration just applied in force.
fn reload_access(config_path: &Path, access: &LiveAccess) {
    match config::admin_access(config_path) {
        Some(now) => {
            if access.replace(crate::admin_access(&now)) {
                tracing::info!(
                    role_tokens = now.role_tokens.len(),
                    ui_read_only = now.ui_read_only,
                    "admin credentials or web UI mode changed: in force from the next admin request"
                );
            }
        }
        None => tracing::error!(
            "the admin credentials of the configuration cannot be read back; the ones in force stay"
        ),
    }
}
