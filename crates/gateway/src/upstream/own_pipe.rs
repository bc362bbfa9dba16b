//! A session's own pipe to its server — a stdio child (a server with `share = "session"`, a client
//! that declares capabilities, the gateway's own listing session) or a legacy HTTP+SSE connection —
//! opened again when it ends. A crashed child or a dropped SSE stream must not leave its session
//! broken for good: the requests in flight get an error saying how it ended, and the session's next
//! request opens a new pipe, initialized with the session's own `initialize` (and
//! `notifications/initialized`) before the request goes on. A child that died was reaped when it
//! exited (see [`StdioChild`]'s keeper); whatever the server kept for the session is gone, as after
//! a restart.
//!
//! [`StdioChild`]: toolgate_mcp::upstream::stdio::StdioChild

use super::stdio_pool::ChildLease;
use super::{MessageStream, PipeLink, ReplyStream};
use bytes::Bytes;
use futures_util::StreamExt;
use parking_lot::Mutex;
use serde_json::value::RawValue;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use toolgate_mcp::jsonrpc::{Kind, Message};
use toolgate_mcp::upstream::legacy_sse::LegacySseUpstream;
use toolgate_mcp::upstream::stdio::StdioSpec;
use toolgate_mcp::upstream::{PeerLimits, UpstreamError};

/// How long a new child may take to answer the session's `initialize`.
const INITIALIZE_TIMEOUT: Duration = Duration::from_secs(30);

/// Ids of the `initialize` requests the gateway replays to new children.
static REPLAYS: AtomicU64 = AtomicU64::new(1);

/// A session's own pipe, and what it takes to open another like it.
pub struct OwnPipe {
    source: PipeSource,
    current: Mutex<Arc<PipeLink>>,
    handshake: Mutex<Handshake>,
    /// One replacement at a time, however many requests find the pipe ended.
    replacing: tokio::sync::Mutex<()>,
}

/// How the session's pipe is opened.
enum PipeSource {
    Stdio {
        spec: StdioSpec,
        limits: PeerLimits,
        /// The session's place among the server's children, whichever child fills it.
        _lease: ChildLease,
    },
    LegacySse {
        upstream: LegacySseUpstream,
        server: String,
    },
}

impl PipeSource {
    async fn open(&self) -> Result<PipeLink, UpstreamError> {
        Ok(match self {
            PipeSource::Stdio { spec, limits, .. } => PipeLink::stdio_limited(spec, *limits)?,
            PipeSource::LegacySse { upstream, server } => {
                PipeLink::legacy_sse(upstream, server).await?
            }
        }
        .noting_on_exit(self.next_request()))
    }

    /// What a request in flight on a pipe that ended is told besides how it ended.
    fn next_request(&self) -> &'static str {
        match self {
            PipeSource::Stdio { .. } => "; the session's next request starts a new child",
            PipeSource::LegacySse { .. } => "; the session's next request connects again",
        }
    }

    fn server(&self) -> &str {
        match self {
            PipeSource::Stdio { spec, .. } => &spec.server,
            PipeSource::LegacySse { server, .. } => server,
        }
    }
}

/// What the session said to initialize its child.
#[derive(Default)]
struct Handshake {
    initialize: Option<Bytes>,
    initialized: bool,
}

impl OwnPipe {
    /// Starts the session's first child.
    pub(crate) fn start(
        spec: &StdioSpec,
        limits: PeerLimits,
        lease: ChildLease,
    ) -> Result<Self, UpstreamError> {
        let first = PipeLink::stdio_limited(spec, limits)?;
        let source = PipeSource::Stdio {
            spec: spec.clone(),
            limits,
            _lease: lease,
        };
        Ok(OwnPipe::with(source, first))
    }

    /// Opens the session's first connection to a legacy HTTP+SSE server.
    pub(crate) async fn legacy_sse(
        upstream: &LegacySseUpstream,
        server: &str,
    ) -> Result<Self, UpstreamError> {
        let first = PipeLink::legacy_sse(upstream, server).await?;
        let source = PipeSource::LegacySse {
            upstream: upstream.clone(),
            server: server.to_owned(),
        };
        Ok(OwnPipe::with(source, first))
    }

    fn with(source: PipeSource, first: PipeLink) -> Self {
        let first = first.noting_on_exit(source.next_request());
        OwnPipe {
            source,
            current: Mutex::new(Arc::new(first)),
            handshake: Mutex::default(),
            replacing: tokio::sync::Mutex::new(()),
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.current.lock().pid()
    }

    pub async fn request(
        &self,
        message: Bytes,
        id: &RawValue,
        progress_token: Option<Box<RawValue>>,
    ) -> Result<ReplyStream, UpstreamError> {
        if Message::parse(&message).is_ok_and(|m| m.method() == "initialize") {
            // A copy of its own: a slice would keep the whole request buffer alive.
            self.handshake.lock().initialize = Some(Bytes::copy_from_slice(&message));
        }
        let link = self.live().await?;
        link.request(message, id, progress_token).await
    }

    /// A notification or an answer to a server request. One for a pipe that has ended is
    /// dropped: it was meant for the server at its other end.
    pub async fn send(&self, message: &[u8]) -> Result<(), UpstreamError> {
        if Message::parse(message).is_ok_and(|m| m.method() == "notifications/initialized") {
            self.handshake.lock().initialized = true;
        }
        let link = self.current.lock().clone();
        if link.is_closed() {
            return Ok(());
        }
        link.send(message).await
    }

    /// The session's standalone stream, on a live pipe.
    pub async fn open_stream(&self) -> Result<Option<MessageStream>, UpstreamError> {
        Ok(self.live().await?.take_standalone())
    }

    pub async fn close(&self) {
        let link = self.current.lock().clone();
        link.close().await;
    }

    /// The pipe, opened again first if it has ended.
    async fn live(&self) -> Result<Arc<PipeLink>, UpstreamError> {
        let link = self.current.lock().clone();
        if !link.is_closed() {
            return Ok(link);
        }
        let _one = self.replacing.lock().await;
        let link = self.current.lock().clone();
        if !link.is_closed() {
            return Ok(link);
        }
        let server = self.source.server();
        let fresh = Arc::new(self.source.open().await?);
        let (initialize, initialized) = {
            let h = self.handshake.lock();
            (h.initialize.clone(), h.initialized)
        };
        if let Some(initialize) = initialize {
            replay(&fresh, &initialize, initialized)
                .await
                .map_err(|why| {
                    UpstreamError::Closed(format!(
                        "server {server} went away, and what was opened again for this session failed to initialize: {why}"
                    ))
                })?;
        }
        tracing::info!(server = %server, pid = ?fresh.pid(), "a session's pipe to its server had ended; a new one took its place");
        *self.current.lock() = fresh.clone();
        Ok(fresh)
    }
}

/// The session's `initialize` (under an id of the gateway's), then `notifications/initialized`
/// if the session had sent it.
async fn replay(link: &PipeLink, initialize: &[u8], initialized: bool) -> Result<(), String> {
    let mut request: serde_json::Value =
        serde_json::from_slice(initialize).map_err(|e| e.to_string())?;
    let id = format!(
        "\"toolgate-reinit-{}\"",
        REPLAYS.fetch_add(1, Ordering::Relaxed)
    );
    request["id"] = serde_json::from_str(&id).map_err(|e| e.to_string())?;
    let raw_id = RawValue::from_string(id).map_err(|e| e.to_string())?;
    let body = Bytes::from(serde_json::to_vec(&request).map_err(|e| e.to_string())?);
    let answered = async {
        let mut reply = link
            .request(body, &raw_id, None)
            .await
            .map_err(|e| e.to_string())?;
        while let Some(message) = reply.messages.next().await {
            let message = message.map_err(|e| e.to_string())?;
            let Ok(parsed) = Message::parse(&message) else {
                continue;
            };
            if parsed.id.map(RawValue::get) != Some(raw_id.get()) {
                continue;
            }
            return match parsed.kind {
                Kind::Result => Ok(()),
                _ => Err(format!(
                    "it answered {}",
                    parsed.error.map_or("an error", RawValue::get)
                )),
            };
        }
        Err("it ended before answering initialize".to_owned())
    };
    tokio::time::timeout(INITIALIZE_TIMEOUT, answered)
        .await
        .map_err(|_| format!("no answer to initialize within {INITIALIZE_TIMEOUT:?}"))??;
    if initialized {
        link.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
