//! In-process counters: one [`WindowLog`] per (counter, scope, subject) in a hash map behind a single
//! mutex. One lock keeps multi-counter reservations trivially atomic and the critical section is a few
//! hash lookups and deque pushes (no allocation once a key exists). Keys whose logs have emptied are
//! evicted by a sweep every few thousand operations, so memory stays bounded by the live keys.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use hashbrown::{Equivalent, HashMap};
use parking_lot::Mutex;
use toolgate_policy::{CounterKey, CounterState, Limit, Reservation, Scope, WindowLog, WindowMode};

use crate::{CounterStore, ReservationTicket, ReserveOutcome, StoreError};

/// Operations between two eviction sweeps.
const SWEEP_EVERY: u32 = 4096;

/// The owned form of a [`CounterKey`], allocated once when a key is first seen.
#[derive(Debug, PartialEq, Eq)]
pub struct OwnedKey {
    counter: Box<str>,
    scope: Scope,
    subject: Box<str>,
}

/// Map key: shared with tickets so a release finds its log without re-allocating.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyRef(Arc<OwnedKey>);

/// Borrowed lookup form; hashes exactly like [`KeyRef`].
struct Lookup<'a>(&'a CounterKey<'a>);

fn hash_parts<H: Hasher>(counter: &str, scope: Scope, subject: &str, state: &mut H) {
    counter.hash(state);
    scope.hash(state);
    subject.hash(state);
}

impl Hash for KeyRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_parts(&self.0.counter, self.0.scope, &self.0.subject, state);
    }
}

impl Hash for Lookup<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_parts(self.0.counter, self.0.scope, self.0.subject, state);
    }
}

impl Equivalent<KeyRef> for Lookup<'_> {
    fn equivalent(&self, key: &KeyRef) -> bool {
        *key.0.counter == *self.0.counter
            && key.0.scope == self.0.scope
            && *key.0.subject == *self.0.subject
    }
}

impl Equivalent<KeyRef> for OwnedKey {
    fn equivalent(&self, key: &KeyRef) -> bool {
        *key.0 == *self
    }
}

impl Hash for OwnedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_parts(&self.counter, self.scope, &self.subject, state);
    }
}

#[derive(Debug)]
struct Slot {
    log: WindowLog,
    /// The window the key was last used with (for eviction sweeps).
    window_ms: u64,
    mode: WindowMode,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<KeyRef, Slot>,
    ops: u32,
}

/// Counters in process memory: exact within one gateway process.
#[derive(Debug, Default)]
pub struct MemoryCounterStore {
    inner: Mutex<Inner>,
}

impl MemoryCounterStore {
    pub fn new() -> MemoryCounterStore {
        MemoryCounterStore::default()
    }

    /// Number of counter keys currently held (for tests and metrics).
    pub fn key_count(&self) -> usize {
        self.inner.lock().map.len()
    }

    /// Drops every key whose window has emptied at `now_ms`.
    pub fn evict_idle(&self, now_ms: u64) {
        self.inner.lock().sweep(now_ms);
    }

    /// The synchronous core of [`CounterStore::reserve`].
    pub fn reserve_now(&self, reservations: &[Reservation<'_>], now_ms: u64) -> ReserveOutcome {
        let mut inner = self.inner.lock();
        inner.tick(now_ms);
        let mut ticket = ReservationTicket::default();
        for r in reservations {
            let limit = r.limit;
            let (key, slot) = inner.slot(&r.key, limit);
            match slot
                .log
                .try_admit(r.amount, limit.max, limit.window_ms, limit.mode, now_ms)
            {
                Ok(id) => ticket.entries.push((key, id)),
                Err(retry) => {
                    // Roll back what this call admitted so far: all or nothing.
                    for (key, id) in ticket.entries.drain(..) {
                        if let Some(slot) = inner.map.get_mut(&*key) {
                            slot.log.release(id);
                        }
                    }
                    return ReserveOutcome::Rejected {
                        limit_rule: limit.rule.clone(),
                        description: limit.describe(),
                        retry_after_ms: retry.0,
                    };
                }
            }
        }
        ReserveOutcome::Reserved(ticket)
    }

    /// The synchronous core of [`CounterStore::release`].
    pub fn release_now(&self, ticket: &ReservationTicket, now_ms: u64) {
        let mut inner = self.inner.lock();
        inner.tick(now_ms);
        for (key, id) in &ticket.entries {
            if let Some(slot) = inner.map.get_mut(&**key) {
                slot.log.release(*id);
            }
        }
    }
}

impl Inner {
    /// The slot for `key`, created on first use (the only allocation on this path).
    fn slot(&mut self, key: &CounterKey<'_>, limit: &Limit) -> (Arc<OwnedKey>, &mut Slot) {
        let hash = self.map.hasher().hash_one(Lookup(key));
        let entry = self
            .map
            .raw_entry_mut()
            .from_hash(hash, |k| Lookup(key).equivalent(k));
        let (k, slot) = entry.or_insert_with(|| {
            let owned = OwnedKey {
                counter: key.counter.into(),
                scope: key.scope,
                subject: key.subject.into(),
            };
            (
                KeyRef(Arc::new(owned)),
                Slot {
                    log: WindowLog::new(),
                    window_ms: limit.window_ms,
                    mode: limit.mode,
                },
            )
        });
        slot.window_ms = limit.window_ms;
        slot.mode = limit.mode;
        (Arc::clone(&k.0), slot)
    }

    fn tick(&mut self, now_ms: u64) {
        self.ops += 1;
        if self.ops >= SWEEP_EVERY {
            self.sweep(now_ms);
        }
    }

    fn sweep(&mut self, now_ms: u64) {
        self.ops = 0;
        self.map
            .retain(|_, s| !s.log.is_idle(s.window_ms, s.mode, now_ms));
    }
}

impl CounterState for MemoryCounterStore {
    fn current(&self, key: &CounterKey<'_>, limit: &Limit, now_ms: u64) -> u64 {
        let inner = self.inner.lock();
        inner
            .map
            .get(&Lookup(key))
            .map_or(0, |s| s.log.current(limit.window_ms, limit.mode, now_ms))
    }
}

impl CounterStore for MemoryCounterStore {
    fn reserve<'a>(
        &'a self,
        reservations: &'a [Reservation<'a>],
        now_ms: u64,
    ) -> BoxFuture<'a, Result<ReserveOutcome, StoreError>> {
        let outcome = self.reserve_now(reservations, now_ms);
        Box::pin(std::future::ready(Ok(outcome)))
    }

    fn release<'a>(
        &'a self,
        ticket: &'a ReservationTicket,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.release_now(ticket, now_ms);
        Box::pin(std::future::ready(Ok(())))
    }

    fn snapshot(&self) -> &dyn CounterState {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolgate_policy::Limit;

    fn key<'a>(counter: &'a str, subject: &'a str) -> CounterKey<'a> {
        CounterKey {
            counter,
            scope: Scope::Grant,
            subject,
        }
    }

    #[test]
    fn all_or_nothing_and_exact_release() {
        let store = MemoryCounterStore::new();
        let small = Limit::new("small", 1_000, 1, Scope::Grant, WindowMode::Sliding)
            .with_rule("/tools/a/limits/0");
        let big = Limit::new("big", 1_000, 10, Scope::Grant, WindowMode::Sliding)
            .with_rule("/all_tools/limits/0");
        let both = [
            Reservation {
                key: key("big", "g"),
                limit: &big,
                amount: 1,
            },
            Reservation {
                key: key("small", "g"),
                limit: &small,
                amount: 1,
            },
        ];
        let ReserveOutcome::Reserved(ticket) = store.reserve_now(&both, 0) else {
            panic!("first fits")
        };
        assert_eq!(ticket.len(), 2);
        match store.reserve_now(&both, 1) {
            ReserveOutcome::Rejected {
                limit_rule,
                description,
                retry_after_ms,
            } => {
                assert_eq!(limit_rule, "/tools/a/limits/0");
                assert_eq!(
                    description,
                    "1 call per second (counter small, scope grant)"
                );
                assert_eq!(retry_after_ms, 999);
            }
            other => panic!("{other:?}"),
        }
        // The rejected call did not keep its "big" entry.
        assert_eq!(store.current(&key("big", "g"), &big, 2), 1);
        store.release_now(&ticket, 3);
        assert_eq!(store.current(&key("big", "g"), &big, 3), 0);
        assert_eq!(store.current(&key("small", "g"), &small, 3), 0);
        assert!(matches!(
            store.reserve_now(&both, 4),
            ReserveOutcome::Reserved(_)
        ));
        // Another subject has its own counter.
        let other = [Reservation {
            key: key("small", "h"),
            limit: &small,
            amount: 1,
        }];
        assert!(matches!(
            store.reserve_now(&other, 5),
            ReserveOutcome::Reserved(_)
        ));
    }

    #[test]
    fn idle_keys_are_evicted() {
        let store = MemoryCounterStore::new();
        let limit = Limit::new("c", 1_000, 5, Scope::Session, WindowMode::Sliding);
        for i in 0..100 {
            let subject = format!("session-{i}");
            let r = [Reservation {
                key: CounterKey {
                    counter: "c",
                    scope: Scope::Session,
                    subject: &subject,
                },
                limit: &limit,
                amount: 1,
            }];
            assert!(matches!(
                store.reserve_now(&r, i),
                ReserveOutcome::Reserved(_)
            ));
        }
        assert_eq!(store.key_count(), 100);
        store.evict_idle(1_050);
        assert_eq!(
            store.key_count(),
            49,
            "keys used at 51..=99 are still within their window"
        );
        store.evict_idle(10_000);
        assert_eq!(store.key_count(), 0);
    }

    #[test]
    fn sweeps_happen_without_being_asked() {
        let store = MemoryCounterStore::new();
        let limit = Limit::new("c", 10, 5, Scope::Session, WindowMode::Fixed);
        for i in 0..(u64::from(SWEEP_EVERY) * 2) {
            let subject = i.to_string();
            let r = [Reservation {
                key: CounterKey {
                    counter: "c",
                    scope: Scope::Session,
                    subject: &subject,
                },
                limit: &limit,
                amount: 1,
            }];
            store.reserve_now(&r, i * 100);
        }
        assert!(
            store.key_count() < SWEEP_EVERY as usize,
            "{}",
            store.key_count()
        );
    }
}
