//! What the gateway records about one request (SPEC §6): who, what, the decision and the rule,
//! what the server answered, and how long each side took. One value per request, built as the
//! request goes and emitted once at its end.

use crate::identity::Caller;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

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
    /// Needs human approval (refused until approvals are enabled).
    ApprovalRequired,
    /// Unreadable: refused without a decision.
    Invalid,
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
            Outcome::Invalid => "invalid",
            Outcome::Passed => "pass",
            Outcome::Answered => "answered",
        }
    }
}

/// One request, as recorded.
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub request_id: String,
    /// Milliseconds since the Unix epoch when the request arrived.
    pub time_ms: u64,
    pub session: String,
    pub agent: String,
    pub grant: String,
    pub server: String,
    pub method: String,
    pub tool: Option<String>,
    pub outcome: Outcome,
    /// The JSON pointer of the rule that decided.
    pub rule: Option<String>,
    /// What the agent was told, for refusals.
    pub message: Option<String>,
    pub policy_version: String,
    /// The top-level argument names of a tool call (never their values).
    pub arg_keys: Vec<String>,
    /// `ok`, `error <code>`, `tool_error` or `unavailable`; `None` when not forwarded.
    pub upstream_status: Option<String>,
    /// Time spent in the gateway before forwarding (or until it answered), in µs.
    pub gateway_us: u64,
    /// Time from forwarding to the server's answer, in µs.
    pub upstream_us: Option<u64>,
    started: Instant,
    forwarded: Option<Instant>,
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
        CallRecord {
            request_id: next_request_id(),
            time_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            session: session.to_owned(),
            agent: caller.identity.agent.clone(),
            grant: caller.identity.grant.clone(),
            server: server.to_owned(),
            method: method.to_owned(),
            tool: None,
            outcome: Outcome::Passed,
            rule: None,
            message: None,
            policy_version: policy_version.to_owned(),
            arg_keys: Vec::new(),
            upstream_status: None,
            gateway_us: 0,
            upstream_us: None,
            started: Instant::now(),
            forwarded: None,
        }
    }

    /// The request leaves for the server now.
    pub fn forwarded(&mut self) {
        let now = Instant::now();
        self.gateway_us = now.duration_since(self.started).as_micros() as u64;
        self.forwarded = Some(now);
    }

    /// The request ends now with `upstream_status` (`None`: answered by the gateway).
    pub fn ended(&mut self, upstream_status: Option<String>) {
        let now = Instant::now();
        match self.forwarded {
            Some(f) => self.upstream_us = Some(now.duration_since(f).as_micros() as u64),
            None => self.gateway_us = now.duration_since(self.started).as_micros() as u64,
        }
        self.upstream_status = upstream_status;
    }
}
