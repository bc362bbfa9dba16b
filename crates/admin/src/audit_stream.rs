//! `GET /api/audit/stream`: the audit log as Server-Sent Events, for live views. Takes the filters
//! of `GET /api/audit` (either stream) and sends one `record` event per new matching record, oldest
//! first, read from the store twice a second through the same query `GET /api/audit` runs. A view
//! cannot render more than a few hundred records a second, so each read sends at most
//! [`MAX_PER_READ`] (the newest) and says what it left out in a `skipped` event
//! (`{"after": seq, "before": seq}`: the records between were not sent; query them with
//! `GET /api/audit`). Runs until the client disconnects.
//!
//! Each `record` event's id is the record's sequence number. A client that listed first
//! (`?after=` the list's `last_seq`) or resumes (`Last-Event-ID`, as browsers send on
//! reconnecting) starts with the matching records after that number instead of at the newest, so
//! nothing written between its list and its stream is missed. That replay is one read like any
//! other: at most [`MAX_PER_READ`] records (the newest), with a `skipped` event for the rest
//! (`"replay": true` in it: they were written before the stream opened).

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// How often the store is read.
const POLL: Duration = Duration::from_millis(500);
/// Most records one read sends.
pub const MAX_PER_READ: u32 = 200;

pub async fn stream(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiQuery(mut filters): ApiQuery<BTreeMap<String, String>>,
) -> ApiResult<axum::response::Response> {
    for refused in ["before", "order", "limit"] {
        if filters.contains_key(refused) {
            return Err(ApiError::invalid_request(format!(
                "{refused} does not apply to the stream: it starts at the newest record, or after `after`"
            )));
        }
    }
    let after = filters
        .remove("after")
        .map(|a| {
            a.trim().parse::<u64>().map_err(|_| {
                ApiError::invalid_request(format!("after {a:?}: use a record's sequence number"))
            })
        })
        .transpose()?;
    // A browser reconnecting sends the id of the last event it had: that wins over `after`.
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or(after);
    let fields: Map<String, Value> = filters
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    // The newest matching record now: without a resume point the stream starts after it. This
    // also validates the filters, so a bad one is an error answer rather than an empty stream.
    let newest = read(&app, &fields, None, 1).await?;
    let cursor = match resume {
        Some(after) => after,
        None => newest.first().and_then(|r| r["seq"].as_u64()).unwrap_or(0),
    };
    // A resuming client is owed what it missed: the store is read at once, then every POLL.
    let wait = resume.is_none();
    let events = futures_util::stream::unfold(
        (app, fields, cursor, wait),
        |(app, fields, mut cursor, mut wait)| async move {
            loop {
                // The first read of a resuming stream sends records written before it opened.
                let replay = !std::mem::replace(&mut wait, true);
                if !replay {
                    tokio::time::sleep(POLL).await;
                }
                let batch = match read(&app, &fields, Some(cursor), MAX_PER_READ).await {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(error = %e.message, "audit stream cannot read the store");
                        continue;
                    }
                };
                if batch.is_empty() {
                    continue;
                }
                // Newest first: the last is the oldest sent.
                let oldest = batch
                    .last()
                    .and_then(|r| r["seq"].as_u64())
                    .unwrap_or(cursor);
                let newest = batch
                    .first()
                    .and_then(|r| r["seq"].as_u64())
                    .unwrap_or(cursor);
                let mut events = Vec::with_capacity(batch.len() + 1);
                if batch.len() == MAX_PER_READ as usize && oldest > cursor + 1 {
                    events.push(
                        Event::default()
                            .event("skipped")
                            .json_data(skipped(cursor, oldest, replay)),
                    );
                }
                events.extend(batch.iter().rev().map(record_event));
                cursor = newest;
                return Some((
                    futures_util::stream::iter(events),
                    (app, fields, cursor, wait),
                ));
            }
        },
    );
    Ok(Sse::new(events.flatten())
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// A `skipped` event's data: the records between `after` and `before` were not sent; `replay`
/// when they were written before the stream opened (its first read, resuming).
fn skipped(after: u64, before: u64, replay: bool) -> Value {
    let mut gap = json!({ "after": after, "before": before });
    if replay {
        gap["replay"] = true.into();
    }
    gap
}

/// A `record` event whose id is the record's sequence number (where a resuming client starts).
fn record_event(record: &Value) -> Result<Event, axum::Error> {
    Event::default()
        .event("record")
        .id(record["seq"].as_u64().unwrap_or(0).to_string())
        .json_data(record)
}

/// The newest `limit` records after `after`, through `GET /api/audit`'s own query.
async fn read(
    app: &AppState,
    filters: &Map<String, Value>,
    after: Option<u64>,
    limit: u32,
) -> ApiResult<Vec<Value>> {
    let mut q = filters.clone();
    q.insert("order".into(), "desc".into());
    q.insert("limit".into(), limit.into());
    if let Some(a) = after {
        q.insert("after".into(), a.into());
    }
    let query: crate::audit::Query = serde_json::from_value(Value::Object(q))
        .map_err(|e| ApiError::invalid_request(format!("invalid query: {e}")))?;
    let axum::Json(body) = crate::audit::query(State(app.clone()), ApiQuery(query)).await?;
    Ok(match body {
        Value::Object(mut m) => match m.remove("records") {
            Some(Value::Array(records)) => records,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    })
}
