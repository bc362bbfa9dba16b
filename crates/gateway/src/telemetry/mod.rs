//! Every request ends in one place: [`Telemetry::emit`] logs it, counts it in the metrics and
//! queues it for the audit log — one typed record, not three separate code paths.

pub mod audit_writer;
pub mod metrics;
pub mod record;
pub mod redact;

pub use record::{CallRecord, Outcome};

use audit_writer::AuditQueue;
use metrics::Metrics;
use redact::Redaction;
use std::sync::Arc;
use toolgate_store::AuditSink;

#[derive(Debug, Default)]
pub struct Telemetry {
    pub metrics: Metrics,
    audit: Option<AuditQueue>,
    /// Record argument values (redacted) as well as their names.
    values: Option<Redaction>,
}

impl Telemetry {
    /// Telemetry that also writes the audit log to `sink`; `values` records argument values.
    pub fn with_audit(sink: Arc<dyn AuditSink>, values: Option<Redaction>) -> Self {
        let metrics = Metrics::default();
        let audit = AuditQueue::start(sink, metrics.audit_queue_depth.clone());
        Telemetry {
            metrics,
            audit: Some(audit),
            values,
        }
    }

    /// Argument values as they may be recorded, if the operator asked for them.
    pub fn recorded_args(&self, args: &serde_json::Value) -> Option<serde_json::Value> {
        self.values.as_ref().map(|r| r.apply(args))
    }

    /// Writes out every queued audit record (graceful shutdown).
    pub async fn flush(&self) {
        if let Some(a) = &self.audit {
            a.close().await;
        }
    }

    pub fn emit(&self, call: CallRecord) {
        self.metrics.observe(&call);
        let outcome = call.outcome;
        let record = &call.audit;
        match outcome {
            Outcome::Allowed | Outcome::Passed | Outcome::Answered => tracing::debug!(
                request = %record.request_id,
                server = %record.server,
                method = %record.method,
                tool = record.tool.as_deref().unwrap_or(""),
                decision = outcome.as_str(),
                upstream = record.upstream_status.as_deref().unwrap_or(""),
                gateway_us = record.gateway_latency_us,
                upstream_us = record.upstream_latency_us.unwrap_or(0),
                "request"
            ),
            _ => tracing::info!(
                request = %record.request_id,
                server = %record.server,
                agent = %record.agent,
                tool = record.tool.as_deref().unwrap_or(""),
                decision = outcome.as_str(),
                rule = record.rule.as_deref().unwrap_or(""),
                // Not `message`: that is the event's own ("refused"), and a JSON log line has one.
                reason = record.message.as_deref().unwrap_or(""),
                "refused"
            ),
        }
        if let Some(audit) = &self.audit {
            audit.push(call.audit);
        }
    }
}
