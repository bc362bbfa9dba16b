//! Turning the gateway's answers and an upstream's reply into HTTP responses: JSON when the answer
//! is one message, an SSE stream when the server streams or sends anything before the answer.
//! Shared by the single-server and the aggregate endpoints.

use crate::Gateway;
use crate::relay::{self, Pending};
use crate::upstream::{MessageStream, ReplyStream, UpstreamLink};
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::value::RawValue;
use std::sync::Arc;
use tokio::time::Instant;
use toolgate_mcp::jsonrpc::{self, Kind, Message, codes};
use toolgate_mcp::sse;

/// A JSON-RPC error with no id, as an HTTP response with `status`.
pub fn rpc_error(status: StatusCode, code: i64, message: &str) -> Response {
    json_response(status, jsonrpc::error_response(None, code, message))
}

pub fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.into(),
    )
        .into_response()
}

/// A JSON answer sent as the buffers it is made of, without joining them.
pub fn json_parts_response<const N: usize>(parts: [Bytes; N]) -> Response {
    json_response(
        StatusCode::OK,
        Body::new(super::parts_body::PartsBody::new(parts)),
    )
}

pub fn sse_response(body: Body) -> Response {
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// A session a GET or DELETE must name: a missing `Mcp-Session-Id` is a 400.
#[allow(clippy::result_large_err)] // the rejection is a ready response, built on the cold path
pub fn required_session<T>(found: Result<Option<T>, Response>) -> Result<T, Response> {
    found?.ok_or_else(|| {
        rpc_error(
            StatusCode::BAD_REQUEST,
            codes::INVALID_REQUEST,
            "missing Mcp-Session-Id",
        )
    })
}

/// Marks a response that carried a JSON-RPC error or no answer at all (an `initialize` that
/// failed must not leave a session behind).
#[derive(Clone, Copy)]
pub struct Failed;

/// Marks a response whose upstream link failed (the aggregate endpoint then reconnects).
#[derive(Clone, Copy)]
pub struct UpstreamDown;

/// A change applied to every message relayed from the upstream to the client (the aggregate
/// endpoint rewrites server-request ids and resource URIs).
pub type Rewrite = Arc<dyn Fn(Bytes) -> Bytes + Send + Sync>;

/// One request on its way upstream.
pub struct Outbound<'a> {
    pub link: &'a UpstreamLink,
    pub server: &'a str,
    pub body: Bytes,
    pub id: Box<RawValue>,
    pub progress_token: Option<Box<RawValue>>,
    pub pending: Pending,
    pub protocol_version: Option<&'a str>,
    pub client_accepts_sse: bool,
    pub rewrite: Option<Rewrite>,
}

/// The JSON-RPC error a client gets when its request could not be answered upstream.
pub fn upstream_failed(id: &RawValue, message: &str) -> Response {
    let mut r = json_response(
        StatusCode::OK,
        jsonrpc::error_response(Some(id), codes::UPSTREAM_UNAVAILABLE, message),
    );
    r.extensions_mut().insert(Failed);
    r
}

/// What an SSE stream carries in place of a dropped stray response: a comment, which clients
/// ignore.
const STRAY_RESPONSE_DROPPED: &[u8] = b": dropped a stray response\n\n";

fn is_response(msg: &[u8]) -> bool {
    Message::parse(msg).is_ok_and(|m| m.is_response())
}

fn is_error(msg: &[u8]) -> bool {
    Message::parse(msg).is_ok_and(|m| m.kind == Kind::Error)
}

/// Forwards a request and relays what comes back.
pub async fn forward(gw: &Arc<Gateway>, out: Outbound<'_>) -> Response {
    let Outbound {
        link,
        server,
        body,
        id,
        progress_token,
        pending,
        protocol_version,
        client_accepts_sse,
        rewrite,
    } = out;
    let mut pending = InFlight::new(gw, pending);
    let deadline = Instant::now() + gw.state().settings.upstream_timeout;
    let reply = match tokio::time::timeout_at(
        deadline,
        link.request(body, &id, progress_token, protocol_version),
    )
    .await
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            gw.relay.abandon(pending.take()).await;
            tracing::warn!(server, error = %e, "upstream request failed");
            let mut r = upstream_failed(&id, &format!("server {server} is unavailable: {e}"));
            r.extensions_mut().insert(UpstreamDown);
            return r;
        }
        Err(_) => {
            gw.relay.abandon(pending.take()).await;
            return upstream_failed(&id, &format!("server {server} did not answer in time"));
        }
    };
    let ReplyStream {
        mut messages,
        streaming,
    } = reply;
    let apply = |m: Bytes| match &rewrite {
        Some(f) => f(m),
        None => m,
    };
    let first = match tokio::time::timeout_at(deadline, messages.next()).await {
        Ok(Some(Ok(m))) => apply(m),
        Ok(Some(Err(e))) => {
            gw.relay.abandon(pending.take()).await;
            return upstream_failed(&id, &format!("server {server} failed: {e}"));
        }
        Ok(None) => {
            gw.relay.abandon(pending.take()).await;
            return upstream_failed(&id, &format!("server {server} closed without answering"));
        }
        Err(_) => {
            gw.relay.abandon(pending.take()).await;
            return upstream_failed(&id, &format!("server {server} did not answer in time"));
        }
    };
    if relay::is_response_to(&first, &id) && (!streaming || !client_accepts_sse) {
        let out = gw.relay.finish(pending.take(), first).await;
        let mut r = json_response(StatusCode::OK, out.clone());
        if is_error(&out) {
            r.extensions_mut().insert(Failed);
        }
        return r;
    }
    if !client_accepts_sse {
        // The client cannot take a stream: wait for the answer and drop what comes before it.
        let mut current = first;
        loop {
            if relay::is_response_to(&current, &id) {
                let out = gw.relay.finish(pending.take(), current).await;
                return json_response(StatusCode::OK, out);
            }
            gw.catalogue.observe(server, &current);
            current = match tokio::time::timeout_at(deadline, messages.next()).await {
                Ok(Some(Ok(m))) => apply(m),
                _ => {
                    gw.relay.abandon(pending.take()).await;
                    return upstream_failed(&id, &format!("server {server} did not answer"));
                }
            };
        }
    }
    let stream = relay_stream(RelayState {
        gw: gw.clone(),
        next: Some(first),
        rest: messages,
        id,
        pending,
        deadline,
        server: server.to_owned(),
        rewrite,
    });
    sse_response(Body::from_stream(stream))
}

/// A forwarded request while its answer is awaited. Dropped unfinished — the client went away,
/// and with it the handler or the stream that awaited the answer — it records the request as
/// abandoned ([`crate::relay::Relay::client_gone`]), so that every request is audited.
struct InFlight {
    gw: Arc<Gateway>,
    pending: Option<Pending>,
}

impl InFlight {
    fn new(gw: &Arc<Gateway>, pending: Pending) -> Self {
        InFlight {
            gw: gw.clone(),
            pending: Some(pending),
        }
    }

    /// The request, to be finished or abandoned now.
    fn take(&mut self) -> Pending {
        self.pending.take().expect("a request is finished once")
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            self.gw.relay.client_gone(pending);
        }
    }
}

struct RelayState {
    gw: Arc<Gateway>,
    next: Option<Bytes>,
    rest: MessageStream,
    id: Box<RawValue>,
    pending: InFlight,
    deadline: Instant,
    server: String,
    rewrite: Option<Rewrite>,
}

/// The SSE body of a streamed answer: every message as it arrives, the answer last (after its
/// pending work), or an error event if the server gives up or runs out of time.
fn relay_stream(
    state: RelayState,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    futures_util::stream::unfold(state, |mut st| async move {
        // Ended already. Otherwise the request stays in its guard while the next message is
        // awaited, so that a stream dropped meanwhile (the gateway stopping) still records it.
        st.pending.pending.as_ref()?;
        let msg = match st.next.take() {
            Some(m) => Ok(m),
            None => match tokio::time::timeout_at(st.deadline, st.rest.next()).await {
                Ok(Some(Ok(m))) => Ok(match &st.rewrite {
                    Some(f) => f(m),
                    None => m,
                }),
                Ok(Some(Err(e))) => Err(format!("server {} failed: {e}", st.server)),
                Ok(None) => Err(format!(
                    "server {} closed the stream without answering",
                    st.server
                )),
                Err(_) => Err(format!("server {} did not answer in time", st.server)),
            },
        };
        let pending = st.pending.take();
        match msg {
            Ok(m) if relay::is_response_to(&m, &st.id) => {
                let out = st.gw.relay.finish(pending, m).await;
                Some((Ok(sse::encode_message(&out)), st))
            }
            // A response to a request the gateway did not send on this stream is never relayed.
            Ok(m) if is_response(&m) => {
                tracing::warn!(server = %st.server, "dropped a response to a request the gateway did not send");
                st.pending.pending = Some(pending);
                Some((Ok(Bytes::from_static(STRAY_RESPONSE_DROPPED)), st))
            }
            Ok(m) => {
                st.gw.catalogue.observe(&st.server, &m);
                st.pending.pending = Some(pending);
                Some((Ok(sse::encode_message(&m)), st))
            }
            Err(reason) => {
                st.gw.relay.abandon(pending).await;
                let err =
                    jsonrpc::error_response(Some(&st.id), codes::UPSTREAM_UNAVAILABLE, &reason);
                Some((Ok(sse::encode_message(&err)), st))
            }
        }
    })
}

/// An SSE body of a server's own stream (GET), each message rewritten if asked.
pub fn stream_body(stream: MessageStream, rewrite: Option<Rewrite>) -> Body {
    let body = stream
        .take_while(|m| std::future::ready(m.is_ok()))
        .map(move |m| {
            let m = m.unwrap_or_default();
            let m = match &rewrite {
                Some(f) => f(m),
                None => m,
            };
            Ok::<_, std::convert::Infallible>(sse::encode_message(&m))
        });
    Body::from_stream(body)
}

/// How often a held call's client hears that it is still waiting.
const HOLD_PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// A call held for approval, for a client that sent a progress token and takes a stream: the
/// response starts at once as SSE with a progress notification every two seconds ("waiting for
/// approval, id …"), so clients whose timeouts reset on progress keep waiting; then it carries
/// the denial, or — once approved — whatever `go` relays from the server.
pub fn held_stream<F, Fut>(
    gw: Arc<Gateway>,
    held: Box<crate::relay::HeldCall>,
    token: Box<RawValue>,
    go: F,
) -> Response
where
    F: FnOnce(Pending) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Response> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let approval_id = held.approval.id.clone();
    tokio::spawn(async move {
        let resume = gw.relay.resume(held);
        tokio::pin!(resume);
        let mut ticks = tokio::time::interval(HOLD_PROGRESS_EVERY);
        let mut waited = 0u64;
        let outcome = loop {
            tokio::select! {
                outcome = &mut resume => break outcome,
                // The client went away: dropping `resume` records the call as abandoned.
                () = tx.closed() => return,
                _ = ticks.tick() => {
                    let note = serde_json::json!({
                        "jsonrpc": "2.0",
                        "method": "notifications/progress",
                        "params": {
                            "progressToken": serde_json::from_str::<serde_json::Value>(token.get()).unwrap_or_default(),
                            "progress": waited,
                            "message": format!("waiting for approval, id {approval_id}"),
                        },
                    });
                    waited += HOLD_PROGRESS_EVERY.as_secs();
                    if tx.send(sse::encode_message(note.to_string().as_bytes())).await.is_err() {
                        return;
                    }
                }
            }
        };
        match outcome {
            Err(answer) => {
                let _ = tx.send(sse::encode_message(&answer)).await;
            }
            Ok(pending) => {
                let response = go(pending).await;
                let is_sse = response
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
                let mut body = response.into_body().into_data_stream();
                if is_sse {
                    while let Some(Ok(chunk)) = body.next().await {
                        if tx.send(chunk).await.is_err() {
                            break;
                        }
                    }
                } else {
                    let mut all = Vec::new();
                    while let Some(Ok(chunk)) = body.next().await {
                        all.extend_from_slice(&chunk);
                    }
                    let _ = tx.send(sse::encode_message(&all)).await;
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    sse_response(Body::from_stream(stream))
}
