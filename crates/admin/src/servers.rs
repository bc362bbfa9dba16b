//! `GET /api/servers`, `/api/servers/{name}` and `/api/servers/{name}/tools`: each configured
//! server with its transport, the policy in force, its health and any kill switch that stops
//! it; and the tools it lists, read over a short-lived session of the gateway's own, each with
//! what the policy in force says about it.

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::ApiPath;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use toolgate_gateway::Gateway;
use toolgate_gateway::server::ServerRuntime;
use toolgate_gateway::settings::Transport;
use toolgate_mcp::upstream::supervisor::UpstreamStatus;
use toolgate_policy::DefaultAction;
use toolgate_store::KillScope;

pub async fn list(State(app): State<AppState>) -> Json<Value> {
    let state = app.gateway.state();
    let servers: Vec<Value> = state
        .servers()
        .map(|s| server_json(&app.gateway, s))
        .collect();
    Json(json!({ "servers": servers }))
}

pub async fn one(
    State(app): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let state = app.gateway.state();
    let runtime = state.servers.get(&name).ok_or_else(|| unknown(&name))?;
    Ok(Json(server_json(&app.gateway, runtime)))
}

pub async fn tools(
    State(app): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let runtime = app
        .gateway
        .state()
        .servers
        .get(&name)
        .cloned()
        .ok_or_else(|| unknown(&name))?;
    let listed = app
        .gateway
        .list_upstream_tools(&name)
        .await
        .ok_or_else(|| unknown(&name))?
        .map_err(|e| {
            ApiError::new(
                ErrorCode::UpstreamUnavailable,
                format!("cannot list the tools of server {name:?}: {e}"),
            )
        })?;
    let policy = runtime.policy.load_full();
    let tools: Vec<Value> = listed
        .iter()
        .filter_map(|t| {
            let tool = t.get("name")?.as_str()?;
            let hidden = policy.hidden_rule(tool);
            let rule = hidden.or_else(|| policy.matched_rule(tool));
            let unlisted_denied = hidden.is_none()
                && policy.matched_rule(tool).is_none()
                && policy.default_action() == DefaultAction::Deny;
            Some(json!({
                "name": tool,
                "title": t.get("title"),
                "description": t.get("description"),
                "hidden": hidden.is_some(),
                "rule": rule.or(unlisted_denied.then_some("/default")),
                "definition": t,
            }))
        })
        .collect();
    Ok(Json(json!({
        "server": name,
        "policy_version": policy.version_hash(),
        "count": tools.len(),
        "tools": tools,
    })))
}

fn unknown(name: &str) -> ApiError {
    ApiError::not_found(format!("no server named {name:?}"))
}

fn server_json(gw: &Gateway, s: &ServerRuntime) -> Value {
    let transport = match &s.settings.transport {
        Transport::Stdio(spec) => json!({
            "type": "stdio",
            "command": spec.command,
            "args": spec.args,
            "per_session": s.settings.children.share == toolgate_gateway::settings::Share::Session,
        }),
        Transport::Http { url, .. } => json!({ "type": "streamable-http", "url": url }),
        Transport::LegacySse { url, .. } => json!({ "type": "sse", "url": url }),
    };
    let stopped_by = gw
        .kill_switches()
        .engaged()
        .into_iter()
        .find(|k| match &k.scope {
            KillScope::Global => true,
            KillScope::Server(n) => *n == s.name,
            KillScope::Grant(_) => false,
        });
    json!({
        "name": s.name,
        "transport": transport,
        "policy": {
            "path": s.settings.policy_path.as_ref().map(|p| p.display().to_string()),
            "version": s.policy.load().version_hash(),
            "allow_all": s.settings.policy_path.is_none(),
        },
        "status": status_json(s.status()),
        "kill_switch": stopped_by,
    })
}

fn status_json(status: Option<UpstreamStatus>) -> Value {
    match status {
        // Remote servers and stdio servers with a child per session have no shared state.
        None => json!({ "state": "ok", "ready": true }),
        Some(UpstreamStatus::Running { pid, .. }) => {
            json!({ "state": "running", "ready": true, "pid": pid })
        }
        Some(UpstreamStatus::Idle) => json!({ "state": "idle", "ready": true }),
        Some(UpstreamStatus::Starting) => json!({ "state": "starting", "ready": true }),
        Some(UpstreamStatus::Restarting { attempt, retry_in }) => json!({
            "state": "restarting",
            "ready": true,
            "attempt": attempt,
            "retry_in_ms": retry_in.as_millis() as u64,
        }),
        Some(UpstreamStatus::Parked { reason }) => {
            json!({ "state": "parked", "ready": false, "reason": reason })
        }
        Some(UpstreamStatus::Stopped) => json!({ "state": "stopped", "ready": false }),
    }
}
