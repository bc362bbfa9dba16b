//! Approvals: calls held for a person's decision, live — the page subscribes to the approvals
//! stream and adds, updates and removes rows as they change, from any gateway sharing the store.
//! Each shows server, tool, agent, grant, the arguments as the audit settings keep them, the rule
//! and the time left; approvers approve or deny with a note. Below, the history with who decided.

use super::Ui;
use super::access::{Operator, UiError, encode_component};
use super::call;
use super::layout::{self, Nav};
use super::overview::refuse_read_only;
use crate::extract::{ApiPath, ApiQuery};
use crate::role::Permission;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

/// Decided approvals shown in the history.
const HISTORY: usize = 50;

#[derive(Debug, Deserialize)]
pub(crate) struct Flash {
    done: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct DecisionForm {
    #[serde(default)]
    note: String,
}

pub(crate) async fn page(
    State(ui): State<Ui>,
    Extension(op): Extension<Operator>,
    Query(flash): Query<Flash>,
) -> Result<Response, UiError> {
    let list = |status: Option<&'static str>, limit: usize| {
        let app = State(ui.app.clone());
        async move {
            let q = call::query(json!({ "status": status, "limit": limit }))?;
            call::json(crate::approvals::list(app, ApiQuery(q)).await).await
        }
    };
    // Listed first: the stream the script opens starts after this list's `last_seq`, so whatever
    // changes between this page and its stream (a call going ahead, someone else's decision)
    // still reaches both tables.
    let pending = list(Some("pending"), 1000).await?;
    let recent = list(None, 200).await?;
    let now = crate::now_ms();
    let may_decide = op.may(Permission::DecideApprovals) && !ui.read_only();
    let history: Vec<&Value> = recent["approvals"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["status"] != "pending")
        .take(HISTORY)
        .collect();
    let body = html! {
        @if let Some(done) = flash.done.as_deref() {
            (layout::notice("ok", match done { "approve" => "Approved: the call goes through.", _ => "Denied: the agent is told why." }))
        }
        p.stream-state #approvals-live aria-live="polite" { "Live updates need JavaScript; reload to see new requests." }
        section aria-labelledby="pending-h" {
            h2 #pending-h { "Waiting for a decision" }
            table.data #pending data-may-decide=(may_decide) data-since=[pending["last_seq"].as_u64()] {
                thead { tr {
                    th scope="col" { "Tool" } th scope="col" { "Agent · grant" } th scope="col" { "Arguments" }
                    th scope="col" { "Rule" } th scope="col" { "Time left" }
                    @if may_decide { th scope="col" { "Decide" } }
                } }
                tbody {
                    @for a in pending["approvals"].as_array().into_iter().flatten() {
                        (pending_row(a, &op, may_decide, now))
                    }
                }
            }
            p #pending-empty hidden[!pending["approvals"].as_array().is_none_or(|a| a.is_empty())] { "Nothing is waiting." }
        }
        section aria-labelledby="history-h" {
            h2 #history-h { "Decided" }
            table.data #history {
                thead { tr {
                    th scope="col" { "Tool" } th scope="col" { "Agent · grant" } th scope="col" { "Status" }
                    th scope="col" { "By" } th scope="col" { "Note" } th scope="col" { "When" }
                } }
                tbody {
                    @for a in &history {
                        tr data-id=(a["id"].as_str().unwrap_or("")) {
                            td { (a["binding"]["server"].as_str().unwrap_or("")) " / " strong { (a["binding"]["tool"].as_str().unwrap_or("")) } }
                            td { (a["binding"]["agent"].as_str().unwrap_or("")) " · " (a["binding"]["grant"].as_str().unwrap_or("—")) }
                            td { (a["status"].as_str().unwrap_or("")) }
                            td { (a["decided_by"].as_str().unwrap_or("—")) }
                            td { (a["note"].as_str().unwrap_or("")) }
                            td { (layout::time(a["decided_at_ms"].as_u64().or(a["expires_at_ms"].as_u64()).unwrap_or(0), now)) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ui, &op, Nav::Approvals, "Approvals", body))
}

/// One pending approval's row; the script builds the same row for approvals that arrive live.
fn pending_row(a: &Value, op: &Operator, may_decide: bool, now: u64) -> Markup {
    let id = a["id"].as_str().unwrap_or("");
    let args = match &a["arguments"] {
        Value::Null => None,
        v => Some(serde_json::to_string_pretty(v).unwrap_or_default()),
    };
    html! {
        tr data-id=(id) {
            td { (a["binding"]["server"].as_str().unwrap_or("")) " / " strong.tool { (a["binding"]["tool"].as_str().unwrap_or("")) } div.muted { (id) } }
            td { (a["binding"]["agent"].as_str().unwrap_or("")) " · " (a["binding"]["grant"].as_str().unwrap_or("—")) }
            td { @match &args { Some(t) => { pre.json { (t) } } None => { span.muted { "(not kept)" } } } }
            td { code { (a["rule"].as_str().unwrap_or("")) } }
            td data-expires=(a["expires_at_ms"].as_u64().unwrap_or(0)) { (layout::ago(a["expires_at_ms"].as_u64().unwrap_or(0), now)) }
            @if may_decide {
                td {
                    form method="post" action={"/ui/approvals/" (encode_component(id)) "/approve"} {
                        (layout::csrf(op))
                        label for={"note-" (id)} { "Note" }
                        input id={"note-" (id)} name="note";
                        div.actions {
                            button.primary type="submit" { "Approve" }
                            button.danger type="submit" formaction={"/ui/approvals/" (encode_component(id)) "/deny"} { "Deny" }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /ui/approvals/stream`: the API's approvals stream, for the signed-in page (which passes
/// `after`: the changes since it was drawn).
pub(crate) async fn stream(
    State(ui): State<Ui>,
    headers: HeaderMap,
    query: ApiQuery<crate::approvals::StreamQuery>,
) -> Response {
    crate::approvals::stream(State(ui.app.clone()), headers, query)
        .await
        .into_response()
}

/// `POST /ui/approvals/{id}/approve|deny`: the API's decision, with the operator as decider.
pub(crate) async fn decide(
    State(ui): State<Ui>,
    Extension(op): Extension<Operator>,
    Path((id, verdict)): Path<(String, String)>,
    Form(f): Form<DecisionForm>,
) -> Result<Response, UiError> {
    op.require(Permission::DecideApprovals)?;
    refuse_read_only(&ui)?;
    let body = Bytes::from(json!({ "note": f.note }).to_string());
    let app = State(ui.app.clone());
    let actor = Extension(op.actor.clone());
    let answer = match verdict.as_str() {
        "approve" => crate::approvals::approve(app, actor, ApiPath(id), body).await,
        "deny" => crate::approvals::deny(app, actor, ApiPath(id), body).await,
        _ => return Err(UiError::not_found("decide with approve or deny")),
    };
    call::json(answer).await?;
    Ok(Redirect::to(&format!("/ui/approvals?done={verdict}")).into_response())
}
