//! `/api/catalog` and `/api/pins`: every server's tools as the gateway last listed them (risk and
//! pin state), the tools waiting for approval because their definition changed since it was
//! pinned (or they are new), the diff an approver reads, and the approval itself — applied at once
//! by this gateway (others sharing the store follow within a second), audited as `pin.approved`.

use crate::AppState;
use crate::auth::Actor;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery};
use axum::body::Bytes;
use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use toolgate_store::StoreError;
use toolgate_store::catalogue::{CatalogueEntry, EntryKind};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogQuery {
    /// Only this server's tools.
    pub server: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinApproval {
    /// Approve only if the current definition still has this digest (the one reviewed).
    pub digest: Option<String>,
}

pub async fn catalog(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<CatalogQuery>,
) -> ApiResult<Json<Value>> {
    let store = &app.gateway.catalogue.store;
    let entries = store.entries(q.server.as_deref()).await?;
    let tools: Vec<Value> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Tool)
        .map(CatalogueEntry::to_json)
        .collect();
    Ok(Json(json!({ "tools": tools })))
}

pub async fn quarantined(State(app): State<AppState>) -> ApiResult<Json<Value>> {
    // Tools: a server's changed instructions, prompts, resources and resource templates are
    // reviewed with `toolgate pins diff` (`--instructions`, `--prompt`, `--resource`, …).
    let entries = app.gateway.catalogue.store.quarantined(None).await?;
    let pins: Vec<Value> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Tool)
        .map(CatalogueEntry::to_json)
        .collect();
    Ok(Json(json!({ "pins": pins })))
}

pub async fn one(
    State(app): State<AppState>,
    ApiPath((server, tool)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let entry = app
        .gateway
        .catalogue
        .store
        .entry(&server, &tool)
        .await?
        .ok_or_else(|| ApiError::from(StoreError::PinNotFound { server, tool }))?;
    let mut body = entry.to_json();
    body["diff"] = json!(entry.diff());
    Ok(Json(body))
}

pub async fn approve(
    State(app): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiPath((server, tool)): ApiPath<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    // The body is optional: none (or empty) approves whatever is current.
    let request: PinApproval = if body.iter().all(u8::is_ascii_whitespace) {
        PinApproval::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid_request(format!("invalid body: {e}")))?
    };
    let done = app
        .gateway
        .approve_pin(
            &server,
            EntryKind::Tool,
            &tool,
            &actor.0,
            request.digest.as_deref(),
        )
        .await?;
    tracing::warn!(server, tool, actor = %actor.0, changed = done.changed, "pin approved through the admin API");
    let mut out = done.entry.to_json();
    out["changed"] = json!(done.changed);
    Ok(Json(out))
}
