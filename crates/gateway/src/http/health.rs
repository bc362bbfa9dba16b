//! `/readyz` and `/metrics`. `/readyz` says whether every server can take calls. A shared stdio server that crashed in a loop
//! and was parked makes the gateway not ready, with the reason, so operators and load balancers
//! see it.

use crate::Gateway;
use crate::telemetry::metrics::ServerLabels;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use toolgate_mcp::upstream::supervisor::UpstreamStatus;

pub async fn readyz(State(gw): State<Arc<Gateway>>) -> (StatusCode, Json<Value>) {
    let mut ready = true;
    let servers: serde_json::Map<String, Value> = gw
        .state()
        .servers()
        .map(|s| {
            let status = match s.status() {
                None => json!({ "state": "ok" }),
                Some(UpstreamStatus::Parked { reason }) => {
                    ready = false;
                    json!({ "state": "parked", "reason": reason })
                }
                Some(other) => json!({ "state": other.to_string() }),
            };
            (s.name.clone(), status)
        })
        .collect();
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(json!({ "ready": ready, "servers": servers })))
}

/// Prometheus text exposition of the gateway's metrics.
pub async fn metrics(State(gw): State<Arc<Gateway>>) -> impl axum::response::IntoResponse {
    let metrics = &gw.relay.telemetry.metrics;
    for s in gw.state().servers() {
        let up = !matches!(s.status(), Some(UpstreamStatus::Parked { .. }));
        metrics
            .upstream_up
            .get_or_create(&ServerLabels {
                server: s.name.clone(),
            })
            .set(i64::from(up));
    }
    metrics
        .sessions
        .set((gw.session_count() + gw.aggregates.len()) as i64);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
}
