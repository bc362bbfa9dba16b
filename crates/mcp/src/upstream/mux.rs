//! The routing table of one shared child (one run of it; a restarted child gets a fresh table):
//! many client sessions send requests whose ids and progress tokens collide, so each request is
//! renamed to a gateway-unique id and token on the way in, and every message the child writes is
//! routed back to the request it belongs to with the client's own id and token restored.
//!
//! Routing of what the child writes:
//! - a response goes to the request with its id, and ends that request's stream;
//! - `notifications/progress` goes to the request with its token;
//! - `notifications/*/list_changed` and `notifications/resources/updated` concern every session:
//!   they go to the broadcast;
//! - a request from the server (sampling, elicitation, roots) is relayed only when the gateway
//!   declared the capability it needs, and only to the session whose call caused it: stdio has no
//!   standard way to say which request it belongs to, so it goes to the newest request in flight
//!   when every request in flight is one session's; with none in flight, or several sessions'
//!   requests, it is answered with an error — never to a session that merely happens to be there.
//!   Relayed requests get a relay id (`"toolgate-<n>"`) so that the answer can be mapped back;
//! - any other notification from the server (logging, cancellation of its own requests) goes to
//!   the stream of the newest client request in flight, else to the broadcast;
//! - a server `ping` is answered here.
//!
//! What waits for one request's client is bounded in bytes (the reply budget, one message at
//! least): the child is read for every session at once, so a client that does not take its
//! messages is never waited for — its request is cut off with an error, and cancelled upstream.
//! Messages for the broadcast are bounded too ([`EVENT_MAX_BYTES`]): its ring keeps them.

use super::UpstreamError;
use super::bounded::{BoundedReceiver, BoundedSender, TrySendError, bounded};
use super::client_caps::ClientCapabilities;
use super::rewrite::{member, member_at, replace};
use super::shared::SessionKey;
use super::supervisor::SupervisedStdioError;
use crate::jsonrpc::{Kind, Message, codes, error_response, result_response};
use bytes::Bytes;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::broadcast;

/// Where a request's messages are delivered: its reply stream.
pub(crate) type ReplySender = BoundedSender<Result<Bytes, UpstreamError>>;
pub(crate) type ReplyReceiver = BoundedReceiver<Result<Bytes, UpstreamError>>;

/// The largest server message the broadcast takes (list changes and resource updates are a few
/// hundred bytes; a log line while no request is in flight may be longer). The broadcast's
/// ring keeps its last messages whether or not anyone reads them.
pub(crate) const EVENT_MAX_BYTES: usize = 64 * 1024;

/// A request registered with the table, ready to be written to the child.
#[derive(Debug)]
pub(crate) struct Registered {
    pub upstream_id: u64,
    pub message: Bytes,
    pub replies: ReplyReceiver,
}

/// The routing table. Ids, tokens and relay ids are drawn from one counter shared by every run
/// of the child, so a late answer from a dead run can never match a new request.
#[derive(Debug)]
pub(crate) struct Mux {
    server: Arc<str>,
    next: Arc<AtomicU64>,
    /// What the gateway declared to the child: the server requests it may relay.
    declared: ClientCapabilities,
    /// Bytes that may wait for one request's client.
    reply_budget: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Set once the child is gone: nothing more can be registered.
    closed: bool,
    /// Requests in flight by upstream id; the highest id is the newest.
    pending: BTreeMap<u64, Pending>,
    /// (session, client id) → upstream id, to map cancellations.
    by_client: HashMap<(SessionKey, String), u64>,
    /// Upstream progress token → upstream id.
    tokens: HashMap<String, u64>,
    /// Relay id (raw) → the server request it stands for.
    server_requests: HashMap<String, ServerRequest>,
}

#[derive(Debug)]
struct Pending {
    /// `None` for the gateway's own requests (the `initialize` handshake).
    session: Option<SessionKey>,
    client_id: Box<RawValue>,
    /// (client token, upstream token), both raw.
    token: Option<(Box<RawValue>, String)>,
    tx: ReplySender,
}

#[derive(Debug)]
struct ServerRequest {
    upstream_id: Box<RawValue>,
    /// The session it was relayed to.
    session: Option<SessionKey>,
}

/// Whose call a server request can belong to.
enum Requesting {
    /// Every client request in flight is this session's; the newest is this upstream id.
    One(u64, SessionKey),
    Nobody,
    Several,
}

impl Mux {
    pub(crate) fn new(
        server: Arc<str>,
        next: Arc<AtomicU64>,
        declared: ClientCapabilities,
        reply_budget: usize,
    ) -> Self {
        Mux {
            server,
            next,
            declared,
            reply_budget,
            state: Mutex::default(),
        }
    }

    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    fn invalid(&self, reason: impl Into<String>) -> SupervisedStdioError {
        SupervisedStdioError::InvalidMessage {
            server: self.server.to_string(),
            reason: reason.into(),
        }
    }

    /// Registers a request (`session` is `None` for the gateway's own) and renames its id and
    /// progress token. Fails with `Closed` once the child is gone.
    pub(crate) fn register(
        &self,
        session: Option<SessionKey>,
        message: &[u8],
    ) -> Result<Registered, SupervisedStdioError> {
        let parsed = Message::parse(message).map_err(|e| self.invalid(e.to_string()))?;
        let (Kind::Request, Some(client_id)) = (parsed.kind, parsed.id) else {
            return Err(self.invalid("expected a request"));
        };
        let client_token = match parsed.params {
            Some(params) => member_at(params.get(), &["_meta", "progressToken"])
                .map_err(|e| self.invalid(format!("params._meta: {e}")))?,
            None => None,
        };
        let upstream_id = self.next();
        let upstream_token = format!("\"toolgate-{upstream_id}\"");
        let id_text = upstream_id.to_string();
        let mut edits = vec![(client_id, id_text.as_bytes())];
        if let Some(t) = client_token {
            edits.push((t, upstream_token.as_bytes()));
        }
        let renamed = rename(message, &edits).ok_or_else(|| self.invalid("cannot rename"))?;

        let (tx, replies) = bounded(self.reply_budget);
        let mut state = self.state();
        if state.closed {
            return Err(SupervisedStdioError::Closed {
                server: self.server.to_string(),
            });
        }
        if let Some(s) = &session {
            let key = (s.clone(), client_id.get().to_owned());
            if state.by_client.contains_key(&key) {
                return Err(self.invalid(format!(
                    "request id {} is already in flight in this session",
                    client_id.get()
                )));
            }
            state.by_client.insert(key, upstream_id);
        }
        if client_token.is_some() {
            state.tokens.insert(upstream_token.clone(), upstream_id);
        }
        state.pending.insert(
            upstream_id,
            Pending {
                session,
                client_id: client_id.to_owned(),
                token: client_token.map(|t| (t.to_owned(), upstream_token)),
                tx,
            },
        );
        Ok(Registered {
            upstream_id,
            message: renamed,
            replies,
        })
    }

    /// A client notification, renamed for the child; `None` when it must not reach the child
    /// (`notifications/initialized`, or a cancellation of a request the table does not know).
    pub(crate) fn client_notification(
        &self,
        session: &SessionKey,
        message: &[u8],
    ) -> Result<Option<Bytes>, SupervisedStdioError> {
        let parsed = Message::parse(message).map_err(|e| self.invalid(e.to_string()))?;
        if parsed.kind != Kind::Notification {
            return Err(self.invalid("expected a notification"));
        }
        match parsed.method() {
            // The gateway initialized the child itself; the child must see this only once.
            "notifications/initialized" => Ok(None),
            "notifications/cancelled" => {
                let Some(request_id) = self.member(parsed.params, &["requestId"])? else {
                    return Ok(None);
                };
                let mut state = self.state();
                let key = (session.clone(), request_id.get().to_owned());
                let Some(upstream_id) = state.by_client.get(&key).copied() else {
                    return Ok(None);
                };
                // The client gave up on it: end its stream now, the answer will not be wanted.
                state.remove(upstream_id);
                drop(state);
                Ok(rename(
                    message,
                    &[(request_id, upstream_id.to_string().as_bytes())],
                ))
            }
            _ => Ok(Some(Bytes::copy_from_slice(message))),
        }
    }

    /// A client's answer to a server request, with the server's own id restored.
    pub(crate) fn client_response(
        &self,
        session: &SessionKey,
        message: &[u8],
    ) -> Result<Bytes, SupervisedStdioError> {
        let parsed = Message::parse(message).map_err(|e| self.invalid(e.to_string()))?;
        let (true, Some(id)) = (parsed.is_response(), parsed.id) else {
            return Err(self.invalid("expected a response"));
        };
        let unknown = || SupervisedStdioError::UnknownServerRequest {
            server: self.server.to_string(),
            id: id.get().to_owned(),
        };
        let mut state = self.state();
        let entry = state.server_requests.get(id.get()).ok_or_else(unknown)?;
        if entry.session.as_ref().is_some_and(|s| s != session) {
            return Err(unknown());
        }
        let Some(entry) = state.server_requests.remove(id.get()) else {
            return Err(unknown());
        };
        drop(state);
        rename(message, &[(id, entry.upstream_id.get().as_bytes())])
            .ok_or_else(|| self.invalid("cannot rename"))
    }

    /// Drops what the session left behind. Returns the messages the child must get: a
    /// cancellation for each of its requests still in flight, an error answer for each server
    /// request relayed to it.
    pub(crate) fn close_session(&self, session: &SessionKey) -> Vec<Bytes> {
        let mut state = self.state();
        let ids: Vec<u64> = state
            .pending
            .iter()
            .filter(|(_, p)| p.session.as_ref() == Some(session))
            .map(|(id, _)| *id)
            .collect();
        let mut to_child = Vec::with_capacity(ids.len());
        for id in ids {
            state.remove(id);
            to_child.push(cancellation(id, "the client session closed"));
        }
        let orphans: Vec<String> = state
            .server_requests
            .iter()
            .filter(|(_, r)| r.session.as_ref() == Some(session))
            .map(|(relay, _)| relay.clone())
            .collect();
        for relay in orphans {
            if let Some(r) = state.server_requests.remove(&relay) {
                to_child.push(no_client(&r.upstream_id, "the client session closed"));
            }
        }
        to_child
    }

    /// Forgets a request whose stream was dropped before its answer; returns the cancellation
    /// the child should get, or `None` if the request was already answered.
    pub(crate) fn abandon(&self, upstream_id: u64) -> Option<Bytes> {
        let mut state = self.state();
        state.pending.contains_key(&upstream_id).then(|| {
            state.remove(upstream_id);
            cancellation(upstream_id, "the client stopped waiting")
        })
    }

    /// The child is gone: every request in flight gets `error()` at once, and nothing more can
    /// be registered.
    pub(crate) fn close(&self, error: impl Fn() -> UpstreamError) {
        let mut state = self.state();
        state.closed = true;
        for (_, p) in std::mem::take(&mut state.pending) {
            let _ = p.tx.try_send(Err(error()));
        }
        state.by_client.clear();
        state.tokens.clear();
        state.server_requests.clear();
    }

    /// Number of requests in flight (clients' and the gateway's own).
    pub(crate) fn in_flight(&self) -> usize {
        self.state().pending.len()
    }

    /// Routes one message the child wrote. Returns what the child must be sent: an answer (to a
    /// `ping`, or an error for a server request no client can take), a cancellation for each
    /// request cut off because its client did not keep up.
    pub(crate) fn route_from_child(
        &self,
        message: Bytes,
        events: &broadcast::Sender<Bytes>,
    ) -> Vec<Bytes> {
        let parsed = match Message::parse(&message) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(server = %self.server, error = %e, "the server wrote a message that is not JSON-RPC; dropped");
                return Vec::new();
            }
        };
        let mut to_child = Vec::new();
        match parsed.kind {
            Kind::Result | Kind::Error => self.route_response(&message, &parsed),
            Kind::Request => self.route_server_request(&message, &parsed, &mut to_child),
            Kind::Notification => self.route_notification(&message, &parsed, events, &mut to_child),
        }
        to_child
    }

    fn route_response(&self, message: &[u8], parsed: &Message<'_>) {
        let upstream_id = parsed.id.and_then(|id| id.get().parse::<u64>().ok());
        let Some(upstream_id) = upstream_id else {
            tracing::warn!(server = %self.server, id = ?parsed.id.map(RawValue::get), "the server answered a request the gateway never sent; dropped");
            return;
        };
        let mut state = self.state();
        let Some(p) = state.remove(upstream_id) else {
            tracing::debug!(server = %self.server, upstream_id, "answer to a request nobody waits for; dropped");
            return;
        };
        drop(state);
        if let Some(renamed) = parsed
            .id
            .and_then(|id| rename(message, &[(id, p.client_id.get().as_bytes())]))
        {
            if let Err(TrySendError::Full { queued, .. }) = p.tx.try_send(Ok(renamed)) {
                let _ = p.tx.try_send(Err(self.too_slow(&p, queued)));
            }
        }
    }

    fn route_server_request(
        &self,
        message: &[u8],
        parsed: &Message<'_>,
        to_child: &mut Vec<Bytes>,
    ) {
        let Some(id) = parsed.id else { return };
        let method = parsed.method();
        if method == "ping" {
            return to_child.push(Bytes::from(result_response(id, "{}")));
        }
        if !self.declared.allows_request(method) {
            tracing::debug!(server = %self.server, method, "a server request the gateway declared no capability for; refused");
            return to_child.push(no_client(
                id,
                &format!("no capability for {method} was declared to this server"),
            ));
        }
        let relay = format!("\"toolgate-{}\"", self.next());
        let Some(renamed) = rename(message, &[(id, relay.as_bytes())]) else {
            return;
        };
        let mut state = self.state();
        let (newest, session) = match state.requesting_session() {
            Requesting::One(newest, session) => (newest, session),
            Requesting::Nobody => {
                return to_child.push(no_client(
                    id,
                    "no client request is in flight to relate it to",
                ));
            }
            Requesting::Several => {
                return to_child.push(no_client(
                    id,
                    "requests of several client sessions are in flight; it cannot be related to one",
                ));
            }
        };
        if !self.deliver(&mut state, newest, renamed, to_child) {
            return to_child.push(no_client(id, "the client session went away"));
        }
        state.server_requests.insert(
            relay,
            ServerRequest {
                upstream_id: id.to_owned(),
                session: Some(session),
            },
        );
    }

    fn route_notification(
        &self,
        message: &[u8],
        parsed: &Message<'_>,
        events: &broadcast::Sender<Bytes>,
        to_child: &mut Vec<Bytes>,
    ) {
        let method = parsed.method();
        if method == "notifications/progress" {
            let Ok(Some(token)) = member(parsed.params.map_or("", RawValue::get), "progressToken")
            else {
                return;
            };
            let mut state = self.state();
            let target = state.tokens.get(token.get()).and_then(|id| {
                let (client_token, _) = state.pending.get(id)?.token.as_ref()?;
                Some((*id, client_token.get().to_owned()))
            });
            match target {
                Some((upstream_id, client_token)) => {
                    if let Some(renamed) = rename(message, &[(token, client_token.as_bytes())]) {
                        self.deliver(&mut state, upstream_id, renamed, to_child);
                    }
                }
                None => {
                    tracing::debug!(server = %self.server, token = token.get(), "progress for a request nobody waits for; dropped")
                }
            }
            return;
        }
        let everyone =
            method.ends_with("/list_changed") || method == "notifications/resources/updated";
        let mut state = self.state();
        let mut message = Bytes::copy_from_slice(message);
        if method == "notifications/cancelled" {
            // The server cancels one of its own requests: name it by the id the client saw.
            let request_id = self.member(parsed.params, &["requestId"]).ok().flatten();
            let relay = request_id.and_then(|rid| {
                state
                    .server_requests
                    .iter()
                    .find(|(_, r)| r.upstream_id.get() == rid.get())
                    .map(|(relay, _)| relay.clone())
            });
            if let (Some(rid), Some(relay)) = (request_id, relay) {
                state.server_requests.remove(&relay);
                if let Some(renamed) = rename(&message, &[(rid, relay.as_bytes())]) {
                    message = renamed;
                }
            }
        }
        let target = (!everyone)
            .then(|| state.newest_client_request().map(|(id, _)| id))
            .flatten();
        match target {
            Some(upstream_id) => {
                self.deliver(&mut state, upstream_id, message, to_child);
            }
            None if message.len() > EVENT_MAX_BYTES => {
                tracing::warn!(server = %self.server, method, bytes = message.len(), limit = EVENT_MAX_BYTES, "a server notification too large for the sessions' streams dropped");
            }
            None => {
                let _ = events.send(message);
            }
        }
    }

    /// Queues `message` for the request's client. A client that has not taken what already
    /// waits is cut off: its stream ends with an error, and the child gets a cancellation.
    /// Returns whether the message was queued.
    fn deliver(
        &self,
        state: &mut State,
        upstream_id: u64,
        message: Bytes,
        to_child: &mut Vec<Bytes>,
    ) -> bool {
        let Some(p) = state.pending.get(&upstream_id) else {
            return false;
        };
        match p.tx.try_send(Ok(message)) {
            Ok(()) => true,
            Err(TrySendError::Closed(_)) => false,
            Err(TrySendError::Full { queued, .. }) => {
                if let Some(p) = state.remove(upstream_id) {
                    let _ = p.tx.try_send(Err(self.too_slow(&p, queued)));
                }
                to_child.push(cancellation(upstream_id, "the client did not keep up"));
                false
            }
        }
    }

    fn too_slow(&self, p: &Pending, queued: usize) -> UpstreamError {
        tracing::warn!(server = %self.server, session = ?p.session.as_ref().map(SessionKey::as_str), queued, limit = p.tx.budget(), "a client did not take its messages; its request is cut off");
        UpstreamError::ClientTooSlow {
            server: self.server.to_string(),
            queued,
            limit: p.tx.budget(),
        }
    }

    fn member<'a>(
        &self,
        params: Option<&'a RawValue>,
        path: &[&str],
    ) -> Result<Option<&'a RawValue>, SupervisedStdioError> {
        match params {
            Some(p) => member_at(p.get(), path).map_err(|e| self.invalid(format!("params: {e}"))),
            None => Ok(None),
        }
    }
}

impl State {
    fn remove(&mut self, upstream_id: u64) -> Option<Pending> {
        let p = self.pending.remove(&upstream_id)?;
        if let Some(s) = &p.session {
            self.by_client
                .remove(&(s.clone(), p.client_id.get().to_owned()));
        }
        if let Some((_, upstream_token)) = &p.token {
            self.tokens.remove(upstream_token);
        }
        Some(p)
    }

    /// The session every client request in flight belongs to, and its newest request.
    fn requesting_session(&self) -> Requesting {
        let mut clients = self
            .pending
            .iter()
            .rev()
            .filter_map(|(id, p)| Some((*id, p.session.as_ref()?)));
        let Some((newest, session)) = clients.next() else {
            return Requesting::Nobody;
        };
        if clients.any(|(_, s)| s != session) {
            return Requesting::Several;
        }
        Requesting::One(newest, session.clone())
    }

    /// The newest client request in flight (the gateway's own requests never receive server
    /// messages).
    fn newest_client_request(&self) -> Option<(u64, &Pending)> {
        self.pending
            .iter()
            .rev()
            .find(|(_, p)| p.session.is_some())
            .map(|(id, p)| (*id, p))
    }
}

/// `message` with each raw value (a slice of `message`) replaced.
fn rename(message: &[u8], edits: &[(&RawValue, &[u8])]) -> Option<Bytes> {
    match edits {
        [(part, new)] => replace(message, part, new),
        _ => {
            let mut spans = edits
                .iter()
                .map(|(part, new)| Some((super::rewrite::span_in(message, part.get())?, *new)))
                .collect::<Option<Vec<_>>>()?;
            Some(super::rewrite::splice(message, &mut spans))
        }
    }
}

fn cancellation(upstream_id: u64, reason: &str) -> Bytes {
    let reason = serde_json::to_string(reason).unwrap_or_else(|_| "\"\"".into());
    Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{upstream_id},"reason":{reason}}}}}"#
    ))
}

fn no_client(id: &RawValue, why: &str) -> Bytes {
    Bytes::from(error_response(
        Some(id),
        codes::INTERNAL_ERROR,
        &format!("toolgate: {why}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table for a child the gateway declared every client capability to.
    fn mux() -> Mux {
        Mux::new(
            "srv".into(),
            Arc::new(AtomicU64::new(1)),
            ClientCapabilities::of_value(r#"{"roots":{},"sampling":{},"elicitation":{}}"#),
            1 << 20,
        )
    }

    fn request(id: &str) -> Vec<u8> {
        format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"t"}}}}"#)
            .into_bytes()
    }

    fn drain(rx: &mut ReplyReceiver) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(m) = rx.try_recv() {
            out.push(match m {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(e) => format!("error: {e}"),
            });
        }
        out
    }

    fn refusal(answer: Vec<Bytes>) -> String {
        let [answer] = &answer[..] else {
            panic!("the child gets one answer: {answer:?}");
        };
        let v: serde_json::Value = serde_json::from_slice(answer).unwrap();
        assert_eq!(v["error"]["code"], codes::INTERNAL_ERROR, "{v}");
        v["error"]["message"].as_str().unwrap().to_owned()
    }

    #[test]
    fn a_server_request_goes_to_the_session_whose_calls_are_in_flight() {
        let m = mux();
        let (events, mut broadcast) = broadcast::channel(4);
        let mut older = m.register(Some("b".into()), &request("1")).unwrap();
        let mut newer = m.register(Some("b".into()), &request("2")).unwrap();
        let asked = m.route_from_child(
            Bytes::from_static(br#"{"jsonrpc":"2.0","id":"x","method":"roots/list"}"#),
            &events,
        );
        assert!(asked.is_empty());
        assert!(drain(&mut older.replies).is_empty());
        let relayed = drain(&mut newer.replies);
        assert_eq!(
            relayed,
            [r#"{"jsonrpc":"2.0","id":"toolgate-3","method":"roots/list"}"#]
        );
        assert!(broadcast.try_recv().is_err(), "never to the broadcast");
        // Only the session it went to may answer, and the server gets its own id back.
        let answer = br#"{"jsonrpc":"2.0","id":"toolgate-3","result":{"roots":[]}}"#;
        assert!(m.client_response(&"a".into(), answer).is_err());
        assert_eq!(
            m.client_response(&"b".into(), answer).unwrap(),
            r#"{"jsonrpc":"2.0","id":"x","result":{"roots":[]}}"#
        );
        assert!(
            m.client_response(&"b".into(), answer).is_err(),
            "answered once"
        );
    }

    /// Regression: a shared child's `roots/list` went to whichever session was there (the
    /// first client's roots answered every session).
    #[test]
    fn a_server_request_no_single_session_caused_is_refused() {
        let m = mux();
        let (events, mut broadcast) = broadcast::channel(4);
        let roots = || Bytes::from_static(br#"{"jsonrpc":"2.0","id":9,"method":"roots/list"}"#);
        // Nobody's call is in flight.
        let why = refusal(m.route_from_child(roots(), &events));
        assert!(why.contains("no client request is in flight"), "{why}");
        // Two sessions' calls are.
        let mut a = m.register(Some("a".into()), &request("1")).unwrap();
        let mut b = m.register(Some("b".into()), &request("1")).unwrap();
        let why = refusal(m.route_from_child(roots(), &events));
        assert!(why.contains("several client sessions"), "{why}");
        assert!(drain(&mut a.replies).is_empty() && drain(&mut b.replies).is_empty());
        assert!(broadcast.try_recv().is_err());
    }

    #[test]
    fn a_server_request_needs_the_capability_the_gateway_declared() {
        let m = Mux::new(
            "srv".into(),
            Arc::new(AtomicU64::new(1)),
            ClientCapabilities::default(),
            1 << 20,
        );
        let (events, _) = broadcast::channel(4);
        let mut r = m.register(Some("a".into()), &request("1")).unwrap();
        for method in ["roots/list", "sampling/createMessage", "elicitation/create"] {
            let asked = format!(r#"{{"jsonrpc":"2.0","id":5,"method":"{method}"}}"#);
            let why = refusal(m.route_from_child(Bytes::from(asked), &events));
            assert!(why.contains(method), "{why}");
        }
        assert!(drain(&mut r.replies).is_empty());
    }

    #[test]
    fn a_server_request_nobody_can_take_is_refused_and_ping_is_answered() {
        let m = mux();
        let (events, _) = broadcast::channel(4);
        let refused = m
            .route_from_child(
                Bytes::from_static(
                    br#"{"jsonrpc":"2.0","id":4,"method":"sampling/createMessage"}"#,
                ),
                &events,
            )
            .pop()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&refused).unwrap();
        assert_eq!(v["id"], 4);
        assert_eq!(v["error"]["code"], codes::INTERNAL_ERROR);
        let pong = m
            .route_from_child(
                Bytes::from_static(br#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#),
                &events,
            )
            .pop()
            .unwrap();
        assert_eq!(pong, r#"{"jsonrpc":"2.0","id":"p","result":{}}"#);
    }

    #[test]
    fn duplicate_ids_in_one_session_are_refused_across_sessions_allowed() {
        let m = mux();
        let _a = m.register(Some("a".into()), &request("1")).unwrap();
        let _b = m.register(Some("b".into()), &request("1")).unwrap();
        let err = m.register(Some("a".into()), &request("1")).unwrap_err();
        assert!(err.to_string().contains("already in flight"), "{err}");
        assert!(err.to_string().contains("srv"), "{err}");
    }

    #[test]
    fn cancellation_is_renamed_and_unknown_ones_dropped() {
        let m = mux();
        let mut r = m.register(Some("a".into()), &request("\"q\"")).unwrap();
        assert_eq!(
            r.message,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}"#
        );
        let cancel = br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"q","reason":"x"}}"#;
        assert!(
            m.client_notification(&"b".into(), cancel)
                .unwrap()
                .is_none()
        );
        assert_eq!(
            m.client_notification(&"a".into(), cancel).unwrap().unwrap(),
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"reason":"x"}}"#
        );
        assert!(drain(&mut r.replies).is_empty());
        assert!(r.replies.try_recv().is_err(), "the stream ended");
        assert_eq!(m.in_flight(), 0);
    }

    #[test]
    fn closing_fails_every_request_and_refuses_new_ones() {
        let m = mux();
        let mut r = m.register(Some("a".into()), &request("1")).unwrap();
        m.close(|| UpstreamError::Closed("srv exited".into()));
        assert_eq!(
            drain(&mut r.replies),
            ["error: upstream process is not running: srv exited"]
        );
        assert!(matches!(
            m.register(Some("a".into()), &request("2")),
            Err(SupervisedStdioError::Closed { .. })
        ));
    }

    #[test]
    fn closing_a_session_cancels_its_requests_only() {
        let m = mux();
        let _a = m.register(Some("a".into()), &request("1")).unwrap();
        let _b = m.register(Some("b".into()), &request("1")).unwrap();
        let to_child = m.close_session(&"a".into());
        assert_eq!(
            to_child,
            [
                r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"reason":"the client session closed"}}"#
            ]
        );
        assert_eq!(m.in_flight(), 1);
    }

    #[test]
    fn an_abandoned_request_is_cancelled_once_and_its_late_answer_dropped() {
        let m = mux();
        let (events, _) = broadcast::channel(4);
        let r = m.register(Some("a".into()), &request("1")).unwrap();
        assert_eq!(
            m.abandon(r.upstream_id).unwrap(),
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"reason":"the client stopped waiting"}}"#
        );
        assert!(m.abandon(r.upstream_id).is_none());
        let late = Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
        assert!(m.route_from_child(late, &events).is_empty());
        assert_eq!(m.in_flight(), 0);
    }

    #[test]
    fn a_client_that_does_not_take_its_messages_is_cut_off_and_the_child_told() {
        let m = Mux::new(
            "srv".into(),
            Arc::new(AtomicU64::new(1)),
            ClientCapabilities::default(),
            100,
        );
        let (events, _) = broadcast::channel(4);
        let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","_meta":{"progressToken":"p"}}}"#;
        let mut slow = m.register(Some("a".into()), call).unwrap();
        let progress = |n: usize| {
            Bytes::from(format!(
                r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progressToken":"toolgate-1","progress":{n},"message":"{}"}}}}"#,
                "x".repeat(20)
            ))
        };
        // The first fits, the second does not while the first waits.
        assert!(m.route_from_child(progress(1), &events).is_empty());
        let to_child = m.route_from_child(progress(2), &events);
        assert_eq!(
            to_child,
            [r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"requestId":1,"reason":"the client did not keep up"}}"#.replace("notifications/progress", "notifications/cancelled")]
        );
        assert_eq!(m.in_flight(), 0, "forgotten");
        let got = drain(&mut slow.replies);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].contains(r#""progressToken":"p""#), "{got:?}");
        assert!(
            got[1].contains("the client did not take the messages of server srv in time"),
            "{got:?}"
        );
        // Its late answer is dropped.
        let late = Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
        assert!(m.route_from_child(late, &events).is_empty());
    }

    #[test]
    fn an_answer_larger_than_the_budget_still_reaches_a_client_with_nothing_waiting() {
        let m = Mux::new(
            "srv".into(),
            Arc::new(AtomicU64::new(1)),
            ClientCapabilities::default(),
            10,
        );
        let (events, _) = broadcast::channel(4);
        let mut r = m.register(Some("a".into()), &request("1")).unwrap();
        let answer = Bytes::from(format!(
            r#"{{"jsonrpc":"2.0","id":1,"result":{{"t":"{}"}}}}"#,
            "y".repeat(100)
        ));
        assert!(m.route_from_child(answer, &events).is_empty());
        let got = drain(&mut r.replies);
        assert!(got.len() == 1 && got[0].starts_with(r#"{"jsonrpc":"2.0","id":1,"result""#));
    }

    #[test]
    fn a_notification_too_large_for_the_broadcast_is_dropped() {
        let m = mux();
        let (events, mut rx) = broadcast::channel(4);
        let big = format!(
            r#"{{"jsonrpc":"2.0","method":"notifications/message","params":{{"data":"{}"}}}}"#,
            "z".repeat(EVENT_MAX_BYTES)
        );
        assert!(m.route_from_child(Bytes::from(big), &events).is_empty());
        assert!(rx.try_recv().is_err());
        let small =
            Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#);
        m.route_from_child(small.clone(), &events);
        assert_eq!(rx.try_recv().unwrap(), small);
    }
}
