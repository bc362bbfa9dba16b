//! Filters for reading the audit streams back (`toolgate audit query|tail|export`, the admin API).

use crate::audit::{AdminEvent, AuditDecision, AuditRecord, RecordPhase};

/// How the two records of a call in strict durability (see [`RecordPhase`]) come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallView {
    /// Every record as stored (what the chain and the export hold).
    #[default]
    Records,
    /// One record per request: a call's outcome record, or its request record while it has none
    /// (then its `phase` is still `request`: the call may have run, its end was never recorded).
    Calls,
    /// Only request records without an outcome.
    Unfinished,
}

impl CallView {
    /// Does a record of `phase` show, given whether its request has an outcome record?
    pub fn shows(self, phase: Option<RecordPhase>, has_outcome: impl FnOnce() -> bool) -> bool {
        match (self, phase) {
            (CallView::Records, _) => true,
            (CallView::Calls, Some(RecordPhase::Request)) => !has_outcome(),
            (CallView::Calls, _) => true,
            (CallView::Unfinished, Some(RecordPhase::Request)) => !has_outcome(),
            (CallView::Unfinished, _) => false,
        }
    }
}

/// Which records to return: every filter that is set must match. Results are ordered by sequence
/// number, oldest first unless `newest_first`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// `time_ms >= from_ms`.
    pub from_ms: Option<u64>,
    /// `time_ms < to_ms`.
    pub to_ms: Option<u64>,
    pub agent: Option<String>,
    pub server: Option<String>,
    pub tool: Option<String>,
    pub decision: Option<AuditDecision>,
    /// `seq > after_seq`: the cursor for paging oldest first.
    pub after_seq: Option<u64>,
    /// `seq < before_seq`: the cursor for paging newest first.
    pub before_seq: Option<u64>,
    pub newest_first: bool,
    /// At most this many records.
    pub limit: u32,
    pub view: CallView,
}

impl Default for AuditQuery {
    fn default() -> AuditQuery {
        AuditQuery {
            from_ms: None,
            to_ms: None,
            agent: None,
            server: None,
            tool: None,
            decision: None,
            after_seq: None,
            before_seq: None,
            newest_first: false,
            limit: 100,
            view: CallView::Records,
        }
    }
}

fn eq(want: &Option<String>, have: &str) -> bool {
    want.as_deref().is_none_or(|w| w == have)
}

fn in_range(
    seq: u64,
    time_ms: u64,
    from: Option<u64>,
    to: Option<u64>,
    after: Option<u64>,
    before: Option<u64>,
) -> bool {
    from.is_none_or(|f| time_ms >= f)
        && to.is_none_or(|t| time_ms < t)
        && after.is_none_or(|a| seq > a)
        && before.is_none_or(|b| seq < b)
}

impl AuditQuery {
    /// Does record `seq` match, [`AuditQuery::view`] aside? (What a SQL backend expresses in its
    /// WHERE clause.)
    pub fn matches(&self, seq: u64, r: &AuditRecord) -> bool {
        in_range(
            seq,
            r.time_ms,
            self.from_ms,
            self.to_ms,
            self.after_seq,
            self.before_seq,
        ) && eq(&self.agent, &r.agent)
            && eq(&self.server, &r.server)
            && self
                .tool
                .as_deref()
                .is_none_or(|t| r.tool.as_deref() == Some(t))
            && self.decision.is_none_or(|d| d == r.decision)
    }
}

/// Which admin events to return; like [`AuditQuery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminQuery {
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub after_seq: Option<u64>,
    pub before_seq: Option<u64>,
    pub newest_first: bool,
    pub limit: u32,
}

impl Default for AdminQuery {
    fn default() -> AdminQuery {
        AdminQuery {
            from_ms: None,
            to_ms: None,
            actor: None,
            action: None,
            target: None,
            after_seq: None,
            before_seq: None,
            newest_first: false,
            limit: 100,
        }
    }
}

impl AdminQuery {
    /// Does event `seq` match?
    pub fn matches(&self, seq: u64, e: &AdminEvent) -> bool {
        in_range(
            seq,
            e.time_ms,
            self.from_ms,
            self.to_ms,
            self.after_seq,
            self.before_seq,
        ) && eq(&self.actor, &e.actor)
            && eq(&self.action, &e.action)
            && eq(&self.target, &e.target)
    }
}
