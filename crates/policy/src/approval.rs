//! `approval: {timeout, hold_max, mode, notify: {webhook}, via}`: how a `require_approval` call is held.
//! Parsed and validated here; the gateway acts on it.

/// What the agent experiences while a call waits for approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApprovalMode {
    /// The request stays open until approved, denied or timed out. The default.
    Hold,
    /// The agent gets an immediate result with the approval id and retries the identical call once approved.
    Retry,
}

impl ApprovalMode {
    pub fn name(self) -> &'static str {
        match self {
            ApprovalMode::Hold => "hold",
            ApprovalMode::Retry => "retry",
        }
    }
}

/// The compiled approval settings of one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalSpec {
    /// How long a held call waits before it is denied. Default 10 minutes.
    pub timeout_ms: u64,
    /// Hold mode: how long the client's request stays open before it is answered with the approval
    /// to wait for and asked to retry; `None`: the gateway's default (`[approvals] hold_max`).
    pub hold_max_ms: Option<u64>,
    pub mode: ApprovalMode,
    /// `notify.webhook`: an http(s) URL to POST pending approvals to.
    pub webhook: Option<String>,
    /// `via: "client"`: approval is asked of the MCP client (elicitation) rather than an operator.
    pub via_client: bool,
}

/// Default approval timeout: 10 minutes.
pub const DEFAULT_APPROVAL_TIMEOUT_MS: u64 = 600_000;

impl Default for ApprovalSpec {
    fn default() -> Self {
        ApprovalSpec {
            timeout_ms: DEFAULT_APPROVAL_TIMEOUT_MS,
            hold_max_ms: None,
            mode: ApprovalMode::Hold,
            webhook: None,
            via_client: false,
        }
    }
}
