//! A client session on `/mcp`: one member per reachable server, opened together at `initialize`
//! (each bounded by the connect timeout, so one dead server never stalls the others), reopened
//! on demand at most every few seconds when it failed, and the merged lists served page by page.

use super::lists::ListKind;
use super::member::Member;
use super::names::Namer;
use super::rewrite;
use crate::catalogue::Catalogue;
use crate::catalogue::instructions::Screened;
use crate::identity::Caller;
use crate::server::ServerRuntime;
use parking_lot::Mutex;
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a failed member is left alone before the next attempt.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// A member slot: connected, or down with the reason.
#[derive(Debug, Clone)]
enum Slot {
    Up(Arc<Member>),
    Down { reason: String, since: Instant },
}

#[derive(Debug)]
pub struct AggregateSession {
    pub id: String,
    pub caller: Arc<Caller>,
    pub protocol_version: String,
    init_params: Box<RawValue>,
    connect_timeout: Duration,
    /// Reachable servers in configuration order.
    servers: Vec<Arc<ServerRuntime>>,
    slots: Mutex<HashMap<String, Slot>>,
    /// The merged lists most recently served, for their next pages.
    snapshots: Mutex<HashMap<ListKind, Arc<Vec<Value>>>>,
    /// Which server each forwarded client request went to (for cancellations).
    in_flight: Mutex<HashMap<String, String>>,
}

impl AggregateSession {
    /// Opens every member concurrently.
    pub async fn open(
        caller: Arc<Caller>,
        servers: Vec<Arc<ServerRuntime>>,
        init_params: Box<RawValue>,
        protocol_version: String,
        connect_timeout: Duration,
    ) -> AggregateSession {
        let id = crate::session::new_session_id();
        let opened = futures_util::future::join_all(servers.iter().map(|s| {
            let grant = Some(caller.identity.grant.as_str());
            Member::open(s.clone(), &id, grant, &init_params, connect_timeout)
        }))
        .await;
        let mut slots = HashMap::new();
        for (server, result) in servers.iter().zip(opened) {
            let slot = match result {
                Ok(m) => Slot::Up(Arc::new(m)),
                Err(reason) => {
                    tracing::warn!(server = %server.name, %reason, "server unavailable for a new /mcp session");
                    Slot::Down {
                        reason,
                        since: Instant::now(),
                    }
                }
            };
            slots.insert(server.name.clone(), slot);
        }
        AggregateSession {
            id,
            caller,
            protocol_version,
            init_params,
            connect_timeout,
            servers,
            slots: Mutex::new(slots),
            snapshots: Mutex::default(),
            in_flight: Mutex::default(),
        }
    }

    /// A reachable server.
    pub fn server(&self, name: &str) -> Option<&Arc<ServerRuntime>> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// Names of the reachable servers, in configuration order.
    pub fn server_names(&self) -> impl Iterator<Item = &str> {
        self.servers.iter().map(|s| s.name.as_str())
    }

    /// The server and upstream name behind an exposed tool or prompt name. A name without a
    /// server prefix belongs to the only server, when the session has just one.
    pub fn resolve_name(&self, namer: &Namer, exposed: &str) -> Option<(String, String)> {
        namer
            .resolve(exposed, self.server_names())
            .or_else(|| self.sole_server().map(|s| (s, exposed.to_owned())))
    }

    /// The server and upstream URI behind an exposed resource URI (same rule as names).
    pub fn resolve_uri(&self, exposed: &str) -> Option<(String, String)> {
        rewrite::resolve_uri(exposed, self.server_names())
            .or_else(|| self.sole_server().map(|s| (s, exposed.to_owned())))
    }

    /// The session's server, when it has just one.
    pub(crate) fn sole_server(&self) -> Option<String> {
        match self.servers.as_slice() {
            [only] => Some(only.name.clone()),
            _ => None,
        }
    }

    /// The members that are up now.
    pub fn members(&self) -> Vec<Arc<Member>> {
        let slots = self.slots.lock();
        self.servers
            .iter()
            .filter_map(|s| match slots.get(&s.name) {
                Some(Slot::Up(m)) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    /// Servers that are down, with why.
    pub fn down(&self) -> Vec<(String, String)> {
        let slots = self.slots.lock();
        self.servers
            .iter()
            .filter_map(|s| match slots.get(&s.name) {
                Some(Slot::Down { reason, .. }) => Some((s.name.clone(), reason.clone())),
                _ => None,
            })
            .collect()
    }

    /// The member for `server`, reconnecting if it has been down long enough.
    pub async fn member(&self, server: &str) -> Result<Arc<Member>, String> {
        let runtime = self
            .servers
            .iter()
            .find(|s| s.name == server)
            .ok_or_else(|| format!("no server {server}"))?;
        match self.slots.lock().get(server).cloned() {
            Some(Slot::Up(m)) => return Ok(m),
            Some(Slot::Down { reason, since }) if since.elapsed() < RETRY_AFTER => {
                return Err(reason);
            }
            _ => {}
        }
        let slot = match Member::open(
            runtime.clone(),
            &self.id,
            Some(&self.caller.identity.grant),
            &self.init_params,
            self.connect_timeout,
        )
        .await
        {
            Ok(m) => {
                tracing::info!(server, session = %self.id, "server reconnected");
                Slot::Up(Arc::new(m))
            }
            Err(reason) => Slot::Down {
                reason,
                since: Instant::now(),
            },
        };
        self.slots.lock().insert(server.to_owned(), slot.clone());
        match slot {
            Slot::Up(m) => Ok(m),
            Slot::Down { reason, .. } => Err(reason),
        }
    }

    /// Marks a member down after its link failed, so the next use reconnects.
    pub fn mark_down(&self, server: &str, reason: String) {
        self.slots.lock().insert(
            server.to_owned(),
            Slot::Down {
                reason,
                since: Instant::now() - RETRY_AFTER,
            },
        );
    }

    pub fn store_snapshot(&self, kind: ListKind, items: Arc<Vec<Value>>) {
        self.snapshots.lock().insert(kind, items);
    }

    pub fn snapshot(&self, kind: ListKind) -> Option<Arc<Vec<Value>>> {
        self.snapshots.lock().get(&kind).cloned()
    }

    pub fn remember_request(&self, raw_id: &str, server: &str) {
        let mut m = self.in_flight.lock();
        if m.len() > 4096 {
            m.clear();
        }
        m.insert(raw_id.to_owned(), server.to_owned());
    }

    pub fn server_of_request(&self, raw_id: &str) -> Option<String> {
        self.in_flight.lock().get(raw_id).cloned()
    }

    /// Closes every member's link.
    pub async fn close(&self) {
        let members = self.members();
        futures_util::future::join_all(
            members
                .iter()
                .map(|m| m.link.close(m.protocol_version.as_deref())),
        )
        .await;
    }

    /// The union of the members' capabilities, as the gateway advertises them.
    pub fn capabilities(&self) -> Value {
        let members = self.members();
        let has = |name: &str| members.iter().any(|m| m.capability(name).is_some());
        let mut caps = serde_json::json!({ "tools": { "listChanged": true } });
        if has("prompts") {
            caps["prompts"] = serde_json::json!({ "listChanged": true });
        }
        if has("resources") {
            let subscribe = members.iter().any(|m| {
                m.capability("resources").and_then(|r| r.get("subscribe"))
                    == Some(&Value::Bool(true))
            });
            caps["resources"] = serde_json::json!({ "listChanged": true, "subscribe": subscribe });
        }
        if has("logging") {
            caps["logging"] = serde_json::json!({});
        }
        if has("completions") {
            caps["completions"] = serde_json::json!({});
        }
        caps
    }

    /// The members' instructions, each under its server's name, as the servers sent them.
    pub fn instructions(&self) -> Option<String> {
        self.merged_instructions(|_, sent| sent.map(str::to_owned))
    }

    /// The members' instructions, each under its server's name, held to their pins: a server's
    /// changed instructions that wait for approval are given as pinned (or left out, when it was
    /// pinned without any), and the change is recorded ([`Catalogue::screen_instructions`]).
    pub fn pinned_instructions(&self, catalogue: &Catalogue) -> Option<String> {
        self.merged_instructions(
            |server, sent| match catalogue.screen_instructions(server, sent) {
                Screened::AsSent => sent.map(str::to_owned),
                Screened::Pinned(text) => text,
            },
        )
    }

    /// Every member's instructions as `screen` gives them (from the server's name and what it
    /// sent), each under its server's name.
    fn merged_instructions(
        &self,
        screen: impl Fn(&str, Option<&str>) -> Option<String>,
    ) -> Option<String> {
        let parts: Vec<String> = self
            .members()
            .iter()
            .filter_map(|m| {
                let sent = m.init.get("instructions").and_then(Value::as_str);
                screen(&m.server.name, sent).map(|i| format!("[{}] {i}", m.server.name))
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("\n\n"))
    }
}
