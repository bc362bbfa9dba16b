//! What the audit log holds: one [`AuditRecord`] per authenticated request, one [`AdminEvent`] per admin
//! change, each wrapped in [`Chained`] once the store has given it a sequence number and a hash.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The two hash-chained streams; each has its own sequence numbers and chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditStream {
    /// [`AuditRecord`]s: one per request that passed authentication.
    Requests,
    /// [`AdminEvent`]s: policy edits, grants, approvals, kill switches, retention.
    Admin,
}

impl AuditStream {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditStream::Requests => "requests",
            AuditStream::Admin => "admin",
        }
    }
}

impl fmt::Display for AuditStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the gateway did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditDecision {
    /// Forwarded to the server.
    Allow,
    /// Refused by a policy rule (or a kill switch, or a grant without a policy for the server).
    Deny,
    /// The tool is hidden: answered as unknown.
    Hidden,
    /// Refused by a limit.
    RateLimited,
    /// Held for (or refused pending) a human's approval.
    ApprovalRequired,
    /// Refused by the gateway itself: unreadable message, unreachable upstream, failing store.
    Error,
    /// Held for a human's approval when its client went away (`upstream_status`: `abandoned`).
    Held,
}

impl AuditDecision {
    pub const ALL: [AuditDecision; 7] = [
        AuditDecision::Allow,
        AuditDecision::Deny,
        AuditDecision::Hidden,
        AuditDecision::RateLimited,
        AuditDecision::ApprovalRequired,
        AuditDecision::Error,
        AuditDecision::Held,
    ];

    /// The stored and exported spelling (`rate_limited`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditDecision::Allow => "allow",
            AuditDecision::Deny => "deny",
            AuditDecision::Hidden => "hidden",
            AuditDecision::RateLimited => "rate_limited",
            AuditDecision::ApprovalRequired => "approval_required",
            AuditDecision::Error => "error",
            AuditDecision::Held => "held",
        }
    }
}

impl fmt::Display for AuditDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`AuditDecision`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit decision {0:?}")]
pub struct UnknownDecision(pub String);

impl FromStr for AuditDecision {
    type Err = UnknownDecision;

    fn from_str(s: &str) -> Result<AuditDecision, UnknownDecision> {
        AuditDecision::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| UnknownDecision(s.to_owned()))
    }
}

/// Which of a call's two records this is, in strict durability: a forwarded tool call is recorded
/// before it is forwarded (`request`, synced to disk) and again when it ends (`outcome`, the
/// complete record). A `request` record without its `outcome` is a call that may have run while
/// the gateway stopped before it could record how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordPhase {
    Request,
    Outcome,
}

impl RecordPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordPhase::Request => "request",
            RecordPhase::Outcome => "outcome",
        }
    }

    pub fn parse(text: &str) -> Option<RecordPhase> {
        match text {
            "request" => Some(RecordPhase::Request),
            "outcome" => Some(RecordPhase::Outcome),
            _ => None,
        }
    }
}

/// One request that passed authentication. Optional fields that are `None` are left out of the
/// serialised form (and so of the hash), so that fields added later do not change old records' hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When the request arrived, ms since the Unix epoch.
    pub time_ms: u64,
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    pub agent: String,
    /// The grant's label; `None` for the anonymous identity of a gateway without grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    pub server: String,
    /// The JSON-RPC method (`tools/call`).
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    pub decision: AuditDecision,
    /// The JSON pointer of the rule that decided (`/tools/UpdateOneOpportunity/deny_if/0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// What the agent was told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
    /// The top-level argument names of a tool call.
    #[serde(default)]
    pub arg_keys: Vec<String>,
    /// The (redacted) argument values, only when the operator asked for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<serde_json::Value>,
    /// How the upstream answered (`ok`, `jsonrpc_error -32602`, `http 502`, `timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_status: Option<String>,
    /// Time spent in the gateway itself, µs.
    pub gateway_latency_us: u64,
    /// Time waiting for the upstream, µs; `None` when the request was not forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_latency_us: Option<u64>,
    /// One of a call's two records in strict durability; `None`: the request's only record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RecordPhase>,
}

/// One admin change, in the admin stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminEvent {
    /// ms since the Unix epoch.
    pub time_ms: u64,
    /// Who made the change (`cli`, an admin token's label).
    pub actor: String,
    /// What was done (`grant.create`, `policy.update`, `kill_switch.engage`).
    pub action: String,
    /// What it was done to (a grant label, a server name).
    pub target: String,
    /// Anything else worth keeping; never a token.
    #[serde(default)]
    pub details: serde_json::Value,
}

/// A record as stored: its place in the chain and its hash. Serialises flat (`seq`, `prev_hash`, `hash`
/// next to the record's own fields); that is the JSONL export's line format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chained<T> {
    /// 1 for the first record of a stream, then +1 per record, in append order.
    pub seq: u64,
    /// The hash of record `seq - 1` (64 zeros for the first record).
    pub prev_hash: String,
    /// See [`crate::audit::chain`].
    pub hash: String,
    /// The id of the audit key that sealed the link; absent for a plain link (sealed before the
    /// store had a key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(flatten)]
    pub record: T,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The sequence number of the batch's first record (the next one, for an empty batch).
    pub first_seq: u64,
    /// How many records were appended.
    pub count: u64,
    /// The hash of the stream's last record after the append.
    pub head_hash: String,
}

impl Appended {
    /// The sequence number of the batch's last record; `None` for an empty batch.
    pub fn last_seq(&self) -> Option<u64> {
        (self.count > 0).then(|| self.first_seq + self.count - 1)
    }
}
