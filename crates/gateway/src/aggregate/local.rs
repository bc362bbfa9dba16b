//! What the aggregate endpoint answers itself: the merged lists (every member asked
//! concurrently, each bounded in time, each asking recorded per server), `ping`,
//! `logging/setLevel` (passed to every member that logs), and a second `initialize`.

use super::lists::{self, ListKind};
use super::session::AggregateSession;
use crate::Gateway;
use crate::pipeline::Pipeline;
use crate::pipeline::record::OpenRecord;
use crate::telemetry::Outcome;
use crate::wire::GatewayAnswer;
use bytes::Bytes;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::sync::Arc;
use toolgate_mcp::jsonrpc::{self, Message, codes};

/// The answer to a request the aggregate session answers itself.
pub(crate) async fn answer(
    pipeline: &Arc<Pipeline>,
    gw: &Arc<Gateway>,
    session: &Arc<AggregateSession>,
    record: OpenRecord,
    msg: &Message<'_>,
) -> Bytes {
    let id = msg.id.expect("requests have ids");
    let error = |record, code, message| {
        let answer = GatewayAnswer::Error { code, message };
        pipeline.answer(record, Outcome::Invalid, answer, Some(id))
    };
    if let Some(kind) = ListKind::from_method(msg.method()) {
        return match list(pipeline, gw, session, kind, record, msg).await {
            Ok(result) => result_response(id, &result),
            Err((record, message)) => error(record, codes::INVALID_PARAMS, message),
        };
    }
    match msg.method() {
        "ping" => answered(record, id, &json!({})),
        "logging/setLevel" => {
            let params = msg.params.map(RawValue::get);
            let members: Vec<_> = session
                .members()
                .into_iter()
                .filter(|m| m.capability("logging").is_some())
                .filter(|m| {
                    let stopped = pipeline.kill_switch_answer(
                        &m.server.name,
                        &session.caller,
                        "logging/setLevel",
                    );
                    stopped.is_none()
                })
                .collect();
            futures_util::future::join_all(
                members.iter().map(|m| m.call("logging/setLevel", params)),
            )
            .await;
            answered(record, id, &json!({}))
        }
        "initialize" => error(
            record,
            codes::INVALID_REQUEST,
            "the session is already initialized".into(),
        ),
        method => error(
            record,
            codes::METHOD_NOT_FOUND,
            format!("Method not found: {method}"),
        ),
    }
}

/// A request the gateway answered with `result`, recorded as such.
fn answered(mut record: OpenRecord, id: &RawValue, result: &Value) -> Bytes {
    record.decided(Outcome::Answered);
    record.close(None);
    result_response(id, result)
}

fn result_response(id: &RawValue, result: &Value) -> Bytes {
    jsonrpc::result_response(id, &result.to_string()).into()
}

/// A merged list, from the snapshot when the client follows a cursor (then recorded as answered
/// by the gateway), else asked of every member (recorded per member).
async fn list(
    pipeline: &Arc<Pipeline>,
    gw: &Arc<Gateway>,
    session: &Arc<AggregateSession>,
    kind: ListKind,
    mut record: OpenRecord,
    msg: &Message<'_>,
) -> Result<Value, (OpenRecord, String)> {
    let cursor = msg
        .params
        .and_then(|p| serde_json::from_str::<Value>(p.get()).ok())
        .and_then(|p| p.get("cursor").and_then(Value::as_str).map(str::to_owned));
    let (items, offset) = match cursor {
        Some(c) => match (c.parse::<usize>(), session.snapshot(kind)) {
            (Ok(offset), Some(items)) => {
                record.decided(Outcome::Answered);
                record.close(None);
                (items, offset)
            }
            _ => return Err((record, format!("invalid cursor {c:?}"))),
        },
        None => {
            let items = Arc::new(merged(pipeline, gw, session, kind, record).await);
            session.store_snapshot(kind, items.clone());
            (items, 0)
        }
    };
    let (page, next) = lists::page(&items, offset, gw.state().settings.list_page_size);
    let mut out = json!({ kind.key(): page });
    if let Some(n) = next {
        out["nextCursor"] = Value::String(n);
    }
    Ok(out)
}

/// Every member's list, fetched concurrently, each bounded in time; missing servers are logged.
async fn merged(
    pipeline: &Arc<Pipeline>,
    gw: &Arc<Gateway>,
    session: &AggregateSession,
    kind: ListKind,
    record: OpenRecord,
) -> Vec<Value> {
    let timeout = gw.state().settings.upstream_connect_timeout;
    let names: Vec<String> = session.server_names().map(str::to_owned).collect();
    let whole = &record;
    let fetches = names.iter().map(|name| async move {
        let Some(server) = session.server(name) else {
            return (Ok(Vec::new()), false);
        };
        let policy = session.caller.policy_for(server);
        let mut part = whole.for_server(name, policy.version_hash());
        // A server a kill switch stops is not reached: its items are left out.
        if let Some(stopped) = pipeline.kill_switch_answer(name, &session.caller, kind.method()) {
            pipeline.answer(part, Outcome::Denied, stopped, None);
            return (Ok(Vec::new()), true);
        }
        let member = match session.member(name).await {
            Ok(m) => m,
            Err(e) => {
                part.audit.message = Some(e.clone());
                part.close(Some("unavailable".into()));
                return (Err(e), true);
            }
        };
        if member.capability(kind.capability()).is_none() {
            part.split();
            return (Ok(Vec::new()), false);
        }
        // A server never catalogued is listed by the catalogue first.
        gw.catalogue.before_listing(name).await;
        part.forwarded();
        let fetched = match tokio::time::timeout(timeout, lists::fetch_all(&member, kind)).await {
            Ok(Ok(items)) => Ok(items),
            Ok(Err(e)) => {
                session.mark_down(name, e.clone());
                Err(e)
            }
            Err(_) => Err(format!("no answer within {timeout:?}")),
        };
        let items = match fetched {
            Ok(items) => items,
            Err(e) => {
                part.audit.message = Some(e.clone());
                part.close(Some("unavailable".into()));
                return (Err(e), true);
            }
        };
        part.close(Some("ok".into()));
        // Tools, prompts, resources and templates whose pins withhold them are left out, and
        // what the list showed that the store does not hold is recorded first.
        let withheld = gw
            .catalogue
            .withheld_in_items(name, kind.entry_kind(), &items);
        gw.catalogue.after_listing(name).await;
        let namer = &gw.state().namer;
        let exposed = lists::expose(kind, name, &policy, namer, items, &withheld);
        (Ok(exposed), true)
    });
    let results = futures_util::future::join_all(fetches).await;
    if results.iter().any(|(_, recorded)| *recorded) {
        record.split();
    } else {
        let mut record = record;
        record.decided(Outcome::Answered);
        record.close(None);
    }
    let mut all = Vec::new();
    for (name, (r, _)) in names.iter().zip(results) {
        match r {
            Ok(items) => all.extend(items),
            Err(reason) => {
                tracing::warn!(server = %name, %reason, "{} without this server", kind.method())
            }
        }
    }
    all
}
