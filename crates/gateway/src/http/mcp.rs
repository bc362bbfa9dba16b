//! `/mcp/<server>`: MCP Streamable HTTP towards clients. POST carries one message and gets JSON
//! or an SSE stream back, GET opens the server's own stream, DELETE ends the session.
//!
//! Each POST: strict headers and origin → authenticate → server and grant → read the message →
//! session → the pipeline ([`crate::pipeline::Pipeline::handle`]) → its reply as HTTP.

// Handlers reject with a ready `Response`, built once on the cold path; boxing it buys nothing.
#![allow(clippy::result_large_err)]

use super::headers::HostRule;
use super::origin::origin_allowed;
use super::posted::Posted;
use super::respond::{self, json_response, rpc_error};
use crate::Gateway;
use crate::pipeline::{Context, Target, open, streams};
use crate::rejection::Rejection;
use crate::session::Session;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::sync::Arc;
use toolgate_mcp::jsonrpc::{Kind, Message, codes};
use toolgate_mcp::{PROTOCOL_VERSION_HEADER, SESSION_HEADER};

pub(crate) fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub(crate) fn accepts_sse(headers: &HeaderMap) -> bool {
    header_str(headers, "accept")
        .is_some_and(|a| a.contains("text/event-stream") || a.contains("*/*"))
}

/// The checks every method shares: origin, credentials, server, grant.
async fn admit(
    gw: &Gateway,
    headers: &HeaderMap,
    server: &str,
) -> Result<Arc<crate::identity::Caller>, Response> {
    let caller = authenticate(gw, headers).await?;
    if !gw.state().servers.contains_key(server) {
        return Err(rejection_response(&Rejection::UnknownServer(
            server.to_owned(),
        )));
    }
    if !caller.may_reach(server) {
        return Err(rejection_response(&Rejection::ServerNotGranted {
            grant: caller.identity.grant.clone(),
            server: server.to_owned(),
        }));
    }
    Ok(caller)
}

/// A refusal before policy as an HTTP response: its status, its JSON-RPC error, and the
/// credentials challenge when it has one.
pub(crate) fn rejection_response(rejection: &Rejection) -> Response {
    let mut r = json_response(rejection.status(), rejection.to_jsonrpc(None));
    if let Some(challenge) = rejection.challenge() {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    r
}

/// The strict header checks, the origin check, then the bearer token resolved to a caller.
pub(crate) async fn authenticate(
    gw: &Gateway,
    headers: &HeaderMap,
) -> Result<Arc<crate::identity::Caller>, Response> {
    let state = gw.state();
    let settings = &state.settings;
    // The data plane speaks HTTP/1.1 only: every request must name its Host.
    let hosts = HostRule::new(settings.listen, &settings.allowed_hosts);
    if let Err(rejection) = super::headers::check(headers, http::Version::HTTP_11, &hosts) {
        return Err(rejection_response(&rejection));
    }
    if !origin_allowed(headers, &settings.allowed_origins) {
        return Err(rejection_response(&Rejection::OriginNotAllowed));
    }
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    state
        .auth
        .authenticate(authorization, crate::enforce::now_ms())
        .await
        .map_err(|e| rejection_response(&Rejection::Unauthenticated(e)))
}

/// The one JSON-RPC message a POST carries: declared as JSON and readable unambiguously.
pub(crate) fn read_message<'b>(
    headers: &HeaderMap,
    body: &'b [u8],
) -> Result<Message<'b>, Rejection> {
    let is_json = header_str(headers, "content-type")
        .is_some_and(|c| c.trim_start().starts_with("application/json"));
    if !is_json {
        return Err(Rejection::NotJson);
    }
    Message::parse(body).map_err(Rejection::Unreadable)
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
        _ => Err(rejection_response(&Rejection::UnknownSession)),
    }
}

pub async fn post(
    State(gw): State<Arc<Gateway>>,
    Path(server): Path<String>,
    Posted { headers, body }: Posted,
) -> Response {
    let caller = match admit(&gw, &headers, &server).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let msg = match read_message(&headers, &body) {
        Ok(m) => m,
        Err(rejection) => {
            return respond::reply(gw.pipeline.unreadable(&caller, &server, &rejection));
        }
    };
    if let Some(refused) = gw.pipeline.too_long(&caller, &server, &msg) {
        return respond::reply(refused);
    }
    let session = match find_session(&gw, &headers, &server, &caller.identity.grant) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(session) = session else {
        if msg.kind == Kind::Request && msg.method() == "initialize" {
            return initialize(&gw, &server, caller, &msg, body.clone(), &headers).await;
        }
        return match gw.pipeline.sessionless(&caller, &server, &msg) {
            Some(reply) => respond::reply(reply),
            None => rejection_response(&Rejection::SessionRequired),
        };
    };
    let pv = header_str(&headers, PROTOCOL_VERSION_HEADER)
        .map(str::to_owned)
        .or_else(|| session.protocol_version());
    let cx = Context {
        caller: &session.caller,
        session: &session.id,
        streams: accepts_sse(&headers),
        upstream_timeout: gw.state().settings.upstream_timeout,
        target: Target::Session {
            session: &session,
            protocol_version: pv.as_deref(),
        },
    };
    respond::reply(gw.pipeline.handle(&cx, &msg, body.clone()).await)
}

/// `initialize` without a session: a session is opened (within the grant's cap), the request
/// goes through the pipeline, and the answer carries the new session id — unless it failed.
async fn initialize(
    gw: &Arc<Gateway>,
    server: &str,
    caller: Arc<crate::identity::Caller>,
    msg: &Message<'_>,
    body: Bytes,
    headers: &HeaderMap,
) -> Response {
    let slot = match crate::limits::sessions::open(gw, &caller, server) {
        Ok(slot) => slot,
        Err(r) => return r,
    };
    let session = match open::server_session(gw, server, caller, msg, slot).await {
        Ok(s) => s,
        Err(answer) => return json_response(StatusCode::OK, answer),
    };
    let cx = Context {
        caller: &session.caller,
        session: &session.id,
        streams: accepts_sse(headers),
        upstream_timeout: gw.state().settings.upstream_timeout,
        target: Target::Session {
            session: &session,
            protocol_version: header_str(headers, PROTOCOL_VERSION_HEADER),
        },
    };
    let reply = gw.pipeline.handle(&cx, msg, body).await;
    if reply.is_error() {
        open::close_server_session(gw, &session).await;
        return respond::reply(reply);
    }
    let mut response = respond::reply(reply);
    if let Ok(v) = HeaderValue::from_str(&session.id) {
        response.headers_mut().insert(SESSION_HEADER, v);
    }
    response
}

pub async fn get(
    State(gw): State<Arc<Gateway>>,
    Path(server): Path<String>,
    headers: HeaderMap,
) -> Response {
    let caller = match admit(&gw, &headers, &server).await {
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
    let session = match respond::required_session(find_session(
        &gw,
        &headers,
        &server,
        &caller.identity.grant,
    )) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let slot = match crate::limits::streams::open(&gw, &caller, &server, &session.id) {
        Ok(slot) => slot,
        Err(r) => return r,
    };
    let pv = header_str(&headers, PROTOCOL_VERSION_HEADER)
        .map(str::to_owned)
        .or_else(|| session.protocol_version());
    match streams::of_session(&gw, &session, pv.as_deref()).await {
        Ok(Some(messages)) => slot.hold(respond::sse_messages(messages)),
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
    let caller = match admit(&gw, &headers, &server).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let session = match respond::required_session(find_session(
        &gw,
        &headers,
        &server,
        &caller.identity.grant,
    )) {
        Ok(s) => s,
        Err(r) => return r,
    };
    open::close_server_session(&gw, &session).await;
    tracing::info!(server = %server, session = %session.id, "session closed by client");
    StatusCode::OK.into_response()
}
