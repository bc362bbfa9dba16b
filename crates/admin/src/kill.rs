//! `/api/kill-switches`: engage and release the emergency stops — global, per server, per grant.
//! Engaged through the gateway's own [`KillSwitches`](toolgate_gateway::kill_switch::KillSwitches),
//! so the change applies on the very next request (other processes sharing the store see it
//! within a second); kept in the store, so it survives a restart; audited as
//! `kill_switch.engage` / `kill_switch.release`.

use crate::AppState;
use crate::auth::Actor;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::now_ms;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use toolgate_store::{KillScope, Stores};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Engage {
    /// `global`, `server` or `grant`.
    pub scope: String,
    /// The server name or grant label (none for `global`).
    pub target: Option<String>,
    /// Shown to the agents whose calls it stops.
    pub reason: Option<String>,
}

pub async fn list(State(app): State<AppState>) -> ApiResult<Json<Value>> {
    let switches = match &app.gateway.stores {
        // The store is the truth (another process may have thrown a switch this second).
        Some(s) => s.kill_switches.list().await?,
        None => app.gateway.kill_switches().engaged(),
    };
    Ok(Json(json!({ "kill_switches": switches })))
}

pub async fn engage(
    State(app): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(req): ApiJson<Engage>,
) -> ApiResult<impl IntoResponse> {
    stores(&app)?;
    let scope = scope(&req.scope, req.target.as_deref())?;
    check_target_exists(&app, &scope).await?;
    let reason = req.reason.filter(|r| !r.trim().is_empty());
    let switch = app
        .gateway
        .kill_switches()
        .engage(scope.clone(), reason.clone(), now_ms())
        .await?;
    tracing::warn!(scope = %scope, actor = %actor.0, reason = reason.as_deref().unwrap_or(""), "kill switch engaged through the admin API");
    let mut body = serde_json::to_value(&switch).unwrap_or_default();
    audit(
        &app,
        &actor,
        "kill_switch.engage",
        &scope,
        json!({ "scope": scope.kind(), "reason": reason }),
        &mut body,
    )
    .await;
    Ok((StatusCode::CREATED, Json(body)))
}

pub async fn release(
    State(app): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiPath(kind): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    release_scope(app, actor, &kind, None).await
}

pub async fn release_target(
    State(app): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiPath((kind, target)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    release_scope(app, actor, &kind, Some(&target)).await
}

async fn release_scope(
    app: AppState,
    actor: Actor,
    kind: &str,
    target: Option<&str>,
) -> ApiResult<Json<Value>> {
    stores(&app)?;
    let scope = scope(kind, target)?;
    if !app.gateway.kill_switches().release(&scope).await? {
        return Err(ApiError::not_found(format!(
            "no {scope} kill switch is engaged"
        )));
    }
    tracing::warn!(scope = %scope, actor = %actor.0, "kill switch released through the admin API");
    let mut body = json!({ "released": true, "scope": scope.kind(), "target": target });
    audit(
        &app,
        &actor,
        "kill_switch.release",
        &scope,
        json!({ "scope": scope.kind() }),
        &mut body,
    )
    .await;
    Ok(Json(body))
}

/// Records the change; it is made already (an emergency stop never waits on the audit log), so a
/// failure is reported in the answer as `audit_error`.
async fn audit(
    app: &AppState,
    actor: &Actor,
    action: &str,
    scope: &KillScope,
    details: Value,
    body: &mut Value,
) {
    let target = match scope {
        KillScope::Global => "global",
        KillScope::Server(t) | KillScope::Grant(t) => t,
    };
    if let Err(e) = app
        .gateway
        .record_admin_event(&actor.0, action, target, details)
        .await
    {
        tracing::error!(error = %e, action, "cannot record an admin event");
        body["audit_error"] = e.to_string().into();
    }
}

fn stores(app: &AppState) -> ApiResult<&Stores> {
    app.gateway.stores.as_ref().ok_or_else(ApiError::no_store)
}

fn scope(kind: &str, target: Option<&str>) -> ApiResult<KillScope> {
    let target = target.map(str::trim).filter(|t| !t.is_empty());
    match (kind, target) {
        ("global", None) => Ok(KillScope::Global),
        ("global", Some(_)) => Err(ApiError::invalid_request(
            "the global kill switch takes no target",
        )),
        ("server" | "grant", None) => Err(ApiError::invalid_request(format!(
            "a {kind} kill switch needs a target (the {})",
            if kind == "server" {
                "server's name"
            } else {
                "grant's label"
            }
        ))),
        (k, Some(t)) => KillScope::from_parts(k, t).ok_or_else(|| unknown_scope(k)),
        (k, None) => Err(unknown_scope(k)),
    }
}

fn unknown_scope(kind: &str) -> ApiError {
    ApiError::invalid_request(format!(
        "unknown kill switch scope {kind:?}: use global, server or grant"
    ))
}

/// A switch for a server or grant that does not exist would stop nothing: refuse it, so a typo
/// in an emergency is noticed.
async fn check_target_exists(app: &AppState, scope: &KillScope) -> ApiResult<()> {
    let state = app.gateway.state();
    let exists = match scope {
        KillScope::Global => true,
        KillScope::Server(s) => state.servers.contains_key(s),
        KillScope::Grant(g) => {
            state.settings.grants.iter().any(|c| c.label == *g)
                || match &app.gateway.stores {
                    Some(s) => s.grants.get(g).await?.is_some(),
                    None => false,
                }
        }
    };
    if exists {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "no {} named {:?}",
            scope.kind(),
            scope.target()
        )))
    }
}
