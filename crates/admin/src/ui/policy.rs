//! The policy builder, per server: the live tool list with a control per tool (allow, deny with a
//! reason, hide, require approval with a timeout, a rate limit, a condition on an argument picked
//! from the tool's input schema), `default` and `hide`, bulk changes by risk class; the same
//! document as raw text with the validator's errors at their line and column; a simulator (the
//! `policy explain` engine on a candidate); the diff of what will change; and saving through
//! `PUT /api/policies/{server}` with `If-Match` on the version the page was built from.
//!
//! The builder edits the document (JSON in the page); [`toolgate_policy::rewrite`] turns it back
//! into the file's text, keeping the comments and key order of everything the builder did not
//! change. With `?grant=<label>` the same page edits that grant's own policy for the server
//! ([`super::policy_subject`]).

use super::Ui;
use super::access::{Operator, UiError, encode_component};
use super::call::{self, Failure};
use super::diff;
use super::layout::{self, Nav};
use super::overview::refuse_read_only;
use super::policy_subject::Subject;
use crate::extract::{ApiPath, ApiQuery};
use crate::role::Permission;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use http::{HeaderMap, StatusCode};
use maud::{PreEscaped, html};
use serde::Deserialize;
use serde_json::{Value, json};
use toolgate_catalog::Category;
use toolgate_policy::{Call, Identity, SourceFormat};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PageQuery {
    /// Scroll to (and filter by) this tool.
    tool: Option<String>,
    /// The version just saved.
    saved: Option<String>,
    /// Edit this grant's own policy for the server.
    grant: Option<String>,
    /// The grant's own policy was just taken away.
    removed: Option<String>,
}

/// Whose policy a request is about: the server's, or this grant's own (`?grant=`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct GrantQuery {
    grant: Option<String>,
}

impl GrantQuery {
    fn label(&self) -> Option<&str> {
        self.grant.as_deref().filter(|g| !g.is_empty())
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ConfirmForm {
    confirm: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Candidate {
    /// The builder's document (JSON), written back over the file's text.
    document: Option<Value>,
    /// Or the whole text (the raw tab).
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SaveRequest {
    text: String,
    /// The version the page was built from (`If-Match`).
    version: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Simulation {
    tool: String,
    #[serde(default)]
    args: String,
    #[serde(default)]
    agent: String,
    #[serde(default)]
    grant: String,
    /// A candidate text; none: the policy in force.
    text: Option<String>,
}

/// `GET /ui/policies`: the servers whose policies can be built here.
pub(crate) async fn index(
    State(ui): State<Ui>,
    Extension(op): Extension<Operator>,
) -> Result<Response, UiError> {
    let servers = call::json(crate::servers::list(State(ui.app.clone())).await).await?;
    let grants = call::json(crate::grants::list(State(ui.app.clone())).await).await?;
    let own = |server: &str| -> Vec<String> {
        grants["grants"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|g| g["policies"][server].is_string())
            .filter_map(|g| g["label"].as_str().map(str::to_owned))
            .collect()
    };
    let body = html! {
        ul {
            @for s in servers["servers"].as_array().into_iter().flatten() {
                @let name = s["name"].as_str().unwrap_or("");
                li {
                    a href={"/ui/policies/" (encode_component(name))} { (name) }
                    @if s["policy"]["allow_all"] == true { " — no policy file (allows every call)" }
                    @else { " — " code { (s["policy"]["path"].as_str().unwrap_or("")) } }
                    @let labels = own(name);
                    @if !labels.is_empty() {
                        ul {
                            @for l in &labels {
                                li { "grant " a href={"/ui/policies/" (encode_component(name)) "?grant=" (encode_component(l))} { (l) } "'s own policy" }
                            }
                        }
                    }
                }
            }
        }
        p.hint { "A grant may have a policy of its own for a server, which replaces the server's for that grant: open it from the Grants page." }
    };
    Ok(layout::page(&ui, &op, Nav::Policies, "Policies", body))
}

pub(crate) async fn page(
    State(ui): State<Ui>,
    Extension(op): Extension<Operator>,
    Path(server): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, UiError> {
    let subject = Subject::load(&ui, &server, q.grant.as_deref().filter(|g| !g.is_empty())).await?;
    let policy = &subject.server_policy;
    let (catalogue, listing_errors) =
        super::catalogue::listed_catalogue(&ui, Some(&server)).await?;
    let live = subject.live.clone();
    let source = subject.source.as_str();
    let format = subject.format;
    let format_name = format_name(format);
    let document = toolgate_policy::parse_document(source, "policy", format)
        .map(|n| n.to_json())
        .unwrap_or(Value::Null);
    let may_save = op.may(Permission::Administer) && !ui.read_only() && subject.savable();
    let grant = subject.grant.as_ref();
    let mut tools: Vec<&Value> = catalogue["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    tools.sort_by(|a, b| a["tool"].as_str().cmp(&b["tool"].as_str()));
    // The document, for the script: `<` escaped so the text can never close the script element.
    let doc_json = document.to_string().replace('<', "\\u003c");
    let default = document["default"].as_str().unwrap_or("deny");
    let hide: Vec<&str> = document["hide"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let body = html! {
        @for e in &listing_errors { (layout::notice("warn", &format!("Cannot list the tools of {e}"))) }
        @if let Some(v) = &q.saved { (layout::notice("ok", &format!("Saved and applied: version {}.", layout::short(v)))) }
        @if q.removed.is_some() { (layout::notice("ok", "The grant's own policy is gone: the server's applies to it again.")) }
        @match grant {
            None => {
                @if policy["allow_all"] == true {
                    (layout::notice("warn", "This server has no policy file, so it allows every call. Give it `policy = \"<file>\"` in the config to build one here."))
                }
                @if policy["in_force"] == false {
                    (layout::notice("warn", "The file on disk differs from the policy in force (an edit that is invalid, or not applied yet). Saving replaces both."))
                }
                p {
                    "File " code { (policy["path"].as_str().unwrap_or("—")) }
                    " · " (policy["format"].as_str().unwrap_or("")) " · version in force "
                    code { (layout::short(policy["version"].as_str().unwrap_or(""))) }
                }
            }
            Some(g) => {
                @if g.own {
                    p #policy-owner {
                        "Grant " a href="/ui/grants" { (g.label) } " (agent " (g.agent) ") has a policy of its own for " (server)
                        ", which replaces the server's for its calls · " (format_name) " · version "
                        code { (layout::short(&subject.version)) }
                    }
                } @else {
                    (layout::notice("status", &format!("Grant {} has no policy of its own for {server}: the server's decides its calls. The builder starts from a copy of the server's; saving gives the grant its own.", g.label)))
                }
                @if !g.changeable { (layout::notice("warn", "This grant is in the config, or revoked or expired: its policy cannot be changed here.")) }
                p { a href={"/ui/policies/" (encode_component(&server))} { "The server's own policy" } }
            }
        }
        @if !may_save && subject.savable() {
            (layout::notice("status", &format!("You may try changes here (the builder, the raw tab, the simulator), but not save them: {}.", if ui.read_only() { "the UI is read-only" } else { "saving a policy needs the admin role" })))
        }
        div #builder .tabs data-server=(server) data-query=(subject.query()) data-grant=(grant.map_or("", |g| g.label.as_str())) data-agent=(grant.map_or("", |g| g.agent.as_str())) data-version=(subject.version) data-may-save=(may_save) data-focus=(q.tool.as_deref().unwrap_or("")) {
            script #policy-doc type="application/json" { (PreEscaped(doc_json)) }
            div role="tablist" aria-label="Ways to edit" hidden {
                button #tab-build type="button" role="tab" aria-controls="panel-build" aria-selected="true" { "Builder" }
                button #tab-raw type="button" role="tab" aria-controls="panel-raw" aria-selected="false" tabindex="-1" { "Raw " (format_name) }
                button #tab-sim type="button" role="tab" aria-controls="panel-sim" aria-selected="false" tabindex="-1" { "Simulator" }
            }
            section #panel-build role="tabpanel" aria-labelledby="tab-build" {
                h2 { "Builder" }
                div.filters {
                    div {
                        label for="b-default" { "Tools no rule names (default)" }
                        select #b-default {
                            option value="deny" selected[default == "deny"] { "deny" }
                            option value="allow" selected[default == "allow"] { "allow" }
                        }
                    }
                    div {
                        label for="b-hide" { "Hidden (names or globs, one a line)" }
                        textarea #b-hide rows="2" cols="30" { (hide.join("\n")) }
                    }
                    div {
                        label for="bulk-class" { "Every tool of risk" }
                        select #bulk-class {
                            @for c in Category::ALL { option value=(c.as_str()) selected[c == Category::Destructive] { (c.as_str()) } }
                        }
                    }
                    div {
                        label for="bulk-action" { "becomes" }
                        select #bulk-action { (action_options("hold")) }
                    }
                    div { button #bulk-apply type="button" { "Apply to all of them" } }
                    div {
                        label for="b-search" { "Find a tool" }
                        input #b-search type="search" value=(q.tool.as_deref().unwrap_or(""));
                    }
                }
                (all_tools_controls(&document["all_tools"]))
                table.data #builder-tools {
                    thead { tr {
                        th scope="col" { "Tool" } th scope="col" { "Risk" } th scope="col" { "Now" }
                        th scope="col" { "Change to" } th scope="col" { "Details" }
                    } }
                    tbody {
                        @for t in &tools {
                            @let name = t["tool"].as_str().unwrap_or("");
                            @let verdict = live.tool_verdict(name);
                            @let category = t["classification"]["category"].as_str().unwrap_or("");
                            @let fields: Vec<&String> = t["current"]["definition"]["inputSchema"]["properties"].as_object().map(|p| p.keys().collect()).unwrap_or_default();
                            @let id = format!("t-{}", encode_component(name));
                            tr data-tool=(name) data-risk=(category) {
                                th scope="row" { (name) }
                                td { (layout::risk_badge(category)) }
                                td { (layout::outcome_badge(verdict.outcome)) " " code.muted { (verdict.rule) } }
                                td {
                                    label.inline for={(id) "-action"} { span.sr { "Change " (name) " to" } }
                                    select id={(id) "-action"} data-field="action" { (action_options("keep")) }
                                }
                                td.details {
                                    span data-when="deny" hidden { label.inline { "Reason " input data-field="reason" size="28"; } }
                                    span data-when="hold" hidden {
                                        label.inline { "Mode " select data-field="mode" { option value="hold" selected { "hold: the call waits" } option value="retry" { "retry: the agent calls again" } } }
                                        label.inline { "Timeout " input data-field="timeout" value="10m" size="5"; }
                                    }
                                    span data-when="limit" hidden {
                                        label.inline { "Counter " input data-field="counter" size="14" placeholder={(name) "_rate"}; }
                                        label.inline { "Max " input data-field="max" type="number" min="1" value="10" size="4"; }
                                        label.inline { "per " select data-field="window" { option { "second" } option selected { "minute" } option { "hour" } option { "day" } } }
                                        label.inline { "per " select data-field="scope" { option selected { "grant" } option { "agent" } option { "session" } option { "server" } option { "global" } } }
                                    }
                                    @if !fields.is_empty() {
                                        details data-when="allow limit hold" hidden {
                                            summary { "Deny when an argument…" }
                                            label.inline { "Argument " select data-field="cond-path" { option value="" { "—" } @for f in &fields { option value={"args." (f)} { (f) } } } }
                                            label.inline { "is " select data-field="cond-op" { @for o in ["eq", "neq", "gt", "gte", "lt", "lte", "contains", "starts_with", "regex", "exists"] { option { (o) } } } }
                                            label.inline { "Value " input data-field="cond-value" size="12"; }
                                            label.inline { "Reason " input data-field="cond-reason" size="20"; }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if may_save { p.actions { button.primary #review-build type="button" { "Review changes" } } }
            }
            section #panel-raw role="tabpanel" aria-labelledby="tab-raw" {
                h2 { "Raw " (format_name) }
                label for="raw-text" { @if grant.is_some() { "The grant's policy" } @else { "The policy file" } }
                textarea #raw-text rows="24" spellcheck="false" { (source) }
                p.actions {
                    button #raw-check type="button" { "Check" }
                    @if may_save { button.primary #review-raw type="button" { "Review changes" } }
                }
                div #raw-diagnostics aria-live="polite" {}
            }
            section #panel-sim role="tabpanel" aria-labelledby="tab-sim" {
                h2 { "Simulator" }
                p.hint { "The decision for one call, by the same engine as `toolgate policy explain`: against the candidate you are editing (once checked), else the policy in force. Counters are taken as empty." }
                div.filters {
                    div { label for="sim-tool" { "Tool" } input #sim-tool list="sim-tools" value=(q.tool.as_deref().unwrap_or("")); }
                    datalist #sim-tools { @for t in &tools { option value=(t["tool"].as_str().unwrap_or("")) {} } }
                    div { label for="sim-agent" { "Agent" } input #sim-agent value=(grant.map_or("anonymous", |g| g.agent.as_str())); }
                    div { label for="sim-grant" { "Grant" } input #sim-grant value=(grant.map_or("anonymous", |g| g.label.as_str())); }
                }
                label for="sim-args" { "Arguments (JSON)" }
                textarea #sim-args rows="4" spellcheck="false" { "{}" }
                p.actions { button #sim-run type="button" { "Simulate" } }
                div #sim-result aria-live="polite" {}
            }
            @if may_save { section #review hidden aria-labelledby="review-h" {
                h2 #review-h tabindex="-1" { "What will change" }
                div #review-diagnostics {}
                pre.diff #review-diff {}
                p.actions {
                    button.primary #save type="button" { "Save and apply" }
                    button #review-cancel type="button" { "Keep editing" }
                }
                div #save-result aria-live="assertive" {}
            } }
        }
        @if let Some(g) = grant.filter(|g| g.own && may_save) {
            form.actions method="post" action={"/ui/policies/" (encode_component(&server)) "/forget" (subject.query())} {
                (layout::csrf(&op))
                label { input type="checkbox" name="confirm" value="yes" required; " I am sure" }
                button.danger type="submit" { "Take " (g.label) "'s own policy away (the server's applies again)" }
            }
        }
    };
    let title = match grant {
        Some(g) => format!("Policy of {server} for grant {}", g.label),
        None => format!("Policy of {server}"),
    };
    Ok(layout::page(&ui, &op, Nav::Policies, &title, body))
}

/// The controls for `all_tools`: a rate limit on every call, and a condition on any call's
/// arguments (its path typed, since tools' schemas differ).
fn all_tools_controls(current: &Value) -> maud::Markup {
    let count = |key: &str| current[key].as_array().map_or(0, Vec::len);
    let limits = count("limits") + usize::from(!current["rate_limit"].is_null());
    html! {
        fieldset #b-all {
            legend { "Every tool (" code { "all_tools" } ")" }
            p.hint {
                @if current.is_null() { "Nothing applies to every tool yet." }
                @else { "Now: " (limits) " limit(s), " (count("deny_if")) " deny_if rule(s), " (count("require")) " require rule(s)." }
            }
            div.filters {
                div {
                    label for="all-limit" { "Limit every call" }
                    select #all-limit {
                        option value="keep" { "(as now)" }
                        option value="none" { "no limit" }
                        option value="limit" { "at most…" }
                    }
                }
                div { label for="all-max" { "Calls" } input #all-max type="number" min="1" value="60" size="5"; }
                div {
                    label for="all-window" { "per" }
                    select #all-window { option { "second" } option selected { "minute" } option { "hour" } option { "day" } }
                }
                div {
                    label for="all-scope" { "counted per" }
                    select #all-scope { option selected { "grant" } option { "agent" } option { "session" } option { "server" } option { "global" } }
                }
            }
            details {
                summary { "Deny any call when an argument…" }
                div.filters {
                    div { label for="all-cond-path" { "Path" } input #all-cond-path placeholder="args.limit" size="16"; }
                    div {
                        label for="all-cond-op" { "is" }
                        select #all-cond-op { @for o in ["eq", "neq", "gt", "gte", "lt", "lte", "contains", "starts_with", "regex", "exists"] { option { (o) } } }
                    }
                    div { label for="all-cond-value" { "Value" } input #all-cond-value size="12"; }
                    div { label for="all-cond-reason" { "Reason" } input #all-cond-reason size="24"; }
                }
            }
        }
    }
}

fn action_options(selected: &str) -> maud::Markup {
    let options = [
        ("keep", "(as now)"),
        ("allow", "Allow"),
        ("deny", "Deny"),
        ("hide", "Hide"),
        ("hold", "Require approval"),
        ("limit", "Rate limit"),
    ];
    html! {
        @for (value, label) in options {
            @if value != "keep" || selected == "keep" {
                option value=(value) selected[value == selected] { (label) }
            }
        }
    }
}

/// The candidate's text: the raw text as sent, or the builder's document written over the text
/// being edited.
fn candidate_text(subject: &Subject, c: &Candidate) -> Result<String, UiError> {
    match (&c.text, &c.document) {
        (Some(t), _) => Ok(t.clone()),
        (None, Some(doc)) => toolgate_policy::rewrite(&subject.source, subject.format, doc).map_err(|d| {
            UiError::new(
                StatusCode::CONFLICT,
                format!("the policy cannot be read any more, so the builder cannot write over it: {d}; use the raw tab"),
            )
        }),
        (None, None) => Err(UiError::new(StatusCode::BAD_REQUEST, "send a document or a text")),
    }
}

/// `POST /ui/policies/{server}/check`: the candidate's text, the validator's verdict (every
/// diagnostic, located) through `POST /api/policies/{server}/validate`, and the diff against the
/// file.
pub(crate) async fn check(
    State(ui): State<Ui>,
    Path(server): Path<String>,
    Query(g): Query<GrantQuery>,
    Json(c): Json<Candidate>,
) -> Result<Json<Value>, UiError> {
    let subject = Subject::load(&ui, &server, g.label()).await?;
    let text = candidate_text(&subject, &c)?;
    let source = &subject.source;
    let format = match subject.grant {
        Some(_) => crate::grants::policy_format(&text),
        None => subject.format,
    };
    let q = call::query(json!({ "format": format_name(format) }))?;
    let verdict = call::json(
        crate::policies::validate(
            State(ui.app.clone()),
            ApiPath(server.clone()),
            ApiQuery(q),
            HeaderMap::new(),
            Bytes::from(text.clone()),
        )
        .await,
    )
    .await;
    let (valid, diagnostics, message) = match verdict {
        Ok(_) => (true, json!([]), None),
        Err(Failure { error, message, .. }) => (false, error["diagnostics"].clone(), Some(message)),
    };
    let diff: Vec<Value> = diff::lines(source, &text)
        .into_iter()
        .map(|l| match l {
            diff::Line::Same(t) => json!([" ", t]),
            diff::Line::Removed(t) => json!(["-", t]),
            diff::Line::Added(t) => json!(["+", t]),
        })
        .collect();
    Ok(Json(json!({
        "text": text,
        "valid": valid,
        "message": message,
        "diagnostics": diagnostics,
        "changed": *source != text,
        "diff": diff,
    })))
}

/// `POST /ui/policies/{server}/save`: `PUT /api/policies/{server}` (or, for a grant,
/// `PUT /api/grants/{label}/policies/{server}`) with `If-Match`.
pub(crate) async fn save(
    State(ui): State<Ui>,
    Extension(op): Extension<Operator>,
    Path(server): Path<String>,
    Query(g): Query<GrantQuery>,
    Json(req): Json<SaveRequest>,
) -> Response {
    let refused =
        |e: UiError| (e.status, Json(json!({ "error": { "message": e.message } }))).into_response();
    if let Err(e) = op
        .require(Permission::Administer)
        .and_then(|()| refuse_read_only(&ui))
    {
        return refused(e);
    }
    let subject = match Subject::load(&ui, &server, g.label()).await {
        Ok(s) => s,
        Err(e) => return refused(e),
    };
    match subject.save(&ui, &op, req.text, &req.version).await {
        Ok(done) => Json(done).into_response(),
        Err(Failure {
            status,
            code,
            message,
            error,
        }) => {
            let message = if code == "precondition_failed" {
                format!(
                    "Someone else saved this policy first (it is now version {}). Reload the page to see their change, then make yours again.",
                    error["current_version"].as_str().map_or("?", layout::short)
                )
            } else {
                message
            };
            (status, Json(json!({ "error": { "code": code, "message": message, "diagnostics": error["diagnostics"] } })))
                .into_response()
        }
    }
}

/// `POST /ui/policies/{server}/forget?grant=…`: the grant's own policy goes; the server's applies.
pub(crate) async fn forget(
    State(ui): State<Ui>,
    Extension(op): Extension<Operator>,
    Path(server): Path<String>,
    Query(g): Query<GrantQuery>,
    Form(f): Form<ConfirmForm>,
) -> Result<Response, UiError> {
    op.require(Permission::Administer)?;
    refuse_read_only(&ui)?;
    let label = g
        .label()
        .ok_or_else(|| UiError::new(StatusCode::BAD_REQUEST, "name the grant: ?grant=<label>"))?
        .to_owned();
    if f.confirm.as_deref() != Some("yes") {
        return Err(UiError::new(
            StatusCode::BAD_REQUEST,
            "tick the confirmation box to take the grant's own policy away",
        ));
    }
    call::json(
        crate::grants::remove_policy(
            State(ui.app.clone()),
            Extension(op.actor.clone()),
            ApiPath((label.clone(), server.clone())),
            HeaderMap::new(),
        )
        .await,
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/ui/policies/{}?grant={}&removed=1",
        encode_component(&server),
        encode_component(&label)
    ))
    .into_response())
}

/// `POST /ui/policies/{server}/simulate`: one call explained against the candidate (or the policy
/// in force): the very object `toolgate policy explain --json` prints, and which policy answered.
pub(crate) async fn simulate(
    State(ui): State<Ui>,
    Path(server): Path<String>,
    Query(g): Query<GrantQuery>,
    Json(s): Json<Simulation>,
) -> Result<Json<Value>, UiError> {
    let subject = Subject::load(&ui, &server, g.label()).await?;
    let policy = match &s.text {
        Some(text) => {
            let format = match subject.grant {
                Some(_) => crate::grants::policy_format(text),
                None => subject.format,
            };
            match toolgate_policy::compile(text, "candidate", format) {
                Ok(p) => std::sync::Arc::new(p),
                Err(d) => {
                    return Ok(Json(
                        json!({ "error": format!("the candidate is invalid: {d}") }),
                    ));
                }
            }
        }
        None => subject.live.clone(),
    };
    let args: Value = match s.args.trim() {
        "" => json!({}),
        t => match serde_json::from_str(t) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return Ok(Json(
                    json!({ "error": "the arguments must be a JSON object" }),
                ));
            }
        },
    };
    let identity = Identity {
        agent: nonempty(&s.agent, "anonymous"),
        grant: nonempty(&s.grant, "anonymous"),
        tags: Vec::new(),
    };
    let call = Call {
        server: &server,
        tool: &s.tool,
        args: &args,
        args_text: Some(s.args.trim()).filter(|t| !t.is_empty()),
        identity: &identity,
        session: "simulator",
    };
    let verdict = policy.tool_verdict(&s.tool);
    let mut out = policy.explain(&call).to_json(&call, &policy);
    out["policy"] = json!(if s.text.is_some() {
        "candidate"
    } else {
        "in force"
    });
    out["by_name"] = json!({ "outcome": verdict.outcome.as_str(), "rule": verdict.rule });
    Ok(Json(out))
}

fn nonempty(s: &str, default: &str) -> String {
    if s.trim().is_empty() {
        default.to_owned()
    } else {
        s.trim().to_owned()
    }
}

fn format_name(f: SourceFormat) -> &'static str {
    match f {
        SourceFormat::Json => "json",
        SourceFormat::Yaml => "yaml",
    }
}
