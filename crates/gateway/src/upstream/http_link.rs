//! A client session's session on a Streamable HTTP server.

use super::ReplyStream;
use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use parking_lot::Mutex;
use toolgate_mcp::jsonrpc::Message;
use toolgate_mcp::upstream::UpstreamError;
use toolgate_mcp::upstream::http::{HttpUpstream, MessageStream, PostReply, Reply};

/// A session on a Streamable HTTP server. It remembers the client's `initialize` so that when
/// the server forgets the session (it restarted, or expired it), the link opens a new one
/// transparently and retries the request once: a request refused for an unknown session never
/// reached a handler, so the retry cannot run anything twice.
///
/// It also opens the server's standalone stream as soon as the session is initialized, before the
/// client asks for it: servers send requests there (`roots/list` right after the handshake, for
/// one) and drop them when no stream is open, so waiting for the client's GET to travel through
/// the gateway would lose them.
pub struct HttpLink {
    upstream: HttpUpstream,
    session: Mutex<Option<String>>,
    initialize: Mutex<Option<Bytes>>,
    reinit: tokio::sync::Mutex<()>,
    early_stream: Mutex<Option<EarlyStream>>,
}

/// A standalone stream opened ahead of the client's GET, on the session it was opened for.
struct EarlyStream {
    session: String,
    stream: MessageStream,
}

/// How long the handshake's last step may wait for the server to open its stream.
const EARLY_STREAM_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl HttpLink {
    pub async fn request(
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
    pub async fn post(&self, message: Bytes, pv: Option<&str>) -> Result<PostReply, UpstreamError> {
        let session = self.session.lock().clone();
        if session.is_none() && self.initialize.lock().is_none() {
            // A copy of its own: a slice would keep the whole request buffer alive as long as
            // the session lives.
            *self.initialize.lock() = Some(Bytes::copy_from_slice(&message));
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

    /// Posts a notification or a response; after the client's `notifications/initialized`, also
    /// opens the server's stream (requests never go this way, so calls pay nothing for it).
    pub async fn send(&self, message: Bytes, pv: Option<&str>) -> Result<(), UpstreamError> {
        let completes_handshake = is_initialized_notification(&message);
        let reply = self.post(message, pv).await?;
        if completes_handshake && matches!(reply.reply, Reply::Accepted) {
            self.open_stream_early(pv).await;
        }
        Ok(())
    }

    /// Opens the standalone stream of the current session now, so that it exists before the
    /// client learns the handshake is complete. A server without one (405) or a slow one only
    /// means the client's own GET will open it later.
    async fn open_stream_early(&self, pv: Option<&str>) {
        let Some(session) = self.session.lock().clone() else {
            return;
        };
        let opening = self.upstream.open_stream(Some(&session), pv);
        match tokio::time::timeout(EARLY_STREAM_WAIT, opening).await {
            Ok(Ok(Some(stream))) => {
                *self.early_stream.lock() = Some(EarlyStream { session, stream });
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "opening the server's stream early failed"),
            Err(_) => tracing::debug!("the server did not open its stream in time"),
        }
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

impl HttpLink {
    pub fn new(upstream: HttpUpstream) -> Self {
        HttpLink {
            upstream,
            session: Mutex::new(None),
            initialize: Mutex::new(None),
            reinit: tokio::sync::Mutex::new(()),
            early_stream: Mutex::new(None),
        }
    }

    pub fn url(&self) -> &str {
        self.upstream.url()
    }

    /// The server's own stream on the current session: the one opened early when it is still
    /// for this session and open, otherwise a new one.
    pub async fn open_stream(
        &self,
        pv: Option<&str>,
    ) -> Result<Option<MessageStream>, UpstreamError> {
        let session = self.session.lock().clone();
        let early = self.early_stream.lock().take();
        if let Some(early) = early
            && session.as_deref() == Some(early.session.as_str())
        {
            return Ok(Some(early.stream));
        }
        self.upstream.open_stream(session.as_deref(), pv).await
    }

    /// Ends the upstream session.
    pub async fn close(&self, pv: Option<&str>) {
        self.early_stream.lock().take();
        let session = self.session.lock().take();
        if let Some(s) = session {
            if let Err(e) = self.upstream.delete(&s, pv).await {
                tracing::debug!(error = %e, "ending the upstream session failed");
            }
        }
    }
}

/// Whether a client message is the `notifications/initialized` that completes the handshake.
fn is_initialized_notification(message: &[u8]) -> bool {
    Message::parse(message).is_ok_and(|m| m.method() == "notifications/initialized")
}
