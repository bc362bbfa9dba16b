//! A client session's view of a stdio child it shares with the other sessions of its grant:
//! requests go through the supervisor's multiplexer (ids and progress tokens made unique upstream
//! and restored on the way back); the session's standalone stream carries what the server
//! broadcasts.

use super::stdio_pool::ChildLease;
use super::{MessageStream, ReplyStream};
use bytes::Bytes;
use futures_util::StreamExt;
use std::sync::Arc;
use tokio::sync::broadcast;
use toolgate_mcp::jsonrpc::{Kind, Message};
use toolgate_mcp::upstream::UpstreamError;
use toolgate_mcp::upstream::shared::SessionKey;
use toolgate_mcp::upstream::supervisor::SupervisedStdio;

pub struct SharedLink {
    supervisor: Arc<SupervisedStdio>,
    session: SessionKey,
    /// The session's share of the child, given back with the link.
    _lease: Option<ChildLease>,
}

impl SharedLink {
    pub fn new(supervisor: Arc<SupervisedStdio>, session: &str) -> Self {
        SharedLink {
            supervisor,
            session: SessionKey::from(session),
            _lease: None,
        }
    }

    /// The link, holding its share of the child until it is dropped.
    pub(crate) fn holding(mut self, lease: ChildLease) -> Self {
        self._lease = Some(lease);
        self
    }

    pub fn server(&self) -> &str {
        self.supervisor.server()
    }

    pub async fn request(&self, message: Bytes) -> Result<ReplyStream, UpstreamError> {
        let messages = self
            .supervisor
            .request(self.session.clone(), message)
            .await?;
        Ok(ReplyStream {
            messages,
            streaming: false,
        })
    }

    /// A client notification, or the client's answer to a server request.
    pub async fn send(&self, message: Bytes) -> Result<(), UpstreamError> {
        let is_response =
            Message::parse(&message).is_ok_and(|m| matches!(m.kind, Kind::Result | Kind::Error));
        if is_response {
            self.supervisor.respond(&self.session, message).await
        } else {
            self.supervisor.notify(&self.session, message).await
        }
    }

    /// What the server broadcasts (list changes, resource updates, requests outside any call).
    pub fn subscribe(&self) -> MessageStream {
        let rx = self.supervisor.subscribe();
        futures_util::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(m) => return Some((Ok(m), rx)),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "a slow client missed server notifications");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .boxed()
    }

    pub fn close(&self) {
        self.supervisor.close_session(&self.session);
    }
}
