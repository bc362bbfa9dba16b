//! The kill switch: an operator's emergency stop for every request that reaches a server (global),
//! one server's, or one grant's: tool calls, and resource reads, prompts, completions,
//! subscriptions and lists alike (`pipeline::Pipeline::handle`). Checked before any other
//! decision; kept in the store so it survives a restart; read from memory on the hot path and
//! refreshed from the store every second, so a switch thrown from another process
//! (`toolgate kill`) takes effect within a second. A switch thrown here takes effect at once,
//! even while the store cannot be written (locked, full, read-only): it is kept in memory and
//! written by the poller once the store takes it.

use arc_swap::ArcSwap;
use std::sync::Arc;
use std::time::Duration;
use toolgate_store::{KillScope, KillSwitch, KillSwitchStore, StoreError, blocking_kill_switch};

/// How long engaging or releasing a switch waits for the store before answering with the switch
/// applied in memory only (the poller goes on writing it).
const SAVE_WAIT: Duration = Duration::from_secs(1);

/// A change made here that the store has not taken yet.
#[derive(Debug, Clone)]
enum Unsaved {
    Engage(KillSwitch),
    Release(KillScope),
}

#[derive(Default)]
pub struct KillSwitches {
    current: ArcSwap<Vec<KillSwitch>>,
    store: Option<Arc<dyn KillSwitchStore>>,
    /// In the order made; applied on top of what the store says until written.
    unsaved: parking_lot::Mutex<Vec<Unsaved>>,
    /// One writer of `unsaved` at a time.
    saving: tokio::sync::Mutex<()>,
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
            unsaved: parking_lot::Mutex::default(),
            saving: tokio::sync::Mutex::default(),
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

    /// Reads the switches from the store (with the changes it has not taken yet on top).
    pub async fn refresh(&self) -> Result<(), StoreError> {
        if let Some(store) = &self.store {
            let mut list = store.list().await?;
            for change in self.unsaved.lock().iter() {
                apply(&mut list, change);
            }
            self.show(list);
        }
        Ok(())
    }

    fn show(&self, mut list: Vec<KillSwitch>) {
        list.sort_by(|a, b| a.scope.cmp(&b.scope));
        if **self.current.load() != list {
            tracing::warn!(engaged = ?list.iter().map(|s| s.scope.clone()).collect::<Vec<_>>(), "kill switches changed");
            self.current.store(Arc::new(list));
        }
    }

    /// Engages a switch: in force here at once, then written to the store.
    pub async fn engage(
        &self,
        scope: KillScope,
        reason: Option<String>,
        now_ms: u64,
    ) -> Result<KillSwitch, StoreError> {
        self.store.as_ref().ok_or_else(no_store)?;
        let switch = KillSwitch {
            scope,
            reason,
            engaged_at_ms: now_ms,
        };
        self.change(Unsaved::Engage(switch.clone())).await;
        Ok(switch)
    }

    /// Releases a switch: here at once, then in the store. `false`: it was not engaged.
    pub async fn release(&self, scope: &KillScope) -> Result<bool, StoreError> {
        self.store.as_ref().ok_or_else(no_store)?;
        let engaged = self.current.load().iter().any(|s| s.scope == *scope);
        self.change(Unsaved::Release(scope.clone())).await;
        Ok(engaged)
    }

    /// Applies a change here, then gives the store [`SAVE_WAIT`] to take it.
    async fn change(&self, change: Unsaved) {
        let mut list = self.engaged();
        apply(&mut list, &change);
        self.unsaved.lock().push(change);
        self.show(list);
        if tokio::time::timeout(SAVE_WAIT, self.save()).await.is_err() {
            tracing::error!(
                "the kill switch is in force, but the store has not taken it yet; it is written once the store recovers"
            );
        }
    }

    /// Writes the changes the store has not taken yet, oldest first, stopping at a failure.
    async fn save(&self) {
        let Some(store) = &self.store else { return };
        let _one = self.saving.lock().await;
        loop {
            let Some(change) = self.unsaved.lock().first().cloned() else {
                return;
            };
            let saved = match &change {
                Unsaved::Engage(s) => store
                    .engage(s.scope.clone(), s.reason.clone(), s.engaged_at_ms)
                    .await
                    .map(drop),
                Unsaved::Release(scope) => store.release(scope).await.map(drop),
            };
            if let Err(e) = saved {
                tracing::error!(error = %e, "cannot write a kill switch change to the store; it stays in force here and is retried");
                return;
            }
            self.unsaved.lock().remove(0);
        }
    }

    /// Refreshes every second until the process ends.
    pub async fn poll(self: Arc<Self>) {
        loop {
            self.save().await;
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

/// `list` with `change` made.
fn apply(list: &mut Vec<KillSwitch>, change: &Unsaved) {
    match change {
        Unsaved::Engage(s) => {
            list.retain(|e| e.scope != s.scope);
            list.push(s.clone());
        }
        Unsaved::Release(scope) => list.retain(|e| e.scope != *scope),
    }
}

fn no_store() -> StoreError {
    StoreError::InvalidUrl {
        url: String::new(),
        reason: "no store is configured".into(),
    }
}
