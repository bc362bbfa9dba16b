//! Forwarding a decided request on its route and relaying what comes back: the messages the
//! server sends before its answer (when the client takes them), then the answer, finished.
//! Only a response to the request the gateway sent ends it; any other response is dropped and
//! logged. A server that fails, closes or runs out of time fails the request at once with a
//! clear error, its record says so, and its quota goes back.

use super::Pipeline;
use super::finish::Pending;
use super::hold::Resumption;
use super::reply::Reply;
use super::target::Rewrite;
use crate::upstream::{MessageStream, ReplyStream};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::value::RawValue;
use std::sync::Arc;
use tokio::time::{Instant, timeout_at};
use toolgate_mcp::jsonrpc::{self, Message, codes};

impl Pipeline {
    /// Sends the request and relays the server's answer.
    pub(super) async fn forward(self: &Arc<Self>, pending: Pending, then: Resumption) -> Reply {
        let Resumption {
            route,
            id,
            progress_token,
            streams,
            upstream_timeout,
        } = then;
        let server = route.server.as_str();
        let deadline = Instant::now() + upstream_timeout;
        let sent = route.link.link().request(
            route.body.clone(),
            &id,
            progress_token,
            route.protocol_version.as_deref(),
        );
        let reply = match timeout_at(deadline, sent).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::warn!(server, error = %e, "upstream request failed");
                if let Some(aggregate) = &route.aggregate {
                    aggregate.mark_down(server, "the link to the server failed".into());
                }
                let why = format!("server {server} is unavailable: {e}");
                return Reply::Answer(self.failed(pending, &id, why).await);
            }
            Err(_) => {
                let why = format!("server {server} did not answer in time");
                return Reply::Answer(self.failed(pending, &id, why).await);
            }
        };
        let ReplyStream {
            mut messages,
            streaming,
        } = reply;
        let relayed = Relayed {
            server: route.server.clone(),
            id,
            deadline,
            rewrite: route.rewrite.clone(),
        };
        let first = match relayed.next(&mut messages).await {
            Ok(m) => m,
            Err(why) => return Reply::Answer(self.failed(pending, &relayed.id, why).await),
        };
        if is_response_to(&first, &relayed.id) && (!streaming || !streams) {
            return Reply::Answer(self.finish(pending, first).await);
        }
        if !streams {
            // The client takes the answer alone: what comes before it is not relayed.
            let mut current = first;
            loop {
                if is_response_to(&current, &relayed.id) {
                    return Reply::Answer(self.finish(pending, current).await);
                }
                self.observe(&relayed.server, &current);
                current = match relayed.next(&mut messages).await {
                    Ok(m) => m,
                    Err(why) => return Reply::Answer(self.failed(pending, &relayed.id, why).await),
                };
            }
        }
        let state = StreamState {
            pipeline: self.clone(),
            next: Some(first),
            rest: messages,
            pending: Some(pending),
            relayed,
        };
        Reply::Stream(futures_util::stream::unfold(state, StreamState::step).boxed())
    }

    /// The request got no answer: recorded as unavailable, its quota given back, and the client
    /// told why.
    async fn failed(&self, pending: Pending, id: &RawValue, why: String) -> Bytes {
        self.abandon(pending, &why).await;
        jsonrpc::error_response(Some(id), codes::UPSTREAM_UNAVAILABLE, &why).into()
    }

    /// A server message that is not the answer: the catalogue watches for list changes.
    fn observe(&self, server: &str, msg: &Bytes) {
        if let Some(c) = &self.enforcer.catalogue {
            c.observe(server, msg);
        }
    }
}

/// What relaying one request's messages needs.
struct Relayed {
    server: String,
    id: Box<RawValue>,
    deadline: Instant,
    rewrite: Option<Rewrite>,
}

impl Relayed {
    /// The server's next message, rewritten for the client; or why there is none.
    async fn next(&self, messages: &mut MessageStream) -> Result<Bytes, String> {
        let server = &self.server;
        match timeout_at(self.deadline, messages.next()).await {
            Ok(Some(Ok(m))) => Ok(match &self.rewrite {
                Some(f) => f(m),
                None => m,
            }),
            Ok(Some(Err(e))) => Err(format!("server {server} failed: {e}")),
            Ok(None) => Err(format!("server {server} closed without answering")),
            Err(_) => Err(format!("server {server} did not answer in time")),
        }
    }
}

/// A streamed answer in progress. Dropped before the answer (the client went away), its
/// pending request records itself as abandoned.
struct StreamState {
    pipeline: Arc<Pipeline>,
    next: Option<Bytes>,
    rest: MessageStream,
    pending: Option<Pending>,
    relayed: Relayed,
}

impl StreamState {
    /// The next message for the client: the server's messages as they come, its answer last
    /// (finished), or the error that ends the request.
    async fn step(mut self) -> Option<(Bytes, StreamState)> {
        self.pending.as_ref()?;
        loop {
            let msg = match self.next.take() {
                Some(m) => Ok(m),
                None => self.relayed.next(&mut self.rest).await,
            };
            let pending = self.pending.take().expect("an open request");
            match msg {
                Ok(m) if is_response_to(&m, &self.relayed.id) => {
                    let out = self.pipeline.finish(pending, m).await;
                    return Some((out, self));
                }
                // A response to a request the gateway did not send is never relayed.
                Ok(m) if is_response(&m) => {
                    tracing::warn!(server = %self.relayed.server, "dropped a response to a request the gateway did not send");
                    self.pending = Some(pending);
                }
                Ok(m) => {
                    self.pipeline.observe(&self.relayed.server, &m);
                    self.pending = Some(pending);
                    return Some((m, self));
                }
                Err(why) => {
                    let err = self.pipeline.failed(pending, &self.relayed.id, why).await;
                    return Some((err, self));
                }
            }
        }
    }
}

fn is_response(msg: &[u8]) -> bool {
    Message::parse(msg).is_ok_and(|m| m.is_response())
}

/// True when `msg` is the response to the request with raw id `id`.
fn is_response_to(msg: &[u8], id: &RawValue) -> bool {
    Message::parse(msg).is_ok_and(|m| m.is_response() && m.id.is_some_and(|i| i.get() == id.get()))
}
