//! `/readyz` (data plane) and `/metrics` (admin plane). `/readyz` is the public probe load
//! balancers read: ready or not, which servers are parked after a crash loop, and `"audit":
//! "failing"` while the audit log cannot take tool calls — nothing more.
//! Why a server was parked (its last stderr lines, scrubbed of token-like strings) is for
//! operators: the admin API's `/api/servers` and the log.

use crate::Gateway;
use crate::telemetry::metrics::ServerLabels;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use toolgate_mcp::upstream::supervisor::UpstreamStatus;

pub async fn readyz(State(gw): State<Arc<Gateway>>) -> (StatusCode, Json<Value>) {
    let parked: Vec<String> = gw
        .state()
        .servers()
        .filter(|s| matches!(s.status(), Some(UpstreamStatus::Parked { .. })))
        .map(|s| s.name.clone())
        .collect();
    let audit_failing = gw.pipeline.telemetry.audit_failing().is_some();
    let ready = parked.is_empty() && !audit_failing;
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = json!({ "ready": ready, "parked": parked });
    if audit_failing {
        // Why in detail is for operators (the log, `toolgate_audit_failing` on /metrics).
        body["audit"] = "failing".into();
    }
    (code, Json(body))
}

/// Prometheus text exposition of the gateway's metrics.
pub async fn metrics(State(gw): State<Arc<Gateway>>) -> impl axum::response::IntoResponse {
    let metrics = &gw.pipeline.telemetry.metrics;
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
