//! [`KillSwitchStore`] over a map of engaged switches by scope.

use futures_util::future::BoxFuture;

use crate::StoreError;
use crate::kill_switch::{KillScope, KillSwitch, KillSwitchStore};
use crate::memory::MemoryStore;

impl KillSwitchStore for MemoryStore {
    fn engage(
        &self,
        scope: KillScope,
        reason: Option<String>,
        now_ms: u64,
    ) -> BoxFuture<'_, Result<KillSwitch, StoreError>> {
        let switch = KillSwitch {
            scope: scope.clone(),
            reason,
            engaged_at_ms: now_ms,
        };
        self.kill_switches.lock().insert(scope, switch.clone());
        Box::pin(std::future::ready(Ok(switch)))
    }

    fn release<'a>(&'a self, scope: &'a KillScope) -> BoxFuture<'a, Result<bool, StoreError>> {
        let was = self.kill_switches.lock().remove(scope).is_some();
        Box::pin(std::future::ready(Ok(was)))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<KillSwitch>, StoreError>> {
        let all = self.kill_switches.lock().values().cloned().collect();
        Box::pin(std::future::ready(Ok(all)))
    }
}
