//! The catalogue: every tool of every server with its risk badge, severity, the classifier's
//! reasons, its pin state and what the policy in force does with it (and the rule that says so);
//! filtered by server, risk class, decision and pin state, searched by name and description.
//! The filters are a plain GET form, so every view has a URL; the script narrows the search as
//! one types.

use super::Ui;
use super::access::{Operator, UiError, encode_component};
use super::call;
use super::layout::{self, Nav};
use crate::extract::ApiQuery;
use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;
use toolgate_catalog::Category;
use toolgate_policy::{ToolOutcome, ToolVerdict};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filters {
    server: Option<String>,
    class: Option<String>,
    decision: Option<String>,
    pin: Option<String>,
    q: Option<String>,
}

/// One row: a catalogue entry and the policy's verdict on it.
struct Row<'a> {
    entry: &'a Value,
    server: &'a str,
    tool: &'a str,
    category: &'a str,
    pin: &'a str,
    description: &'a str,
    verdict: Option<(ToolOutcome, String, bool)>,
}

pub(crate) async fn page(
    State(ui): State<Ui>,
    Extension(op): Extension<Operator>,
    Query(f): Query<Filters>,
) -> Result<Response, UiError> {
    let (catalogue, listing_errors) = listed_catalogue(&ui, None).await?;
    let state = ui.app.gateway.state();
    let policies: std::collections::HashMap<&str, _> = state
        .servers
        .iter()
        .map(|(name, rt)| (name.as_str(), rt.policy.load_full()))
        .collect();
    let nonempty = |o: &Option<String>| o.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    let (server, class, decision, pin) = (
        nonempty(&f.server),
        nonempty(&f.class),
        nonempty(&f.decision),
        nonempty(&f.pin),
    );
    let q = nonempty(&f.q).map(|q| q.to_lowercase());
    let all: Vec<Row<'_>> = catalogue["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let server = e["server"].as_str().unwrap_or("");
            let tool = e["tool"].as_str().unwrap_or("");
            let verdict = policies.get(server).map(|p| {
                let ToolVerdict {
                    outcome,
                    rule,
                    conditional,
                } = p.tool_verdict(tool);
                (outcome, rule.to_owned(), conditional)
            });
            Row {
                entry: e,
                server,
                tool,
                category: e["classification"]["category"].as_str().unwrap_or(""),
                pin: e["state"].as_str().unwrap_or(""),
                description: e["current"]["definition"]["description"]
                    .as_str()
                    .unwrap_or(""),
                verdict,
            }
        })
        .collect();
    let servers: BTreeSet<&str> = all.iter().map(|r| r.server).collect();
    let rows: Vec<&Row<'_>> = all
        .iter()
        .filter(|r| server.as_deref().is_none_or(|s| s == r.server))
        .filter(|r| class.as_deref().is_none_or(|c| c == r.category))
        .filter(|r| pin.as_deref().is_none_or(|p| p == r.pin))
        .filter(|r| {
            decision
                .as_deref()
                .is_none_or(|d| r.verdict.as_ref().is_some_and(|v| v.0.as_str() == d))
        })
        .filter(|r| {
            q.as_deref().is_none_or(|q| {
                r.tool.to_lowercase().contains(q) || r.description.to_lowercase().contains(q)
            })
        })
        .collect();
    let selected = |current: &Option<String>, value: &str| current.as_deref() == Some(value);
    let body = html! {
        @for e in &listing_errors { (layout::notice("warn", &format!("Cannot list the tools of {e}"))) }
        form.filters method="get" action="/ui/catalogue" role="search" {
            div {
                label for="f-q" { "Search name or description" }
                input #f-q type="search" name="q" value=(f.q.as_deref().unwrap_or("")) data-live-filter="#tools";
            }
            div {
                label for="f-server" { "Server" }
                select #f-server name="server" {
                    option value="" { "all" }
                    @for s in &servers { option value=(s) selected[selected(&server, s)] { (s) } }
                }
            }
            div {
                label for="f-class" { "Risk" }
                select #f-class name="class" {
                    option value="" { "all" }
                    @for c in Category::ALL { option value=(c.as_str()) selected[selected(&class, c.as_str())] { (c.as_str()) } }
                }
            }
            div {
                label for="f-decision" { "Policy" }
                select #f-decision name="decision" {
                    option value="" { "all" }
                    @for o in ToolOutcome::ALL { option value=(o.as_str()) selected[selected(&decision, o.as_str())] { (o.as_str()) } }
                }
            }
            div {
                label for="f-pin" { "Pin" }
                select #f-pin name="pin" {
                    option value="" { "all" }
                    @for p in ["pinned", "changed", "new"] { option value=(p) selected[selected(&pin, p)] { (p) } }
                }
            }
            div { button type="submit" { "Filter" } }
        }
        p.count aria-live="polite" { span #tools-shown { (rows.len()) } " of " (all.len()) " tools" }
        table.data #tools {
            thead { tr {
                th scope="col" { "Tool" } th scope="col" { "Server" } th scope="col" { "Risk" }
                th scope="col" { "Severity" } th scope="col" { "Why" } th scope="col" { "Pin" }
                th scope="col" { "Policy" }
            } }
            tbody {
                @for r in &rows {
                    tr data-search=(format!("{} {}", r.tool, r.description).to_lowercase()) {
                        th scope="row" {
                            a href={"/ui/catalogue/" (encode_component(r.server)) "/" (encode_component(r.tool))} { (r.tool) }
                            @if !r.description.is_empty() { div.muted { (truncate(r.description, 140)) } }
                        }
                        td { (r.server) }
                        td { (layout::risk_badge(r.category)) }
                        td { (r.entry["classification"]["severity"].as_str().unwrap_or("")) }
                        td.reason {
                            @for reason in r.entry["classification"]["reasons"].as_array().into_iter().flatten().take(2) {
                                div { (reason.as_str().unwrap_or("")) }
                            }
                        }
                        td { span class={"badge pin-" (r.pin)} { (r.pin) } }
                        td {
                            @if let Some((outcome, rule, conditional)) = &r.verdict {
                                (layout::outcome_badge(*outcome))
                                @if *conditional { " " span.muted { "+ conditions" } }
                                div { code { (rule) } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ui, &op, Nav::Catalogue, "Catalogue", body))
}

/// How long the page waits for a server nobody has used yet to list its tools.
const LISTING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The catalogue (of every server, or `only` one), after listing any server that has no tool in
/// it yet — a lazy stdio server nobody has used — since the operator asked to see its tools;
/// with what could not be listed.
pub(crate) async fn listed_catalogue(
    ui: &Ui,
    only: Option<&str>,
) -> Result<(Value, Vec<String>), UiError> {
    let catalogue = read_catalogue(ui, only).await?;
    let state = ui.app.gateway.state();
    let mut errors = Vec::new();
    let mut refreshed = false;
    for name in state
        .servers
        .keys()
        .filter(|n| only.is_none_or(|o| o == n.as_str()))
    {
        let listed = catalogue["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| t["server"] == name.as_str());
        if listed {
            continue;
        }
        refreshed = true;
        match tokio::time::timeout(LISTING_TIMEOUT, ui.app.gateway.refresh_catalogue(name)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => errors.push(format!("{name}: {e}")),
            Err(_) => errors.push(format!("{name}: no listing within {LISTING_TIMEOUT:?}")),
        }
    }
    if refreshed {
        return Ok((read_catalogue(ui, only).await?, errors));
    }
    Ok((catalogue, errors))
}

async fn read_catalogue(ui: &Ui, only: Option<&str>) -> Result<Value, UiError> {
    let answer = crate::pins::catalog(
        State(ui.app.clone()),
        ApiQuery(crate::pins::CatalogQuery {
            server: only.map(str::to_owned),
        }),
    )
    .await;
    Ok(call::json(answer).await?)
}

/// At most `max` characters of `text`, with an ellipsis when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}
