//! Applying a new configuration while clients stay connected. Servers whose definition is
//! unchanged keep their runtime (and so their sessions and stdio children); a changed policy is
//! swapped in place, so open sessions get it on their next call; a server whose transport
//! changed gets a new runtime and the old one is stopped; a removed server is stopped.

use crate::Gateway;
use crate::server::ServerRuntime;
use crate::settings::{ServerSettings, Settings};
use crate::state::State;
use std::collections::HashMap;
use std::sync::Arc;

/// What a reload changed, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    pub policies_changed: Vec<String>,
    pub servers_restarted: Vec<String>,
    pub servers_added: Vec<String>,
    pub servers_removed: Vec<String>,
}

/// True when two definitions of a server differ in anything but the policy.
fn definition_changed(old: &ServerSettings, new: &ServerSettings) -> bool {
    old.transport != new.transport
        || old.children != new.children
        || old.eager_start != new.eager_start
        || old.prefix != new.prefix
}

impl Gateway {
    /// Applies `settings` atomically. The listen address cannot change without a restart.
    pub async fn reload(&self, settings: Settings) -> Result<ReloadSummary, String> {
        let _one_at_a_time = self.reloading.lock().await;
        let old = self.state();
        if settings.listen != old.settings.listen {
            tracing::warn!(old = %old.settings.listen, new = %settings.listen, "the listen address changes only on restart");
        }
        let mut summary = ReloadSummary::default();
        let mut keep: HashMap<String, Arc<ServerRuntime>> = HashMap::new();
        for new in &settings.servers {
            match old.servers.get(&new.name) {
                Some(runtime) if !definition_changed(&runtime.settings, &new.clone()) => {
                    if runtime.policy.load().version_hash() != new.policy.version_hash() {
                        summary.policies_changed.push(new.name.clone());
                    }
                    keep.insert(new.name.clone(), runtime.clone());
                }
                Some(_) => summary.servers_restarted.push(new.name.clone()),
                None => summary.servers_added.push(new.name.clone()),
            }
        }
        summary.servers_removed = old
            .servers
            .keys()
            .filter(|n| settings.server(n).is_none())
            .cloned()
            .collect();
        let policies: Vec<(String, Arc<toolgate_policy::Policy>)> = settings
            .servers
            .iter()
            .map(|s| (s.name.clone(), s.policy.clone()))
            .collect();
        let state = State::build(settings, &keep, &self.grants).map_err(|e| e.to_string())?;
        for (name, policy) in policies {
            if let Some(runtime) = keep.get(&name) {
                runtime.policy.store(policy);
            }
        }
        if let Some(approvals) = &self.pipeline.approvals {
            approvals.set_pending_limit(state.settings.limits.pending_approvals_per_grant);
        }
        self.state.store(Arc::new(state));
        self.catalogue
            .set_rules(crate::pin_rules(&self.state().settings));
        for s in &self.state().settings.servers {
            let changed = summary.servers_restarted.contains(&s.name)
                || summary.servers_added.contains(&s.name);
            let risk_changed = old
                .settings
                .server(&s.name)
                .is_some_and(|o| o.risk != s.risk);
            if changed {
                self.catalogue.forget(&s.name);
            }
            if (changed && crate::catalogue::refresh::lists_at_start(s)) || risk_changed {
                self.catalogue.request_refresh(&s.name);
            }
        }
        for name in summary
            .servers_restarted
            .iter()
            .chain(&summary.servers_removed)
        {
            if let Some(runtime) = old.servers.get(name) {
                runtime.stop().await;
            }
        }
        Ok(summary)
    }
}
