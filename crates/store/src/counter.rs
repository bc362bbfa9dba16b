//! The counter store contract: reserve quota for every limit of a call atomically (all or nothing) before
//! forwarding, and release exactly that quota if the call never reached the server.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use smallvec::SmallVec;
use toolgate_policy::{CounterState, EntryId, Reservation};

use crate::StoreError;

/// Counters shared by every request of a gateway (or of several, for a shared backend).
pub trait CounterStore: Send + Sync + 'static {
    /// Atomically reserve ALL of `reservations` or NOTHING.
    fn reserve<'a>(
        &'a self,
        reservations: &'a [Reservation<'a>],
        now_ms: u64,
    ) -> BoxFuture<'a, Result<ReserveOutcome, StoreError>>;

    /// Gives back exactly the quota `ticket` reserved (a no-op for entries that already expired).
    fn release<'a>(
        &'a self,
        ticket: &'a ReservationTicket,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Synchronous read access for `state.<counter>` conditions in `Policy::decide`.
    fn snapshot(&self) -> &dyn CounterState;
}

/// The result of [`CounterStore::reserve`].
#[derive(Debug)]
pub enum ReserveOutcome {
    /// Everything was reserved; keep the ticket to release it if the call does not happen.
    Reserved(ReservationTicket),
    /// Nothing was reserved: the limit at `limit_rule` (a JSON pointer) is exhausted.
    Rejected {
        limit_rule: String,
        /// `Limit::describe()` of that limit, e.g. "30 calls per minute (counter x, scope grant)".
        description: String,
        /// When the same call would fit; `u64::MAX` if it never can (its amount exceeds `max`).
        retry_after_ms: u64,
    },
}

/// Identifies exactly the entries one reservation admitted. Owned, `Send`, cheap to create (an `Arc`
/// clone per counter, no allocation for up to 4 counters).
#[derive(Debug, Clone, Default)]
pub struct ReservationTicket {
    pub(crate) entries: SmallVec<[(Arc<crate::memory::counters::OwnedKey>, EntryId); 4]>,
}

impl ReservationTicket {
    /// True when nothing was reserved (a call without limits, or only zero amounts).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many counters this ticket holds quota in.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}
