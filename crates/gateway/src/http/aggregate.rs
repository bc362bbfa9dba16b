//! `/mcp`: the aggregate endpoint over HTTP. The gateway answers `initialize`, `ping` and the
//! merged lists itself; every other request goes to the one server that owns its tool, prompt or
//! resource, after the same decision as on `/mcp/<server>` (under the upstream's own name).

#![allow(clippy::result_large_err)]

use super::mcp::{accepts_sse, authenticate, header_str, read_message, rejection_response};
use super::posted::Posted;
use super::respond::{self, Outbound, Rewrite, json_response, rpc_error, sse_response};
use crate::Gateway;
use crate::aggregate::lists::{self, ListKind};
use crate::aggregate::member::Member;
use crate::aggregate::rewrite;
use crate::aggregate::session::AggregateSession;
use crate::identity::Caller;
use crate::rejection::Rejection;
use crate::relay::{NotificationPlan, Pending, Plan};
use crate::screen::{Methods, Screened, screen};
use crate::telemetry::CallRecord;
use crate::wire::GatewayAnswer;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::sync::Arc;
use toolgate_mcp::jsonrpc::{self, Kind, Message, codes};
use toolgate_mcp::tool_call::ToolCall;
use toolgate_mcp::{SESSION_HEADER, SUPPORTED_PROTOCOL_VERSIONS};

fn answer(id: Option<&RawValue>, a: GatewayAnswer) -> Response {
    json_response(StatusCode::OK, a.to_response(id))
}

fn error(id: Option<&RawValue>, code: i64, message: String) -> Response {
    answer(id, GatewayAnswer::Error { code, message })
}

fn result(id: &RawValue, value: &Value) -> Response {
    json_response(
        StatusCode::OK,
        jsonrpc::result_response(id, &value.to_string()),
    )
}

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
        Err(r) => return r,
    };
    if let Err(r) = crate::limits::check_message(&gw, &caller, "", None, &msg) {
        return r;
    }
    let session = match find_session(&gw, &headers, &caller) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(session) = session else {
        return match (msg.kind, msg.method()) {
            (Kind::Request, "initialize") => initialize(&gw, caller, &msg).await,
            (_, "server/discover") => error(
                msg.id,
                codes::METHOD_NOT_FOUND,
                "Method not found: server/discover".into(),
            ),
            _ => rejection_response(&Rejection::SessionRequired),
        };
    };
    // Fail closed on methods, before anything is routed (extra methods are per server: none
    // here).
    let methods = Methods {
        version: Some(&session.protocol_version),
        extra: &[],
    };
    let record = || CallRecord::new(&session.caller, &session.id, "", msg.method(), "");
    if msg.kind == Kind::Request {
        if let Screened::Refuse(rejection) = screen(&msg, methods) {
            let bytes = gw.relay.refuse(record(), &rejection, msg.id);
            return json_response(rejection.status(), bytes);
        }
    } else if msg.kind == Kind::Notification {
        match gw.relay.plan_notification(record, &msg, methods) {
            NotificationPlan::Forward => {}
            NotificationPlan::Drop => return StatusCode::ACCEPTED.into_response(),
            NotificationPlan::Refuse(bytes) => {
                return json_response(StatusCode::BAD_REQUEST, bytes);
            }
        }
    }
    match msg.kind {
        Kind::Request => request(&gw, &session, &msg, &body, accepts_sse(&headers)).await,
        Kind::Notification => {
            notification(&session, &msg, &body).await;
            StatusCode::ACCEPTED.into_response()
        }
        Kind::Result | Kind::Error => client_response(&session, &msg, &body).await,
    }
}

async fn initialize(gw: &Arc<Gateway>, caller: Arc<Caller>, msg: &Message<'_>) -> Response {
    let slot = match crate::limits::sessions::open(gw, &caller, "") {
        Ok(slot) => slot,
        Err(r) => return r,
    };
    let id = msg.id.expect("requests have ids");
    let params = msg.params.map_or_else(
        || RawValue::from_string("{}".into()).expect("valid JSON"),
        ToOwned::to_owned,
    );
    let requested = serde_json::from_str::<Value>(params.get())
        .ok()
        .and_then(|p| {
            p.get("protocolVersion")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    let version = requested
        .filter(|v| SUPPORTED_PROTOCOL_VERSIONS.contains(&v.as_str()))
        .unwrap_or_else(|| SUPPORTED_PROTOCOL_VERSIONS[0].to_owned());
    let state = gw.state();
    let servers = state
        .settings
        .servers
        .iter()
        .filter(|s| caller.may_reach(&s.name))
        .filter_map(|s| state.servers.get(&s.name).cloned())
        .collect::<Vec<_>>();
    // Lazy stdio servers are catalogued when their first session opens.
    for server in &servers {
        gw.catalogue.first_use(&server.name);
    }
    let session = Arc::new(
        AggregateSession::open(
            caller,
            servers,
            params,
            version.clone(),
            gw.state().settings.upstream_connect_timeout,
        )
        .await,
    );
    let mut init = json!({
        "protocolVersion": version,
        "capabilities": session.capabilities(),
        "serverInfo": { "name": "toolgate", "version": env!("CARGO_PKG_VERSION") },
    });
    if let Some(i) = session.instructions() {
        init["instructions"] = Value::String(i);
    }
    gw.aggregates
        .insert_holding(&session.id, session.clone(), slot);
    tracing::info!(session = %session.id, agent = %session.caller.identity.agent, down = ?session.down(), "aggregate session opened");
    let mut r = result(id, &init);
    if let Ok(v) = HeaderValue::from_str(&session.id) {
        r.headers_mut().insert(SESSION_HEADER, v);
    }
    r
}

async fn request(
    gw: &Arc<Gateway>,
    session: &Arc<AggregateSession>,
    msg: &Message<'_>,
    body: &[u8],
    sse: bool,
) -> Response {
    let id = msg.id.expect("requests have ids");
    let method = msg.method();
    if let Some(kind) = ListKind::from_method(method) {
        return list(gw, session, kind, msg).await;
    }
    match method {
        "ping" => result(id, &json!({})),
        "initialize" => error(
            Some(id),
            codes::INVALID_REQUEST,
            "the session is already initialized".into(),
        ),
        "server/discover" => error(
            Some(id),
            codes::METHOD_NOT_FOUND,
            "Method not found: server/discover".into(),
        ),
        "logging/setLevel" => {
            let params = msg.params.map(RawValue::get);
            let enforcer = &gw.relay.enforcer;
            let members: Vec<_> = session
                .members()
                .into_iter()
                .filter(|m| m.capability("logging").is_some())
                .filter(|m| {
                    enforcer
                        .kill_switch(&m.server.name, &session.caller)
                        .is_none()
                })
                .collect();
            futures_util::future::join_all(
                members.iter().map(|m| m.call("logging/setLevel", params)),
            )
            .await;
            result(id, &json!({}))
        }
        "tools/call" => call_tool(gw, session, msg, body, sse).await,
        _ => routed(gw, session, msg, body, sse).await,
    }
}

/// A merged list, from the snapshot when the client follows a cursor.
async fn list(
    gw: &Arc<Gateway>,
    session: &Arc<AggregateSession>,
    kind: ListKind,
    msg: &Message<'_>,
) -> Response {
    let id = msg.id.expect("requests have ids");
    let cursor = msg
        .params
        .and_then(|p| serde_json::from_str::<Value>(p.get()).ok())
        .and_then(|p| p.get("cursor").and_then(Value::as_str).map(str::to_owned));
    let (items, offset) = match cursor {
        Some(c) => match (c.parse::<usize>(), session.snapshot(kind)) {
            (Ok(offset), Some(items)) => (items, offset),
            _ => {
                return error(
                    Some(id),
                    codes::INVALID_PARAMS,
                    format!("invalid cursor {c:?}"),
                );
            }
        },
        None => {
            let items = Arc::new(merged(gw, session, kind).await);
            session.store_snapshot(kind, items.clone());
            (items, 0)
        }
    };
    let (page, next) = lists::page(&items, offset, gw.state().settings.list_page_size);
    let mut out = json!({ kind.key(): page });
    if let Some(n) = next {
        out["nextCursor"] = Value::String(n);
    }
    result(id, &out)
}

/// Every member's list, fetched concurrently, each bounded in time; missing servers are logged.
async fn merged(gw: &Arc<Gateway>, session: &AggregateSession, kind: ListKind) -> Vec<Value> {
    let timeout = gw.state().settings.upstream_connect_timeout;
    let names: Vec<String> = session.server_names().map(str::to_owned).collect();
    let fetches = names.iter().map(|name| async move {
        // A server a kill switch stops is not reached: its items are left out.
        if gw
            .relay
            .enforcer
            .kill_switch(name, &session.caller)
            .is_some()
        {
            return Ok(Vec::new());
        }
        let member = session.member(name).await?;
        if member.capability(kind.capability()).is_none() {
            return Ok(Vec::new());
        }
        if kind == ListKind::Tools {
            // A server never catalogued is listed by the catalogue first.
            gw.catalogue.before_listing(name).await;
        }
        match tokio::time::timeout(timeout, lists::fetch_all(&member, kind)).await {
            Ok(Ok(items)) => {
                let policy = session.caller.policy_for(&member.server);
                let quarantined = match kind {
                    ListKind::Tools => {
                        let hidden = gw.catalogue.hidden_in_items(name, &items);
                        gw.catalogue.after_listing(name).await;
                        hidden
                    }
                    _ => Default::default(),
                };
                let namer = &gw.state().namer;
                Ok(lists::expose(
                    kind,
                    name,
                    &policy,
                    namer,
                    items,
                    &quarantined,
                ))
            }
            Ok(Err(e)) => {
                session.mark_down(name, e.clone());
                Err(e)
            }
            Err(_) => Err(format!("no answer within {timeout:?}")),
        }
    });
    let results = futures_util::future::join_all(fetches).await;
    let mut all = Vec::new();
    for (name, r) in names.iter().zip(results) {
        match r {
            Ok(items) => all.extend(items),
            Err(reason) => {
                tracing::warn!(server = %name, %reason, "{} without this server", kind.method())
            }
        }
    }
    all
}

async fn call_tool(
    gw: &Arc<Gateway>,
    session: &Arc<AggregateSession>,
    msg: &Message<'_>,
    body: &[u8],
    sse: bool,
) -> Response {
    let id = msg.id.expect("requests have ids");
    let call = match ToolCall::parse(msg.params) {
        Ok(c) => c,
        Err(e) => return error(Some(id), codes::INVALID_PARAMS, e.to_string()),
    };
    let unknown = || {
        answer(
            Some(id),
            GatewayAnswer::UnknownTool {
                name: call.name.to_string(),
            },
        )
    };
    let Some((server, tool)) = session.resolve_name(&gw.state().namer, &call.name) else {
        return unknown();
    };
    let member = match session.member(&server).await {
        Ok(m) => m,
        Err(reason) => {
            return error(
                Some(id),
                codes::UPSTREAM_UNAVAILABLE,
                format!("server {server} is unavailable: {reason}"),
            );
        }
    };
    let policy = session.caller.policy_for(&member.server);
    let upstream_call = ToolCall {
        name: Cow::Borrowed(&tool),
        arguments: call.arguments.clone(),
    };
    let record = CallRecord::new(
        &session.caller,
        &session.id,
        &server,
        "tools/call",
        policy.version_hash(),
    );
    let plan = gw
        .relay
        .plan_tool_call(record, &policy, &session.caller, &upstream_call, Some(id))
        .await;
    let Some(body) = rewrite::replace_param(body, "/name", &tool) else {
        return error(
            Some(id),
            codes::INVALID_REQUEST,
            "unreadable request".into(),
        );
    };
    let token = msg.progress_token();
    let pending = match plan {
        Plan::Forward(p) => p,
        // Held for approval, streaming progress meanwhile when the client asked for progress.
        Plan::Hold(held) => match (token.clone(), sse) {
            (Some(t), true) => {
                let (gw2, session2, member2, id2) =
                    (gw.clone(), session.clone(), member.clone(), id.to_owned());
                return respond::held_stream(gw.clone(), held, t, move |pending| async move {
                    forward(&gw2, &session2, &member2, id2, token, body, pending, true).await
                });
            }
            _ => match gw.relay.resume(held).await {
                Ok(p) => p,
                Err(bytes) => return json_response(StatusCode::OK, bytes),
            },
        },
        // A hidden tool is unknown under the name the client used.
        Plan::Answer(_) if policy.is_hidden(&tool) => return unknown(),
        Plan::Answer(bytes) => return json_response(StatusCode::OK, bytes),
    };
    forward(
        gw,
        session,
        &member,
        id.to_owned(),
        token,
        body,
        pending,
        sse,
    )
    .await
}

/// Requests owned by one server: by prompt name, by resource URI, or by completion reference.
async fn routed(
    gw: &Arc<Gateway>,
    session: &Arc<AggregateSession>,
    msg: &Message<'_>,
    body: &[u8],
    sse: bool,
) -> Response {
    let id = msg.id.expect("requests have ids");
    let method = msg.method();
    let params: Value = msg
        .params
        .and_then(|p| serde_json::from_str(p.get()).ok())
        .unwrap_or(Value::Null);
    let target = match method {
        "prompts/get" => params
            .get("name")
            .and_then(Value::as_str)
            .and_then(|n| session.resolve_name(&gw.state().namer, n))
            .map(|(s, n)| (s, "/name", n)),
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => params
            .get("uri")
            .and_then(Value::as_str)
            .and_then(|u| session.resolve_uri(u))
            .map(|(s, u)| (s, "/uri", u)),
        "completion/complete" => match params.pointer("/ref/type").and_then(Value::as_str) {
            Some("ref/prompt") => params
                .pointer("/ref/name")
                .and_then(Value::as_str)
                .and_then(|n| session.resolve_name(&gw.state().namer, n))
                .map(|(s, n)| (s, "/ref/name", n)),
            Some("ref/resource") => params
                .pointer("/ref/uri")
                .and_then(Value::as_str)
                .and_then(|u| session.resolve_uri(u))
                .map(|(s, u)| (s, "/ref/uri", u)),
            _ => None,
        },
        _ => {
            return error(
                Some(id),
                codes::METHOD_NOT_FOUND,
                format!("Method not found: {method}"),
            );
        }
    };
    let Some((server, pointer, upstream_value)) = target else {
        return error(
            Some(id),
            codes::INVALID_PARAMS,
            format!("{method}: no server owns what this request names"),
        );
    };
    let member = match session.member(&server).await {
        Ok(m) => m,
        Err(reason) => {
            return error(
                Some(id),
                codes::UPSTREAM_UNAVAILABLE,
                format!("server {server} is unavailable: {reason}"),
            );
        }
    };
    let body = rewrite::replace_param(body, pointer, &upstream_value);
    let Some(body) = body else {
        return error(
            Some(id),
            codes::INVALID_REQUEST,
            "unreadable request".into(),
        );
    };
    let policy = session.caller.policy_for(&member.server);
    let record = CallRecord::new(
        &session.caller,
        &session.id,
        &server,
        method,
        policy.version_hash(),
    );
    let pending = match gw.relay.plan_routed(record, &session.caller, Some(id)) {
        Plan::Forward(p) => p,
        Plan::Answer(bytes) => return json_response(StatusCode::OK, bytes),
        Plan::Hold(_) => unreachable!("only tool calls are held"),
    };
    let id = id.to_owned();
    forward(
        gw,
        session,
        &member,
        id,
        msg.progress_token(),
        body,
        pending,
        sse,
    )
    .await
}

/// Forwards a request to one member and relays the answer, its server requests and URIs rewritten.
#[allow(clippy::too_many_arguments)]
async fn forward(
    gw: &Arc<Gateway>,
    session: &Arc<AggregateSession>,
    member: &Arc<Member>,
    id: Box<RawValue>,
    progress_token: Option<Box<RawValue>>,
    body: Bytes,
    pending: Pending,
    sse: bool,
) -> Response {
    let server = member.server.name.clone();
    session.remember_request(id.get(), &server);
    let tag_server = server.clone();
    let rewrite: Rewrite = Arc::new(move |m| rewrite::from_upstream(&tag_server, m));
    let out = Outbound {
        link: &member.link,
        server: &server,
        body,
        id,
        progress_token,
        pending,
        protocol_version: member.protocol_version.as_deref(),
        client_accepts_sse: sse,
        rewrite: Some(rewrite),
    };
    let response = respond::forward(gw, out).await;
    if response
        .extensions()
        .get::<respond::UpstreamDown>()
        .is_some()
    {
        session.mark_down(&server, "the link to the server failed".into());
    }
    response
}

async fn notification(session: &AggregateSession, msg: &Message<'_>, body: &Bytes) {
    match msg.method() {
        "notifications/cancelled" => {
            let request = msg
                .params
                .and_then(|p| serde_json::from_str::<Value>(p.get()).ok())
                .and_then(|p| p.get("requestId").map(Value::to_string));
            let server = request.and_then(|r| session.server_of_request(&r));
            if let Some(member) =
                server.and_then(|s| session.members().into_iter().find(|m| m.server.name == s))
            {
                let _ = member
                    .link
                    .send(body.clone(), member.protocol_version.as_deref())
                    .await;
            }
        }
        "notifications/roots/list_changed" => {
            for m in session.members() {
                let _ = m
                    .link
                    .send(body.clone(), m.protocol_version.as_deref())
                    .await;
            }
        }
        // `initialized` went to each server at the handshake; others concern the gateway only.
        _ => {}
    }
}

/// A client's answer to a server-to-client request: back to the server whose id it carries.
async fn client_response(session: &AggregateSession, msg: &Message<'_>, body: &Bytes) -> Response {
    let tagged = msg
        .id
        .and_then(|i| serde_json::from_str::<Value>(i.get()).ok());
    let Some((server, raw_id)) = tagged.as_ref().and_then(rewrite::untag_id) else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            codes::INVALID_REQUEST,
            "response to an unknown request",
        );
    };
    let Some(member) = session
        .members()
        .into_iter()
        .find(|m| m.server.name == server)
    else {
        return rpc_error(
            StatusCode::NOT_FOUND,
            codes::INVALID_REQUEST,
            &format!("server {server} is not connected"),
        );
    };
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            codes::PARSE_ERROR,
            "unreadable response",
        );
    };
    v["id"] = serde_json::from_str(raw_id.get()).unwrap_or(Value::Null);
    let out = Bytes::from(v.to_string());
    match member
        .link
        .send(out, member.protocol_version.as_deref())
        .await
    {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(e) => rpc_error(
            StatusCode::BAD_GATEWAY,
            codes::UPSTREAM_UNAVAILABLE,
            &e.to_string(),
        ),
    }
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
    let mut streams = Vec::new();
    for m in session.members() {
        match m.link.open_stream(m.protocol_version.as_deref()).await {
            Ok(Some(s)) => {
                let server = m.server.name.clone();
                let s = gw.catalogue.with_quarantine_notes(vec![server.clone()], s);
                let catalogue = gw.catalogue.clone();
                streams.push(
                    s.map(move |msg| {
                        msg.map(|b| {
                            catalogue.observe(&server, &b);
                            rewrite::from_upstream(&server, b)
                        })
                    })
                    .boxed(),
                );
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(server = %m.server.name, error = %e, "cannot open the server's stream")
            }
        }
    }
    if streams.is_empty() {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            "no server offers a standalone stream",
        )
            .into_response();
    }
    let merged = futures_util::stream::select_all(streams).boxed();
    slot.hold(sse_response(respond::stream_body(merged, None)))
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
    gw.aggregates.remove(&session.id);
    session.close().await;
    StatusCode::OK.into_response()
}
