//! toolgate's stores: traits the gateway depends on, and their implementations. For now, counters:
//! [`CounterStore`] (atomic all-or-nothing quota reservation) and [`MemoryCounterStore`].

mod counter;
mod error;
mod memory;

pub use counter::{CounterStore, ReservationTicket, ReserveOutcome};
pub use error::StoreError;
pub use memory::MemoryCounterStore;

/// Re-exported so that implementations and callers name one future type.
pub use futures_util::future::BoxFuture;
