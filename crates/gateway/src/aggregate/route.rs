//! Where a message on `/mcp` goes: the one server that owns the tool, prompt, resource or
//! completion reference it names (its bytes changed only where a name or URI is mapped back to
//! the server's own), every member for a roots change, the member that asked for a client's
//! response. Lists, `ping` and the like are answered by the session itself ([`super::local`]).

use super::lists::ListKind;
use super::rewrite;
use super::session::AggregateSession;
use crate::Gateway;
use crate::pipeline::{LinkHolder, Reply, Resolved, Rewrite, Route};
use crate::telemetry::Outcome;
use crate::wire::GatewayAnswer;
use bytes::Bytes;
use http::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use toolgate_mcp::jsonrpc::{self, Message, codes};
use toolgate_mcp::tool_call::ToolCall;

/// The route of a request on `/mcp`.
pub(crate) async fn resolve(
    gw: &Arc<Gateway>,
    session: &Arc<AggregateSession>,
    msg: &Message<'_>,
    body: Bytes,
) -> Resolved {
    let method = msg.method();
    if ListKind::from_method(method).is_some()
        || matches!(method, "ping" | "logging/setLevel" | "initialize")
    {
        return Resolved::Local;
    }
    let invalid =
        |code, message| Resolved::Answer(GatewayAnswer::Error { code, message }, Outcome::Invalid);
    let namer = &gw.state().namer;
    let target = match method {
        "tools/call" => match ToolCall::parse(msg.params) {
            Ok(call) => match session.resolve_name(namer, &call.name) {
                Some((s, n)) => (s, Some(("/name", n))),
                None => {
                    let unknown = GatewayAnswer::UnknownTool {
                        name: call.name.to_string(),
                        rule: None,
                    };
                    return Resolved::Answer(unknown, Outcome::Hidden);
                }
            },
            // Unreadable: refused by the decision, never forwarded; with one server, it is that
            // server's to record, as a name without a prefix would be.
            Err(e) => match session.sole_server() {
                Some(s) => (s, None),
                None => return invalid(codes::INVALID_PARAMS, e.to_string()),
            },
        },
        "server/discover" => {
            let answer = GatewayAnswer::Error {
                code: codes::METHOD_NOT_FOUND,
                message: "Method not found: server/discover".into(),
            };
            return Resolved::Answer(answer, Outcome::Answered);
        }
        _ => match owner(gw, session, method, msg) {
            Some((s, pointer, value)) => (s, Some((pointer, value))),
            None if routable(method) => {
                let why = format!("{method}: no server owns what this request names");
                return invalid(codes::INVALID_PARAMS, why);
            }
            None => {
                return invalid(
                    codes::METHOD_NOT_FOUND,
                    format!("Method not found: {method}"),
                );
            }
        },
    };
    let (server, mapped) = target;
    let member = match session.member(&server).await {
        Ok(m) => m,
        Err(reason) => {
            let why = format!("server {server} is unavailable: {reason}");
            return invalid(codes::UPSTREAM_UNAVAILABLE, why);
        }
    };
    let mut tool = None;
    let body = match mapped {
        Some((pointer, upstream_value)) => {
            let Some(body) = rewrite::replace_param(&body, pointer, &upstream_value) else {
                return invalid(codes::INVALID_REQUEST, "unreadable request".into());
            };
            tool = (method == "tools/call").then_some(upstream_value);
            body
        }
        None => body,
    };
    if let Some(id) = msg.id {
        session.remember_request(id.get(), &server);
    }
    let tag_server = server.clone();
    let rewrite: Rewrite = Arc::new(move |m| rewrite::from_upstream(&tag_server, m));
    Resolved::Route(Box::new(Route {
        policy: session.caller.policy_for(&member.server),
        protocol_version: member.protocol_version.clone(),
        tool,
        link: LinkHolder::Member(member),
        server,
        body,
        rewrite: Some(rewrite),
        cache: None,
        aggregate: Some(session.clone()),
    }))
}

/// Methods routed by what they name.
fn routable(method: &str) -> bool {
    matches!(
        method,
        "prompts/get"
            | "resources/read"
            | "resources/subscribe"
            | "resources/unsubscribe"
            | "completion/complete"
    )
}

/// The server that owns what a request names (by prompt name, resource URI or completion
/// reference), the JSON pointer of the name in its params, and the server's own name for it.
fn owner(
    gw: &Gateway,
    session: &AggregateSession,
    method: &str,
    msg: &Message<'_>,
) -> Option<(String, &'static str, String)> {
    let params: Value = msg
        .params
        .and_then(|p| serde_json::from_str(p.get()).ok())
        .unwrap_or(Value::Null);
    let namer = &gw.state().namer;
    let by_name = |pointer: &'static str| {
        let name = params.pointer(pointer).and_then(Value::as_str)?;
        let (s, n) = session.resolve_name(namer, name)?;
        Some((s, pointer, n))
    };
    let by_uri = |pointer: &'static str| {
        let uri = params.pointer(pointer).and_then(Value::as_str)?;
        let (s, u) = session.resolve_uri(uri)?;
        Some((s, pointer, u))
    };
    match method {
        "prompts/get" => by_name("/name"),
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => by_uri("/uri"),
        "completion/complete" => match params.pointer("/ref/type").and_then(Value::as_str) {
            Some("ref/prompt") => by_name("/ref/name"),
            Some("ref/resource") => by_uri("/ref/uri"),
            _ => None,
        },
        _ => None,
    }
}

/// A client notification on `/mcp`: a cancellation goes to the server its request went to, a
/// roots change to every member; `initialized` went to each server at the handshake, and the
/// rest concern the gateway only.
pub(crate) async fn notification(session: &AggregateSession, msg: &Message<'_>, body: Bytes) {
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
                    .send(body, member.protocol_version.as_deref())
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
        _ => {}
    }
}

/// A client's answer to a server-to-client request: back to the server whose id it carries.
pub(crate) async fn client_response(
    session: &AggregateSession,
    msg: &Message<'_>,
    body: &[u8],
) -> Reply {
    let refused = |status, code, message: &str| {
        Reply::Refused(status, jsonrpc::error_response(None, code, message).into())
    };
    let tagged = msg
        .id
        .and_then(|i| serde_json::from_str::<Value>(i.get()).ok());
    let Some((server, raw_id)) = tagged.as_ref().and_then(rewrite::untag_id) else {
        return refused(
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
        let why = format!("server {server} is not connected");
        return refused(StatusCode::NOT_FOUND, codes::INVALID_REQUEST, &why);
    };
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return refused(
            StatusCode::BAD_REQUEST,
            codes::PARSE_ERROR,
            "unreadable response",
        );
    };
    v["id"] = serde_json::from_str(raw_id.get()).unwrap_or(Value::Null);
    let out = Bytes::from(v.to_string());
    crate::pipeline::send(&member.link, out, member.protocol_version.as_deref()).await
}
