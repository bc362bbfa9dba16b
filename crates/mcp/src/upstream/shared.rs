//! The client-facing side of a shared stdio server: what a gateway session calls to send a
//! request, a notification or an answer to a server request through the one child that every
//! session shares. Ids and progress tokens are renamed on the way in and restored on the way out
//! (see [`super::mux`] for how the child's messages are routed).

use super::UpstreamError;
use super::supervisor::{Run, SupervisedStdio, SupervisedStdioError, lock};
use crate::jsonrpc::{Kind, Message, result_response};
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use std::fmt;
use std::sync::Arc;
use tokio::time::Instant;

/// The messages relayed for one request, ending with its response (or with an error if the
/// child dies first). The same shape as the gateway's `upstream::MessageStream`, so a shared
/// child slots in where a per-session child was.
pub type ReplyStream = BoxStream<'static, Result<Bytes, UpstreamError>>;

/// Which client session a message comes from. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey(Arc<str>);

impl SessionKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SessionKey {
    fn from(s: &str) -> Self {
        SessionKey(s.into())
    }
}

impl From<String> for SessionKey {
    fn from(s: String) -> Self {
        SessionKey(s.into())
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl SupervisedStdio {
    /// Sends a client request. Its id and `params._meta.progressToken` are renamed for the child
    /// and restored in everything the stream yields; the stream ends after the response. Waits
    /// up to `ready_timeout` for a (re)starting child; fails at once when it is parked or
    /// stopped, and the stream yields an error at once if the child dies before answering.
    /// A client's `initialize` never reaches the child: it is answered with the child's cached
    /// `InitializeResult`. Dropping the stream early cancels the request upstream.
    pub async fn request(
        &self,
        session: SessionKey,
        message: Bytes,
    ) -> Result<ReplyStream, UpstreamError> {
        let parsed = Message::parse(&message).map_err(|e| self.invalid(e.to_string()))?;
        let (Kind::Request, Some(id)) = (parsed.kind, parsed.id) else {
            return Err(self.invalid("expected a request".into()).into());
        };
        if parsed.method() == "initialize" {
            let result = self.initialize_result().await?;
            let answer = result_response(id, &String::from_utf8_lossy(&result));
            return Ok(stream::iter([Ok(Bytes::from(answer))]).boxed());
        }
        let deadline = Instant::now() + self.inner.options.ready_timeout;
        loop {
            let run = self.inner.ready(deadline).await?;
            let registered = match run.mux.register(Some(session.clone()), &message) {
                Ok(r) => r,
                // The child died between `ready` and now: wait for the next one.
                Err(SupervisedStdioError::Closed { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            let guard = AbandonOnDrop {
                run: run.clone(),
                upstream_id: registered.upstream_id,
            };
            // Refused: the guard forgets the request. A child whose input just closed is going
            // away: the request waits until the supervisor has seen it go, then for the next one.
            match run.send(registered.message) {
                Ok(()) => {}
                Err(UpstreamError::Closed(_)) => {
                    drop(guard);
                    self.inner.gone(&run, deadline).await?;
                    continue;
                }
                Err(e) => return Err(e),
            }
            let messages = stream::unfold(
                (registered.replies, guard),
                |(mut replies, guard)| async move {
                    replies.recv().await.map(|m| (m, (replies, guard)))
                },
            );
            return Ok(messages.boxed());
        }
    }

    /// Forwards a client notification. `notifications/initialized` is swallowed (the gateway
    /// initialized the child itself); `notifications/cancelled` is renamed to the upstream id of
    /// the session's request, ends that request's stream, and is dropped if the request is
    /// unknown. Does not start an idle child; dropped while the child is down.
    pub async fn notify(&self, session: &SessionKey, message: Bytes) -> Result<(), UpstreamError> {
        let Some(run) = self.current() else {
            return Ok(());
        };
        if let Some(renamed) = run.mux.client_notification(session, &message)? {
            let _ = run.send(renamed);
        }
        Ok(())
    }

    /// Forwards a client's answer to a server request it received (relayed with an id of the
    /// form `"toolgate-<n>"`), with the server's own id restored. An answer to a request relayed
    /// to another session, or to a child that has since exited, is refused.
    pub async fn respond(&self, session: &SessionKey, message: Bytes) -> Result<(), UpstreamError> {
        let run = self.current().ok_or_else(|| self.inner.error_closed())?;
        let renamed = run.mux.client_response(session, &message)?;
        run.send(renamed)
    }

    /// Forgets a closed session: its requests in flight are cancelled upstream and their
    /// streams end; server requests relayed to it are answered with an error.
    pub fn close_session(&self, session: &SessionKey) {
        if let Some(run) = self.current() {
            for message in run.mux.close_session(session) {
                let _ = run.send(message);
            }
        }
    }

    /// Requests in flight on the running child (the gateway's own included).
    pub fn in_flight(&self) -> usize {
        self.current().map_or(0, |run| run.mux.in_flight())
    }

    fn current(&self) -> Option<Arc<Run>> {
        lock(&self.inner.current).clone()
    }

    fn invalid(&self, reason: String) -> SupervisedStdioError {
        SupervisedStdioError::InvalidMessage {
            server: self.inner.server.to_string(),
            reason,
        }
    }
}

/// Cancels a request upstream when its stream is dropped before the answer arrived.
struct AbandonOnDrop {
    run: Arc<Run>,
    upstream_id: u64,
}

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        if let Some(cancel) = self.run.mux.abandon(self.upstream_id) {
            let _ = self.run.send(cancel);
        }
    }
}
