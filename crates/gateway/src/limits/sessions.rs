//! Open sessions per grant (`[limits] sessions_per_grant`). Each session costs an upstream session
//! or a child's attention and lives until its client ends it or it idles out, so a grant that
//! opens sessions without end (a leak or an attack) would take the gateway's memory; past the
//! cap a new `initialize` is refused. The slot is taken before anything upstream is opened and
//! is held by the session's registry entry, so that it is given back however the session ends.

use crate::Gateway;
use crate::identity::Caller;
use crate::rejection::Rejection;
use axum::response::Response;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// Open sessions by grant.
#[derive(Debug, Default)]
pub struct SessionCounts {
    open: Arc<Mutex<HashMap<String, usize>>>,
}

/// One session's place in its grant's count, given back when dropped.
#[derive(Debug)]
pub struct SessionSlot {
    open: Arc<Mutex<HashMap<String, usize>>>,
    grant: String,
}

impl SessionCounts {
    /// A slot for one more session of `grant`, unless it holds `limit` already.
    pub fn take(&self, grant: &str, limit: usize) -> Option<SessionSlot> {
        let mut open = self.open.lock();
        let n = open.entry(grant.to_owned()).or_default();
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(SessionSlot {
            open: self.open.clone(),
            grant: grant.to_owned(),
        })
    }

    /// The sessions `grant` holds now.
    #[cfg(test)]
    fn of(&self, grant: &str) -> usize {
        self.open.lock().get(grant).copied().unwrap_or(0)
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock();
        if let Some(n) = open.get_mut(&self.grant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.grant);
            }
        }
    }
}

/// The slot for a new session of `caller` (on `server`, `""` for `/mcp`), or the refusal — audited
/// — when its grant holds `[limits] sessions_per_grant` sessions.
#[allow(clippy::result_large_err)] // a ready response, built on the cold path
pub fn open(gw: &Gateway, caller: &Caller, server: &str) -> Result<SessionSlot, Response> {
    let limit = gw.state().settings.limits.sessions_per_grant;
    let grant = &caller.identity.grant;
    gw.limits.sessions.take(grant, limit).ok_or_else(|| {
        let rejection = Rejection::TooManySessions {
            grant: grant.clone(),
            limit,
        };
        super::refuse(
            gw,
            caller,
            server,
            None,
            "initialize",
            "sessions_per_grant",
            rejection,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_grant_and_given_back_on_drop() {
        let counts = SessionCounts::default();
        let a1 = counts.take("a", 2).unwrap();
        let a2 = counts.take("a", 2).unwrap();
        assert!(counts.take("a", 2).is_none());
        let b = counts.take("b", 2).unwrap();
        assert_eq!((counts.of("a"), counts.of("b")), (2, 1));
        drop(a1);
        let a3 = counts.take("a", 2).unwrap();
        drop((a2, a3, b));
        assert_eq!((counts.of("a"), counts.of("b")), (0, 0));
        assert!(counts.open.lock().is_empty());
    }
}
