//! Every request ends in one place: [`Telemetry::emit`] logs it, counts it in the metrics and
//! queues it for the audit log — one typed record, not three separate code paths.

pub mod metrics;
pub mod record;

pub use record::{CallRecord, Outcome};

use metrics::Metrics;

#[derive(Debug, Default)]
pub struct Telemetry {
    pub metrics: Metrics,
}

impl Telemetry {
    pub fn emit(&self, record: CallRecord) {
        self.metrics.observe(&record);
        match record.outcome {
            Outcome::Allowed | Outcome::Passed | Outcome::Answered => tracing::debug!(
                request = %record.request_id,
                server = %record.server,
                method = %record.method,
                tool = record.tool.as_deref().unwrap_or(""),
                decision = record.outcome.as_str(),
                upstream = record.upstream_status.as_deref().unwrap_or(""),
                gateway_us = record.gateway_us,
                upstream_us = record.upstream_us.unwrap_or(0),
                "request"
            ),
            _ => tracing::info!(
                request = %record.request_id,
                server = %record.server,
                agent = %record.agent,
                tool = record.tool.as_deref().unwrap_or(""),
                decision = record.outcome.as_str(),
                rule = record.rule.as_deref().unwrap_or(""),
                message = record.message.as_deref().unwrap_or(""),
                "refused"
            ),
        }
    }
}
