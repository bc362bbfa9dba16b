//! `/mcp`: the aggregate endpoint over HTTP. Every server a grant reaches behind one session: the
//! pipeline answers `initialize`, `ping` and the merged lists itself and routes every other
//! request to the one server that owns its tool, prompt or resource
//! ([`crate::aggregate::route`]), after the same decision as on `/mcp/<server>`.

#![allow(clippy::result_large_err)]

use super::mcp::{accepts_sse, authenticate, header_str, read_message, rejection_response};
use super::posted::Posted;
use super::respond::{self, json_response, rpc_error};
use crate::Gateway;
use crate::aggregate::session::AggregateSession;
use crate::identity::Caller;
use crate::pipeline::{Context, Target, open, streams};
use crate::rejection::Rejection;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use toolgate_mcp::SESSION_HEADER;
use toolgate_mcp::jsonrpc::{Kind, Message, codes};

fn find_session(
    gw: &Gateway,
    headers: &HeaderMap,
    caller: &Caller,
) -> Result<Option<Arc<AggregateSession>>, Response> {
    let Some(id) = header_str(headers, SESSION_HEADER) else {
        return Ok(None);
    };
    match gw.aggregates.get(id) {
        Some(s) if s.caller.identity.grant == caller.identity.grant => Ok(Some(s)),
        _ => Err(rejection_response(&Rejection::UnknownSession)),
    }
}

pub async fn post(State(gw): State<Arc<Gateway>>, Posted { headers, body }: Posted) -> Response {
    let caller = match authenticate(&gw, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let msg = match read_message(&headers, &body) {
        Ok(m) => m,
        Err(rejection) => return respond::reply(gw.pipeline.unreadable(&caller, "", &rejection)),
    };
    if let Some(refused) = gw.pipeline.too_long(&caller, "", &msg) {
        return respond::reply(refused);
    }
    let session = match find_session(&gw, &headers, &caller) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(session) = session else {
        if msg.kind == Kind::Request && msg.method() == "initialize" {
            return initialize(&gw, caller, &msg).await;
        }
        return match gw.pipeline.sessionless(&caller, "", &msg) {
            Some(reply) => respond::reply(reply),
            None => rejection_response(&Rejection::SessionRequired),
        };
    };
    let cx = Context {
        caller: &session.caller,
        session: &session.id,
        streams: accepts_sse(&headers),
        upstream_timeout: gw.state().settings.upstream_timeout,
        target: Target::Aggregate {
            gw: &gw,
            session: &session,
        },
    };
    respond::reply(gw.pipeline.handle(&cx, &msg, body.clone()).await)
}

/// `initialize` without a session: the gateway opens one with every server the grant reaches and
/// answers itself, with the new session id.
async fn initialize(gw: &Arc<Gateway>, caller: Arc<Caller>, msg: &Message<'_>) -> Response {
    let slot = match crate::limits::sessions::open(gw, &caller, "") {
        Ok(slot) => slot,
        Err(r) => return r,
    };
    let (session, answer) = open::aggregate_session(gw, caller, msg, slot).await;
    let mut r = json_response(StatusCode::OK, answer);
    if let Ok(v) = HeaderValue::from_str(&session.id) {
        r.headers_mut().insert(SESSION_HEADER, v);
    }
    r
}

pub async fn get(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let caller = match authenticate(&gw, &headers).await {
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
    let session = match respond::required_session(find_session(&gw, &headers, &caller)) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let slot = match crate::limits::streams::open(&gw, &caller, "", &session.id) {
        Ok(slot) => slot,
        Err(r) => return r,
    };
    match streams::of_aggregate(&gw, &session).await {
        Some(messages) => slot.hold(respond::sse_messages(messages)),
        None => (
            StatusCode::METHOD_NOT_ALLOWED,
            "no server offers a standalone stream",
        )
            .into_response(),
    }
}

pub async fn delete(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let caller = match authenticate(&gw, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let session = match respond::required_session(find_session(&gw, &headers, &caller)) {
        Ok(s) => s,
        Err(r) => return r,
    };
    open::close_aggregate_session(&gw, &session).await;
    StatusCode::OK.into_response()
}
