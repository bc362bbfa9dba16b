//! Exact window accounting for one counter key, shared by every counter store that keeps counts in
//! process (the in-memory store; a Redis store does the same arithmetic in a script).
//!
//! - Sliding: a log of `(time, amount)` entries. An entry admitted at `t` counts at `now` while
//!   `now - t < window`. Admitting `amount` at `now` requires the counted sum plus `amount` to stay
//!   within `max`; since every earlier entry lies in `(now - window, now]`, no interval of length `window`
//!   ever holds more than `max`.
//! - Fixed: entries count while they lie in the calendar-aligned window `[floor(now/window)*window, +window)`
//!   (UTC epoch-aligned, so `day` windows reset at 00:00 UTC).
//!
//! Time never runs backwards inside one log: a `now` older than the newest entry is treated as that
//! entry's time (conservative: the quota is held slightly longer, never granted early).

use std::collections::VecDeque;

use crate::limit::WindowMode;

/// Identifies one admitted entry, so that releasing gives back exactly that quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(pub u64);

/// How long until the rejected amount would fit; [`RetryAfterMs::NEVER`] when it exceeds `max` outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RetryAfterMs(pub u64);

impl RetryAfterMs {
    pub const NEVER: RetryAfterMs = RetryAfterMs(u64::MAX);

    pub fn is_never(self) -> bool {
        self == Self::NEVER
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    at_ms: u64,
    amount: u64,
    id: u64,
}

/// The admitted entries of one counter key. Not thread-safe by itself: stores wrap it in a lock.
#[derive(Debug, Clone, Default)]
pub struct WindowLog {
    /// Ordered by time and by id (both only grow).
    entries: VecDeque<Entry>,
    /// Sum of `entries[..].amount`.
    total: u64,
    next_id: u64,
    /// The latest `now` any admission attempt used.
    latest_ms: u64,
}

impl WindowLog {
    pub fn new() -> WindowLog {
        WindowLog::default()
    }

    /// Admits `amount` at `now_ms` if it fits within `max`, else says when it would.
    pub fn try_admit(
        &mut self,
        amount: u64,
        max: u64,
        window_ms: u64,
        mode: WindowMode,
        now_ms: u64,
    ) -> Result<EntryId, RetryAfterMs> {
        let now = now_ms.max(self.latest_ms);
        // Remember the latest time seen (not only admitted): once entries are pruned at `now`, an older
        // clock reading must not be judged against the pruned log.
        self.latest_ms = now;
        self.prune(window_ms, mode, now);
        if amount > max {
            return Err(RetryAfterMs::NEVER);
        }
        let id = self.next_id;
        self.next_id += 1;
        if self.total.saturating_add(amount) <= max {
            if amount > 0 {
                self.entries.push_back(Entry {
                    at_ms: now,
                    amount,
                    id,
                });
                self.total += amount;
            }
            return Ok(EntryId(id));
        }
        self.next_id -= 1;
        Err(self.retry_after(amount, max, window_ms, mode, now))
    }

    fn retry_after(
        &self,
        amount: u64,
        max: u64,
        window_ms: u64,
        mode: WindowMode,
        now: u64,
    ) -> RetryAfterMs {
        match mode {
            WindowMode::Fixed => {
                let end = window_start(now, window_ms).saturating_add(window_ms);
                RetryAfterMs(end.saturating_sub(now).max(1))
            }
            WindowMode::Sliding => {
                // Oldest entries expire first; find the one whose expiry frees enough.
                let must_free = self.total + amount - max;
                let mut freed = 0;
                for e in &self.entries {
                    freed += e.amount;
                    if freed >= must_free {
                        let expires = e.at_ms.saturating_add(window_ms);
                        return RetryAfterMs(expires.saturating_sub(now).max(1));
                    }
                }
                RetryAfterMs(window_ms.max(1))
            }
        }
    }

    /// Gives back exactly the quota of one admitted entry. False when it had already expired or was released.
    pub fn release(&mut self, id: EntryId) -> bool {
        match self.entries.binary_search_by_key(&id.0, |e| e.id) {
            Ok(i) => {
                if let Some(e) = self.entries.remove(i) {
                    self.total -= e.amount;
                }
                true
            }
            Err(_) => false,
        }
    }

    /// The amount counted at `now_ms` (what `state.<counter>` conditions see).
    pub fn current(&self, window_ms: u64, mode: WindowMode, now_ms: u64) -> u64 {
        let now = now_ms.max(self.latest_ms);
        let stale: u64 = self
            .entries
            .iter()
            .take_while(|e| is_stale(e, window_ms, mode, now))
            .map(|e| e.amount)
            .sum();
        self.total - stale
    }

    /// True when nothing is counted any more: the log can be dropped (stores evict such keys).
    pub fn is_idle(&self, window_ms: u64, mode: WindowMode, now_ms: u64) -> bool {
        self.entries
            .back()
            .is_none_or(|e| is_stale(e, window_ms, mode, now_ms.max(self.latest_ms)))
    }

    /// Number of entries kept (for tests and memory accounting).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn prune(&mut self, window_ms: u64, mode: WindowMode, now: u64) {
        while let Some(e) = self.entries.front() {
            if !is_stale(e, window_ms, mode, now) {
                break;
            }
            self.total -= e.amount;
            self.entries.pop_front();
        }
    }
}

/// Start of the calendar-aligned (UTC epoch-aligned) fixed window containing `now`.
pub fn window_start(now_ms: u64, window_ms: u64) -> u64 {
    if window_ms == 0 {
        now_ms
    } else {
        now_ms - now_ms % window_ms
    }
}

fn is_stale(e: &Entry, window_ms: u64, mode: WindowMode, now: u64) -> bool {
    match mode {
        WindowMode::Sliding => now.saturating_sub(e.at_ms) >= window_ms,
        WindowMode::Fixed => e.at_ms < window_start(now, window_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use WindowMode::{Fixed, Sliding};

    #[test]
    fn sliding_admits_up_to_max_then_says_when() {
        let mut log = WindowLog::new();
        assert!(log.try_admit(2, 3, 1_000, Sliding, 100).is_ok());
        assert!(log.try_admit(1, 3, 1_000, Sliding, 400).is_ok());
        // Full: the 2 admitted at 100 free up at 1100.
        assert_eq!(
            log.try_admit(1, 3, 1_000, Sliding, 500),
            Err(RetryAfterMs(600))
        );
        assert_eq!(log.current(1_000, Sliding, 500), 3);
        assert_eq!(log.current(1_000, Sliding, 1_100), 1);
        assert!(log.try_admit(2, 3, 1_000, Sliding, 1_100).is_ok());
        assert_eq!(
            log.try_admit(4, 3, 1_000, Sliding, 1_100),
            Err(RetryAfterMs::NEVER)
        );
    }

    #[test]
    fn release_restores_exactly_that_entry() {
        let mut log = WindowLog::new();
        let a = log.try_admit(1, 2, 1_000, Sliding, 0).expect("fits");
        let b = log.try_admit(1, 2, 1_000, Sliding, 10).expect("fits");
        assert!(log.try_admit(1, 2, 1_000, Sliding, 20).is_err());
        assert!(log.release(b));
        assert!(!log.release(b), "double release is a no-op");
        assert_eq!(log.current(1_000, Sliding, 20), 1);
        assert!(log.try_admit(1, 2, 1_000, Sliding, 20).is_ok());
        assert!(log.release(a));
    }

    #[test]
    fn fixed_windows_reset_on_the_boundary() {
        let mut log = WindowLog::new();
        assert!(log.try_admit(1, 2, 60_000, Fixed, 119_000).is_ok());
        assert!(log.try_admit(1, 2, 60_000, Fixed, 119_500).is_ok());
        assert_eq!(
            log.try_admit(1, 2, 60_000, Fixed, 119_999),
            Err(RetryAfterMs(1))
        );
        assert!(
            log.try_admit(2, 2, 60_000, Fixed, 120_000).is_ok(),
            "new window at 120000"
        );
        assert_eq!(
            log.try_admit(1, 2, 60_000, Fixed, 150_000),
            Err(RetryAfterMs(30_000))
        );
    }

    #[test]
    fn time_going_backwards_is_treated_as_now() {
        let mut log = WindowLog::new();
        assert!(log.try_admit(1, 1, 1_000, Sliding, 5_000).is_ok());
        assert_eq!(
            log.try_admit(1, 1, 1_000, Sliding, 4_500),
            Err(RetryAfterMs(1_000))
        );
        assert!(log.try_admit(1, 1, 1_000, Sliding, 6_000).is_ok());
        assert!(!log.is_idle(1_000, Sliding, 6_999));
        assert!(log.is_idle(1_000, Sliding, 7_000));
    }

    #[test]
    fn zero_amounts_always_fit_and_are_not_logged() {
        let mut log = WindowLog::new();
        assert!(log.try_admit(0, 0, 1_000, Sliding, 0).is_ok());
        assert!(log.is_empty());
    }
}
