//! What a configuration turns into at run time — servers, credentials, names — held as one value
//! the gateway swaps atomically on reload. A request reads one consistent state from start to end.

use crate::aggregate::names::Namer;
use crate::identity::Authenticator;
use crate::server::ServerRuntime;
use crate::settings::Settings;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use toolgate_mcp::upstream::UpstreamError;
use toolgate_store::GrantStore;

/// Where grants beyond the config's come from, shared by every state.
#[derive(Clone, Default)]
pub struct GrantSource {
    pub store: Option<Arc<dyn GrantStore>>,
    /// Whether the store holds any grant (refreshed by the gateway every second).
    pub store_has_grants: Arc<AtomicBool>,
}

#[derive(Debug)]
pub struct State {
    pub settings: Settings,
    pub servers: HashMap<String, Arc<ServerRuntime>>,
    pub auth: Authenticator,
    pub namer: Namer,
}

impl std::fmt::Debug for GrantSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantSource")
            .field("store", &self.store.is_some())
            .finish()
    }
}

impl State {
    /// Builds the state for `settings`, reusing the runtimes in `keep` (servers whose definition
    /// did not change) and starting new ones for the rest.
    pub fn build(
        settings: Settings,
        keep: &HashMap<String, Arc<ServerRuntime>>,
        grants: &GrantSource,
    ) -> Result<State, UpstreamError> {
        let mut servers = HashMap::new();
        for s in &settings.servers {
            let runtime = match keep.get(&s.name) {
                Some(r) => r.clone(),
                None => Arc::new(ServerRuntime::limited(s, settings.limits.peers())?),
            };
            servers.insert(s.name.clone(), runtime);
        }
        let prefixes = settings
            .servers
            .iter()
            .filter_map(|s| Some((s.name.clone(), s.prefix.clone()?)))
            .collect();
        Ok(State {
            auth: Authenticator::new(
                &settings.grants,
                grants.store.clone(),
                grants.store_has_grants.clone(),
            ),
            namer: Namer::new(&settings.name_separator, prefixes),
            servers,
            settings,
        })
    }

    /// The configured servers, in configuration order.
    pub fn servers(&self) -> impl Iterator<Item = &Arc<ServerRuntime>> {
        self.settings
            .servers
            .iter()
            .filter_map(|s| self.servers.get(&s.name))
    }
}
