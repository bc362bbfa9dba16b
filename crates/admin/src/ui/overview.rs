//! The overview: every server with its transport, health (and why it is parked), the policy
//! version in force, its tools by risk class and its calls and denials of the last hour; and the
//! kill switches — global, per server, per grant — thrown or lifted with a reason, behind a
//! confirmation.

use super::Ui;
use super::access::{Operator, UiError};
use super::call::{self, Failure};
use super::layout::{self, Nav};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::role::Permission;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::html;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use toolgate_catalog::Category;

/// Most audit records the hour's counts are made from; past it, counts read "≥ N".
const HOUR_SAMPLE: u32 = 1000;

#[derive(Debug, Deserialize)]
pub(crate) struct KillForm {
    /// `engage` or `release`.
    action: String,
    scope: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    reason: String,
    /// The confirmation checkbox.
    confirm: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Flash {
    done: Option<String>,
}

#[derive(Default)]
struct Hour {
    calls: usize,
    denials: usize,
}

pub(crate) async fn page(
    State(ui): State<Ui>,
    Extension(op): Extension<Operator>,
    axum::extract::Query(flash): axum::extract::Query<Flash>,
) -> Result<Response, UiError> {
    let app = || State(ui.app.clone());
    let servers = call::json(crate::servers::list(app()).await).await?;
    let catalogue = call::json(
        crate::pins::catalog(app(), ApiQuery(crate::pins::CatalogQuery { server: None })).await,
    )
    .await?;
    let switches = call::json(crate::kill::list(app()).await).await;
    let grants = call::json(crate::grants::list(app()).await).await;
    let hour_query = call::query(json!({"since": "1h", "limit": HOUR_SAMPLE, "order": "desc"}))?;
    let recent = call::json(crate::audit::query(app(), ApiQuery(hour_query)).await).await;

    let mut risk: BTreeMap<&str, BTreeMap<Category, usize>> = BTreeMap::new();
    for t in catalogue["tools"].as_array().into_iter().flatten() {
        let (Some(server), Some(cat)) = (
            t["server"].as_str(),
            t["classification"]["category"]
                .as_str()
                .and_then(Category::parse),
        ) else {
            continue;
        };
        *risk.entry(server).or_default().entry(cat).or_default() += 1;
    }
    let (hour, capped) = match &recent {
        Ok(r) => {
            let mut by_server: BTreeMap<String, Hour> = BTreeMap::new();
            let records = r["records"].as_array().cloned().unwrap_or_default();
            for rec in records.iter().filter(|r| r["method"] == "tools/call") {
                let h = by_server
                    .entry(rec["server"].as_str().unwrap_or("").to_owned())
                    .or_default();
                h.calls += 1;
                if rec["decision"] != "allow" {
                    h.denials += 1;
                }
            }
            (by_server, records.len() >= HOUR_SAMPLE as usize)
        }
        Err(_) => (BTreeMap::new(), false),
    };
    let at_least = if capped { "≥ " } else { "" };
    let admin = op.may(Permission::Administer) && !ui.read_only();
    let engaged: Vec<Value> = switches
        .as_ref()
        .ok()
        .and_then(|s| s["kill_switches"].as_array().cloned())
        .unwrap_or_default();
    let server_names: Vec<String> = servers["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str().map(str::to_owned))
        .collect();
    let grant_labels: Vec<String> = grants
        .as_ref()
        .ok()
        .and_then(|g| g["grants"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|g| g["status"] == "active")
        .filter_map(|g| g["label"].as_str().map(str::to_owned))
        .collect();

    let body = html! {
        @if let Some(done) = flash.done.as_deref() {
            (layout::notice("ok", match done {
                "engaged" => "Kill switch engaged.",
                "released" => "Kill switch released.",
                _ => "Done.",
            }))
        }
        @if let Err(f) = &recent { (layout::notice("warn", &format!("Calls of the last hour are unavailable: {}", f.message))) }
        section aria-labelledby="servers-h" {
            h2 #servers-h { "Servers" }
            table.data {
                thead { tr {
                    th scope="col" { "Server" } th scope="col" { "Transport" } th scope="col" { "Health" }
                    th scope="col" { "Policy" } th scope="col" { "Tools by risk" }
                    th scope="col" { "Calls (1 h)" } th scope="col" { "Denied (1 h)" }
                } }
                tbody {
                    @for s in servers["servers"].as_array().into_iter().flatten() {
                        @let name = s["name"].as_str().unwrap_or("");
                        @let h = hour.get(name);
                        tr {
                            th scope="row" { a href={"/ui/catalogue?server=" (super::access::encode_component(name))} { (name) } }
                            td { (s["transport"]["type"].as_str().unwrap_or("")) }
                            td {
                                @let state = s["status"]["state"].as_str().unwrap_or("");
                                span class={"health " @if s["status"]["ready"] == true { "ok" } @else { "bad" }} { (state) }
                                @if let Some(r) = s["status"]["reason"].as_str() { div.reason { (r) } }
                                @if let Some(k) = s["kill_switch"].as_object() {
                                    div.reason { "stopped by the " (k.get("scope").and_then(|v| v.as_str()).unwrap_or("")) " kill switch" }
                                }
                            }
                            td {
                                @if s["policy"]["allow_all"] == true { "none (allows every call)" }
                                @else {
                                    a href={"/ui/policies/" (super::access::encode_component(name))} {
                                        code { (layout::short(s["policy"]["version"].as_str().unwrap_or(""))) }
                                    }
                                }
                            }
                            td {
                                @if let Some(counts) = risk.get(name) {
                                    @for (cat, n) in counts {
                                        (layout::risk_badge(cat.as_str())) " " (n) " "
                                    }
                                } @else { "not catalogued yet" }
                            }
                            td.num { (at_least) (h.map_or(0, |h| h.calls)) }
                            td.num { (at_least) (h.map_or(0, |h| h.denials)) }
                        }
                    }
                }
            }
        }
        section aria-labelledby="kill-h" {
            h2 #kill-h { "Kill switches" }
            @if engaged.is_empty() { p { "None engaged: calls flow as the policies say." } }
            @else {
                table.data {
                    thead { tr { th scope="col" { "Scope" } th scope="col" { "Target" } th scope="col" { "Reason" } @if admin { th scope="col" { "Release" } } } }
                    tbody {
                        @for k in &engaged {
                            tr.engaged {
                                td { (k["scope"].as_str().unwrap_or("")) }
                                td { (k["target"].as_str().unwrap_or("—")) }
                                td { (k["reason"].as_str().unwrap_or("")) }
                                @if admin {
                                    td {
                                        form method="post" action="/ui/kill-switches" {
                                            (layout::csrf(&op))
                                            input type="hidden" name="action" value="release";
                                            input type="hidden" name="scope" value=(k["scope"].as_str().unwrap_or(""));
                                            input type="hidden" name="target" value=(k["target"].as_str().unwrap_or(""));
                                            label { input type="checkbox" name="confirm" value="yes" required; " I am sure" }
                                            " "
                                            button type="submit" { "Release" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if admin {
                details.kill {
                    summary { "Engage a kill switch…" }
                    form method="post" action="/ui/kill-switches" {
                        (layout::csrf(&op))
                        input type="hidden" name="action" value="engage";
                        fieldset {
                            legend { "Stop" }
                            label { input type="radio" name="scope" value="global" required; " every call (global)" }
                            label { input type="radio" name="scope" value="server"; " one server" }
                            label { input type="radio" name="scope" value="grant"; " one grant" }
                        }
                        label for="kill-target" { "Server or grant" }
                        input #kill-target name="target" list="kill-targets" autocomplete="off";
                        datalist #kill-targets {
                            @for n in &server_names { option value=(n) {} }
                            @for g in &grant_labels { option value=(g) {} }
                        }
                        label for="kill-reason" { "Reason (agents see it)" }
                        input #kill-reason name="reason" required;
                        label { input type="checkbox" name="confirm" value="yes" required; " I am sure: calls stop at once" }
                        button.danger type="submit" { "Engage" }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ui, &op, Nav::Overview, "Overview", body))
}

/// `POST /ui/kill-switches`: engage or release, through the API's handlers.
pub(crate) async fn kill_switch(
    State(ui): State<Ui>,
    Extension(op): Extension<Operator>,
    Form(f): Form<KillForm>,
) -> Result<Response, UiError> {
    op.require(Permission::Administer)?;
    refuse_read_only(&ui)?;
    if f.confirm.as_deref() != Some("yes") {
        return Err(UiError::new(
            http::StatusCode::BAD_REQUEST,
            "tick the confirmation box to throw or lift a kill switch",
        ));
    }
    let target = Some(f.target.trim().to_owned()).filter(|t| !t.is_empty());
    let app = State(ui.app.clone());
    let actor = Extension(op.actor.clone());
    let done = match f.action.as_str() {
        "engage" => {
            let req = crate::kill::Engage {
                scope: f.scope,
                target,
                reason: Some(f.reason),
            };
            call::json(crate::kill::engage(app, actor, ApiJson(req)).await).await?;
            "engaged"
        }
        "release" => {
            let answer = match target {
                None => crate::kill::release(app, actor, ApiPath(f.scope)).await,
                Some(t) => crate::kill::release_target(app, actor, ApiPath((f.scope, t))).await,
            };
            call::json(answer).await?;
            "released"
        }
        other => {
            return Err(Failure {
                status: http::StatusCode::BAD_REQUEST,
                code: "invalid_request".into(),
                message: format!("unknown action {other:?}"),
                error: Value::Null,
            }
            .into());
        }
    };
    Ok(Redirect::to(&format!("/ui?done={done}")).into_response())
}

/// Refuses any change in read-only mode.
pub(crate) fn refuse_read_only(ui: &Ui) -> Result<(), UiError> {
    if ui.read_only() {
        Err(UiError::new(
            http::StatusCode::FORBIDDEN,
            "the UI is read-only ([admin] ui = \"read-only\"): nothing can be changed here",
        ))
    } else {
        Ok(())
    }
}
