//! `/api/grants`: list, create, revoke and rotate the grants of the store (the config's
//! `[grants.*]` are listed too, read-only), change when one expires, and give a grant its own
//! policy for a server or take it away. A new or rotated token is in the answer once and never
//! again; only its SHA-256 is stored. Every change is audited (`grant.create`, `grant.revoke`,
//! `grant.rotate`, `grant.expiry`, `grant.policy`) and applies to the very next request.

use crate::AppState;
use crate::auth::Actor;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{ApiJson, ApiPath};
use crate::now_ms;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use toolgate_gateway::settings::GrantSettings;
use toolgate_policy::SourceFormat;
use toolgate_store::{Grant, NewGrant, Stores};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateGrant {
    pub label: String,
    pub agent: String,
    /// Servers the grant may reach; empty or absent: all.
    #[serde(default)]
    pub servers: Vec<String>,
    /// A policy (JSON or YAML text) per server, replacing the server's for this grant.
    #[serde(default)]
    pub policies: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// ms since the Unix epoch.
    pub expires_at_ms: Option<u64>,
    /// Or a duration from now: `"30d"`, `"12h"`.
    pub expires_in: Option<String>,
}

/// `PUT /api/grants/{label}/expiry`: exactly one of `expires_at_ms` (ms since the Unix epoch, or
/// `null`: never) and `expires_in` (a duration from now, `"30d"`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetExpiry {
    /// Present and `null`: never; absent: `expires_in` says.
    #[serde(default, deserialize_with = "present")]
    pub expires_at_ms: Option<Option<u64>>,
    pub expires_in: Option<String>,
}

/// A field that is present, even as `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(d).map(Some)
}

pub async fn list(State(app): State<AppState>) -> ApiResult<Json<Value>> {
    let now = now_ms();
    let mut grants: Vec<Value> = app
        .gateway
        .state()
        .settings
        .grants
        .iter()
        .map(config_grant_json)
        .collect();
    if let Some(stores) = &app.gateway.stores {
        grants.extend(
            stores
                .grants
                .list()
                .await?
                .iter()
                .map(|g| grant_json(g, now)),
        );
    }
    Ok(Json(json!({ "grants": grants })))
}

pub async fn one(
    State(app): State<AppState>,
    ApiPath(label): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    if let Some(g) = config_grant(&app, &label) {
        return Ok(Json(config_grant_json(&g)));
    }
    let stores = stores(&app)?;
    let grant = stores
        .grants
        .get(&label)
        .await?
        .ok_or_else(|| not_found(&label))?;
    Ok(Json(grant_json(&grant, now_ms())))
}

pub async fn create(
    State(app): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(req): ApiJson<CreateGrant>,
) -> ApiResult<impl IntoResponse> {
    let stores = stores(&app)?;
    check_label(&req.label)?;
    if req.agent.trim().is_empty() {
        return Err(ApiError::invalid_request("agent must not be empty"));
    }
    if config_grant(&app, &req.label).is_some() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "grant {:?} is defined in the config ([grants.{}])",
                req.label, req.label
            ),
        ));
    }
    let state = app.gateway.state();
    for s in req.servers.iter().chain(req.policies.keys()) {
        if !state.servers.contains_key(s) {
            return Err(ApiError::invalid_request(format!("no server named {s:?}")));
        }
    }
    if let Some(s) = req
        .policies
        .keys()
        .find(|s| !req.servers.is_empty() && !req.servers.contains(s))
    {
        return Err(ApiError::invalid_request(format!(
            "a policy is given for server {s:?}, which the grant may not reach (servers: {:?})",
            req.servers
        )));
    }
    for (server, text) in &req.policies {
        check_policy(&req.label, server, text)?;
    }
    let now = now_ms();
    let expires_at_ms = expiry(req.expires_at_ms.map(Some), req.expires_in.as_deref(), now)?;
    let token = toolgate_store::token::generate();
    let grant = stores
        .grants
        .create(NewGrant {
            label: req.label.clone(),
            agent: req.agent.clone(),
            token_sha256: token.hash(),
            servers: req.servers.clone(),
            policies: req.policies.clone(),
            tags: req.tags.clone(),
            expires_at_ms,
            created_at_ms: now,
        })
        .await?;
    let mut body = json!({ "grant": grant_json(&grant, now), "token": token.as_str() });
    let details = json!({
        "agent": grant.agent,
        "servers": grant.servers,
        "tags": grant.tags,
        "policies": grant.policies.keys().collect::<Vec<_>>(),
        "expires_at_ms": grant.expires_at_ms,
    });
    after_change(
        &app,
        &actor,
        "grant.create",
        &grant.label,
        details,
        &mut body,
    )
    .await;
    Ok((StatusCode::CREATED, Json(body)))
}

pub async fn revoke(
    State(app): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiPath(label): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    refuse_config_grant(&app, &label, "revoked")?;
    let stores = stores(&app)?;
    let grant = stores.grants.revoke(&label, now_ms()).await?;
    let mut body = json!({ "grant": grant_json(&grant, now_ms()) });
    let details = json!({ "agent": grant.agent, "revoked_at_ms": grant.revoked_at_ms });
    after_change(&app, &actor, "grant.revoke", &label, details, &mut body).await;
    Ok(Json(body))
}

pub async fn rotate(
    State(app): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiPath(label): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    refuse_config_grant(&app, &label, "rotated")?;
    let stores = stores(&app)?;
    let token = toolgate_store::token::generate();
    let grant = stores.grants.rotate(&label, token.hash(), now_ms()).await?;
    let mut body = json!({ "grant": grant_json(&grant, now_ms()), "token": token.as_str() });
    let details = json!({ "agent": grant.agent, "rotated_at_ms": grant.rotated_at_ms });
    after_change(&app, &actor, "grant.rotate", &label, details, &mut body).await;
    Ok(Json(body))
}

/// `PUT /api/grants/{label}/expiry`: when the grant stops working, changed after its creation.
/// An instant already past stops it at once; a later one (or never) makes an expired grant work
/// again. A revoked grant stays revoked.
pub async fn set_expiry(
    State(app): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiPath(label): ApiPath<String>,
    ApiJson(req): ApiJson<SetExpiry>,
) -> ApiResult<Json<Value>> {
    refuse_config_grant(&app, &label, "given another expiry")?;
    let stores = stores(&app)?;
    let now = now_ms();
    if req.expires_at_ms.is_none() && req.expires_in.is_none() {
        return Err(ApiError::invalid_request(
            "give expires_at_ms (ms since the Unix epoch, or null for never) or expires_in (\"30d\")",
        ));
    }
    let expires_at_ms = expiry(req.expires_at_ms, req.expires_in.as_deref(), now)?;
    let previous = stores
        .grants
        .get(&label)
        .await?
        .ok_or_else(|| not_found(&label))?
        .expires_at_ms;
    let grant = stores.grants.set_expiry(&label, expires_at_ms).await?;
    let mut body = json!({
        "grant": grant_json(&grant, now),
        "previous_expires_at_ms": previous,
    });
    let details = json!({
        "agent": grant.agent,
        "previous_expires_at_ms": previous,
        "expires_at_ms": grant.expires_at_ms,
    });
    after_change(&app, &actor, "grant.expiry", &label, details, &mut body).await;
    Ok(Json(body))
}

/// An expiry from an instant (`Some(None)`: never) or a duration from `now`, not both; neither:
/// never.
fn expiry(at: Option<Option<u64>>, within: Option<&str>, now: u64) -> ApiResult<Option<u64>> {
    match (at, within) {
        (Some(_), Some(_)) => Err(ApiError::invalid_request(
            "give expires_at_ms or expires_in, not both",
        )),
        (Some(at), None) => Ok(at),
        (None, Some(d)) => Ok(Some(now.saturating_add(duration_ms(d)?))),
        (None, None) => Ok(None),
    }
}

/// Records the change and makes the gateway notice it. The change is made already: a failure
/// here is reported in the answer (`audit_error`), never by losing a token shown once.
async fn after_change(
    app: &AppState,
    actor: &Actor,
    action: &str,
    label: &str,
    details: Value,
    body: &mut Value,
) {
    if let Err(e) = app
        .gateway
        .record_admin_event(&actor.0, action, label, details)
        .await
    {
        tracing::error!(error = %e, action, grant = label, "cannot record an admin event");
        body["audit_error"] = e.to_string().into();
    }
    if let Err(e) = app.gateway.grants_changed().await {
        tracing::error!(error = %e, "cannot re-read grants after a change");
    }
}

/// `PUT /api/grants/{label}/policies/{server}`: the grant's own policy for `server` (JSON or YAML
/// text), checked with every diagnostic located; `If-Match` names the version it replaces
/// (`"none"` for none).
pub async fn set_policy(
    State(app): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiPath((label, server)): ApiPath<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::invalid_request(format!("the policy is not UTF-8 text: {e}")))?;
    let previous = policy_precondition(&app, &label, &server, &headers).await?;
    check_policy(&label, &server, text)?;
    change_policy(
        &app,
        &actor,
        &label,
        &server,
        Some(text.to_owned()),
        previous,
    )
    .await
}

/// `DELETE /api/grants/{label}/policies/{server}`: the server's own policy applies to the grant
/// again.
pub async fn remove_policy(
    State(app): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiPath((label, server)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let previous = policy_precondition(&app, &label, &server, &headers).await?;
    change_policy(&app, &actor, &label, &server, None, previous).await
}

/// The version of a grant's policy: the SHA-256 of its text, as a server policy's version is;
/// `"none"` when the grant has none for that server.
pub fn policy_version(text: Option<&str>) -> String {
    text.map_or_else(
        || "none".to_owned(),
        |t| hex::encode(Sha256::digest(t.as_bytes())),
    )
}

/// Checks that `label` is a live stored grant that may reach `server`, and that `If-Match` (if
/// sent) names its current policy's version; returns that version.
async fn policy_precondition(
    app: &AppState,
    label: &str,
    server: &str,
    headers: &HeaderMap,
) -> ApiResult<String> {
    refuse_config_grant(app, label, "given a policy")?;
    let grant = stores(app)?
        .grants
        .get(label)
        .await?
        .ok_or_else(|| not_found(label))?;
    if !app.gateway.state().servers.contains_key(server) {
        return Err(ApiError::not_found(format!("no server named {server:?}")));
    }
    if !grant.servers.is_empty() && !grant.servers.iter().any(|s| s == server) {
        return Err(ApiError::invalid_request(format!(
            "grant {label:?} may not reach server {server:?} (servers: {:?})",
            grant.servers
        )));
    }
    let current = policy_version(grant.policies.get(server).map(String::as_str));
    if let Some(expected) = headers
        .get(http::header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .filter(|v| *v != "*")
        && expected != current
    {
        return Err(ApiError::new(
            ErrorCode::PreconditionFailed,
            format!(
                "the policy of grant {label:?} for {server:?} is version {current}, not {expected}: someone changed it first"
            ),
        )
        .with("current_version", current.into()));
    }
    Ok(current)
}

async fn change_policy(
    app: &AppState,
    actor: &Actor,
    label: &str,
    server: &str,
    text: Option<String>,
    previous: String,
) -> ApiResult<Json<Value>> {
    let version = policy_version(text.as_deref());
    let grant = stores(app)?.grants.set_policy(label, server, text).await?;
    let mut body = json!({
        "grant": grant_json(&grant, now_ms()),
        "server": server,
        "previous_version": previous,
        "version": version,
        "changed": previous != version,
    });
    let details = json!({
        "agent": grant.agent,
        "server": server,
        "previous_version": previous,
        "version": version,
    });
    after_change(app, actor, "grant.policy", label, details, &mut body).await;
    Ok(Json(body))
}

/// The syntax of a grant's policy text, inferred the way the gateway infers it when it reads the
/// grant back: JSON when it starts with `{`, else YAML.
pub fn policy_format(text: &str) -> SourceFormat {
    if text.trim_start().starts_with('{') {
        SourceFormat::Json
    } else {
        SourceFormat::Yaml
    }
}

/// A grant's policy for `server` must compile, every error located.
fn check_policy(label: &str, server: &str, text: &str) -> ApiResult<()> {
    let origin = format!("grant {label}/{server}");
    toolgate_policy::compile(text, &origin, policy_format(text))
        .map(|_| ())
        .map_err(|d| ApiError::invalid_policy(&d))
}

fn stores(app: &AppState) -> ApiResult<&Stores> {
    app.gateway.stores.as_ref().ok_or_else(ApiError::no_store)
}

fn not_found(label: &str) -> ApiError {
    ApiError::not_found(format!("no grant labelled {label:?}"))
}

fn config_grant(app: &AppState, label: &str) -> Option<GrantSettings> {
    app.gateway
        .state()
        .settings
        .grants
        .iter()
        .find(|g| g.label == label)
        .cloned()
}

fn refuse_config_grant(app: &AppState, label: &str, what: &str) -> ApiResult<()> {
    match config_grant(app, label) {
        Some(_) => Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "grant {label:?} is defined in the config ([grants.{label}]) and cannot be {what} here; edit the config"
            ),
        )),
        None => Ok(()),
    }
}

/// Labels appear in URLs, logs and kill switches: 1 to 64 of `[A-Za-z0-9._-]`.
fn check_label(label: &str) -> ApiResult<()> {
    let ok = !label.is_empty()
        && label.len() <= 64
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_request(format!(
            "invalid grant label {label:?}: use 1 to 64 letters, digits, '.', '-' or '_'"
        )))
    }
}

/// `"90s"`, `"30m"`, `"12h"`, `"30d"` in ms.
pub(crate) fn duration_ms(s: &str) -> ApiResult<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad_duration(s))?;
    let unit_ms = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad_duration(s)),
    };
    n.checked_mul(unit_ms).ok_or_else(|| bad_duration(s))
}

fn bad_duration(s: &str) -> ApiError {
    ApiError::invalid_request(format!(
        "invalid duration {s:?}: use e.g. \"90s\", \"30m\", \"12h\" or \"30d\""
    ))
}

/// A stored grant, without its token hash.
fn grant_json(g: &Grant, now: u64) -> Value {
    let status = if g.revoked_at_ms.is_some() {
        "revoked"
    } else if !g.is_active(now) {
        "expired"
    } else {
        "active"
    };
    json!({
        "label": g.label,
        "agent": g.agent,
        "source": "store",
        "status": status,
        "servers": g.servers,
        "policies": g.policies,
        "tags": g.tags,
        "expires_at_ms": g.expires_at_ms,
        "created_at_ms": g.created_at_ms,
        "rotated_at_ms": g.rotated_at_ms,
        "revoked_at_ms": g.revoked_at_ms,
    })
}

fn config_grant_json(g: &GrantSettings) -> Value {
    json!({
        "label": g.label,
        "agent": g.agent,
        "source": "config",
        "status": "active",
        "servers": g.servers,
        "policies": {},
        "tags": g.tags,
    })
}
