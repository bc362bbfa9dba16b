//! One tool's page: its full definition as the server lists it (schema, annotations), its risk
//! with every reason, its pin state, what the policy does with it, and its recent calls.

use super::Ui;
use super::access::{Operator, UiError, encode_component};
use super::call;
use super::layout::{self, Nav};
use crate::extract::{ApiPath, ApiQuery};
use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Response;
use maud::html;
use serde_json::json;

/// Recent calls shown.
const RECENT: u32 = 25;

pub(crate) async fn page(
    State(ui): State<Ui>,
    Extension(op): Extension<Operator>,
    Path((server, tool)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let app = || State(ui.app.clone());
    let entry =
        call::json(crate::pins::one(app(), ApiPath((server.clone(), tool.clone()))).await).await?;
    let recent_query = call::query(json!({
        "server": server, "tool": tool, "order": "desc", "limit": RECENT,
    }))?;
    let recent = call::json(crate::audit::query(app(), ApiQuery(recent_query)).await).await;
    let verdict = ui.app.gateway.state().servers.get(&server).map(|rt| {
        let p = rt.policy.load_full();
        let v = p.tool_verdict(&tool);
        (v.outcome, v.rule.to_owned(), v.conditional)
    });
    let now = crate::now_ms();
    let def = &entry["current"]["definition"];
    let body = html! {
        p {
            "Server " a href={"/ui/catalogue?server=" (encode_component(&server))} { (server) } " · "
            (layout::risk_badge(entry["classification"]["category"].as_str().unwrap_or("")))
            " severity " strong { (entry["classification"]["severity"].as_str().unwrap_or("")) }
            " · pin " span class={"badge pin-" (entry["state"].as_str().unwrap_or(""))} { (entry["state"].as_str().unwrap_or("")) }
            @if let Some((outcome, rule, conditional)) = &verdict {
                " · policy " (layout::outcome_badge(*outcome)) " " code { (rule) }
                @if *conditional { " " span.muted { "(conditions on arguments apply)" } }
            }
        }
        p.actions {
            a href={"/ui/policies/" (encode_component(&server)) "?tool=" (encode_component(&tool))} { "Change what the policy does with it" }
            @if entry["state"] != "pinned" {
                a href={"/ui/pins/" (encode_component(&server)) "/" (encode_component(&tool))} { "Review its changed definition" }
            }
        }
        @if let Some(d) = def["description"].as_str() { p { (d) } }
        h2 { "Why it is " (entry["classification"]["category"].as_str().unwrap_or("")) }
        ul {
            @for r in entry["classification"]["reasons"].as_array().into_iter().flatten() {
                li { (r.as_str().unwrap_or("")) }
            }
            @if entry["classification"]["overridden"] == true { li { "the operator's override in the config decides" } }
        }
        div.grid2 {
            section aria-labelledby="schema-h" {
                h2 #schema-h { "Input schema" }
                (layout::json_block(&def["inputSchema"]))
                @if !def["outputSchema"].is_null() {
                    h2 { "Output schema" }
                    (layout::json_block(&def["outputSchema"]))
                }
            }
            section aria-labelledby="ann-h" {
                h2 #ann-h { "Annotations" }
                @if def["annotations"].is_null() { p { "None (the protocol then assumes a destructive, non-read-only tool)." } }
                @else { (layout::json_block(&def["annotations"])) }
                h2 { "Full definition" }
                details { summary { "As the server lists it" } (layout::json_block(def)) }
            }
        }
        section aria-labelledby="recent-h" {
            h2 #recent-h { "Recent calls" }
            @match &recent {
                Err(f) => { (layout::notice("warn", &f.message)) }
                Ok(r) => {
                    @let records = r["records"].as_array().cloned().unwrap_or_default();
                    @if records.is_empty() { p { "No calls recorded." } }
                    @else {
                        table.data {
                            thead { tr { th scope="col" { "When" } th scope="col" { "Agent" } th scope="col" { "Decision" } th scope="col" { "Rule" } th scope="col" { "Upstream" } th scope="col" { "Record" } } }
                            tbody {
                                @for rec in &records {
                                    tr {
                                        td { (layout::time(rec["time_ms"].as_u64().unwrap_or(0), now)) }
                                        td { (rec["agent"].as_str().unwrap_or("")) }
                                        td { (layout::decision_badge(rec["decision"].as_str().unwrap_or(""))) }
                                        td { code { (rec["rule"].as_str().unwrap_or("")) } }
                                        td { (rec["upstream_status"].as_str().unwrap_or("")) }
                                        td { a href={"/ui/audit/requests/" (rec["seq"].as_u64().unwrap_or(0))} { "#" (rec["seq"].as_u64().unwrap_or(0)) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ui, &op, Nav::Catalogue, &tool, body))
}
