//! Client sessions: the id the gateway issues on `initialize`, who owns it, its link upstream,
//! and the idle reaper that closes sessions a client forgot.

use crate::identity::Caller;
use crate::limits::sessions::SessionSlot;
use crate::server::ServerRuntime;
use crate::upstream::UpstreamLink;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One MCP session of one client with one server.
#[derive(Debug)]
pub struct Session {
    pub id: String,
    pub server: Arc<ServerRuntime>,
    pub caller: Arc<Caller>,
    pub link: UpstreamLink,
    /// The protocol version the client asked for, passed on to HTTP upstreams.
    pub protocol_version: Mutex<Option<String>>,
    /// What the client said about itself in `initialize` (protocol version, capabilities), as a
    /// key of the server's tools/list cache.
    pub client_key: u64,
}

impl Session {
    pub fn new(
        id: String,
        server: Arc<ServerRuntime>,
        caller: Arc<Caller>,
        link: UpstreamLink,
        client_key: u64,
    ) -> Self {
        Session {
            id,
            server,
            caller,
            link,
            protocol_version: Mutex::new(None),
            client_key,
        }
    }

    pub fn protocol_version(&self) -> Option<String> {
        self.protocol_version.lock().clone()
    }
}

/// A new, unguessable session id.
pub fn new_session_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Open sessions of one kind (single-server or aggregate), with their last use for idle reaping.
#[derive(Debug)]
pub struct SessionRegistry<T = Session> {
    sessions: Mutex<HashMap<String, Entry<T>>>,
    epoch: Instant,
}

#[derive(Debug)]
struct Entry<T> {
    session: Arc<T>,
    last_used_ms: AtomicU64,
    /// The session's place in its grant's count, given back with the entry.
    _slot: Option<SessionSlot>,
}

impl<T> Default for SessionRegistry<T> {
    fn default() -> Self {
        SessionRegistry {
            sessions: Mutex::default(),
            epoch: Instant::now(),
        }
    }
}

impl<T> SessionRegistry<T> {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Inserts a session holding `slot` (its grant's count) for as long as it is registered.
    pub fn insert_holding(&self, id: &str, session: Arc<T>, slot: SessionSlot) {
        self.insert_entry(id, session, Some(slot));
    }

    fn insert_entry(&self, id: &str, session: Arc<T>, slot: Option<SessionSlot>) {
        let entry = Entry {
            session,
            last_used_ms: AtomicU64::new(self.now_ms()),
            _slot: slot,
        };
        self.sessions.lock().insert(id.to_owned(), entry);
    }

    /// Finds a session and marks it used.
    pub fn get(&self, id: &str) -> Option<Arc<T>> {
        let map = self.sessions.lock();
        let e = map.get(id)?;
        e.last_used_ms.store(self.now_ms(), Ordering::Relaxed);
        Some(e.session.clone())
    }

    pub fn remove(&self, id: &str) -> Option<Arc<T>> {
        self.sessions.lock().remove(id).map(|e| e.session)
    }

    pub fn len(&self) -> usize {
        self.sessions.lock().len()
    }

    /// Removes and returns every session idle for longer than `idle`.
    pub fn take_idle(&self, idle: Duration) -> Vec<Arc<T>> {
        let now = self.now_ms();
        let limit = idle.as_millis() as u64;
        let mut map = self.sessions.lock();
        let ids: Vec<String> = map
            .iter()
            .filter(|(_, e)| now.saturating_sub(e.last_used_ms.load(Ordering::Relaxed)) > limit)
            .map(|(id, _)| id.clone())
            .collect();
        ids.iter()
            .filter_map(|id| map.remove(id))
            .map(|e| e.session)
            .collect()
    }

    /// Removes and returns every session (shutdown).
    pub fn drain(&self) -> Vec<Arc<T>> {
        self.sessions
            .lock()
            .drain()
            .map(|(_, e)| e.session)
            .collect()
    }
}
