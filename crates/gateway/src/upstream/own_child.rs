//! A session's own stdio child (a server with `share = "session"`, a client that declares
//! capabilities, the gateway's own listing session), replaced when it dies. A crashed child
//! must not leave its session broken for good: the requests it had in flight get an error saying
//! it exited (and how), and the session's next request starts a new child, initialized with the
//! session's own `initialize` (and `notifications/initialized`) before the request goes on. The
//! child that died was reaped when it exited (see [`StdioChild`]'s keeper); whatever the server
//! kept for the session is gone, as after a restart.
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
use toolgate_mcp::upstream::stdio::StdioSpec;
use toolgate_mcp::upstream::{PeerLimits, UpstreamError};

/// What a request in flight on a child that died is told besides how it died.
const NEXT_REQUEST: &str = "; the session's next request starts a new child";

/// How long a new child may take to answer the session's `initialize`.
const INITIALIZE_TIMEOUT: Duration = Duration::from_secs(30);

/// Ids of the `initialize` requests the gateway replays to new children.
static REPLAYS: AtomicU64 = AtomicU64::new(1);

/// A session's own child, and what it takes to start another like it.
pub struct OwnChild {
    spec: StdioSpec,
    limits: PeerLimits,
    current: Mutex<Arc<PipeLink>>,
    handshake: Mutex<Handshake>,
    /// One replacement at a time, however many requests find the child dead.
    replacing: tokio::sync::Mutex<()>,
    /// The session's place among the server's children, whichever child fills it.
    _lease: ChildLease,
}

/// What the session said to initialize its child.
#[derive(Default)]
struct Handshake {
    initialize: Option<Bytes>,
    initialized: bool,
}

impl OwnChild {
    /// Starts the session's first child.
    pub(crate) fn start(
        spec: &StdioSpec,
        limits: PeerLimits,
        lease: ChildLease,
    ) -> Result<Self, UpstreamError> {
        let first = PipeLink::stdio_limited(spec, limits)?.noting_on_exit(NEXT_REQUEST);
        Ok(OwnChild {
            spec: spec.clone(),
            limits,
            current: Mutex::new(Arc::new(first)),
            handshake: Mutex::default(),
            replacing: tokio::sync::Mutex::new(()),
            _lease: lease,
        })
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

    /// A notification or an answer to a server request. One for a child that has died is
    /// dropped: it was meant for that child.
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

    /// The session's standalone stream, on a live child.
    pub async fn open_stream(&self) -> Result<Option<MessageStream>, UpstreamError> {
        Ok(self.live().await?.take_standalone())
    }

    pub async fn close(&self) {
        let link = self.current.lock().clone();
        link.close().await;
    }

    /// The child, replaced first if it has died.
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
        let server = &self.spec.server;
        let fresh = PipeLink::stdio_limited(&self.spec, self.limits)?.noting_on_exit(NEXT_REQUEST);
        let fresh = Arc::new(fresh);
        let (initialize, initialized) = {
            let h = self.handshake.lock();
            (h.initialize.clone(), h.initialized)
        };
        if let Some(initialize) = initialize {
            replay(&fresh, &initialize, initialized)
                .await
                .map_err(|why| {
                    UpstreamError::Closed(format!(
                        "server {server} exited, and the new child started for this session failed to initialize: {why}"
                    ))
                })?;
        }
        tracing::info!(server = %server, pid = ?fresh.pid(), "a session's stdio child had exited; a new one took its place");
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
        Err("it exited before answering initialize".to_owned())
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
