//! Every request ends in one place: [`Telemetry::emit`] logs it, counts it in the metrics and
//! queues it for the audit log — one typed record, not three separate code paths. And before a
//! tool call is forwarded, [`Telemetry::admit_call`] says whether the audit log can take it.

pub mod audit_policy;
pub mod audit_writer;
pub mod checkpoints;
pub mod labels;
pub mod metrics;
pub mod record;
pub mod redact;

pub use audit_writer::AuditUnavailable;
pub use record::{CallRecord, Outcome};

use audit_policy::{AuditPolicy, Durability, OnFailure};
use audit_writer::AuditQueue;
use metrics::Metrics;
use parking_lot::Mutex;
use redact::Redaction;
use std::sync::Arc;
use std::time::{Duration, Instant};
use toolgate_store::AuditSink;
use toolgate_store::audit::RecordPhase;

/// How often calls forwarded unrecorded (`on_failure = "continue"`) are logged at most.
const UNRECORDED_LOG_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub struct Telemetry {
    pub metrics: Metrics,
    audit: Option<AuditQueue>,
    /// Record argument values (redacted) as well as their names.
    values: Option<Redaction>,
    /// When a call forwarded unrecorded was last logged, and how many since.
    unrecorded: Mutex<(Option<Instant>, u64)>,
}

impl Telemetry {
    /// Telemetry that also writes the audit log to `sink`; `values` records argument values.
    pub fn with_audit(
        sink: Arc<dyn AuditSink>,
        values: Option<Redaction>,
        policy: AuditPolicy,
    ) -> Self {
        let metrics = Metrics::default();
        let audit = AuditQueue::start(sink, metrics.audit.clone(), policy);
        Telemetry {
            metrics,
            audit: Some(audit),
            values,
            unrecorded: Mutex::default(),
        }
    }

    /// Why the audit log cannot take tool calls now (`/readyz` reports it); `None`: it can, or
    /// there is no audit log.
    pub fn audit_failing(&self) -> Option<AuditUnavailable> {
        self.audit.as_ref().and_then(AuditQueue::failing)
    }

    /// Whether the tool call of `record`, decided and about to be forwarded, may go: `Err` when
    /// the audit log cannot record it and the operator chose to refuse such calls. In strict
    /// durability its request record is on disk when this returns `Ok`.
    pub async fn admit_call(&self, record: &mut CallRecord) -> Result<(), AuditUnavailable> {
        let Some(audit) = &self.audit else {
            return Ok(());
        };
        let policy = *audit.policy();
        let admitted = match policy.durability {
            Durability::Batched => audit.failing().map_or(Ok(()), Err),
            Durability::Strict => {
                let mut request = record.audit.clone();
                request.phase = Some(RecordPhase::Request);
                request.gateway_latency_us = record.elapsed_us();
                let written = audit.write_durably(request).await;
                // Queued, even if not yet on disk: its outcome must follow it.
                record.has_request_record =
                    matches!(written, Ok(()) | Err(AuditUnavailable::NotDurable { .. }));
                written
            }
        };
        match (admitted, policy.on_failure) {
            (Ok(()), _) => Ok(()),
            (Err(why), OnFailure::Refuse) => Err(why),
            (Err(why), OnFailure::Continue) => {
                let mut seen = self.unrecorded.lock();
                seen.1 += 1;
                if seen.0.is_none_or(|at| at.elapsed() >= UNRECORDED_LOG_EVERY) {
                    tracing::error!(
                        calls = seen.1,
                        reason = %why,
                        "tool calls forwarded although the audit log cannot record them ([audit] on_failure = \"continue\")"
                    );
                    *seen = (Some(Instant::now()), 0);
                }
                Ok(())
            }
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

    pub fn emit(&self, mut call: CallRecord) {
        if call.has_request_record {
            call.audit.phase = Some(RecordPhase::Outcome);
        }
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
