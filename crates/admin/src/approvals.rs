//! `/api/approvals`: tool calls held for a person's decision (`action: "require_approval"`). List
//! and read them, approve or deny a pending one. Decided on the store, which every gateway polls:
//! a held call is released (or refused) within a fraction of a second; an approval whose caller
//! left (retry mode, or a hold that ran out) lets the next identical retry pass, once. Each
//! approval carries its `state`, which says whether a caller still waits for it. The decider is the admin actor; every decision is
//! audited as `approval.approve` / `approval.deny` (target: the approval id).
//!
//! An approval's `arguments` are shown as the audit settings allow: the values, redacted, only
//! under `[audit] arguments = "values"`; under `"keys"` (the default) an array of the top-level
//! argument names — also for an approval kept with values before the setting changed.

use crate::AppState;
use crate::auth::Actor;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{ApiPath, ApiQuery};
use crate::now_ms;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use toolgate_store::{Approval, ApprovalFilter, ApprovalStatus, StoreError, Stores};

/// Most approvals one list returns.
const MAX_LIMIT: usize = 1_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `pending`, `approved`, `denied`, `expired` or `used`.
    pub status: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Start with every change after this change sequence number (a list's `last_seq`, or the
    /// last event's id) instead of the pending approvals. A `Last-Event-ID` header wins over it.
    pub after: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Recorded with the decision; shown to the agent on a denial.
    pub note: Option<String>,
}

pub async fn list(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    let stores = stores(&app)?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(ApprovalStatus::parse(s).ok_or_else(|| {
            ApiError::invalid_request(format!(
                "unknown approval status {s:?}: use pending, approved, denied, expired or used"
            ))
        })?),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_LIMIT);
    let now = now_ms();
    // A pending approval past its expiry is expired, whether a gateway has marked it or not.
    stores.approvals.expire_due(now).await?;
    // Read before the list: the list shows every change up to it (and perhaps later ones), so a
    // stream opened with `after=last_seq` misses nothing that happened since.
    let last_seq = stores.approvals.last_seq().await?;
    let approvals = stores
        .approvals
        .list(ApprovalFilter {
            status,
            binding: None,
            limit,
        })
        .await?;
    let values = values_shown(&app);
    let approvals: Vec<Value> = approvals
        .iter()
        .filter(|a| status.is_none_or(|s| status_now(a, now) == s))
        .map(|a| approval_json(a, now, values))
        .collect();
    Ok(Json(
        json!({ "approvals": approvals, "last_seq": last_seq }),
    ))
}

pub async fn one(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let stores = stores(&app)?;
    let approval = stores
        .approvals
        .get(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(approval_json(&approval, now_ms(), values_shown(&app))))
}

pub async fn approve(
    State(app): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiPath(id): ApiPath<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    decide(app, actor, &id, true, &body).await
}

pub async fn deny(
    State(app): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiPath(id): ApiPath<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    decide(app, actor, &id, false, &body).await
}

async fn decide(
    app: AppState,
    actor: Actor,
    id: &str,
    approve: bool,
    body: &[u8],
) -> ApiResult<Json<Value>> {
    let stores = stores(&app)?;
    // The body is optional: none (or empty) means no note.
    let decision: Decision = if body.iter().all(u8::is_ascii_whitespace) {
        Decision::default()
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::invalid_request(format!("invalid body: {e}; expected {{\"note\": \"…\"}}"))
        })?
    };
    let note = decision.note.filter(|n| !n.trim().is_empty());
    let now = now_ms();
    let decided = stores
        .approvals
        .decide(id, approve, &actor.0, note.as_deref(), now)
        .await
        .map_err(|e| decide_error(e, approve))?;
    let action = if approve {
        "approval.approve"
    } else {
        "approval.deny"
    };
    tracing::warn!(approval = %decided.id, actor = %actor.0, action, tool = %decided.binding.tool,
        server = %decided.binding.server, "approval decided through the admin API");
    let mut body = approval_json(&decided, now, values_shown(&app));
    let details = json!({
        "server": decided.binding.server,
        "tool": decided.binding.tool,
        "agent": decided.binding.agent,
        "grant": decided.binding.grant,
        "mode": decided.mode,
        "note": decided.note,
    });
    // The decision is made already: a failure to record it is reported, not undone.
    if let Err(e) = app
        .gateway
        .record_admin_event(&actor.0, action, &decided.id, details)
        .await
    {
        tracing::error!(error = %e, action, "cannot record an admin event");
        body["audit_error"] = e.to_string().into();
    }
    Ok(Json(body))
}

/// The status an approval has now: a pending one past its expiry is expired.
fn status_now(a: &Approval, now: u64) -> ApprovalStatus {
    if a.status == ApprovalStatus::Pending && a.is_expired_at(now) {
        ApprovalStatus::Expired
    } else {
        a.status
    }
}

/// Whether argument values may be shown: `[audit] arguments = "values"`.
fn values_shown(app: &AppState) -> bool {
    app.gateway.state().settings.audit.values
}

/// An approval as the API shows it (its status and state as of now; its arguments' values only
/// when `values` may be shown, else their names).
fn approval_json(a: &Approval, now: u64, values: bool) -> Value {
    let mut v = serde_json::to_value(a).unwrap_or_default();
    if !values && let Some(arguments) = &a.arguments {
        v["arguments"] = toolgate_gateway::argument_names(arguments);
    }
    v["status"] = status_now(a, now).as_str().into();
    v["state"] = a.state_at(now).as_str().into();
    v
}

fn decide_error(e: StoreError, approve: bool) -> ApiError {
    let verb = if approve { "approve" } else { "deny" };
    match e {
        StoreError::ApprovalNotFound { id } => not_found(&id),
        StoreError::ApprovalExpired { id, .. } => ApiError::new(
            ErrorCode::Conflict,
            format!("cannot {verb} approval {id}: it has expired and its call was denied"),
        ),
        StoreError::ApprovalNotPending { id, status } => ApiError::new(
            ErrorCode::Conflict,
            format!("cannot {verb} approval {id}: it is {status} already"),
        ),
        other => other.into(),
    }
}

fn stores(app: &AppState) -> ApiResult<&Stores> {
    app.gateway.stores.as_ref().ok_or_else(ApiError::no_store)
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no approval {id:?}"))
}

/// How often the stream reads the store for changes.
const STREAM_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// `GET /api/approvals/stream`: Server-Sent Events for approval UIs. First one `approval` event
/// per pending approval, then one per change (requested, decided, expired, used) as it happens,
/// from any process sharing the store. The store is read every half second, so changes within one
/// read arrive as one event with the latest state. Runs until the client disconnects.
///
/// Each event's id is a change sequence number: the state it shows includes every change up to
/// it. A client that resumes (`Last-Event-ID`, as browsers send on reconnecting) or that listed
/// first (`?after=` the list's `last_seq`) gets every change after that number instead of the
/// pending approvals, so nothing decided between its list and its stream is missed.
pub async fn stream(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StreamQuery>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    use axum::response::sse::{Event, KeepAlive, Sse};
    let store = stores(&app)?.approvals.clone();
    let values = values_shown(&app);
    let event = move |a: &Approval, seq: u64| {
        Event::default()
            .event("approval")
            .id(seq.to_string())
            .json_data(approval_json(a, now_ms(), values))
    };
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or(q.after);
    let (first, cursor): (Vec<_>, u64) = match resume {
        Some(after) => (Vec::new(), after),
        None => {
            // Read before the list, as `list` does: the changes after it cover what the list missed.
            let cursor = store.last_seq().await?;
            let pending = store
                .list(ApprovalFilter::status(ApprovalStatus::Pending, MAX_LIMIT))
                .await?;
            (
                pending.iter().rev().map(|a| event(a, cursor)).collect(),
                cursor,
            )
        }
    };
    // The store is read at once (a resuming client is owed what it missed), then every
    // STREAM_POLL while nothing changed.
    let changes =
        futures_util::stream::unfold((store, cursor), move |(store, mut cursor)| async move {
            loop {
                match store.changed_since(cursor, 500).await {
                    Ok(changed) if !changed.is_empty() => {
                        cursor = changed.iter().map(|a| a.seq).max().unwrap_or(cursor);
                        let events: Vec<_> = changed.iter().map(|a| event(a, a.seq)).collect();
                        return Some((futures_util::stream::iter(events), (store, cursor)));
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "approval stream cannot read the store"),
                }
                tokio::time::sleep(STREAM_POLL).await;
            }
        });
    use futures_util::StreamExt;
    let events = futures_util::stream::iter(first).chain(changes.flatten());
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}
