//! Grants: every agent's credential — label, agent, servers, per-server policies, tags, status,
//! expiry — and, for admins, creating one (its token shown once, with a client configuration to
//! copy), changing when one expires (an expired one may be given a new expiry), rotating one (a
//! new token, shown once; the old one stops working) and revoking one.
//! The config's `[grants.*]` are listed too; they change in the config only. Every change is the
//! API's own handler with the operator as the actor.

use super::Ui;
use super::access::{Operator, UiError, encode_component};
use super::call;
use super::layout::{self, Nav};
use super::overview::refuse_read_only;
use crate::extract::{ApiJson, ApiPath};
use crate::role::Permission;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use http::{HeaderMap, StatusCode};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// The expiries the form offers (the API takes any duration).
const EXPIRIES: [(&str, &str); 6] = [
    ("", "never"),
    ("1d", "in a day"),
    ("7d", "in a week"),
    ("30d", "in 30 days"),
    ("90d", "in 90 days"),
    ("365d", "in a year"),
];

/// The expiries the form of an existing grant offers (its `never` has a value of its own: the
/// form must be chosen from, not sent as it opens).
const NEW_EXPIRIES: [(&str, &str); 7] = [
    ("never", "never"),
    ("1d", "in a day"),
    ("7d", "in a week"),
    ("30d", "in 30 days"),
    ("90d", "in 90 days"),
    ("365d", "in a year"),
    ("0s", "now (it stops at once)"),
];

#[derive(Debug, Deserialize)]
pub(crate) struct Flash {
    revoked: Option<String>,
    expiry: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ExpiryForm {
    #[serde(default)]
    expires_in: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ConfirmForm {
    confirm: Option<String>,
}

/// `GET /ui/grants`.
pub(crate) async fn index(
    State(ui): State<Ui>,
    Extension(op): Extension<Operator>,
    Query(flash): Query<Flash>,
) -> Result<Response, UiError> {
    let grants = call::json(crate::grants::list(State(ui.app.clone())).await).await?;
    let servers = server_names(&ui);
    let admin = op.may(Permission::Administer) && !ui.read_only();
    let has_store = ui.app.gateway.stores.is_some();
    let now = crate::now_ms();
    let body = html! {
        @if let Some(l) = &flash.revoked {
            (layout::notice("ok", &format!("Revoked {l}: its token is refused from the next request on.")))
        }
        @if let Some(l) = &flash.expiry {
            (layout::notice("ok", &format!("Changed when {l} expires: it applies from the next request on.")))
        }
        @if !has_store { (layout::notice("warn", "This gateway has no store ([gateway] store = \"none\"): only the config's grants exist, and none can be created here.")) }
        table.data #grants {
            thead { tr {
                th scope="col" { "Grant" } th scope="col" { "Agent" } th scope="col" { "Servers" }
                th scope="col" { "Status" } th scope="col" { "Expires" } th scope="col" { "Created · rotated" }
                @if admin { th scope="col" { "Change" } }
            } }
            tbody {
                @for g in grants["grants"].as_array().into_iter().flatten() {
                    (grant_row(g, &op, admin, &servers, now))
                }
            }
        }
        @if grants["grants"].as_array().is_none_or(|g| g.is_empty()) {
            p { "No grants: every caller shares the anonymous identity. The first grant makes every MCP request need a token." }
        }
        @if admin && has_store {
            section aria-labelledby="create-h" {
                h2 #create-h { "Create a grant" }
                form #create-grant method="post" action="/ui/grants" {
                    (layout::csrf(&op))
                    div.filters {
                        div {
                            label for="g-label" { "Label (letters, digits, . - _)" }
                            input #g-label name="label" required pattern="[A-Za-z0-9._\\-]{1,64}" maxlength="64" placeholder="alice-laptop";
                        }
                        div {
                            label for="g-agent" { "Agent" }
                            input #g-agent name="agent" required placeholder="alice";
                        }
                        div {
                            label for="g-expires" { "Expires" }
                            select #g-expires name="expires_in" {
                                @for (value, label) in EXPIRIES { option value=(value) { (label) } }
                            }
                        }
                        div {
                            label for="g-tags" { "Tags (comma-separated)" }
                            input #g-tags name="tags" placeholder="team-a, ci";
                        }
                    }
                    fieldset {
                        legend { "Servers it may reach (none ticked: all)" }
                        @for s in &servers {
                            label { input type="checkbox" name="servers" value=(s); " " (s) }
                        }
                    }
                    p.actions { button.primary type="submit" { "Create and show its token" } }
                }
            }
        }
    };
    Ok(layout::page(&ui, &op, Nav::Grants, "Grants", body))
}

fn grant_row(g: &Value, op: &Operator, admin: bool, all_servers: &[String], now: u64) -> Markup {
    let label = g["label"].as_str().unwrap_or("");
    let status = g["status"].as_str().unwrap_or("");
    let servers: Vec<&str> = g["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    // The servers it reaches, each with whose policy decides its calls there.
    let reach: Vec<&str> = if servers.is_empty() {
        all_servers.iter().map(String::as_str).collect()
    } else {
        servers.clone()
    };
    let tags: Vec<&str> = g["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let from_store = g["source"] == "store";
    html! {
        tr data-grant=(label) {
            th scope="row" {
                (label)
                @if !tags.is_empty() { div.muted { @for t in &tags { span.tag { (t) } " " } } }
                @if !from_store { div.muted { "in the config" } }
            }
            td { (g["agent"].as_str().unwrap_or("")) }
            td {
                @if servers.is_empty() { "all" } @else { (servers.join(", ")) }
                @if from_store {
                    div.policies {
                        @for s in &reach {
                            @let own = g["policies"][*s].is_string();
                            a href={"/ui/policies/" (encode_component(s)) "?grant=" (encode_component(label))}
                                title={"The policy that decides " (label) "'s calls to " (s)} {
                                (s) ": " @if own { "own policy" } @else { "the server's" }
                            }
                            " "
                        }
                    }
                }
            }
            td { span class={"badge grant-" (status)} { (status) } }
            td {
                @match g["expires_at_ms"].as_u64() {
                    Some(at) => { (layout::time(at, now)) }
                    None => { "never" }
                }
            }
            td {
                @if let Some(at) = g["created_at_ms"].as_u64() { (layout::time(at, now)) } @else { "—" }
                @if let Some(at) = g["rotated_at_ms"].as_u64() { " · " (layout::time(at, now)) }
            }
            @if admin {
                td {
                    @let base = format!("/ui/grants/{}", encode_component(label));
                    @if from_store && status != "revoked" {
                        @let id = format!("x-{label}");
                        form.expiry method="post" action={(base) "/expiry"} {
                            (layout::csrf(op))
                            label for=(id) { "New expiry" }
                            select #(id) name="expires_in" required {
                                option value="" disabled selected { "choose…" }
                                @for (value, text) in NEW_EXPIRIES { option value=(value) { (text) } }
                            }
                            button type="submit" { "Set expiry" }
                        }
                    }
                    @if from_store && status == "active" {
                        form method="post" action={(base) "/rotate"} {
                            (layout::csrf(op))
                            label { input type="checkbox" name="confirm" value="yes" required; " the old token stops working" }
                            button type="submit" { "Rotate" }
                        }
                        form method="post" action={(base) "/revoke"} {
                            (layout::csrf(op))
                            label { input type="checkbox" name="confirm" value="yes" required; " I am sure" }
                            button.danger type="submit" { "Revoke" }
                        }
                    }
                }
            }
        }
    }
}

/// `POST /ui/grants`: creates a grant through the API and shows its token, once.
pub(crate) async fn create(
    State(ui): State<Ui>,
    Extension(op): Extension<Operator>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, UiError> {
    op.require(Permission::Administer)?;
    refuse_read_only(&ui)?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let request = crate::grants::CreateGrant {
        label: field("label"),
        agent: field("agent"),
        servers: fields
            .iter()
            .filter(|(k, _)| k == "servers")
            .map(|(_, v)| v.clone())
            .collect(),
        policies: BTreeMap::new(),
        tags: field("tags")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
        expires_at_ms: None,
        expires_in: Some(field("expires_in")).filter(|e| !e.is_empty()),
    };
    let answer = crate::grants::create(
        State(ui.app.clone()),
        Extension(op.actor.clone()),
        ApiJson(request),
    )
    .await;
    let done = call::json(answer).await?;
    Ok(token_page(&ui, &op, &headers, &done, "created"))
}

/// `POST /ui/grants/{label}/rotate`: a new token, shown once.
pub(crate) async fn rotate(
    State(ui): State<Ui>,
    Extension(op): Extension<Operator>,
    headers: HeaderMap,
    Path(label): Path<String>,
    Form(f): Form<ConfirmForm>,
) -> Result<Response, UiError> {
    op.require(Permission::Administer)?;
    refuse_read_only(&ui)?;
    confirmed(&f, "rotate")?;
    let answer = crate::grants::rotate(
        State(ui.app.clone()),
        Extension(op.actor.clone()),
        ApiPath(label),
    )
    .await;
    let done = call::json(answer).await?;
    Ok(token_page(&ui, &op, &headers, &done, "rotated"))
}

/// `POST /ui/grants/{label}/expiry`: a new expiry, through the API (audited as `grant.expiry`).
pub(crate) async fn expiry(
    State(ui): State<Ui>,
    Extension(op): Extension<Operator>,
    Path(label): Path<String>,
    Form(f): Form<ExpiryForm>,
) -> Result<Response, UiError> {
    op.require(Permission::Administer)?;
    refuse_read_only(&ui)?;
    let request = match f.expires_in.trim() {
        "" => {
            return Err(UiError::new(
                StatusCode::BAD_REQUEST,
                "choose when the grant expires",
            ));
        }
        "never" => crate::grants::SetExpiry {
            expires_at_ms: Some(None),
            expires_in: None,
        },
        within => crate::grants::SetExpiry {
            expires_at_ms: None,
            expires_in: Some(within.to_owned()),
        },
    };
    let answer = crate::grants::set_expiry(
        State(ui.app.clone()),
        Extension(op.actor.clone()),
        ApiPath(label.clone()),
        ApiJson(request),
    )
    .await;
    call::json(answer).await?;
    Ok(Redirect::to(&format!("/ui/grants?expiry={}", encode_component(&label))).into_response())
}

/// `POST /ui/grants/{label}/revoke`.
pub(crate) async fn revoke(
    State(ui): State<Ui>,
    Extension(op): Extension<Operator>,
    Path(label): Path<String>,
    Form(f): Form<ConfirmForm>,
) -> Result<Response, UiError> {
    op.require(Permission::Administer)?;
    refuse_read_only(&ui)?;
    confirmed(&f, "revoke")?;
    let answer = crate::grants::revoke(
        State(ui.app.clone()),
        Extension(op.actor.clone()),
        ApiPath(label.clone()),
    )
    .await;
    call::json(answer).await?;
    Ok(Redirect::to(&format!("/ui/grants?revoked={}", encode_component(&label))).into_response())
}

fn confirmed(f: &ConfirmForm, what: &str) -> Result<(), UiError> {
    if f.confirm.as_deref() == Some("yes") {
        Ok(())
    } else {
        Err(UiError::new(
            StatusCode::BAD_REQUEST,
            format!("tick the confirmation box to {what} a grant"),
        ))
    }
}

/// The page that shows a new token, the one time it is shown, with what a client needs.
fn token_page(ui: &Ui, op: &Operator, headers: &HeaderMap, done: &Value, what: &str) -> Response {
    let grant = &done["grant"];
    let label = grant["label"].as_str().unwrap_or("");
    let token = done["token"].as_str().unwrap_or("");
    let servers: Vec<&str> = grant["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let base = mcp_base(ui.mcp_address, headers);
    // One server: its own endpoint; several or all: the aggregate.
    let url = match servers.as_slice() {
        [one] => format!("{base}/mcp/{}", encode_component(one)),
        _ => format!("{base}/mcp"),
    };
    let snippet = client_snippet(label, &url, token);
    let bridge = format!("toolgate connect {url} --token {token}");
    let body = html! {
        (layout::notice("ok", &format!("Grant {label} {what}.")))
        @if let Some(e) = done["audit_error"].as_str() {
            (layout::notice("warn", &format!("The change is made, but the admin audit could not record it: {e}")))
        }
        p.notice.warn role="alert" { strong { "This is the only time the token is shown." } " Only its SHA-256 is kept: copy it now." }
        h2 { "Token" }
        div.copyable {
            code.token-once #grant-token { (token) }
            button type="button" data-copy="#grant-token" { "Copy the token" }
        }
        h2 { "Client configuration" }
        p { "For Cursor, Claude Code and any MCP client that speaks Streamable HTTP:" }
        div.copyable {
            pre #grant-snippet { (snippet) }
            button type="button" data-copy="#grant-snippet" { "Copy the configuration" }
        }
        p { "For a client that only spawns commands, toolgate's own bridge:" }
        div.copyable {
            pre #grant-bridge { (bridge) }
            button type="button" data-copy="#grant-bridge" { "Copy the command" }
        }
        p.stream-state #copy-state aria-live="polite" {}
        p { a href="/ui/grants" { "Back to the grants" } }
    };
    let title = format!("Grant {label}");
    let mut res = layout::page(ui, op, Nav::Grants, &title, body);
    if what == "created" {
        *res.status_mut() = StatusCode::CREATED;
    }
    res
}

/// `{"mcpServers": {"<label>": {"url": …, "headers": {"Authorization": "Bearer …"}}}}`, with
/// `url` first (as clients' documentation writes it).
fn client_snippet(label: &str, url: &str, token: &str) -> String {
    format!(
        "{{\n  \"mcpServers\": {{\n    {}: {{\n      \"url\": {},\n      \"headers\": {{ \"Authorization\": {} }}\n    }}\n  }}\n}}",
        Value::String(format!("toolgate-{label}")),
        Value::String(url.to_owned()),
        Value::String(format!("Bearer {token}")),
    )
}

/// The data plane's base URL as this browser reaches the gateway: its own address, or, when it
/// listens on every address, the host the admin page was asked for, on the data plane's port.
fn mcp_base(address: Option<SocketAddr>, headers: &HeaderMap) -> String {
    let Some(addr) = address else {
        return "http://<gateway>".to_owned();
    };
    if !addr.ip().is_unspecified() {
        return format!("http://{addr}");
    }
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let name = match host.strip_prefix('[') {
        Some(v6) => format!("[{}]", v6.split(']').next().unwrap_or("")),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n).to_owned(),
    };
    format!("http://{name}:{}", addr.port())
}

fn server_names(ui: &Ui) -> Vec<String> {
    let mut names: Vec<String> = ui.app.gateway.state().servers.keys().cloned().collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snippet_is_json_with_the_url_first() {
        let s = client_snippet("ci", "http://127.0.0.1:8080/mcp/crm", "tg_\"x");
        let v: Value = serde_json::from_str(&s).unwrap();
        let entry = &v["mcpServers"]["toolgate-ci"];
        assert_eq!(entry["url"], "http://127.0.0.1:8080/mcp/crm");
        assert_eq!(entry["headers"]["Authorization"], "Bearer tg_\"x");
        assert!(s.find("\"url\"") < s.find("\"headers\""), "{s}");
    }

    #[test]
    fn the_mcp_base_follows_the_listener() {
        let at = |listen: &str, host: &str| {
            let mut h = HeaderMap::new();
            h.insert(http::header::HOST, host.parse().unwrap());
            mcp_base(Some(listen.parse().unwrap()), &h)
        };
        assert_eq!(
            at("127.0.0.1:8080", "gw.example:8081"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            at("0.0.0.0:8080", "gw.example:8081"),
            "http://gw.example:8080"
        );
        assert_eq!(at("[::]:9000", "[::1]:8081"), "http://[::1]:9000");
    }
}
