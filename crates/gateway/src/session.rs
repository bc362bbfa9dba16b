//! Client sessions: the id the gateway issues on `initialize`, who owns it, its link upstream,
//! and the idle reaper that closes sessions a client forgot.

use crate::identity::Caller;
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
    last_used_ms: AtomicU64,
}

impl Session {
    pub fn new(server: Arc<ServerRuntime>, caller: Arc<Caller>, link: UpstreamLink) -> Self {
        Session {
            id: uuid::Uuid::new_v4().simple().to_string(),
            server,
            caller,
            link,
            protocol_version: Mutex::new(None),
            last_used_ms: AtomicU64::new(0),
        }
    }

    pub fn protocol_version(&self) -> Option<String> {
        self.protocol_version.lock().clone()
    }

    fn touch(&self, epoch: Instant) {
        self.last_used_ms
            .store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

/// All open sessions.
#[derive(Debug)]
pub struct SessionRegistry {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    epoch: Instant,
}

impl Default for SessionRegistry {
    fn default() -> Self {
        SessionRegistry {
            sessions: Mutex::default(),
            epoch: Instant::now(),
        }
    }
}

impl SessionRegistry {
    pub fn insert(&self, session: Arc<Session>) {
        session.touch(self.epoch);
        self.sessions.lock().insert(session.id.clone(), session);
    }

    /// Finds a session and marks it used.
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        let s = self.sessions.lock().get(id).cloned()?;
        s.touch(self.epoch);
        Some(s)
    }

    pub fn remove(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions.lock().remove(id)
    }

    pub fn len(&self) -> usize {
        self.sessions.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes and returns every session idle for longer than `idle`.
    pub fn take_idle(&self, idle: Duration) -> Vec<Arc<Session>> {
        let now = self.epoch.elapsed().as_millis() as u64;
        let limit = idle.as_millis() as u64;
        let mut map = self.sessions.lock();
        let ids: Vec<String> = map
            .iter()
            .filter(|(_, s)| now.saturating_sub(s.last_used_ms.load(Ordering::Relaxed)) > limit)
            .map(|(id, _)| id.clone())
            .collect();
        ids.iter().filter_map(|id| map.remove(id)).collect()
    }

    /// Removes and returns every session (shutdown).
    pub fn drain(&self) -> Vec<Arc<Session>> {
        self.sessions.lock().drain().map(|(_, s)| s).collect()
    }
}
