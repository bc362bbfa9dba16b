//! One entry point from a store URL to the traits the gateway holds, so that the gateway and the binary
//! never name a backend: adding PostgreSQL means a new arm here and a sibling of `sqlite/`, nothing
//! else.

use std::sync::Arc;

use crate::audit::ChainKey;

use crate::{
    ApprovalStore, AuditSink, AuditStore, CatalogueStore, GrantStore, KillSwitchStore, MemoryStore,
    SqliteStore, StoreError,
};

/// Every store the gateway uses, opened from one URL and sharing one backend.
#[derive(Clone)]
pub struct Stores {
    pub grants: Arc<dyn GrantStore>,
    /// The hot path's view of the audit log (append only).
    pub audit_sink: Arc<dyn AuditSink>,
    /// The CLI's and admin API's view (query, verify, retention).
    pub audit: Arc<dyn AuditStore>,
    pub kill_switches: Arc<dyn KillSwitchStore>,
    /// Calls held for a human's decision.
    pub approvals: Arc<dyn ApprovalStore>,
    /// Every server's tools, classified, and their pins.
    pub catalogue: Arc<dyn CatalogueStore>,
    /// `sqlite`, `memory`, ...
    pub backend: &'static str,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Stores {
    /// All stores backed by one value implementing every trait.
    pub fn from_backend<S>(backend: Arc<S>, name: &'static str) -> Stores
    where
        S: GrantStore + AuditStore + KillSwitchStore + ApprovalStore + CatalogueStore,
    {
        Stores {
            grants: backend.clone(),
            audit_sink: backend.clone(),
            audit: backend.clone(),
            kill_switches: backend.clone(),
            approvals: backend.clone(),
            catalogue: backend,
            backend: name,
        }
    }

    /// Fresh in-memory stores (tests, `toolgate wrap`).
    pub fn memory() -> Stores {
        Stores::from_backend(Arc::new(MemoryStore::new()), "memory")
    }
}

/// Opens the stores named by `[gateway] store`: `sqlite://toolgate.db` (created and migrated),
/// `sqlite::memory:`, or `memory:` (no persistence at all).
pub async fn open(url: &str) -> Result<Stores, StoreError> {
    open_keyed(url, None).await
}

/// [`open`], with the audit key that seals and checks the audit chain (a store that lives in
/// the process, `memory:`, keeps plain links: there is no one outside to keep out).
pub async fn open_keyed(url: &str, key: Option<ChainKey>) -> Result<Stores, StoreError> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "sqlite" => Ok(Stores::from_backend(
            Arc::new(SqliteStore::open(url).await?.with_chain_key(key)),
            "sqlite",
        )),
        "memory" => Ok(Stores::memory()),
        "postgres" | "postgresql" => Err(StoreError::InvalidUrl {
            url: url.to_owned(),
            reason: "the PostgreSQL store is not built yet; use sqlite://".into(),
        }),
        _ => Err(StoreError::InvalidUrl {
            url: url.to_owned(),
            reason: "a store URL starts with sqlite:// or memory:".into(),
        }),
    }
}
