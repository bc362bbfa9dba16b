//! The audit log's key, found or made: `TOOLGATE_AUDIT_KEY` (64 hex digits), else the key file
//! (`[audit] key_file`, default `toolgate.audit.key` beside the config), which `serve` creates
//! (mode 0600) on first start and the other commands only read. `serve` opens the store with the
//! key and puts the checkpoint publisher in front of its audit sink.

use anyhow::Context;
use std::path::Path;
use std::sync::Arc;
use toolgate_gateway::settings::Settings;
use toolgate_gateway::telemetry::checkpoints::{CheckpointingSink, Checkpoints};
use toolgate_store::Stores;
use toolgate_store::audit::ChainKey;

/// The environment variable that gives the key instead of the file.
pub const KEY_ENV: &str = "TOOLGATE_AUDIT_KEY";

fn from_env() -> Result<Option<ChainKey>, String> {
    match std::env::var(KEY_ENV) {
        Ok(text) if !text.trim().is_empty() => ChainKey::parse(&text, KEY_ENV)
            .map(Some)
            .map_err(|e| e.to_string()),
        _ => Ok(None),
    }
}

/// The key a command that reads or writes the store uses: the file given (`--audit-key`), else
/// the environment, else the config's key file when it exists; `None`: no key (plain links are
/// checked, keyed ones reported as such).
pub fn existing_key(
    given: Option<&Path>,
    settings: Option<&Settings>,
) -> Result<Option<ChainKey>, String> {
    if let Some(path) = given {
        return ChainKey::load(path).map(Some).map_err(|e| e.to_string());
    }
    if let Some(key) = from_env()? {
        return Ok(Some(key));
    }
    match settings.map(|s| &s.audit.chain.key_file) {
        Some(path) if path.exists() => ChainKey::load(path).map(Some).map_err(|e| e.to_string()),
        _ => Ok(None),
    }
}

/// `serve`'s stores, opened with the key (made on first start), their audit sink publishing
/// checkpoints; `None` with `store = "none"`.
pub async fn open_stores(
    settings: &Settings,
) -> anyhow::Result<(Option<Stores>, Option<Arc<Checkpoints>>)> {
    let Some(url) = &settings.store else {
        return Ok((None, None));
    };
    let chain = &settings.audit.chain;
    let key = match from_env().map_err(anyhow::Error::msg)? {
        Some(key) => key,
        None => {
            let (key, created) = ChainKey::load_or_create(&chain.key_file)
                .context("cannot read or create the audit key")?;
            if created {
                tracing::warn!(
                    file = %chain.key_file.display(),
                    key_id = key.id(),
                    "created the audit key: keep a copy of it away from the store (it proves the audit log was not rewritten)"
                );
            }
            key
        }
    };
    tracing::info!(
        key_id = key.id(),
        checkpoint_public_key = %key.public_key(),
        checkpoints = %chain.checkpoint_file.display(),
        "audit chain keyed; checkpoints signed"
    );
    let mut stores = toolgate_store::open_keyed(url, Some(key.clone()))
        .await
        .with_context(|| format!("cannot open the store {url}"))?;
    let checkpoints = Checkpoints::new(key, chain.clone());
    stores.audit_sink = Arc::new(CheckpointingSink::new(
        stores.audit_sink.clone(),
        checkpoints.clone(),
    ));
    tokio::spawn(checkpoints.clone().run());
    Ok((Some(stores), Some(checkpoints)))
}
