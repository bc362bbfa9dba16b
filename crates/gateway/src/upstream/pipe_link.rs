//! A server reached over a message pipe owned by one client session — a stdio child, or a
//! legacy HTTP+SSE stream — with the server's messages routed to the requests waiting for them:
//! responses by id, progress by token, anything else to the newest open request, else to the
//! session's standalone stream (GET), else a short backlog.

use super::stdio_pool::ChildLease;
use super::{MessageStream, ReplyStream};
use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use toolgate_mcp::jsonrpc::{Kind, Message};
use toolgate_mcp::upstream::UpstreamError;
use toolgate_mcp::upstream::legacy_sse::{LegacySseSession, LegacySseUpstream};
use toolgate_mcp::upstream::stdio::{StdioChild, StdioSpec};

/// A server that speaks over a message pipe owned by one client session.
pub struct PipeLink {
    pipe: Pipe,
    routes: Arc<Mutex<Routes>>,
    /// The stdio child's place among its server's children, given back with the link.
    _lease: Option<ChildLease>,
}

/// The pipes: a stdio child of the session's own, or a legacy HTTP+SSE session.
enum Pipe {
    Stdio(StdioChild),
    LegacySse(LegacySseSession),
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

impl PipeLink {
    /// Starts a stdio child for one session.
    pub fn stdio(spec: &StdioSpec) -> Result<Self, UpstreamError> {
        let (child, rx) = StdioChild::spawn(spec)?;
        Ok(Self::start(Pipe::Stdio(child), rx, spec.server.clone()))
    }

    /// Opens a legacy HTTP+SSE session for one client session.
    pub async fn legacy_sse(
        upstream: &LegacySseUpstream,
        server: &str,
    ) -> Result<Self, UpstreamError> {
        let (session, rx) = upstream.open().await?;
        Ok(Self::start(Pipe::LegacySse(session), rx, server.to_owned()))
    }

    fn start(pipe: Pipe, mut rx: mpsc::Receiver<Bytes>, server: String) -> Self {
        let routes = Arc::new(Mutex::new(Routes::default()));
        let task_routes = routes.clone();
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
            tracing::info!(server = %server, "the server closed its output");
        });
        PipeLink {
            pipe,
            routes,
            _lease: None,
        }
    }

    /// The link, holding its child's place among the server's children until it is dropped.
    pub(crate) fn holding(mut self, lease: ChildLease) -> Self {
        self._lease = Some(lease);
        self
    }

    /// Writes one message to the server.
    pub async fn send(&self, message: &[u8]) -> Result<(), UpstreamError> {
        match &self.pipe {
            Pipe::Stdio(child) => child.send(message).await,
            Pipe::LegacySse(session) => session.send(Bytes::copy_from_slice(message)).await,
        }
    }

    /// Ends the pipe: the stdio child is stopped (its whole process group), the stream dropped.
    pub async fn close(&self) {
        match &self.pipe {
            Pipe::Stdio(child) => {
                child.shutdown(Duration::from_secs(2)).await;
            }
            Pipe::LegacySse(session) => session.close(),
        }
    }

    /// The stdio child, if this pipe is one (`toolgate wrap` passes signals on to it).
    pub fn stdio_child(&self) -> Option<&StdioChild> {
        match &self.pipe {
            Pipe::Stdio(child) => Some(child),
            Pipe::LegacySse(_) => None,
        }
    }

    /// The stdio child's process id, if this pipe is one.
    pub fn pid(&self) -> Option<u32> {
        match &self.pipe {
            Pipe::Stdio(child) => child.pid(),
            Pipe::LegacySse(_) => None,
        }
    }

    pub async fn request(
        &self,
        message: Bytes,
        id: &RawValue,
        progress_token: Option<Box<RawValue>>,
    ) -> Result<ReplyStream, UpstreamError> {
        let (tx, rx) = mpsc::channel(64);
        {
            let mut r = self.routes.lock();
            if r.closed {
                return Err(UpstreamError::Closed("the server has gone away".into()));
            }
            r.pending.push(PendingRequest {
                id: id.to_owned(),
                progress_token,
                tx,
            });
        }
        if let Err(e) = self.send(&message).await {
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

    pub fn take_standalone(&self) -> Option<MessageStream> {
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
