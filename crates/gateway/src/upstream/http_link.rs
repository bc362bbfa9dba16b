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
pub struct HttpLink {
    upstream: HttpUpstream,
    session: Mutex<Option<String>>,
    initialize: Mutex<Option<Bytes>>,
    reinit: tokio::sync::Mutex<()>,
}

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

impl HttpLink {
    pub fn new(upstream: HttpUpstream) -> Self {
        HttpLink {
            upstream,
            session: Mutex::new(None),
            initialize: Mutex::new(None),
            reinit: tokio::sync::Mutex::new(()),
        }
    }

    pub fn url(&self) -> &str {
        self.upstream.url()
    }

    /// Opens the server's own stream on the current session.
    pub async fn open_stream(
        &self,
        pv: Option<&str>,
    ) -> Result<Option<MessageStream>, UpstreamError> {
        let session = self.session.lock().clone();
        self.upstream.open_stream(session.as_deref(), pv).await
    }

    /// Ends the upstream session.
    pub async fn close(&self, pv: Option<&str>) {
        let session = self.session.lock().take();
        if let Some(s) = session {
            if let Err(e) = self.upstream.delete(&s, pv).await {
                tracing::debug!(error = %e, "ending the upstream session failed");
            }
        }
    }
}
