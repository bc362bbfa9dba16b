//! toolgate's stores: the traits the gateway depends on, and their implementations.
//!
//! - [`CounterStore`]: atomic all-or-nothing quota reservation ([`MemoryCounterStore`]).
//! - [`GrantStore`]: labelled bearer credentials by token hash ([`token`] makes and hashes tokens).
//! - [`AuditSink`] / [`AuditStore`]: the hash-chained audit streams ([`audit`]).
//! - [`KillSwitchStore`]: global, per-server and per-grant stops that survive restarts.
//! - [`ApprovalStore`]: tool calls held for a human's decision, bound to exactly one call, single use.
//! - [`CatalogueStore`]: every server's tools, classified, with the definition pinned when first seen
//!   ([`catalogue`]).
//!
//! Implementations: [`MemoryStore`] (in process) and [`SqliteStore`] (the embedded default). The traits
//! carry no driver types, so a PostgreSQL store can follow behind the same [`open`] without the gateway
//! noticing.

mod approval;
pub mod audit;
pub mod catalogue;
mod counter;
mod error;
mod grant;
mod kill_switch;
mod memory;
mod open;
mod sqlite;
pub mod token;

pub use approval::{
    APPROVAL_ID_PREFIX, Approval, ApprovalBinding, ApprovalFilter, ApprovalMode, ApprovalState,
    ApprovalStatus, ApprovalStore, NewApproval, args_digest, args_digest_exact, new_approval_id,
};
pub use audit::{AuditSink, AuditStore};
pub use catalogue::CatalogueStore;
pub use counter::{CounterStore, ReservationTicket, ReserveOutcome};
pub use error::StoreError;
pub use grant::{Grant, GrantStore, NewGrant};
pub use kill_switch::{KillScope, KillSwitch, KillSwitchStore, blocking as blocking_kill_switch};
pub use memory::{MemoryCounterStore, MemoryStore};
pub use open::{Stores, open, open_keyed};
pub use sqlite::{SCHEMA_VERSION, SqliteStore};
pub use token::TokenHash;

/// Re-exported so that implementations and callers name one future type.
pub use futures_util::future::BoxFuture;
