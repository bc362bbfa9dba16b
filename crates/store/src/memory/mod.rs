//! In-process implementations of every store trait: exact within one gateway process, gone when it
//! stops. For tests, `toolgate wrap`, and `memory://` store URLs.

mod approvals;
mod audit;
mod catalogue;
pub(crate) mod counters;
mod grants;
mod kill_switch;

use std::collections::BTreeMap;

use parking_lot::Mutex;

pub use counters::MemoryCounterStore;

use crate::grant::Grant;
use crate::kill_switch::{KillScope, KillSwitch};

/// Grants, both audit streams, kill switches and approvals in process memory; implements
/// [`crate::GrantStore`], [`crate::AuditStore`], [`crate::KillSwitchStore`], [`crate::ApprovalStore`]
/// and [`crate::CatalogueStore`].
#[derive(Debug, Default)]
pub struct MemoryStore {
    grants: Mutex<BTreeMap<String, Grant>>,
    audit: Mutex<audit::Streams>,
    kill_switches: Mutex<BTreeMap<KillScope, KillSwitch>>,
    approvals: Mutex<approvals::Approvals>,
    catalogue: Mutex<catalogue::Catalogue>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}
