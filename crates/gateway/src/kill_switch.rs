//! The kill switch: an operator's emergency stop for every request that reaches a server (global),
//! one server's, or one grant's: tool calls, and resource reads, prompts, completions,
//! subscriptions and lists alike (`relay::Relay::plan_request`). Checked before any other
//! decision; kept in the store so it survives a restart; read from memory on the hot path and
//! refreshed from the store every second, so a switch thrown from another process
//! (`toolgate kill`) takes effect within a second.

use arc_swap::ArcSwap;
use std::sync::Arc;
use std::time::Duration;
use toolgate_store::{KillScope, KillSwitch, KillSwitchStore, StoreError, blocking_kill_switch};

#[derive(Default)]
pub struct KillSwitches {
    current: ArcSwap<Vec<KillSwitch>>,
    store: Option<Arc<dyn KillSwitchStore>>,
}

impl std::fmt::Debug for KillSwitches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KillSwitches")
            .field("engaged", &self.current.load().len())
            .finish()
    }
}

impl KillSwitches {
    pub fn new(store: Option<Arc<dyn KillSwitchStore>>) -> Self {
        KillSwitches {
            current: ArcSwap::default(),
            store,
        }
    }

    /// The switch that stops a call to `server` by `grant`, if one is engaged.
    pub fn blocking(&self, server: &str, grant: &str) -> Option<KillSwitch> {
        blocking_kill_switch(&self.current.load(), server, Some(grant)).cloned()
    }

    /// Why a request to `server` by `grant` is stopped, if a switch stops it.
    pub fn stop(&self, server: &str, grant: &str) -> Option<Stop> {
        let switch = self.blocking(server, grant)?;
        let why = switch
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        Some(Stop {
            by: format!("the {} kill switch{why}", switch.scope.kind()),
            rule: format!("/kill_switch/{}", switch.scope.kind()),
        })
    }

    pub fn engaged(&self) -> Vec<KillSwitch> {
        self.current.load().as_ref().clone()
    }

    /// Reads the switches from the store.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        if let Some(store) = &self.store {
            let mut list = store.list().await?;
            list.sort_by(|a, b| a.scope.cmp(&b.scope));
            if **self.current.load() != list {
                tracing::warn!(engaged = ?list.iter().map(|s| s.scope.clone()).collect::<Vec<_>>(), "kill switches changed");
                self.current.store(Arc::new(list));
            }
        }
        Ok(())
    }

    pub async fn engage(
        &self,
        scope: KillScope,
        reason: Option<String>,
        now_ms: u64,
    ) -> Result<KillSwitch, StoreError> {
        let store = self.store.as_ref().ok_or_else(no_store)?;
        let s = store.engage(scope, reason, now_ms).await?;
        self.refresh().await?;
        Ok(s)
    }

    pub async fn release(&self, scope: &KillScope) -> Result<bool, StoreError> {
        let store = self.store.as_ref().ok_or_else(no_store)?;
        let released = store.release(scope).await?;
        self.refresh().await?;
        Ok(released)
    }

    /// Refreshes every second until the process ends.
    pub async fn poll(self: Arc<Self>) {
        loop {
            if let Err(e) = self.refresh().await {
                tracing::error!(error = %e, "cannot read the kill switches; keeping the last known state");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// An engaged switch, as the gateway's answers name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// The switch in words, with the operator's reason: `the server kill switch: incident 42`.
    pub by: String,
    /// The rule the decision names: `/kill_switch/server`.
    pub rule: String,
}

fn no_store() -> StoreError {
    StoreError::InvalidUrl {
        url: String::new(),
        reason: "no store is configured".into(),
    }
}
