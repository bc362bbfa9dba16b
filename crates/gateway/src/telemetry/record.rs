//! What the gateway records about one request (SPEC §6): who, what, the decision and the rule,
//! what the server answered, and how long each side took. One value per request, built as the
//! request goes and emitted once at its end.

use crate::identity::Caller;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use toolgate_store::audit::{AuditDecision, AuditRecord};

/// How a request ended, from the policy's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A tool call the policy allowed.
    Allowed,
    /// Refused by `action: deny`, `deny_if`/`require`, or the default.
    Denied,
    /// Refused by a limit.
    RateLimited,
    /// A hidden or unknown tool.
    Hidden,
    /// Needs human approval: answered with the approval to wait for (retry), or refused for want
    /// of a store.
    ApprovalRequired,
    /// Held for human approval when its client went away.
    Held,
    /// Unreadable: refused without a decision.
    Invalid,
    /// Allowed, but refused because the audit log could not record it.
    Unrecorded,
    /// Not policed (lists, resources, prompts…): passed through.
    Passed,
    /// Answered by the gateway itself (ping, discover, initialize on /mcp).
    Answered,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allow",
            Outcome::Denied => "deny",
            Outcome::RateLimited => "rate_limited",
            Outcome::Hidden => "hidden",
            Outcome::ApprovalRequired => "approval_required",
            Outcome::Held => "held",
            Outcome::Invalid => "invalid",
            Outcome::Unrecorded => "unrecorded",
            Outcome::Passed => "pass",
            Outcome::Answered => "answered",
        }
    }
}

impl Outcome {
    /// The decision as the audit log stores it.
    pub fn audit_decision(self) -> AuditDecision {
        match self {
            Outcome::Allowed | Outcome::Passed | Outcome::Answered => AuditDecision::Allow,
            Outcome::Denied => AuditDecision::Deny,
            Outcome::RateLimited => AuditDecision::RateLimited,
            Outcome::Hidden => AuditDecision::Hidden,
            Outcome::ApprovalRequired => AuditDecision::ApprovalRequired,
            Outcome::Held => AuditDecision::Held,
            Outcome::Invalid | Outcome::Unrecorded => AuditDecision::Error,
        }
    }
}

/// One request, as recorded: the audit record (SPEC §6) plus the clock readings that fill in
/// its latencies.
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub audit: AuditRecord,
    pub outcome: Outcome,
    started: Instant,
    forwarded: Option<Instant>,
    /// In strict durability: the call's request record was queued, so this record is its outcome.
    pub(crate) has_request_record: bool,
}

/// Request ids: a random per-process prefix and a counter (unique, cheap, sortable per process).
fn next_request_id() -> String {
    static PREFIX: OnceLock<u32> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(rand::random);
    format!("{prefix:08x}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

impl CallRecord {
    pub fn new(
        caller: &Caller,
        session: &str,
        server: &str,
        method: &str,
        policy_version: &str,
    ) -> Self {
        let anonymous = caller.identity.grant == crate::identity::ANONYMOUS;
        CallRecord {
            audit: AuditRecord {
                time_ms: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0),
                request_id: next_request_id(),
                session: (!session.is_empty()).then(|| session.to_owned()),
                agent: caller.identity.agent.clone(),
                grant: (!anonymous).then(|| caller.identity.grant.clone()),
                server: server.to_owned(),
                method: method.to_owned(),
                tool: None,
                decision: AuditDecision::Allow,
                rule: None,
                message: None,
                policy_version: Some(policy_version.to_owned()),
                arg_keys: Vec::new(),
                args: None,
                upstream_status: None,
                gateway_latency_us: 0,
                upstream_latency_us: None,
                phase: None,
            },
            outcome: Outcome::Passed,
            started: Instant::now(),
            forwarded: None,
            has_request_record: false,
        }
    }

    /// Time since the request arrived, µs.
    pub fn elapsed_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    /// Sets how the request was decided.
    pub fn decided(&mut self, outcome: Outcome) {
        self.outcome = outcome;
        self.audit.decision = outcome.audit_decision();
    }

    /// The request leaves for the server now.
    pub fn forwarded(&mut self) {
        let now = Instant::now();
        self.audit.gateway_latency_us = now.duration_since(self.started).as_micros() as u64;
        self.forwarded = Some(now);
    }

    /// The request ends now with `upstream_status` (`None`: answered by the gateway).
    pub fn ended(&mut self, upstream_status: Option<String>) {
        let now = Instant::now();
        match self.forwarded {
            Some(f) => {
                self.audit.upstream_latency_us = Some(now.duration_since(f).as_micros() as u64)
            }
            None => {
                self.audit.gateway_latency_us = now.duration_since(self.started).as_micros() as u64
            }
        }
        self.audit.upstream_status = upstream_status;
    }
}
