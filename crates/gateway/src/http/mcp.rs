//! `/mcp/<server>`: MCP Streamable HTTP towards clients. POST carries one message and gets JSON
//! or an SSE stream back, GET opens the server's own stream, DELETE ends the session.
//!
//! Each POST goes through the same layers, in order:
//! origin check → content type → authenticate → server and grant → parse the envelope →
//! session → decide (relay::plan_request) → forward → relay the answer (relay::finish).

// Handlers reject with a ready `Response`, built once on the cold path; boxing it buys nothing.
#![allow(clippy::result_large_err)]

use super::headers::HostRule;
use super::origin::origin_allowed;
use super::posted::Posted;
use super::respond::{self, Failed, Outbound, json_response, rpc_error, sse_response};
use crate::Gateway;
use crate::rejection::Rejection;
use crate::relay::{NotificationPlan, Pending, Plan};
use crate::screen::Methods;
use crate::session::Session;
use crate::telemetry::CallRecord;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::sync::Arc;
use toolgate_mcp::jsonrpc::{self, Kind, Message, codes};
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
) -> Result<Message<'b>, Response> {
    let is_json = header_str(headers, "content-type")
        .is_some_and(|c| c.trim_start().starts_with("application/json"));
    if !is_json {
        return Err(rejection_response(&Rejection::NotJson));
    }
    Message::parse(body).map_err(|e| rejection_response(&Rejection::Unreadable(e)))
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
        Err(r) => return r,
    };
    if let Err(r) = crate::limits::check_message(&gw, &caller, &server, None, &msg) {
        return r;
    }
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
            let policy = gw.state().servers[&server].policy.load_full();
            if let Plan::Answer(a) = gw
                .relay
                .plan_request(&policy, &server, &caller, "", &msg, Methods::default())
                .await
            {
                return json_response(StatusCode::OK, a);
            }
            unreachable!("server/discover is always answered by the gateway");
        }
        None => {
            return rejection_response(&Rejection::SessionRequired);
        }
    };
    let pv = header_str(&headers, PROTOCOL_VERSION_HEADER)
        .map(str::to_owned)
        .or_else(|| session.protocol_version());
    let policy = session.caller.policy_for(&session.server);
    let methods = Methods {
        version: pv.as_deref(),
        extra: &session.server.settings.extra_methods,
    };
    if msg.kind == Kind::Notification {
        let record = || {
            let version = policy.version_hash();
            CallRecord::new(&session.caller, &session.id, &server, msg.method(), version)
        };
        let plan = gw.relay.plan_notification(record, &msg, methods);
        match plan {
            NotificationPlan::Forward => {}
            NotificationPlan::Drop => return StatusCode::ACCEPTED.into_response(),
            NotificationPlan::Refuse(bytes) => {
                return json_response(StatusCode::BAD_REQUEST, bytes);
            }
        }
    }
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
    let plan = gw
        .relay
        .plan_request(
            &policy,
            &server,
            &session.caller,
            &session.id,
            &msg,
            methods,
        )
        .await;
    let pending = match plan {
        Plan::Answer(bytes) => return json_response(StatusCode::OK, bytes),
        Plan::Forward(mut p) if msg.method() == "tools/list" => {
            let relay = &gw.relay;
            if let Some(cached) =
                relay.tools_list_from_cache(&mut p, &session.server, session.client_key, &msg)
            {
                relay.served_from_cache(p);
                return respond::json_parts_response(cached.parts);
            }
            p
        }
        Plan::Forward(p) => p,
        // Held for a person's approval: the request stays open until the decision, with
        // progress notifications meanwhile when the client asked for progress.
        Plan::Hold(held) => match (msg.progress_token(), accepts_sse(&headers)) {
            (Some(token), true) => {
                let id = msg.id.expect("requests have ids").to_owned();
                let (gw2, session2) = (gw.clone(), session.clone());
                let progress_token = Some(token.clone());
                return respond::held_stream(gw.clone(), held, token, move |pending| async move {
                    let outbound = Outbound {
                        link: &session2.link,
                        server: &session2.server.name,
                        body,
                        id,
                        progress_token,
                        pending,
                        protocol_version: pv.as_deref(),
                        client_accepts_sse: true,
                        rewrite: None,
                    };
                    respond::forward(&gw2, outbound).await
                });
            }
            _ => match gw.relay.resume(held).await {
                Ok(p) => p,
                Err(bytes) => return json_response(StatusCode::OK, bytes),
            },
        },
    };
    let id = msg.id.expect("requests have ids").to_owned();
    let token = msg.progress_token();
    drop(msg);
    let outbound = Outbound {
        link: &session.link,
        server: &server,
        body,
        id,
        progress_token: token,
        pending,
        protocol_version: pv.as_deref(),
        client_accepts_sse: accepts_sse(&headers),
        rewrite: None,
    };
    respond::forward(&gw, outbound).await
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
    let slot = match crate::limits::sessions::open(gw, &caller, server) {
        Ok(slot) => slot,
        Err(r) => return r,
    };
    let runtime = gw.state().servers[server].clone();
    let session_id = crate::session::new_session_id();
    let opener = crate::upstream::Opener {
        session: &session_id,
        grant: Some(&caller.identity.grant),
        init_params: msg.params,
    };
    let link = match runtime.connect(&opener).await {
        Ok(l) => l,
        Err(e) => {
            crate::limits::audit_failed_open(gw, &caller, server, &e);
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
    let key = client_key(msg);
    let session = Arc::new(Session::new(session_id, runtime, caller, link, key));
    *session.protocol_version.lock() = requested_protocol_version(msg);
    gw.sessions
        .insert_holding(&session.id, session.clone(), slot);
    // A lazy stdio server is catalogued when its first session opens (not on every call).
    gw.catalogue.first_use(server);
    tracing::info!(server, session = %session.id, agent = %session.caller.identity.agent, "session opened");
    let id = msg.id.expect("requests have ids").to_owned();
    let pv = header_str(headers, PROTOCOL_VERSION_HEADER).map(str::to_owned);
    let outbound = Outbound {
        link: &session.link,
        server,
        body,
        id,
        progress_token: None,
        pending: Pending::plain(CallRecord::new(
            &session.caller,
            &session.id,
            server,
            "initialize",
            session.server.policy.load().version_hash(),
        )),
        protocol_version: pv.as_deref(),
        client_accepts_sse: accepts_sse(headers),
        rewrite: None,
    };
    let mut response = respond::forward(gw, outbound).await;
    let failed =
        response.status() != StatusCode::OK || response.extensions().get::<Failed>().is_some();
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

/// The session's key in its server's tools/list cache: what the client said about itself.
fn client_key(msg: &Message<'_>) -> u64 {
    #[derive(serde::Deserialize)]
    struct P<'a> {
        #[serde(rename = "protocolVersion")]
        version: Option<&'a str>,
        #[serde(borrow)]
        capabilities: Option<&'a serde_json::value::RawValue>,
    }
    let params = msg
        .params
        .and_then(|p| serde_json::from_str::<P<'_>>(p.get()).ok());
    let (version, capabilities) = params.map_or((None, None), |p| (p.version, p.capabilities));
    crate::tools_cache::client_key(version, capabilities)
}

fn requested_protocol_version(msg: &Message<'_>) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct P {
        #[serde(rename = "protocolVersion")]
        v: Option<String>,
    }
    serde_json::from_str::<P>(msg.params?.get()).ok()?.v
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
    match session.link.open_stream(pv.as_deref()).await {
        Ok(Some(stream)) => {
            let stream = gw
                .catalogue
                .with_quarantine_notes(vec![server.clone()], stream);
            let catalogue = gw.catalogue.clone();
            let observe: respond::Rewrite = Arc::new(move |m| {
                catalogue.observe(&server, &m);
                m
            });
            slot.hold(sse_response(respond::stream_body(stream, Some(observe))))
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
    gw.sessions.remove(&session.id);
    session
        .link
        .close(session.protocol_version().as_deref())
        .await;
    tracing::info!(server = %server, session = %session.id, "session closed by client");
    StatusCode::OK.into_response()
}
