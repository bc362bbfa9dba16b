//! The operator's `[audit]` choices about losing records: what happens to tool calls when the
//! audit log cannot be written, how far behind it may fall, and whether a call's record must be
//! on disk before the call is forwarded.

use std::time::Duration;

/// What tool calls get while the audit log cannot take their records (`[audit] on_failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// Refused with an error naming the audit log: nothing runs unrecorded (fail closed).
    #[default]
    Refuse,
    /// Forwarded anyway; every such call is logged as an error (availability over the record).
    Continue,
}

impl OnFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            OnFailure::Refuse => "refuse",
            OnFailure::Continue => "continue",
        }
    }

    pub fn parse(text: &str) -> Option<OnFailure> {
        match text {
            "refuse" => Some(OnFailure::Refuse),
            "continue" => Some(OnFailure::Continue),
            _ => None,
        }
    }
}

/// When a forwarded tool call's record reaches the disk (`[audit] durability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// One record per request, written in batches shortly after it ends: nothing is lost on a
    /// graceful shutdown, the last moments' records can be on a crash.
    #[default]
    Batched,
    /// A tool call's request record is synced to disk before the call is forwarded (calls waiting
    /// together share one sync), and its outcome is appended when it ends: after a crash or a
    /// power loss the log shows every call that could have run.
    Strict,
}

impl Durability {
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Batched => "batched",
            Durability::Strict => "strict",
        }
    }

    pub fn parse(text: &str) -> Option<Durability> {
        match text {
            "batched" => Some(Durability::Batched),
            "strict" => Some(Durability::Strict),
            _ => None,
        }
    }
}

/// How the audit writer holds up when the store does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditPolicy {
    pub on_failure: OnFailure,
    pub durability: Durability,
    /// How long the store may fail (or a write may hang, e.g. on a lock) before the audit log
    /// counts as failing.
    pub max_lag: Duration,
    /// Records waiting to be written, at most; tool calls are refused from 90% on, so that the
    /// records of refusals and of other requests still fit.
    pub queue_capacity: usize,
}

impl Default for AuditPolicy {
    fn default() -> Self {
        AuditPolicy {
            on_failure: OnFailure::default(),
            durability: Durability::default(),
            max_lag: Duration::from_secs(5),
            queue_capacity: 65_536,
        }
    }
}
