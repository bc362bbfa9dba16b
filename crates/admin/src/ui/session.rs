//! Who is signed in to the web UI: a bounded in-memory table of sessions, each named by a random
//! id carried in an `HttpOnly`, `SameSite=Strict` cookie and holding what the operator signed in
//! with and the session's CSRF token. The role is not fixed at sign-in: every request reads it
//! from the access in force ([`Session::standing`]), so a configuration reload that gives a token
//! another role, or makes the UI read-only, applies to open sessions too, and one that removes
//! the token ends them. Sessions end at logout, after an idle hour or after a working day,
//! whichever comes first, and with the process (a restart signs everyone out).

use crate::access::Access;
use crate::role::Role;
use std::collections::HashMap;
use std::sync::Mutex;
use toolgate_store::TokenHash;

/// The cookie's name.
pub(crate) const COOKIE: &str = "toolgate_ui";
/// Most sessions kept at once; the least recently used is dropped to make room.
const MAX_SESSIONS: usize = 1_000;
/// A session unused this long ends.
const IDLE_MS: u64 = 60 * 60 * 1000;
/// A session ends this long after sign-in, used or not.
const LIFETIME_MS: u64 = 12 * 60 * 60 * 1000;

/// What a session was opened with, checked against the access in force on every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Basis {
    /// An admin or role token (its SHA-256): the session lasts while a token with that hash is
    /// configured, with the role and label it has now.
    Token(TokenHash),
    /// The local operator of a loopback admin listener with no token configured: while none is.
    Local,
    /// `toolgate demo`'s sign-in link: an admin, for the session's life.
    OneTimeLink,
}

/// One signed-in operator.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The credential's label at sign-in (`admin-token`, `alice`, `local`), as admin audit events
    /// name it.
    pub who: String,
    pub basis: Basis,
    /// Sent back with every change (form field `_csrf` or header `X-CSRF-Token`).
    pub csrf: String,
    created_ms: u64,
    used_ms: u64,
}

/// Every open session, keyed by the SHA-256 of its cookie value.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    table: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    /// Opens a session; returns the cookie value (shown to the browser only).
    pub fn open(&self, who: String, basis: Basis, now_ms: u64) -> String {
        let id = toolgate_store::token::generate().as_str().to_owned();
        let session = Session {
            who,
            basis,
            csrf: toolgate_store::token::generate().as_str().to_owned(),
            created_ms: now_ms,
            used_ms: now_ms,
        };
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.retain(|_, s| s.alive(now_ms));
        if table.len() >= MAX_SESSIONS
            && let Some(oldest) = table.iter().min_by_key(|(_, s)| s.used_ms).map(|(k, _)| *k)
        {
            table.remove(&oldest);
        }
        table.insert(key(&id), session);
        id
    }

    /// The session a cookie value names, if it is still open (its idle clock restarts).
    pub fn get(&self, id: &str, now_ms: u64) -> Option<Session> {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let k = key(id);
        let session = table.get_mut(&k)?;
        if !session.alive(now_ms) {
            table.remove(&k);
            return None;
        }
        session.used_ms = now_ms;
        Some(session.clone())
    }

    pub fn close(&self, id: &str) {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.remove(&key(id));
    }
}

impl Session {
    /// Who the operator is now, and with what role, under `access`; `None` when what the session
    /// was opened with is no longer configured (the session is over).
    pub fn standing(&self, access: &Access) -> Option<(String, Role)> {
        let (who, role) = match &self.basis {
            Basis::Token(hash) => {
                let c = access.auth.by_hash(hash)?;
                (c.label.clone(), c.role)
            }
            Basis::Local => {
                if !access.auth.is_loopback_only() {
                    return None;
                }
                (self.who.clone(), Role::Admin)
            }
            Basis::OneTimeLink => (self.who.clone(), Role::Admin),
        };
        let role = if access.ui_read_only {
            Role::Viewer
        } else {
            role
        };
        Some((who, role))
    }

    fn alive(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.used_ms) < IDLE_MS
            && now_ms.saturating_sub(self.created_ms) < LIFETIME_MS
    }
}

fn key(id: &str) -> [u8; 32] {
    let TokenHash(h) = toolgate_store::token::hash(id);
    h
}

/// The session cookie for `id` (`Max-Age` omitted: it ends with the browser, or earlier here).
pub(crate) fn set_cookie(id: &str) -> String {
    format!("{COOKIE}={id}; Path=/ui; HttpOnly; SameSite=Strict")
}

/// The header that removes the cookie.
pub(crate) fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The session cookie's value in a request's `Cookie` headers.
pub(crate) fn cookie_value(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// Compares two secrets without an early exit.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    let (TokenHash(a), TokenHash(b)) = (
        toolgate_store::token::hash(a),
        toolgate_store::token::hash(b),
    );
    same_hash(&a, &b)
}

/// Compares two SHA-256 digests without an early exit.
pub(crate) fn same_hash(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_open_expire_and_close() {
        let s = Sessions::default();
        let id = s.open("alice".into(), Basis::Local, 1_000);
        assert_eq!(s.get(&id, 2_000).unwrap().who, "alice");
        assert!(s.get("nope", 2_000).is_none());
        // Idle for more than an hour: gone.
        assert!(s.get(&id, 2_000 + IDLE_MS).is_none());
        let id = s.open("bob".into(), Basis::OneTimeLink, 0);
        s.close(&id);
        assert!(s.get(&id, 1).is_none());
    }

    #[test]
    fn a_session_stands_as_the_access_in_force_says() {
        use crate::auth::{AdminAuth, AdminCredential};
        let vera = AdminCredential {
            label: "vera".into(),
            role: Role::Viewer,
            token_sha256: toolgate_store::token::hash("v"),
        };
        let access = |role: Role, read_only: bool| Access {
            auth: AdminAuth::from_token("a").with([AdminCredential {
                role,
                ..vera.clone()
            }]),
            ui_read_only: read_only,
        };
        let session = |basis: Basis| Session {
            who: "x".into(),
            basis,
            csrf: String::new(),
            created_ms: 0,
            used_ms: 0,
        };
        let by_token = session(Basis::Token(vera.token_sha256));
        assert_eq!(
            by_token.standing(&access(Role::Viewer, false)),
            Some(("vera".into(), Role::Viewer))
        );
        assert_eq!(
            by_token.standing(&access(Role::Approver, false)),
            Some(("vera".into(), Role::Approver)),
            "a new role applies to an open session"
        );
        assert_eq!(
            by_token.standing(&access(Role::Admin, true)),
            Some(("vera".into(), Role::Viewer)),
            "read-only makes everyone a viewer"
        );
        let without = Access::new(AdminAuth::from_token("a"));
        assert_eq!(by_token.standing(&without), None, "its token is gone");
        let local = session(Basis::Local);
        assert_eq!(local.standing(&without), None, "a token is configured now");
        assert_eq!(
            local.standing(&Access::new(AdminAuth::LoopbackOnly)),
            Some(("x".into(), Role::Admin))
        );
        assert_eq!(
            session(Basis::OneTimeLink).standing(&access(Role::Viewer, true)),
            Some(("x".into(), Role::Viewer))
        );
    }

    #[test]
    fn the_table_is_bounded() {
        let s = Sessions::default();
        let first = s.open("a".into(), Basis::Local, 0);
        for i in 0..MAX_SESSIONS {
            s.open("b".into(), Basis::Local, 1 + i as u64);
        }
        assert!(s.get(&first, MAX_SESSIONS as u64 + 2).is_none());
        assert!(s.table.lock().unwrap().len() <= MAX_SESSIONS);
    }

    #[test]
    fn cookies() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            "a=b; toolgate_ui=xyz; c=d".parse().unwrap(),
        );
        assert_eq!(cookie_value(&h), Some("xyz"));
        assert!(set_cookie("xyz").contains("HttpOnly; SameSite=Strict"));
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
    }
}
