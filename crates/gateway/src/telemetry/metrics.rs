//! Prometheus metrics at `/metrics`: calls by server, tool and decision; rule hits; limit
//! rejections; gateway overhead and upstream latency; upstream health; the audit
//! writer's queue depth, dropped records and failing state.

use super::audit_writer::AuditGauges;
use super::record::{CallRecord, Outcome};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    server: String,
    tool: String,
    decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    server: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    server: String,
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerLabels {
    pub server: String,
}

fn latency_histogram() -> Histogram {
    // 10 µs … ~10 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.00001, 2.5, 16,
    ))
}

/// The gateway's metrics and the registry that renders them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    requests: Family<MethodLabels, Counter>,
    rule_hits: Family<RuleLabels, Counter>,
    limit_rejections: Family<RuleLabels, Counter>,
    gateway_overhead: Family<ServerLabels, Histogram, fn() -> Histogram>,
    upstream_latency: Family<ServerLabels, Histogram, fn() -> Histogram>,
    pub upstream_up: Family<ServerLabels, Gauge>,
    /// The audit writer's queue depth, dropped records and failing state.
    pub audit: AuditGauges,
    pub sessions: Gauge,
    /// Bounded tool and method labels.
    pub labels: super::labels::Labels,
    /// Open and refused connections per plane.
    pub connections: ConnectionMetrics,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PlaneLabels {
    pub plane: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    pub plane: &'static str,
    /// The `[limits]` key the connection met.
    pub limit: &'static str,
}

/// What the accept loop reports: open connections, and connections refused by a cap.
#[derive(Clone, Debug, Default)]
pub struct ConnectionMetrics {
    pub open: Family<PlaneLabels, Gauge>,
    pub refused: Family<RefusalLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("toolgate");
        let calls = Family::<CallLabels, Counter>::default();
        let requests = Family::<MethodLabels, Counter>::default();
        let rule_hits = Family::<RuleLabels, Counter>::default();
        let limit_rejections = Family::<RuleLabels, Counter>::default();
        let gateway_overhead =
            Family::<ServerLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        let upstream_latency =
            Family::<ServerLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        let upstream_up = Family::<ServerLabels, Gauge>::default();
        let audit = AuditGauges::default();
        let sessions = Gauge::default();
        registry.register(
            "tool_calls",
            "Tool calls by server, tool and decision",
            calls.clone(),
        );
        registry.register(
            "requests",
            "Requests by server and method",
            requests.clone(),
        );
        registry.register(
            "rule_hits",
            "Decisions by the rule that made them",
            rule_hits.clone(),
        );
        registry.register(
            "limit_rejections",
            "Calls refused by a limit",
            limit_rejections.clone(),
        );
        registry.register(
            "gateway_overhead_seconds",
            "Time a request spends in the gateway before it is forwarded or answered",
            gateway_overhead.clone(),
        );
        registry.register(
            "upstream_latency_seconds",
            "Time from forwarding to the server's answer",
            upstream_latency.clone(),
        );
        registry.register(
            "upstream_up",
            "1 when a server can take calls, 0 when it is parked",
            upstream_up.clone(),
        );
        registry.register(
            "audit_queue_depth",
            "Audit records waiting to be written",
            audit.depth.clone(),
        );
        registry.register(
            "audit_records_dropped",
            "Audit records dropped because the audit queue was full",
            audit.dropped.clone(),
        );
        registry.register(
            "audit_failing",
            "1 while the audit log cannot take tool calls' records (store failing or queue full)",
            audit.failing.clone(),
        );
        registry.register("sessions", "Open client sessions", sessions.clone());
        let connections = ConnectionMetrics::default();
        registry.register(
            "connections",
            "Open connections per plane",
            connections.open.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections refused by a cap, per plane and [limits] key",
            connections.refused.clone(),
        );
        Metrics {
            registry,
            calls,
            requests,
            rule_hits,
            limit_rejections,
            gateway_overhead,
            upstream_latency,
            upstream_up,
            audit,
            sessions,
            labels: super::labels::Labels::default(),
            connections,
        }
    }
}

impl Metrics {
    pub fn observe(&self, record: &CallRecord) {
        let r = &record.audit;
        self.requests
            .get_or_create(&MethodLabels {
                server: r.server.clone(),
                method: self.labels.method(&r.method),
            })
            .inc();
        if let Some(tool) = &r.tool {
            let labels = CallLabels {
                server: r.server.clone(),
                tool: self.labels.tool(&r.server, tool),
                decision: record.outcome.as_str(),
            };
            self.calls.get_or_create(&labels).inc();
        }
        if let Some(rule) = &r.rule {
            let labels = RuleLabels {
                server: r.server.clone(),
                rule: rule.clone(),
            };
            self.rule_hits.get_or_create(&labels).inc();
            if record.outcome == Outcome::RateLimited {
                self.limit_rejections.get_or_create(&labels).inc();
            }
        }
        let server = ServerLabels {
            server: r.server.clone(),
        };
        self.gateway_overhead
            .get_or_create(&server)
            .observe(r.gateway_latency_us as f64 / 1e6);
        if let Some(us) = r.upstream_latency_us {
            self.upstream_latency
                .get_or_create(&server)
                .observe(us as f64 / 1e6);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
