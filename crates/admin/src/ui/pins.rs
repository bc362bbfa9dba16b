//! Pins: the tools whose definition changed since it was pinned, or that appeared on a server
//! whose tools were pinned already — hidden from agents and denied until a person approves them.
//! Each has a page with the pinned and the current definition side by side, line against line,
//! and (for admins) the approval, bound to the digest of the version on screen: if the server
//! changes the tool again meanwhile, the approval is refused rather than applied to something
//! nobody read. Recent approvals are listed with who made them.

use super::Ui;
use super::access::{Operator, UiError, encode_component};
use super::call;
use super::diff::{self, Line};
use super::layout::{self, Nav};
use super::overview::refuse_read_only;
use crate::extract::{ApiPath, ApiQuery};
use crate::role::Permission;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

/// Recent approvals listed under the waiting tools.
const RECENTLY_APPROVED: usize = 20;

#[derive(Debug, Deserialize)]
pub(crate) struct Flash {
    /// The tool just approved (`server/tool`).
    approved: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ApproveForm {
    /// The digest of the version the approver read.
    digest: String,
}

/// `GET /ui/pins`: what waits for approval, and what was approved lately.
pub(crate) async fn index(
    State(ui): State<Ui>,
    Extension(op): Extension<Operator>,
    Query(flash): Query<Flash>,
) -> Result<Response, UiError> {
    let waiting = call::json(crate::pins::quarantined(State(ui.app.clone())).await).await?;
    let catalogue = call::json(
        crate::pins::catalog(
            State(ui.app.clone()),
            ApiQuery(crate::pins::CatalogQuery { server: None }),
        )
        .await,
    )
    .await?;
    let mut approved: Vec<&Value> = catalogue["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["approved_at_ms"].is_u64())
        .collect();
    approved.sort_by_key(|t| std::cmp::Reverse(t["approved_at_ms"].as_u64()));
    approved.truncate(RECENTLY_APPROVED);
    let waiting: Vec<&Value> = waiting["pins"].as_array().into_iter().flatten().collect();
    let now = crate::now_ms();
    let body = html! {
        @if let Some(t) = &flash.approved {
            (layout::notice("ok", &format!("Approved {t}: agents see and call its current version again.")))
        }
        p.hint { "A tool whose definition changed since it was pinned, or that a pinned server added, is hidden from agents and its calls are denied until it is approved here (or with " code { "toolgate pins approve" } ")." }
        section aria-labelledby="waiting-h" {
            h2 #waiting-h { "Waiting for approval" }
            @if waiting.is_empty() {
                p #pins-empty { "Nothing waits: every tool is at its pinned version." }
            } @else {
                table.data #pins {
                    thead { tr {
                        th scope="col" { "Tool" } th scope="col" { "Server" } th scope="col" { "State" }
                        th scope="col" { "What changed" } th scope="col" { "Risk" } th scope="col" { "Last listed" }
                    } }
                    tbody {
                        @for p in &waiting {
                            @let (server, tool) = (p["server"].as_str().unwrap_or(""), p["tool"].as_str().unwrap_or(""));
                            tr data-tool=(tool) {
                                th scope="row" { a href=(pin_url(server, tool)) { (tool) } }
                                td { (server) }
                                td { (state_badge(p)) }
                                td { (changed_fields(p)) }
                                td { (layout::risk_badge(p["classification"]["category"].as_str().unwrap_or(""))) }
                                td { (layout::time(p["last_seen_ms"].as_u64().unwrap_or(0), now)) }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="approved-h" {
            h2 #approved-h { "Approved lately" }
            @if approved.is_empty() {
                p { "No version has been approved yet: every pin is the tool as first listed." }
            } @else {
                table.data #pins-approved {
                    thead { tr {
                        th scope="col" { "Tool" } th scope="col" { "Server" } th scope="col" { "By" } th scope="col" { "When" }
                    } }
                    tbody {
                        @for t in &approved {
                            @let (server, tool) = (t["server"].as_str().unwrap_or(""), t["tool"].as_str().unwrap_or(""));
                            tr {
                                th scope="row" { a href={"/ui/catalogue/" (encode_component(server)) "/" (encode_component(tool))} { (tool) } }
                                td { (server) }
                                td { (t["approved_by"].as_str().unwrap_or("")) }
                                td { (layout::time(t["approved_at_ms"].as_u64().unwrap_or(0), now)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ui, &op, Nav::Pins, "Pins", body))
}

/// `GET /ui/pins/{server}/{tool}`: the pinned and the current definition side by side.
pub(crate) async fn page(
    State(ui): State<Ui>,
    Extension(op): Extension<Operator>,
    Path((server, tool)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let entry = call::json(
        crate::pins::one(
            State(ui.app.clone()),
            ApiPath((server.clone(), tool.clone())),
        )
        .await,
    )
    .await?;
    let pinned = pretty(&entry["pinned"]["definition"]);
    let current = pretty(&entry["current"]["definition"]);
    let state = entry["state"].as_str().unwrap_or("");
    let may_approve = op.may(Permission::Administer) && !ui.read_only() && state != "pinned";
    let now = crate::now_ms();
    let body = html! {
        p {
            "Server " a href={"/ui/catalogue?server=" (encode_component(&server))} { (server) } " · "
            (state_badge(&entry)) " · "
            (layout::risk_badge(entry["classification"]["category"].as_str().unwrap_or("")))
            " · last listed " (layout::time(entry["last_seen_ms"].as_u64().unwrap_or(0), now))
            @if let Some(by) = entry["approved_by"].as_str() { " · pinned version approved by " (by) }
        }
        @match state {
            "changed" => { p { "Its definition changed since it was pinned (" (changed_fields(&entry)) "): agents do not see it, and its calls are denied, until this version is approved." } }
            "new" => { p { "The server added it after its tools were pinned: agents do not see it, and its calls are denied, until it is approved." } }
            _ => { p { "The server lists it as pinned: nothing waits." } }
        }
        table.data.sbs #pin-diff {
            caption.sr { "The pinned definition and the current one, line against line" }
            thead { tr {
                th scope="col" { "Pinned " @if let Some(d) = entry["pinned"]["digest"].as_str() { code.muted { (layout::short(d)) } } @else { span.muted { "(none: a new tool)" } } }
                th scope="col" { "Current " code.muted { (layout::short(entry["current"]["digest"].as_str().unwrap_or(""))) } }
            } }
            tbody { (side_by_side(&pinned, &current)) }
        }
        @if may_approve {
            form.actions method="post" action={(pin_url(&server, &tool)) "/approve"} {
                (layout::csrf(&op))
                input type="hidden" name="digest" value=(entry["current"]["digest"].as_str().unwrap_or(""));
                button.primary type="submit" { "Approve this version" }
                span.hint { "Agents see and call it again at once; the approval is recorded with your name." }
            }
        }
        p { a href="/ui/pins" { "Back to the pins" } }
    };
    Ok(layout::page(
        &ui,
        &op,
        Nav::Pins,
        &format!("Pin of {tool}"),
        body,
    ))
}

/// `POST /ui/pins/{server}/{tool}/approve`: the API's approval, bound to the digest read.
pub(crate) async fn approve(
    State(ui): State<Ui>,
    Extension(op): Extension<Operator>,
    Path((server, tool)): Path<(String, String)>,
    Form(f): Form<ApproveForm>,
) -> Result<Response, UiError> {
    op.require(Permission::Administer)?;
    refuse_read_only(&ui)?;
    let body = Bytes::from(json!({ "digest": f.digest }).to_string());
    let answer = crate::pins::approve(
        State(ui.app.clone()),
        Extension(op.actor.clone()),
        ApiPath((server.clone(), tool.clone())),
        body,
    )
    .await;
    call::json(answer).await?;
    let done = encode_component(&format!("{server}/{tool}"));
    Ok(Redirect::to(&format!("/ui/pins?approved={done}")).into_response())
}

fn pin_url(server: &str, tool: &str) -> String {
    format!(
        "/ui/pins/{}/{}",
        encode_component(server),
        encode_component(tool)
    )
}

fn state_badge(entry: &Value) -> Markup {
    let state = entry["state"].as_str().unwrap_or("");
    html! { span class={"badge pin-" (state)} { (state) } }
}

fn changed_fields(entry: &Value) -> Markup {
    let fields: Vec<&str> = entry["changed_fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    html! {
        @if fields.is_empty() {
            @if entry["state"] == "new" { "new tool" } @else { "—" }
        } @else {
            @for (i, f) in fields.iter().enumerate() { @if i > 0 { ", " } code { (f) } }
        }
    }
}

/// A definition as the reviewer reads it: indented JSON, keys sorted; nothing for none.
fn pretty(definition: &Value) -> String {
    if definition.is_null() {
        return String::new();
    }
    serde_json::to_string_pretty(definition).unwrap_or_default()
}

/// Rows of two cells: unchanged lines side by side, a run of removed lines against the run of
/// added lines that replaces it.
fn side_by_side(old: &str, new: &str) -> Markup {
    let lines = diff::lines(old, new);
    let mut rows: Vec<(Option<&str>, Option<&str>, bool)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if let Line::Same(t) = lines[i] {
            rows.push((Some(t), Some(t), false));
            i += 1;
            continue;
        }
        let mut removed = Vec::new();
        let mut added = Vec::new();
        while let Some(l) = lines.get(i) {
            match l {
                Line::Removed(t) => removed.push(*t),
                Line::Added(t) => added.push(*t),
                Line::Same(_) => break,
            }
            i += 1;
        }
        for k in 0..removed.len().max(added.len()) {
            rows.push((removed.get(k).copied(), added.get(k).copied(), true));
        }
    }
    html! {
        @for (left, right, changed) in rows {
            tr {
                (side(left, changed, "del"))
                (side(right, changed, "add"))
            }
        }
    }
}

fn side(text: Option<&str>, changed: bool, kind: &str) -> Markup {
    match text {
        Some(t) if changed => {
            html! { td class=(kind) { span.sr { (if kind == "del" { "removed: " } else { "added: " }) } code { (t) } } }
        }
        Some(t) => html! { td { code { (t) } } },
        None => html! { td.empty {} },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_runs_face_each_other() {
        let html = side_by_side(
            "{\n  \"a\": 1,\n  \"b\": 2\n}",
            "{\n  \"a\": 1,\n  \"b\": 3,\n  \"c\": 4\n}",
        )
        .into_string();
        let rows: Vec<&str> = html.split("<tr>").skip(1).collect();
        assert_eq!(rows.len(), 5, "{html}");
        assert!(
            rows[2].contains("class=\"del\"") && rows[2].contains("&quot;b&quot;: 2"),
            "{}",
            rows[2]
        );
        assert!(
            rows[2].contains("class=\"add\"") && rows[2].contains("&quot;b&quot;: 3,"),
            "{}",
            rows[2]
        );
        assert!(
            rows[3].contains("class=\"empty\"") && rows[3].contains("&quot;c&quot;: 4"),
            "{}",
            rows[3]
        );
        // A new tool: everything on the right.
        let html = side_by_side("", "{\n}").into_string();
        assert_eq!(html.matches("class=\"empty\"").count(), 2, "{html}");
    }
}
