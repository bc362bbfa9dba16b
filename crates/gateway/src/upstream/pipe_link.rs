//! A server reached over a message pipe owned by one client session — a stdio child, or a
//! legacy HTTP+SSE stream — with the server's messages routed to the requests waiting for them:
//! responses by id, progress by token, anything else to the newest open request, else to the
//! session's standalone stream (GET), else a short backlog.
//!
//! Nothing here waits for a client: what waits for one request (or for the standalone stream) is
//! bounded in bytes, and a client that does not take it is cut off with an error, so the server's
//! output is always read. When the pipe ends, every request still waiting is told why (the
//! child's exit status), and a child that closed its output but lives on is killed.

use super::{MessageStream, ReplyStream};
use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use toolgate_mcp::jsonrpc::{Kind, Message};
use toolgate_mcp::upstream::bounded::{BoundedReceiver, BoundedSender, TrySendError, bounded};
use toolgate_mcp::upstream::legacy_sse::{LegacySseSession, LegacySseUpstream};
use toolgate_mcp::upstream::stdio::{Exit, StdioChild, StdioSpec};
use toolgate_mcp::upstream::{PeerLimits, UpstreamError};

/// A server that speaks over a message pipe owned by one client session.
pub struct PipeLink {
    pipe: Pipe,
    routes: Arc<Mutex<Routes>>,
}

/// The pipes: a stdio child of the session's own, or a legacy HTTP+SSE session.
enum Pipe {
    Stdio(StdioChild),
    LegacySse(LegacySseSession),
}

/// Where one request's messages (or the standalone stream's) wait for their client.
type Queue = BoundedSender<Result<Bytes, UpstreamError>>;

/// Where the child's messages go: responses to the request with their id, progress to the
/// request with its token, anything else to the newest open request, else to the session's
/// standalone stream (GET), else a short backlog.
struct Routes {
    server: Arc<str>,
    pending: Vec<PendingRequest>,
    standalone: Option<Queue>,
    standalone_taken: bool,
    backlog: VecDeque<Bytes>,
    backlog_bytes: usize,
    closed: bool,
    /// Bytes that may wait for one client (a request's or the standalone stream's).
    budget: usize,
    /// Said to the requests in flight when the pipe ends, after why it ended.
    exit_note: &'static str,
}

struct PendingRequest {
    id: Box<RawValue>,
    progress_token: Option<Box<RawValue>>,
    tx: Queue,
}

/// Messages kept for a standalone stream not open yet, at most.
const BACKLOG_LIMIT: usize = 256;

/// How long a child that closed its output may take to exit before it is killed.
const EXIT_WAIT: Duration = Duration::from_secs(1);

impl PipeLink {
    /// Starts a stdio child for one session, with the default limits.
    pub fn stdio(spec: &StdioSpec) -> Result<Self, UpstreamError> {
        Self::stdio_limited(spec, PeerLimits::default())
    }

    /// Starts a stdio child for one session, holding at most `limits` for it.
    pub fn stdio_limited(spec: &StdioSpec, limits: PeerLimits) -> Result<Self, UpstreamError> {
        let (child, rx) = StdioChild::spawn_limited(spec, limits)?;
        let ended = Ended::Child {
            exit: child.exit(),
            pid: child.pid(),
        };
        let server = spec.server.as_str().into();
        Ok(Self::start(
            Pipe::Stdio(child),
            rx,
            server,
            limits.max_message_bytes,
            ended,
        ))
    }

    /// Opens a legacy HTTP+SSE session for one client session.
    pub async fn legacy_sse(
        upstream: &LegacySseUpstream,
        server: &str,
    ) -> Result<Self, UpstreamError> {
        let (session, rx) = upstream.open().await?;
        let budget = upstream.max_message_bytes();
        Ok(Self::start(
            Pipe::LegacySse(session),
            rx,
            server.into(),
            budget,
            Ended::Stream,
        ))
    }

    fn start(
        pipe: Pipe,
        mut rx: BoundedReceiver<Bytes>,
        server: Arc<str>,
        budget: usize,
        ended: Ended,
    ) -> Self {
        let routes = Arc::new(Mutex::new(Routes {
            server: server.clone(),
            pending: Vec::new(),
            standalone: None,
            standalone_taken: false,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            closed: false,
            budget,
            exit_note: "",
        }));
        let task_routes = routes.clone();
        tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                task_routes.lock().route(msg);
            }
            let why = ended.why(&server).await;
            let mut r = task_routes.lock();
            r.closed = true;
            let told = format!("{why} before answering{}", r.exit_note);
            for p in r.pending.drain(..) {
                let _ = p.tx.try_send(Err(UpstreamError::Closed(told.clone())));
            }
            r.standalone = None;
            tracing::info!(server = %server, "{why}");
        });
        PipeLink { pipe, routes }
    }

    /// Adds `note` to what the requests in flight are told when the pipe ends.
    pub(crate) fn noting_on_exit(self, note: &'static str) -> Self {
        self.routes.lock().exit_note = note;
        self
    }

    /// Whether the server's output has ended (the child exited): nothing more can be answered.
    pub fn is_closed(&self) -> bool {
        self.routes.lock().closed
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
        let rx = {
            let mut r = self.routes.lock();
            if r.closed {
                return Err(UpstreamError::Closed(format!(
                    "server {} has gone away",
                    r.server
                )));
            }
            let (tx, rx) = bounded(r.budget);
            r.pending.push(PendingRequest {
                id: id.to_owned(),
                progress_token,
                tx,
            });
            rx
        };
        if let Err(e) = self.send(&message).await {
            self.routes
                .lock()
                .pending
                .retain(|p| p.id.get() != id.get());
            return Err(e);
        }
        Ok(ReplyStream {
            messages: messages(rx),
            streaming: false,
        })
    }

    pub fn take_standalone(&self) -> Option<MessageStream> {
        let mut r = self.routes.lock();
        if r.standalone_taken && r.standalone.as_ref().is_some_and(|tx| !tx.is_closed()) {
            return None;
        }
        let (tx, rx) = bounded(r.budget);
        r.backlog_bytes = 0;
        for m in r.backlog.drain(..).collect::<Vec<_>>() {
            let _ = tx.try_send(Ok(m));
        }
        if !r.closed {
            r.standalone = Some(tx);
        }
        r.standalone_taken = true;
        Some(messages(rx))
    }
}

/// A client's queue as a stream.
fn messages(rx: BoundedReceiver<Result<Bytes, UpstreamError>>) -> MessageStream {
    stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) }).boxed()
}

/// How to learn why the pipe ended.
enum Ended {
    /// The child: its exit status (it is killed if it closed its output but lives on).
    Child {
        exit: watch::Receiver<Option<Exit>>,
        pid: Option<u32>,
    },
    Stream,
}

impl Ended {
    async fn why(self, server: &str) -> String {
        match self {
            Ended::Stream => format!("server {server} closed its stream"),
            Ended::Child { mut exit, pid } => {
                let exited = tokio::time::timeout(EXIT_WAIT, exit.wait_for(Option::is_some))
                    .await
                    .is_ok();
                if !exited {
                    tracing::warn!(
                        server,
                        "stdio server closed its output but did not exit; killing it"
                    );
                    // Not reaped yet, so the process group is still this child's.
                    if let Some(pid) = pid {
                        let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
                    }
                    let _ = exit.wait_for(Option::is_some).await;
                }
                let status = exit
                    .borrow()
                    .as_ref()
                    .map_or_else(|| "exit status unknown".to_owned(), ToString::to_string);
                format!("server {server} exited ({status})")
            }
        }
    }
}

impl Routes {
    /// Routes one message from the server. A response ends its request's stream.
    fn route(&mut self, msg: Bytes) {
        let Ok(parsed) = Message::parse(&msg) else {
            tracing::warn!(server = %self.server, "the server wrote a message that is not JSON-RPC; dropped");
            return;
        };
        match parsed.kind {
            Kind::Result | Kind::Error => {
                let Some(id) = parsed.id else { return };
                let Some(pos) = self.pending.iter().position(|p| p.id.get() == id.get()) else {
                    return;
                };
                let p = self.pending.swap_remove(pos);
                drop(parsed);
                self.deliver_to(&p.tx, msg);
            }
            _ => {
                let token = (parsed.method() == "notifications/progress")
                    .then(|| progress_token_of(parsed.params))
                    .flatten();
                drop(parsed);
                let by_token = token.and_then(|token| {
                    self.pending.iter().position(|p| {
                        p.progress_token
                            .as_deref()
                            .is_some_and(|t| t.get() == token.get())
                    })
                });
                let target = by_token.or_else(|| self.pending.len().checked_sub(1));
                if let Some(pos) = target {
                    let tx = self.pending[pos].tx.clone();
                    if !self.deliver_to(&tx, msg) {
                        // Cut off: its stream has said why and ends.
                        self.pending.swap_remove(pos);
                    }
                    return;
                }
                if let Some(tx) = self.standalone.clone().filter(|tx| !tx.is_closed()) {
                    if !self.deliver_to(&tx, msg) {
                        self.standalone = None;
                    }
                    return;
                }
                while self.backlog.len() >= BACKLOG_LIMIT
                    || (self.backlog_bytes + msg.len() > self.budget && !self.backlog.is_empty())
                {
                    if let Some(old) = self.backlog.pop_front() {
                        self.backlog_bytes -= old.len();
                    }
                }
                self.backlog_bytes += msg.len();
                self.backlog.push_back(msg);
            }
        }
    }

    /// Queues `msg` for a client; one that has not taken what already waits gets an error in
    /// its place, and `false`.
    fn deliver_to(&self, tx: &Queue, msg: Bytes) -> bool {
        match tx.try_send(Ok(msg)) {
            Ok(()) | Err(TrySendError::Closed(_)) => true,
            Err(TrySendError::Full { queued, .. }) => {
                tracing::warn!(server = %self.server, queued, limit = tx.budget(), "a client did not take the server's messages; cut off");
                let _ = tx.try_send(Err(UpstreamError::ClientTooSlow {
                    server: self.server.to_string(),
                    queued,
                    limit: tx.budget(),
                }));
                false
            }
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
