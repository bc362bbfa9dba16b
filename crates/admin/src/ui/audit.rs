//! The audit log: the live stream of decisions (server-sent events) under filters for agent,
//! server, tool, decision and time, a record's full view, "verify chain" with its result, and the
//! filtered set exported as JSONL; beside it, the admin stream (who changed what), live too.
//! Everything is read through `GET /api/audit`, `/api/audit/stream` and `/api/audit/verify`.

use super::Ui;
use super::access::{Operator, UiError, encode_component};
use super::call;
use super::layout::{self, Nav};
use crate::extract::ApiQuery;
use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, header};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use toolgate_store::audit::AuditDecision;

/// Records the page opens with.
const FIRST: u32 = 100;
/// Most records one export writes.
const MAX_EXPORT: usize = 1_000_000;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filters {
    agent: Option<String>,
    server: Option<String>,
    tool: Option<String>,
    decision: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

impl Filters {
    /// The filters that are set, as `GET /api/audit` takes them.
    fn fields(&self) -> Map<String, Value> {
        [
            ("agent", &self.agent),
            ("server", &self.server),
            ("tool", &self.tool),
            ("decision", &self.decision),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .into_iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| (k.to_owned(), Value::String(v.to_owned())))
        })
        .collect()
    }

    fn query_string(&self) -> String {
        self.fields()
            .iter()
            .map(|(k, v)| format!("{k}={}", encode_component(v.as_str().unwrap_or(""))))
            .collect::<Vec<_>>()
            .join("&")
    }
}

async fn records(ui: &Ui, mut fields: Map<String, Value>) -> Result<Value, call::Failure> {
    fields.insert("order".into(), "desc".into());
    fields.entry("limit").or_insert(FIRST.into());
    let q = call::query(Value::Object(fields))?;
    call::json(crate::audit::query(State(ui.app.clone()), ApiQuery(q)).await).await
}

pub(crate) async fn page(
    State(ui): State<Ui>,
    Extension(op): Extension<Operator>,
    Query(f): Query<Filters>,
) -> Result<Response, UiError> {
    let fields = f.fields();
    // Each list answers `last_seq`, which its table carries: the streams the script opens start
    // after it, so a record written between drawing the page and opening them still arrives.
    let requests = records(&ui, fields.clone()).await;
    let mut admin_fields = Map::new();
    admin_fields.insert("stream".into(), "admin".into());
    admin_fields.insert("limit".into(), 50.into());
    let admin = records(&ui, admin_fields).await;
    let now = crate::now_ms();
    let qs = f.query_string();
    let value = |o: &Option<String>| o.clone().unwrap_or_default();
    let body = html! {
        form.filters method="get" action="/ui/audit" role="search" {
            div { label for="a-agent" { "Agent" } input #a-agent name="agent" value=(value(&f.agent)); }
            div { label for="a-server" { "Server" } input #a-server name="server" value=(value(&f.server)); }
            div { label for="a-tool" { "Tool" } input #a-tool name="tool" value=(value(&f.tool)); }
            div {
                label for="a-decision" { "Decision" }
                select #a-decision name="decision" {
                    option value="" { "any" }
                    @for d in AuditDecision::ALL {
                        option value=(d.as_str()) selected[f.decision.as_deref() == Some(d.as_str())] { (d.as_str()) }
                    }
                }
            }
            div { label for="a-since" { "Since (15m, 2h, RFC 3339)" } input #a-since name="since" value=(value(&f.since)); }
            div { label for="a-until" { "Until" } input #a-until name="until" value=(value(&f.until)); }
            div { button type="submit" { "Filter" } }
        }
        p.actions {
            a href={"/ui/audit/export.jsonl?" (qs)} download="audit.jsonl" { "Export these records (JSONL)" }
            a href="/ui/audit/verify" { "Verify the chains" }
        }
        div.grid2.audit {
            section aria-labelledby="req-h" {
                h2 #req-h { "Decisions" }
                p.stream-state #audit-live aria-live="polite" data-src={"/ui/audit/stream?" (qs)} data-rate="audit-rate" { "Live updates need JavaScript; reload to see new records." }
                p.stream-state.sampling #audit-rate hidden {}
                @match &requests {
                    Err(e) => { (layout::notice("error", &e.message)) }
                    Ok(r) => { (request_table(r, now)) }
                }
            }
            section aria-labelledby="adm-h" {
                h2 #adm-h { "Admin changes" }
                p.stream-state #admin-live aria-live="polite" data-src="/ui/audit/stream?stream=admin" data-rate="admin-rate" {}
                p.stream-state.sampling #admin-rate hidden {}
                @match &admin {
                    Err(e) => { (layout::notice("error", &e.message)) }
                    Ok(r) => { (admin_table(r, now)) }
                }
            }
        }
    };
    Ok(layout::page(&ui, &op, Nav::Audit, "Audit", body))
}

fn request_table(r: &Value, now: u64) -> Markup {
    html! {
        table.data #audit-requests data-since=[r["last_seq"].as_u64()] {
            thead { tr {
                th scope="col" { "#" } th scope="col" { "When" } th scope="col" { "Agent" } th scope="col" { "Server / tool" }
                th scope="col" { "Decision" } th scope="col" { "Rule" }
            } }
            tbody {
                @for rec in r["records"].as_array().into_iter().flatten() {
                    @let seq = rec["seq"].as_u64().unwrap_or(0);
                    tr data-seq=(seq) {
                        td { a href={"/ui/audit/requests/" (seq)} { (seq) } }
                        td { (layout::time(rec["time_ms"].as_u64().unwrap_or(0), now)) }
                        td { (rec["agent"].as_str().unwrap_or("")) }
                        td { (rec["server"].as_str().unwrap_or("")) " / " (rec["tool"].as_str().unwrap_or(rec["method"].as_str().unwrap_or(""))) }
                        td { (layout::decision_badge(rec["decision"].as_str().unwrap_or(""))) }
                        td { code { (rec["rule"].as_str().unwrap_or("")) } }
                    }
                }
            }
        }
    }
}

fn admin_table(r: &Value, now: u64) -> Markup {
    html! {
        table.data #audit-admin data-since=[r["last_seq"].as_u64()] {
            thead { tr { th scope="col" { "#" } th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" { "Target" } } }
            tbody {
                @for rec in r["records"].as_array().into_iter().flatten() {
                    @let seq = rec["seq"].as_u64().unwrap_or(0);
                    tr data-seq=(seq) {
                        td { a href={"/ui/audit/admin/" (seq)} { (seq) } }
                        td { (layout::time(rec["time_ms"].as_u64().unwrap_or(0), now)) }
                        td { (rec["actor"].as_str().unwrap_or("")) }
                        td { (rec["action"].as_str().unwrap_or("")) }
                        td { (rec["target"].as_str().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

/// `GET /ui/audit/stream`: the API's audit stream, for the signed-in page (which passes `after`:
/// the records written since it was drawn).
pub(crate) async fn stream(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    crate::audit_stream::stream(State(ui.app.clone()), headers, ApiQuery(q))
        .await
        .into_response()
}

/// `GET /ui/audit/{stream}/{seq}`: one record, whole.
pub(crate) async fn record(
    State(ui): State<Ui>,
    Extension(op): Extension<Operator>,
    Path((stream, seq)): Path<(String, u64)>,
) -> Result<Response, UiError> {
    let mut fields = Map::new();
    fields.insert("stream".into(), stream.clone().into());
    fields.insert("after".into(), seq.saturating_sub(1).into());
    fields.insert("order".into(), "asc".into());
    fields.insert("limit".into(), 1.into());
    let q = call::query(Value::Object(fields))?;
    let found = call::json(crate::audit::query(State(ui.app.clone()), ApiQuery(q)).await).await?;
    let rec = found["records"]
        .as_array()
        .and_then(|r| r.first())
        .filter(|r| r["seq"].as_u64() == Some(seq))
        .cloned()
        .ok_or_else(|| UiError::not_found(format!("no record {seq} in the {stream} stream")))?;
    let body = html! {
        p { a href="/ui/audit" { "Back to the audit log" } }
        (layout::json_block(&rec))
    };
    Ok(layout::page(
        &ui,
        &op,
        Nav::Audit,
        &format!("{stream} record {seq}"),
        body,
    ))
}

/// `GET /ui/audit/verify`: walks both chains and shows the result.
pub(crate) async fn verify(
    State(ui): State<Ui>,
    Extension(op): Extension<Operator>,
) -> Result<Response, UiError> {
    let q = call::query(json!({}))?;
    let report = call::json(crate::audit::verify(State(ui.app.clone()), ApiQuery(q)).await).await?;
    let intact = report["intact"] == true;
    let body = html! {
        @if intact { (layout::notice("ok", "Both chains are intact: no record was edited, removed or reordered.")) }
        @else { (layout::notice("error", "A chain is broken: see below.")) }
        table.data {
            thead { tr { th scope="col" { "Stream" } th scope="col" { "Records" } th scope="col" { "Result" } } }
            tbody {
                @for s in report["streams"].as_array().into_iter().flatten() {
                    tr {
                        td { (s["stream"].as_str().unwrap_or("")) }
                        td.num { (s["checked"].as_u64().unwrap_or(0)) }
                        td { @if s["intact"] == true { "intact" } @else { (s["message"].as_str().unwrap_or("broken")) } }
                    }
                }
            }
        }
        details { summary { "The full report" } (layout::json_block(&report)) }
        p { a href="/ui/audit" { "Back to the audit log" } }
    };
    Ok(layout::page(
        &ui,
        &op,
        Nav::Audit,
        "Audit chain verification",
        body,
    ))
}

/// `GET /ui/audit/export.jsonl`: every record the filters select, oldest first, one JSON object
/// a line, paged through the API's query.
pub(crate) async fn export(
    State(ui): State<Ui>,
    Query(f): Query<Filters>,
) -> Result<Response, UiError> {
    let mut out = Vec::new();
    let mut after: Option<u64> = None;
    let mut written = 0usize;
    loop {
        let mut fields = f.fields();
        fields.insert("order".into(), "asc".into());
        fields.insert("limit".into(), 1000.into());
        if let Some(a) = after {
            fields.insert("after".into(), a.into());
        }
        let q = call::query(Value::Object(fields))?;
        let page =
            call::json(crate::audit::query(State(ui.app.clone()), ApiQuery(q)).await).await?;
        let records = page["records"].as_array().cloned().unwrap_or_default();
        for r in &records {
            serde_json::to_writer(&mut out, r).map_err(|e| {
                UiError::new(http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            })?;
            out.push(b'\n');
        }
        written += records.len();
        match page["next"]["after"].as_u64() {
            Some(n) if written < MAX_EXPORT => after = Some(n),
            _ => break,
        }
    }
    let mut res = Body::from(out).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jsonl"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"toolgate-audit.jsonl\""),
    );
    Ok(res)
}
