//! What the gateway does with each message a client sends, whatever the transport: answer it
//! itself, or forward it and remember what to do with the response (filter a tool list, give
//! quota back after an error). Everything not policed passes through byte for byte.

use crate::enforce::{Enforcer, Verdict};
use crate::identity::Caller;
use crate::tools_list;
use crate::wire::GatewayAnswer;
use bytes::Bytes;
use std::sync::Arc;
use toolgate_mcp::jsonrpc::{Kind, Message, codes};
use toolgate_mcp::tool_call::ToolCall;
use toolgate_policy::Policy;
use toolgate_store::ReservationTicket;

/// The plan for one client request.
#[derive(Debug)]
pub enum Plan {
    /// Answer with these bytes (a complete JSON-RPC response); nothing is forwarded.
    Answer(Vec<u8>),
    /// Forward the original bytes; apply `Pending` to the response.
    Forward(Pending),
}

/// What the response to a forwarded request needs.
#[derive(Debug)]
pub enum Pending {
    Plain,
    /// Drop hidden tools from the result.
    ToolsList(Arc<Policy>),
    /// A tool call holding quota, given back if the server answers with a JSON-RPC error.
    ToolCall(Option<ReservationTicket>),
}

/// Decides what to do with a client request (`msg.kind == Request`).
pub async fn plan_request(
    enforcer: &Enforcer,
    policy: &Arc<Policy>,
    server: &str,
    caller: &Caller,
    session: &str,
    msg: &Message<'_>,
) -> Plan {
    debug_assert_eq!(msg.kind, Kind::Request);
    match msg.method() {
        "tools/call" => match ToolCall::parse(msg.params) {
            Ok(call) => {
                plan_tool_call(enforcer, policy, server, caller, session, &call, msg.id).await
            }
            // Unreadable calls are refused, never forwarded (fail closed).
            Err(e) => Plan::Answer(
                GatewayAnswer::Error {
                    code: codes::INVALID_PARAMS,
                    message: e.to_string(),
                }
                .to_response(msg.id),
            ),
        },
        "tools/list" => Plan::Forward(Pending::ToolsList(policy.clone())),
        // The 2026 protocol's probe: an error at once makes clients fall back to `initialize`.
        "server/discover" => Plan::Answer(
            GatewayAnswer::Error {
                code: codes::METHOD_NOT_FOUND,
                message: "Method not found: server/discover".into(),
            }
            .to_response(msg.id),
        ),
        _ => Plan::Forward(Pending::Plain),
    }
}

/// Decides one tool call (its name already the upstream's own).
pub async fn plan_tool_call(
    enforcer: &Enforcer,
    policy: &Policy,
    server: &str,
    caller: &Caller,
    session: &str,
    call: &ToolCall<'_>,
    id: Option<&serde_json::value::RawValue>,
) -> Plan {
    match enforcer
        .tool_call(policy, server, caller, session, call)
        .await
    {
        Verdict::Forward(ticket) => {
            tracing::debug!(server, tool = %call.name, "allowed");
            Plan::Forward(Pending::ToolCall(ticket))
        }
        Verdict::Answer(answer) => {
            tracing::info!(server, tool = %call.name, answer = ?answer, "refused");
            Plan::Answer(answer.to_response(id))
        }
    }
}

/// Applies a request's pending work to its response and returns what the client gets.
pub async fn finish(enforcer: &Enforcer, pending: Pending, response: Bytes) -> Bytes {
    match pending {
        Pending::Plain | Pending::ToolCall(None) => response,
        Pending::ToolCall(Some(ticket)) => {
            if Message::parse(&response)
                .map(|m| m.kind == Kind::Error)
                .unwrap_or(false)
            {
                enforcer.release(&ticket).await;
            }
            response
        }
        Pending::ToolsList(policy) => tools_list::filter_response(&policy, response),
    }
}

/// The request never got an answer from the server: give its quota back.
pub async fn abandon(enforcer: &Enforcer, pending: Pending) {
    if let Pending::ToolCall(Some(ticket)) = pending {
        enforcer.release(&ticket).await;
    }
}

/// True when `msg` is the response to the request with raw id `id`.
pub fn is_response_to(msg: &[u8], id: &serde_json::value::RawValue) -> bool {
    Message::parse(msg).is_ok_and(|m| m.is_response() && m.id.is_some_and(|i| i.get() == id.get()))
}
