//! `GET /api/audit/stream`: the audit log as Server-Sent Events, for live views. Takes the filters
//! of `GET /api/audit` (either stream) and sends one `record` event per new matching record, oldest
//! first, read from the store twice a second through the same query `GET /api/audit` runs. A view
//! cannot render more than a few hundred records a second, so each read sends at most
//! [`MAX_PER_READ`] (the newest) and says what it left out in a `skipped` event
//! (`{"after": seq, "before": seq}`: the records between were not sent; query them with
//! `GET /api/audit`). Runs until the client disconnects.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use axum::extract::State;
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
    ApiQuery(filters): ApiQuery<BTreeMap<String, String>>,
) -> ApiResult<axum::response::Response> {
    for refused in ["after", "before", "order", "limit"] {
        if filters.contains_key(refused) {
            return Err(ApiError::invalid_request(format!(
                "{refused} does not apply to the stream: it starts at the newest record"
            )));
        }
    }
    let fields: Map<String, Value> = filters
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    // The newest matching record now: the stream starts after it. This also validates the
    // filters, so a bad one is an error answer rather than an empty stream.
    let newest = read(&app, &fields, None, 1).await?;
    let cursor = newest.first().and_then(|r| r["seq"].as_u64()).unwrap_or(0);
    let events = futures_util::stream::unfold(
        (app, fields, cursor),
        |(app, fields, mut cursor)| async move {
            loop {
                tokio::time::sleep(POLL).await;
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
                            .json_data(json!({ "after": cursor, "before": oldest })),
                    );
                }
                events.extend(
                    batch
                        .iter()
                        .rev()
                        .map(|r| Event::default().event("record").json_data(r)),
                );
                cursor = newest;
                return Some((futures_util::stream::iter(events), (app, fields, cursor)));
            }
        },
    );
    Ok(Sse::new(events.flatten())
        .keep_alive(KeepAlive::default())
        .into_response())
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
