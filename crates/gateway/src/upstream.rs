//! One client session's connection to its upstream server: an upstream Streamable HTTP session,
//! or a stdio child of its own. Either way a request yields a stream of messages that ends with
//! its response, so the inbound side has one shape to relay.

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use toolgate_mcp::jsonrpc::{Kind, Message};
use toolgate_mcp::upstream::UpstreamError;
use toolgate_mcp::upstream::http::{HttpUpstream, PostReply, Reply};
use toolgate_mcp::upstream::stdio::{StdioChild, StdioSpec};

/// Messages relayed for one request; the last one is its response.
pub type MessageStream = BoxStream<'static, Result<Bytes, UpstreamError>>;

/// The messages answering one request.
pub struct ReplyStream {
    pub messages: MessageStream,
    /// The upstream chose to stream (SSE); the client gets a stream too.
    pub streaming: bool,
}

/// A client session's link to its server.
pub enum UpstreamLink {
    Http(HttpLink),
    Stdio(StdioLink),
}

impl std::fmt::Debug for UpstreamLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamLink::Http(l) => write!(f, "Http({})", l.upstream.url()),
            UpstreamLink::Stdio(l) => write!(f, "Stdio(pid {:?})", l.child.pid()),
        }
    }
}

impl UpstreamLink {
    pub fn http(upstream: HttpUpstream) -> Self {
        UpstreamLink::Http(HttpLink {
            upstream,
            session: Mutex::new(None),
            initialize: Mutex::new(None),
            reinit: tokio::sync::Mutex::new(()),
        })
    }

    pub fn stdio(spec: &StdioSpec) -> Result<Self, UpstreamError> {
        StdioLink::start(spec).map(UpstreamLink::Stdio)
    }

    /// Sends a request; `id` is its raw JSON-RPC id, `progress_token` the raw token it carries.
    pub async fn request(
        &self,
        message: Bytes,
        id: &RawValue,
        progress_token: Option<Box<RawValue>>,
        protocol_version: Option<&str>,
    ) -> Result<ReplyStream, UpstreamError> {
        match self {
            UpstreamLink::Http(l) => l.request(message, protocol_version).await,
            UpstreamLink::Stdio(l) => l.request(message, id, progress_token).await,
        }
    }

    /// Sends a notification or a response to a server request.
    pub async fn send(
        &self,
        message: Bytes,
        protocol_version: Option<&str>,
    ) -> Result<(), UpstreamError> {
        match self {
            UpstreamLink::Http(l) => l.post(message, protocol_version).await.map(|_| ()),
            UpstreamLink::Stdio(l) => l.child.send(&message).await,
        }
    }

    /// The server's own stream of requests and notifications. `None` when it offers none or
    /// another stream already takes it.
    pub async fn open_stream(
        &self,
        protocol_version: Option<&str>,
    ) -> Result<Option<MessageStream>, UpstreamError> {
        match self {
            UpstreamLink::Http(l) => {
                let session = l.session.lock().clone();
                l.upstream
                    .open_stream(session.as_deref(), protocol_version)
                    .await
            }
            UpstreamLink::Stdio(l) => Ok(l.take_standalone()),
        }
    }

    /// Ends the upstream side of the session.
    pub async fn close(&self, protocol_version: Option<&str>) {
        match self {
            UpstreamLink::Http(l) => {
                let session = l.session.lock().take();
                if let Some(s) = session {
                    if let Err(e) = l.upstream.delete(&s, protocol_version).await {
                        tracing::debug!(error = %e, "ending the upstream session failed");
                    }
                }
            }
            UpstreamLink::Stdio(l) => {
                l.child.shutdown(Duration::from_secs(2)).await;
            }
        }
    }
}

/// A session on a Streamable HTTP server. It remembers the client's `initialize` so that when
/// the server forgets the session (it restarted, or expired it), the link opens a new one
/// transparently and retries the request once: a request refused for an unknown session never
/// reached a handler, so the retry cannot run anything twice.
pub struct HttpLink {
    upstream: HttpUpstream,
    session: Mutex<Option<String>>,
    initialize: Mutex<Option<Bytes>>,
    reinit: tokio::sync::Mutex<()>,
}

impl HttpLink {
    async fn request(
        &self,
        message: Bytes,
        protocol_version: Option<&str>,
    ) -> Result<ReplyStream, UpstreamError> {
        let reply = self.post(message, protocol_version).await?;
        match reply.reply {
            Reply::Json(body) => Ok(ReplyStream {
                messages: stream::iter([Ok(body)]).boxed(),
                streaming: false,
            }),
            Reply::Stream(messages) => Ok(ReplyStream {
                messages,
                streaming: true,
            }),
            Reply::Accepted => Err(UpstreamError::Protocol(
                "the server accepted a request without answering it".into(),
            )),
        }
    }
}

impl HttpLink {
    /// Posts a message on the current session, re-initializing once if the server forgot it.
    async fn post(&self, message: Bytes, pv: Option<&str>) -> Result<PostReply, UpstreamError> {
        let session = self.session.lock().clone();
        if session.is_none() && self.initialize.lock().is_none() {
            *self.initialize.lock() = Some(message.clone());
        }
        let reply = match self
            .upstream
            .post(session.as_deref(), pv, message.clone())
            .await
        {
            Err(UpstreamError::SessionExpired) => {
                self.reinitialize(session.as_deref(), pv).await?;
                let session = self.session.lock().clone();
                self.upstream.post(session.as_deref(), pv, message).await?
            }
            other => other?,
        };
        if let Some(s) = &reply.session_id {
            let mut current = self.session.lock();
            if current.is_none() {
                *current = Some(s.clone());
            }
        }
        Ok(reply)
    }

    /// Opens a new upstream session with the client's original `initialize` (once, however many
    /// requests noticed the expiry at the same time).
    async fn reinitialize(
        &self,
        expired: Option<&str>,
        pv: Option<&str>,
    ) -> Result<(), UpstreamError> {
        let _one_at_a_time = self.reinit.lock().await;
        if self.session.lock().as_deref() != expired {
            return Ok(()); // another request already did it
        }
        let init = self
            .initialize
            .lock()
            .clone()
            .ok_or(UpstreamError::SessionExpired)?;
        tracing::info!(url = %self.upstream.url(), "upstream session expired; initializing a new one");
        let reply = self.upstream.post(None, pv, init).await?;
        if let Reply::Stream(mut s) = reply.reply {
            while let Some(m) = s.next().await {
                if Message::parse(&m?).is_ok_and(|m| m.is_response()) {
                    break;
                }
            }
        }
        let Some(new_session) = reply.session_id else {
            return Err(UpstreamError::Protocol(
                "the server issued no session on re-initialize".into(),
            ));
        };
        *self.session.lock() = Some(new_session.clone());
        let note = Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        self.upstream.post(Some(&new_session), pv, note).await?;
        Ok(())
    }
}

/// A stdio child owned by one client session, with its output routed to the requests that
/// wait for it.
pub struct StdioLink {
    child: StdioChild,
    routes: Arc<Mutex<Routes>>,
}

/// Where the child's messages go: responses to the request with their id, progress to the
/// request with its token, anything else to the newest open request, else to the session's
/// standalone stream (GET), else a short backlog.
#[derive(Default)]
struct Routes {
    pending: Vec<PendingRequest>,
    standalone: Option<mpsc::Sender<Bytes>>,
    standalone_taken: bool,
    backlog: VecDeque<Bytes>,
    closed: bool,
}

struct PendingRequest {
    id: Box<RawValue>,
    progress_token: Option<Box<RawValue>>,
    tx: mpsc::Sender<Bytes>,
}

const BACKLOG_LIMIT: usize = 256;

impl StdioLink {
    fn start(spec: &StdioSpec) -> Result<Self, UpstreamError> {
        let (child, mut rx) = StdioChild::spawn(spec)?;
        let routes = Arc::new(Mutex::new(Routes::default()));
        let task_routes = routes.clone();
        let server = spec.server.clone();
        tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                let target = route(&task_routes, &msg, &server);
                if let Some(tx) = target {
                    let _ = tx.send(msg).await;
                }
            }
            let mut r = task_routes.lock();
            r.closed = true;
            r.pending.clear();
            r.standalone = None;
            tracing::info!(server = %server, "stdio server closed its output");
        });
        Ok(StdioLink { child, routes })
    }

    async fn request(
        &self,
        message: Bytes,
        id: &RawValue,
        progress_token: Option<Box<RawValue>>,
    ) -> Result<ReplyStream, UpstreamError> {
        let (tx, rx) = mpsc::channel(64);
        {
            let mut r = self.routes.lock();
            if r.closed {
                return Err(UpstreamError::Closed("the stdio server has exited".into()));
            }
            r.pending.push(PendingRequest {
                id: id.to_owned(),
                progress_token,
                tx,
            });
        }
        if let Err(e) = self.child.send(&message).await {
            self.routes
                .lock()
                .pending
                .retain(|p| p.id.get() != id.get());
            return Err(e);
        }
        let messages = stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|m| (Ok(m), rx)) },
        )
        .boxed();
        Ok(ReplyStream {
            messages,
            streaming: false,
        })
    }

    fn take_standalone(&self) -> Option<MessageStream> {
        let mut r = self.routes.lock();
        if r.standalone_taken && r.standalone.as_ref().is_some_and(|tx| !tx.is_closed()) {
            return None;
        }
        let (tx, rx) = mpsc::channel(BACKLOG_LIMIT);
        for m in r.backlog.drain(..) {
            let _ = tx.try_send(m);
        }
        r.standalone = Some(tx);
        r.standalone_taken = true;
        Some(
            stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|m| (Ok(m), rx)) },
            )
            .boxed(),
        )
    }
}

/// Picks where one message from the child goes. A response ends its request's stream.
fn route(routes: &Mutex<Routes>, msg: &Bytes, server: &str) -> Option<mpsc::Sender<Bytes>> {
    let Ok(parsed) = Message::parse(msg) else {
        tracing::warn!(server = %server, "stdio server wrote a message that is not JSON-RPC; dropped");
        return None;
    };
    let mut r = routes.lock();
    match parsed.kind {
        Kind::Result | Kind::Error => {
            let id = parsed.id?;
            let pos = r.pending.iter().position(|p| p.id.get() == id.get())?;
            Some(r.pending.swap_remove(pos).tx)
        }
        _ => {
            let token = (parsed.method() == "notifications/progress")
                .then(|| progress_token_of(parsed.params))
                .flatten();
            if let Some(token) = token {
                if let Some(p) = r.pending.iter().find(|p| {
                    p.progress_token
                        .as_deref()
                        .is_some_and(|t| t.get() == token.get())
                }) {
                    return Some(p.tx.clone());
                }
            }
            if let Some(p) = r.pending.last() {
                return Some(p.tx.clone());
            }
            if let Some(tx) = r.standalone.as_ref().filter(|tx| !tx.is_closed()) {
                return Some(tx.clone());
            }
            if r.backlog.len() >= BACKLOG_LIMIT {
                r.backlog.pop_front();
            }
            r.backlog.push_back(msg.clone());
            None
        }
    }
}

fn progress_token_of(params: Option<&RawValue>) -> Option<Box<RawValue>> {
    #[derive(Deserialize)]
    struct P<'a> {
        #[serde(borrow, rename = "progressToken")]
        token: Option<&'a RawValue>,
    }
    let p: P<'_> = serde_json::from_str(params?.get()).ok()?;
    p.token.map(|t| t.to_owned())
}
