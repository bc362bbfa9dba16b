//! `/mcp/<server>`: MCP Streamable HTTP towards clients. POST carries one message and gets JSON
//! or an SSE stream back, GET opens the server's own stream, DELETE ends the session.
//!
//! Each POST goes through the same layers, in order:
//! origin check → content type → authenticate → server and grant → parse the envelope →
//! session → decide (relay::plan_request) → forward → relay the answer (relay::finish).

// Handlers reject with a ready `Response`, built once on the cold path; boxing it buys nothing.
#![allow(clippy::result_large_err)]

use super::origin::origin_allowed;
use crate::Gateway;
use crate::identity::AuthError;
use crate::relay::{self, Pending, Plan};
use crate::session::Session;
use crate::upstream::{MessageStream, ReplyStream};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::value::RawValue;
use std::sync::Arc;
use tokio::time::Instant;
use toolgate_mcp::jsonrpc::{self, Kind, Message, codes};
use toolgate_mcp::sse;
use toolgate_mcp::{PROTOCOL_VERSION_HEADER, SESSION_HEADER};

/// A JSON-RPC error with no id, as an HTTP response with `status`.
fn rpc_error(status: StatusCode, code: i64, message: &str) -> Response {
    json_response(status, jsonrpc::error_response(None, code, message))
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn sse_response(body: Body) -> Response {
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

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn accepts_sse(headers: &HeaderMap) -> bool {
    header_str(headers, "accept")
        .is_some_and(|a| a.contains("text/event-stream") || a.contains("*/*"))
}

/// The checks every method shares: origin, credentials, server, grant.
fn admit(
    gw: &Gateway,
    headers: &HeaderMap,
    server: &str,
) -> Result<Arc<crate::identity::Caller>, Response> {
    if !origin_allowed(headers, &gw.settings.allowed_origins) {
        return Err(rpc_error(
            StatusCode::FORBIDDEN,
            codes::INVALID_REQUEST,
            "origin not allowed",
        ));
    }
    let caller = gw
        .auth
        .authenticate(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()))
        .map_err(|e| {
            let mut r = rpc_error(
                StatusCode::UNAUTHORIZED,
                codes::INVALID_REQUEST,
                &e.to_string(),
            );
            let challenge = match e {
                AuthError::Missing => "Bearer",
                AuthError::Invalid => "Bearer error=\"invalid_token\"",
            };
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
            r
        })?;
    if !gw.servers.contains_key(server) {
        return Err(rpc_error(
            StatusCode::NOT_FOUND,
            codes::INVALID_REQUEST,
            &format!("no server named {server:?}"),
        ));
    }
    if !caller.may_reach(server) {
        return Err(rpc_error(
            StatusCode::FORBIDDEN,
            codes::INVALID_REQUEST,
            &format!(
                "grant {:?} may not reach server {server:?}",
                caller.identity.grant
            ),
        ));
    }
    Ok(caller)
}

/// The session a request names, if it exists, belongs to this server and to this grant.
fn find_session(
    gw: &Gateway,
    headers: &HeaderMap,
    server: &str,
    grant: &str,
) -> Result<Option<Arc<Session>>, Response> {
    let Some(id) = header_str(headers, SESSION_HEADER) else {
        return Ok(None);
    };
    match gw.sessions.get(id) {
        Some(s) if s.server.name == server && s.caller.identity.grant == grant => Ok(Some(s)),
        _ => Err(rpc_error(
            StatusCode::NOT_FOUND,
            codes::INVALID_REQUEST,
            "session not found",
        )),
    }
}

pub async fn post(
    State(gw): State<Arc<Gateway>>,
    Path(server): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match admit(&gw, &headers, &server) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let is_json = header_str(&headers, "content-type")
        .is_some_and(|c| c.trim_start().starts_with("application/json"));
    if !is_json {
        return rpc_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::INVALID_REQUEST,
            "Content-Type must be application/json",
        );
    }
    let msg = match Message::parse(&body) {
        Ok(m) => m,
        Err(e) => return rpc_error(StatusCode::BAD_REQUEST, e.code(), &e.to_string()),
    };
    let session = match find_session(&gw, &headers, &server, &caller.identity.grant) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let session = match session {
        Some(s) => s,
        None if msg.kind == Kind::Request && msg.method() == "initialize" => {
            return initialize(&gw, &server, caller, &msg, body.clone(), &headers).await;
        }
        None if msg.method() == "server/discover" => {
            let policy = gw.servers[&server].policy.load_full();
            if let Plan::Answer(a) =
                relay::plan_request(&gw.enforcer, &policy, &server, &caller, "", &msg).await
            {
                return json_response(StatusCode::OK, a);
            }
            unreachable!("server/discover is always answered by the gateway");
        }
        None => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                codes::INVALID_REQUEST,
                "missing Mcp-Session-Id: send initialize first",
            );
        }
    };
    let pv = header_str(&headers, PROTOCOL_VERSION_HEADER)
        .map(str::to_owned)
        .or_else(|| session.protocol_version());
    if msg.kind != Kind::Request {
        return match session.link.send(body.clone(), pv.as_deref()).await {
            Ok(()) => StatusCode::ACCEPTED.into_response(),
            Err(e) => rpc_error(
                StatusCode::BAD_GATEWAY,
                codes::UPSTREAM_UNAVAILABLE,
                &e.to_string(),
            ),
        };
    }
    let policy = session.server.policy.load_full();
    let plan = relay::plan_request(
        &gw.enforcer,
        &policy,
        &server,
        &session.caller,
        &session.id,
        &msg,
    )
    .await;
    let pending = match plan {
        Plan::Answer(bytes) => return json_response(StatusCode::OK, bytes),
        Plan::Forward(p) => p,
    };
    let id = msg.id.expect("requests have ids").to_owned();
    let token = msg.progress_token();
    drop(msg);
    forward(
        &gw,
        &session,
        body,
        id,
        token,
        pending,
        pv.as_deref(),
        accepts_sse(&headers),
    )
    .await
}

/// `initialize` without a session: open a link upstream, forward, and issue a session id.
async fn initialize(
    gw: &Arc<Gateway>,
    server: &str,
    caller: Arc<crate::identity::Caller>,
    msg: &Message<'_>,
    body: Bytes,
    headers: &HeaderMap,
) -> Response {
    let runtime = gw.servers[server].clone();
    let link = match runtime.connect() {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(server, error = %e, "cannot open upstream");
            return json_response(
                StatusCode::OK,
                jsonrpc::error_response(
                    msg.id,
                    codes::UPSTREAM_UNAVAILABLE,
                    &format!("server {server} is unavailable: {e}"),
                ),
            );
        }
    };
    let session = Arc::new(Session::new(runtime, caller, link));
    *session.protocol_version.lock() = requested_protocol_version(msg);
    gw.sessions.insert(session.clone());
    tracing::info!(server, session = %session.id, agent = %session.caller.identity.agent, "session opened");
    let id = msg.id.expect("requests have ids").to_owned();
    let pv = header_str(headers, PROTOCOL_VERSION_HEADER).map(str::to_owned);
    let mut response = forward(
        gw,
        &session,
        body,
        id,
        None,
        Pending::Plain,
        pv.as_deref(),
        accepts_sse(headers),
    )
    .await;
    let failed =
        response.status() != StatusCode::OK || response.extensions().get::<FailedInit>().is_some();
    if failed {
        gw.sessions.remove(&session.id);
        session.link.close(None).await;
        return response;
    }
    if let Ok(v) = HeaderValue::from_str(&session.id) {
        response.headers_mut().insert(SESSION_HEADER, v);
    }
    response
}

/// Marks a JSON response that carried a JSON-RPC error or no answer at all.
#[derive(Clone, Copy)]
struct FailedInit;

fn requested_protocol_version(msg: &Message<'_>) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct P {
        #[serde(rename = "protocolVersion")]
        v: Option<String>,
    }
    serde_json::from_str::<P>(msg.params?.get()).ok()?.v
}

/// Forwards a request and relays what comes back: JSON when the answer is one message, SSE when
/// the server streams or sends anything before the answer.
#[allow(clippy::too_many_arguments)]
async fn forward(
    gw: &Arc<Gateway>,
    session: &Arc<Session>,
    body: Bytes,
    id: Box<RawValue>,
    token: Option<Box<RawValue>>,
    pending: Pending,
    pv: Option<&str>,
    client_accepts_sse: bool,
) -> Response {
    let deadline = Instant::now() + gw.settings.upstream_timeout;
    let server = &session.server.name;
    let reply =
        match tokio::time::timeout_at(deadline, session.link.request(body, &id, token, pv)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                relay::abandon(&gw.enforcer, pending).await;
                tracing::warn!(server = %server, error = %e, "upstream request failed");
                return upstream_failed(&id, &format!("server {server} is unavailable: {e}"));
            }
            Err(_) => {
                relay::abandon(&gw.enforcer, pending).await;
                return upstream_failed(&id, &format!("server {server} did not answer in time"));
            }
        };
    let ReplyStream {
        mut messages,
        streaming,
    } = reply;
    let first = match tokio::time::timeout_at(deadline, messages.next()).await {
        Ok(Some(Ok(m))) => m,
        Ok(Some(Err(e))) => {
            relay::abandon(&gw.enforcer, pending).await;
            return upstream_failed(&id, &format!("server {server} failed: {e}"));
        }
        Ok(None) => {
            relay::abandon(&gw.enforcer, pending).await;
            return upstream_failed(&id, &format!("server {server} closed without answering"));
        }
        Err(_) => {
            relay::abandon(&gw.enforcer, pending).await;
            return upstream_failed(&id, &format!("server {server} did not answer in time"));
        }
    };
    if relay::is_response_to(&first, &id) && (!streaming || !client_accepts_sse) {
        let out = relay::finish(&gw.enforcer, pending, first).await;
        let mut r = json_response(StatusCode::OK, out.to_vec());
        if is_error(&out) {
            r.extensions_mut().insert(FailedInit);
        }
        return r;
    }
    if !client_accepts_sse {
        // The client cannot take a stream: wait for the answer and drop what comes before it.
        let mut current = first;
        loop {
            if relay::is_response_to(&current, &id) {
                let out = relay::finish(&gw.enforcer, pending, current).await;
                return json_response(StatusCode::OK, out.to_vec());
            }
            current = match tokio::time::timeout_at(deadline, messages.next()).await {
                Ok(Some(Ok(m))) => m,
                _ => {
                    relay::abandon(&gw.enforcer, pending).await;
                    return upstream_failed(&id, &format!("server {server} did not answer"));
                }
            };
        }
    }
    let stream = relay_stream(
        gw.clone(),
        first,
        messages,
        id,
        pending,
        deadline,
        server.clone(),
    );
    sse_response(Body::from_stream(stream))
}

fn is_error(msg: &[u8]) -> bool {
    Message::parse(msg).is_ok_and(|m| m.kind == Kind::Error)
}

fn upstream_failed(id: &RawValue, message: &str) -> Response {
    let mut r = json_response(
        StatusCode::OK,
        jsonrpc::error_response(Some(id), codes::UPSTREAM_UNAVAILABLE, message),
    );
    r.extensions_mut().insert(FailedInit);
    r
}

/// The SSE body of a streamed answer: every message as it arrives, the answer last (after its
/// pending work), or an error event if the server gives up or runs out of time.
fn relay_stream(
    gw: Arc<Gateway>,
    first: Bytes,
    rest: MessageStream,
    id: Box<RawValue>,
    pending: Pending,
    deadline: Instant,
    server: String,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    struct State {
        gw: Arc<Gateway>,
        next: Option<Bytes>,
        rest: MessageStream,
        id: Box<RawValue>,
        pending: Option<Pending>,
        deadline: Instant,
        server: String,
    }
    let state = State {
        gw,
        next: Some(first),
        rest,
        id,
        pending: Some(pending),
        deadline,
        server,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        let pending = st.pending.take()?;
        let msg = match st.next.take() {
            Some(m) => Ok(m),
            None => match tokio::time::timeout_at(st.deadline, st.rest.next()).await {
                Ok(Some(Ok(m))) => Ok(m),
                Ok(Some(Err(e))) => Err(format!("server {} failed: {e}", st.server)),
                Ok(None) => Err(format!(
                    "server {} closed the stream without answering",
                    st.server
                )),
                Err(_) => Err(format!("server {} did not answer in time", st.server)),
            },
        };
        match msg {
            Ok(m) if relay::is_response_to(&m, &st.id) => {
                let out = relay::finish(&st.gw.enforcer, pending, m).await;
                Some((Ok(sse::encode_message(&out)), st))
            }
            Ok(m) => {
                st.pending = Some(pending);
                Some((Ok(sse::encode_message(&m)), st))
            }
            Err(reason) => {
                relay::abandon(&st.gw.enforcer, pending).await;
                let err =
                    jsonrpc::error_response(Some(&st.id), codes::UPSTREAM_UNAVAILABLE, &reason);
                Some((Ok(sse::encode_message(&err)), st))
            }
        }
    })
}

pub async fn get(
    State(gw): State<Arc<Gateway>>,
    Path(server): Path<String>,
    headers: HeaderMap,
) -> Response {
    let caller = match admit(&gw, &headers, &server) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !accepts_sse(&headers) {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            codes::INVALID_REQUEST,
            "GET needs Accept: text/event-stream",
        );
    }
    let session = match find_session(&gw, &headers, &server, &caller.identity.grant) {
        Ok(Some(s)) => s,
        Ok(None) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                codes::INVALID_REQUEST,
                "missing Mcp-Session-Id",
            );
        }
        Err(r) => return r,
    };
    let pv = header_str(&headers, PROTOCOL_VERSION_HEADER)
        .map(str::to_owned)
        .or_else(|| session.protocol_version());
    match session.link.open_stream(pv.as_deref()).await {
        Ok(Some(stream)) => {
            let body = stream
                .take_while(|m| std::future::ready(m.is_ok()))
                .map(|m| {
                    Ok::<_, std::convert::Infallible>(sse::encode_message(&m.unwrap_or_default()))
                });
            sse_response(Body::from_stream(body))
        }
        Ok(None) => (
            StatusCode::METHOD_NOT_ALLOWED,
            "this server offers no standalone stream",
        )
            .into_response(),
        Err(e) => rpc_error(
            StatusCode::BAD_GATEWAY,
            codes::UPSTREAM_UNAVAILABLE,
            &e.to_string(),
        ),
    }
}

pub async fn delete(
    State(gw): State<Arc<Gateway>>,
    Path(server): Path<String>,
    headers: HeaderMap,
) -> Response {
    let caller = match admit(&gw, &headers, &server) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let session = match find_session(&gw, &headers, &server, &caller.identity.grant) {
        Ok(Some(s)) => s,
        Ok(None) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                codes::INVALID_REQUEST,
                "missing Mcp-Session-Id",
            );
        }
        Err(r) => return r,
    };
    gw.sessions.remove(&session.id);
    session
        .link
        .close(session.protocol_version().as_deref())
        .await;
    tracing::info!(server = %server, session = %session.id, "session closed by client");
    StatusCode::OK.into_response()
}
