//! Human approval of tool calls (`action: "require_approval"`). An approval covers exactly one
//! call — grant, agent, server, tool, a digest of the canonical arguments, the policy version —
//! and lives in the store, so it can be decided from any process (CLI, admin API). A held call
//! waits here for its decision, at most `hold_max` (real clients give up on a request after a
//! minute or so); the store is polled for decisions made elsewhere. When the hold runs out or the
//! client goes away, the store is told that the caller left: the identical retry then waits for
//! the same approval again, or, once it is approved, goes ahead once.
//!
//! An approval keeps the call's arguments as the audit log keeps them: under
//! `[audit] arguments = "values"` the values, redacted by `redact_keys` / `redact_patterns` as the
//! audit log redacts them; under `"keys"` (the default) only the top-level argument names, as a
//! JSON array. Approvers (the UI, the admin API, the CLI) and the webhook see what is kept. The
//! retried call is matched by the digest of its exact arguments, which needs no values kept.

use crate::drain::Drain;
use crate::enforce::now_ms;
use crate::identity::{ANONYMOUS, Caller};
use crate::telemetry::redact::Redaction;
use crate::webhook::{WebhookNotifier, approval_payload};
use parking_lot::Mutex;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;
use toolgate_mcp::tool_call::ToolCall;
use toolgate_policy::ApprovalSpec;
use toolgate_store::audit::AdminEvent;
use toolgate_store::{
    Approval, ApprovalBinding, ApprovalFilter, ApprovalMode, ApprovalStatus, ApprovalStore,
    AuditSink, NewApproval, StoreError, args_digest, args_digest_exact,
};

/// How often the store is read for decisions made elsewhere.
const POLL_EVERY: Duration = Duration::from_millis(250);

/// How long a held call's request stays open unless configured otherwise: under the minute after
/// which common clients (the TypeScript SDK among them) give up on a request.
pub const DEFAULT_HOLD_MAX: Duration = Duration::from_secs(45);

/// Pending approvals and the calls waiting for them.
pub struct Approvals {
    steps: AuditSteps,
    store: Arc<dyn ApprovalStore>,
    waiters: Mutex<HashMap<String, Waiter>>,
    /// Tells one wait from a later one on the same approval.
    next_waiter: AtomicU64,
    notifier: WebhookNotifier,
    /// The gateway's admin base URL, for the approve/deny links of notifications.
    public_url: Option<String>,
    /// What approvers see of a call's arguments: values redacted so (`[audit] arguments =
    /// "values"`), else (`None`) only their names.
    values: Option<Redaction>,
    /// How long a held call's request stays open when its policy does not say.
    hold_max: Duration,
    /// Pending approvals per grant at most (`[limits] pending_approvals_per_grant`).
    pending_limit: AtomicUsize,
    /// A draining gateway answers its held calls at once ("restarting, retry").
    drain: Drain,
}

/// The call waiting for an approval in this process.
struct Waiter {
    token: u64,
    decided: oneshot::Sender<Approval>,
}

impl std::fmt::Debug for Approvals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approvals")
            .field("waiting", &self.waiters.lock().len())
            .finish()
    }
}

/// How a held call's wait ended.
#[derive(Debug)]
pub enum HoldOutcome {
    Approved(Box<Approval>),
    Denied {
        by: Option<String>,
        note: Option<String>,
    },
    TimedOut,
    /// The hold ran out before a decision: the caller is to retry the identical call.
    StillPending(Box<Approval>),
    /// The gateway is stopping: the caller is to retry the identical call (elsewhere, or once it
    /// is back), which waits for the same approval.
    Restarting(Box<Approval>),
    Failed(String),
}

impl Approvals {
    pub fn new(store: Arc<dyn ApprovalStore>, webhook_secret: Option<String>) -> Self {
        Approvals {
            store,
            waiters: Mutex::default(),
            next_waiter: AtomicU64::new(0),
            notifier: WebhookNotifier::new(webhook_secret),
            public_url: None,
            steps: AuditSteps { audit: None },
            values: None,
            hold_max: DEFAULT_HOLD_MAX,
            pending_limit: AtomicUsize::new(
                crate::settings::Limits::default().pending_approvals_per_grant,
            ),
            drain: Drain::default(),
        }
    }

    /// A grant may have at most `limit` approvals pending.
    pub fn with_pending_limit(self, limit: usize) -> Self {
        self.set_pending_limit(limit);
        self
    }

    /// Changes the pending approvals a grant may have (on reload).
    pub fn set_pending_limit(&self, limit: usize) {
        self.pending_limit.store(limit, Ordering::Relaxed);
    }

    /// Held calls are answered at once when `drain` starts draining.
    pub fn with_drain(mut self, drain: Drain) -> Self {
        self.drain = drain;
        self
    }

    /// The refusal of a call that would add an approval to a grant that has
    /// `[limits] pending_approvals_per_grant` pending already: a tool result naming the limit.
    /// `None` when there is room, or when the call would wait for (or retry) an approval
    /// that exists already rather than add one.
    pub async fn over_pending_limit(
        &self,
        binding: &ApprovalBinding,
    ) -> Option<crate::wire::GatewayAnswer> {
        let limit = self.pending_limit.load(Ordering::Relaxed);
        let now = now_ms();
        let pending = match self
            .store
            .count_pending(binding.grant.as_deref(), now)
            .await
        {
            Ok(n) if n < limit => return None,
            Ok(n) => n,
            // The paths that follow meet the same store and refuse with the reason.
            Err(_) => return None,
        };
        let filter = ApprovalFilter {
            status: Some(ApprovalStatus::Pending),
            binding: Some(binding.clone()),
            limit: 1,
        };
        let exists = self
            .store
            .list(filter)
            .await
            .is_ok_and(|found| found.iter().any(|a| a.expires_at_ms > now));
        if exists {
            return None;
        }
        let grant = binding.grant.as_deref().unwrap_or(ANONYMOUS);
        tracing::warn!(grant, pending, limit, tool = %binding.tool, "approval refused: the grant has too many pending");
        Some(crate::wire::GatewayAnswer::ToolDenied {
            reason: format!(
                "{} needs approval, and grant {grant:?} has {pending} approvals waiting for a decision, its limit ([limits] pending_approvals_per_grant); retry once some are decided",
                binding.tool
            ),
            rule: "/limits/pending_approvals_per_grant".to_owned(),
            retry_after_s: Some(60),
        })
    }

    /// Argument values are kept, redacted by `values` (the audit log's), when the audit log keeps
    /// them; with `None`, only the arguments' names are.
    pub fn with_argument_values(mut self, values: Option<Redaction>) -> Self {
        self.values = values;
        self
    }

    /// A call's arguments as its approval keeps them: redacted values, or the top-level names.
    fn kept(&self, arguments: &Value) -> Value {
        match &self.values {
            Some(redaction) => redaction.apply(arguments),
            None => argument_names(arguments),
        }
    }

    /// A held call's request stays open at most `hold_max` unless its policy says otherwise.
    pub fn with_hold_max(mut self, hold_max: Duration) -> Self {
        self.hold_max = hold_max;
        self
    }

    /// Each step of an approval (requested, notified, timed out) is written to the admin audit
    /// stream of `audit` (decisions are written by whoever decides).
    pub fn with_audit(mut self, audit: Option<Arc<dyn AuditSink>>) -> Self {
        self.steps = AuditSteps { audit };
        self
    }

    /// Notifications link to the decision under `public_url` (the gateway's admin base URL).
    pub fn with_public_url(mut self, public_url: Option<String>) -> Self {
        self.public_url = public_url;
        self
    }

    #[cfg(test)]
    fn store(&self) -> &Arc<dyn ApprovalStore> {
        &self.store
    }

    /// The binding of a call: what an approval must match exactly.
    /// The arguments' digest is taken over their text as the client sent it (numbers exactly as
    /// written), so "approved exactly this call" means exactly.
    pub fn binding(
        caller: &Caller,
        server: &str,
        call: &ToolCall<'_>,
        policy_version: &str,
    ) -> ApprovalBinding {
        let grant = &caller.identity.grant;
        // The arguments were read already, so their text is JSON; the parsed value is the fallback.
        let digest =
            args_digest_exact(call.raw_arguments).unwrap_or_else(|_| args_digest(&call.arguments));
        ApprovalBinding {
            grant: (grant != ANONYMOUS).then(|| grant.clone()),
            agent: caller.identity.agent.clone(),
            server: server.to_owned(),
            tool: call.name.to_string(),
            args_digest: digest,
            policy_version: policy_version.to_owned(),
        }
    }

    /// The approved retry of this call, consumed (single use), if there is one.
    pub async fn take_approved(
        &self,
        binding: &ApprovalBinding,
    ) -> Result<Option<Approval>, StoreError> {
        self.store.take_approved(binding, now_ms()).await
    }

    /// A pending hold-mode approval for this very call whose caller left, now waited for by this
    /// call (its identical retry), if there is one.
    pub async fn rejoin(&self, binding: &ApprovalBinding) -> Result<Option<Approval>, StoreError> {
        self.store.rejoin(binding, now_ms()).await
    }

    /// A pending retry-mode approval for this very call, so a repeated call does not pile up
    /// approvals.
    pub async fn pending_for(
        &self,
        binding: &ApprovalBinding,
    ) -> Result<Option<Approval>, StoreError> {
        let filter = ApprovalFilter {
            status: Some(ApprovalStatus::Pending),
            binding: Some(binding.clone()),
            limit: 1,
        };
        Ok(self.store.list(filter).await?.into_iter().next())
    }

    /// Records a new pending approval (with the call's `arguments` as the audit settings keep
    /// them) and notifies its webhook.
    pub async fn request(
        &self,
        spec: &ApprovalSpec,
        binding: ApprovalBinding,
        rule: &str,
        arguments: &Value,
    ) -> Result<Approval, StoreError> {
        let now = now_ms();
        let mode = match spec.mode {
            toolgate_policy::ApprovalMode::Hold => ApprovalMode::Hold,
            toolgate_policy::ApprovalMode::Retry => ApprovalMode::Retry,
        };
        let approval = self
            .store
            .create(NewApproval {
                mode,
                binding,
                rule: rule.to_owned(),
                arguments: Some(self.kept(arguments)),
                created_at_ms: now,
                expires_at_ms: now + spec.timeout_ms,
            })
            .await?;
        tracing::warn!(approval = %approval.id, server = %approval.binding.server, tool = %approval.binding.tool,
            agent = %approval.binding.agent, "a call waits for approval");
        self.steps.record(
            "approval.request",
            &approval,
            serde_json::json!({ "rule": rule }),
        );
        if let Some(url) = &spec.webhook {
            let notifier = self.notifier.clone();
            let payload = approval_payload(&approval, None, self.public_url.as_deref());
            let (url, steps, step) = (url.clone(), self.steps.clone(), approval.clone());
            tokio::spawn(async move {
                let delivered = notifier.notify(&url, &payload).await;
                if let Err(e) = &delivered {
                    tracing::warn!(approval = %step.id, error = %e, "approval webhook not delivered");
                }
                let details = match delivered {
                    Ok(()) => serde_json::json!({ "webhook": url, "delivered": true }),
                    Err(e) => {
                        serde_json::json!({ "webhook": url, "delivered": false, "error": e.to_string() })
                    }
                };
                steps.record("approval.notify", &step, details);
            });
        }
        Ok(approval)
    }

    /// Waits for the decision on a held call, up to its expiry or `hold_max` (the policy's, else
    /// the gateway's), whichever comes first. Dropped while waiting (the client went away), it
    /// tells the store that the caller left.
    pub async fn wait(&self, approval: &Approval, hold_max: Option<Duration>) -> HoldOutcome {
        let (mut waiting, decided) = self.register(&approval.id);
        // A decision may have landed between creation and registration.
        if let Ok(Some(current)) = self.store.get(&approval.id).await {
            if current.status != ApprovalStatus::Pending {
                waiting.end();
                return self.settle(current).await;
            }
        }
        let left = Duration::from_millis(approval.expires_at_ms.saturating_sub(now_ms()));
        let hold = hold_max.unwrap_or(self.hold_max);
        let decided = tokio::select! {
            decided = tokio::time::timeout(hold.min(left), decided) => decided,
            () = self.drain.draining() => {
                let left = self.store.caller_left(&approval.id, now_ms()).await;
                waiting.end();
                return match left {
                    Ok(a) if a.status == ApprovalStatus::Pending => {
                        self.steps.record(
                            "approval.caller_left",
                            &a,
                            serde_json::json!({ "reason": "gateway stopping" }),
                        );
                        HoldOutcome::Restarting(Box::new(a))
                    }
                    Ok(a) => self.settle(a).await,
                    Err(e) => HoldOutcome::Failed(e.to_string()),
                };
            }
        };
        match decided {
            Ok(Ok(decided)) => {
                waiting.end();
                self.settle(decided).await
            }
            Ok(Err(_)) => {
                waiting.end();
                HoldOutcome::Failed("the gateway stopped waiting".into())
            }
            Err(_) if hold < left => {
                // The caller is told to retry; the approval waits for that retry now.
                let left = self.store.caller_left(&approval.id, now_ms()).await;
                waiting.end();
                match left {
                    Ok(a) if a.status == ApprovalStatus::Pending => {
                        self.steps.record(
                            "approval.caller_left",
                            &a,
                            serde_json::json!({ "reason": "hold_max", "hold_max_ms": hold.as_millis() as u64 }),
                        );
                        HoldOutcome::StillPending(Box::new(a))
                    }
                    // Decided just now: as if it had arrived in time.
                    Ok(a) => self.settle(a).await,
                    Err(e) => HoldOutcome::Failed(e.to_string()),
                }
            }
            Err(_) => {
                waiting.end();
                self.steps
                    .record("approval.timeout", approval, serde_json::json!({}));
                let _ = self.store.expire_due(now_ms()).await;
                HoldOutcome::TimedOut
            }
        }
    }

    /// Registers the call waiting for approval `id` in this process; the receiver gets the
    /// decision.
    fn register(&self, id: &str) -> (Waiting<'_>, oneshot::Receiver<Approval>) {
        let token = self.next_waiter.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .insert(id.to_owned(), Waiter { token, decided: tx });
        let waiting = Waiting {
            approvals: self,
            id: id.to_owned(),
            token,
            gone_unless_ended: true,
        };
        (waiting, rx)
    }

    /// Forgets the wait `token` on approval `id` (not a later one on the same approval).
    fn unregister(&self, id: &str, token: u64) {
        let mut waiters = self.waiters.lock();
        if waiters.get(id).is_some_and(|w| w.token == token) {
            waiters.remove(id);
        }
    }

    async fn settle(&self, decided: Approval) -> HoldOutcome {
        match decided.status {
            ApprovalStatus::Approved => match self.store.mark_used(&decided.id, now_ms()).await {
                Ok(used) => HoldOutcome::Approved(Box::new(used)),
                Err(e) => HoldOutcome::Failed(e.to_string()),
            },
            ApprovalStatus::Denied => HoldOutcome::Denied {
                by: decided.decided_by,
                note: decided.note,
            },
            ApprovalStatus::Expired => HoldOutcome::TimedOut,
            other => HoldOutcome::Failed(format!("approval {} is {}", decided.id, other.as_str())),
        }
    }

    /// Hands decisions made anywhere to the calls waiting for them, and expires overdue ones.
    pub async fn poll(self: Arc<Self>) {
        let mut cursor = self.store.last_seq().await.unwrap_or(0);
        loop {
            tokio::time::sleep(POLL_EVERY).await;
            match self.store.changed_since(cursor, 500).await {
                Ok(changed) => {
                    for a in changed {
                        cursor = cursor.max(a.seq);
                        if a.status != ApprovalStatus::Pending {
                            if let Some(w) = self.waiters.lock().remove(&a.id) {
                                let _ = w.decided.send(a);
                            }
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot read approvals from the store"),
            }
            if let Err(e) = self.store.expire_due(now_ms()).await {
                tracing::error!(error = %e, "cannot expire approvals");
            }
        }
    }
}

/// One call waiting for an approval. Dropped before [`Waiting::end`] — its request was dropped
/// because the client went away — it tells the store that the caller left, so that the identical
/// retry can use the approval.
struct Waiting<'a> {
    approvals: &'a Approvals,
    id: String,
    token: u64,
    gone_unless_ended: bool,
}

impl Waiting<'_> {
    /// The wait ended with an answer for the caller.
    fn end(&mut self) {
        self.gone_unless_ended = false;
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.approvals.unregister(&self.id, self.token);
        if !self.gone_unless_ended {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (store, steps, id) = (
            self.approvals.store.clone(),
            self.approvals.steps.clone(),
            self.id.clone(),
        );
        runtime.spawn(async move {
            match store.caller_left(&id, now_ms()).await {
                Ok(a) => steps.record(
                    "approval.caller_left",
                    &a,
                    serde_json::json!({ "reason": "client went away" }),
                ),
                Err(e) => {
                    tracing::warn!(approval = %id, error = %e, "cannot note that a held call's client left")
                }
            }
        });
    }
}

/// The top-level names of a call's arguments, as a JSON array (what `[audit] arguments = "keys"`
/// keeps); an approval shown where values are not allowed shows these. Names are given as they
/// are: `[]` for arguments that are not an object, and an array of names stays as it is.
pub fn argument_names(arguments: &Value) -> Value {
    match arguments {
        Value::Object(map) => Value::Array(map.keys().cloned().map(Value::String).collect()),
        Value::Array(names) if names.iter().all(Value::is_string) => arguments.clone(),
        _ => Value::Array(Vec::new()),
    }
}

/// Writes each step of an approval to the admin audit stream, off the request path.
#[derive(Clone)]
struct AuditSteps {
    audit: Option<Arc<dyn AuditSink>>,
}

impl AuditSteps {
    fn record(&self, action: &str, approval: &Approval, details: serde_json::Value) {
        let Some(audit) = self.audit.clone() else {
            return;
        };
        let event = step_event(action, approval, details);
        tokio::spawn(async move {
            if let Err(e) = audit.append_admin(std::slice::from_ref(&event)).await {
                tracing::error!(error = %e, action = %event.action, "cannot audit an approval step");
            }
        });
    }
}

/// The admin event of one approval step.
fn step_event(action: &str, approval: &Approval, mut details: serde_json::Value) -> AdminEvent {
    details["server"] = approval.binding.server.clone().into();
    details["tool"] = approval.binding.tool.clone().into();
    details["agent"] = approval.binding.agent.clone().into();
    details["mode"] = approval.mode.as_str().into();
    AdminEvent {
        time_ms: now_ms(),
        actor: "gateway".into(),
        action: action.into(),
        target: approval.id.clone(),
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolgate_store::{ApprovalState, MemoryStore};

    fn spec() -> ApprovalSpec {
        ApprovalSpec {
            timeout_ms: 60_000,
            ..ApprovalSpec::default()
        }
    }

    fn binding() -> ApprovalBinding {
        ApprovalBinding {
            grant: None,
            agent: "alice".into(),
            server: "crm".into(),
            tool: "deleteOneCompany".into(),
            args_digest: args_digest(&serde_json::json!({"id": 1})),
            policy_version: "v1".into(),
        }
    }

    fn approvals() -> Arc<Approvals> {
        Arc::new(Approvals::new(Arc::new(MemoryStore::new()), None))
    }

    #[tokio::test]
    async fn an_approval_keeps_the_arguments_as_the_audit_log_does() {
        let args = serde_json::json!({"id": 1, "auth": {"api_key": "k-123"}});
        // `[audit] arguments = "keys"` (the default): the names only.
        let a = approvals()
            .request(&spec(), binding(), "/tools/x/action", &args)
            .await
            .unwrap();
        assert_eq!(a.arguments, Some(serde_json::json!(["auth", "id"])));
        // `"values"`: the values, redacted as the audit log redacts them.
        let approvals = Approvals::new(Arc::new(MemoryStore::new()), None)
            .with_argument_values(Some(Redaction::default()));
        let a = approvals
            .request(&spec(), binding(), "/tools/x/action", &args)
            .await
            .unwrap();
        assert_eq!(
            a.arguments,
            Some(serde_json::json!({"id": 1, "auth": {"api_key": "[REDACTED]"}}))
        );
    }

    #[tokio::test]
    async fn a_hold_that_runs_out_leaves_the_approval_to_the_retry() {
        let approvals = approvals();
        let a = approvals
            .request(
                &spec(),
                binding(),
                "/tools/x/action",
                &serde_json::json!({"id": 1}),
            )
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let outcome = approvals.wait(&a, Some(Duration::from_millis(200))).await;
        assert!(started.elapsed() >= Duration::from_millis(200));
        let HoldOutcome::StillPending(left) = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(left.id, a.id);
        assert_eq!(left.state_at(now_ms()), ApprovalState::PendingCallerLeft);
        assert!(approvals.waiters.lock().is_empty());
        // The identical retry waits for the same approval, and gets it when it is approved.
        let rejoined = approvals.rejoin(&binding()).await.unwrap().unwrap();
        assert_eq!(rejoined.id, a.id);
        tokio::spawn(approvals.clone().poll());
        let store = approvals.store().clone();
        let id = a.id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            store
                .decide(&id, true, "carol", None, now_ms())
                .await
                .unwrap();
        });
        match approvals
            .wait(&rejoined, Some(Duration::from_secs(10)))
            .await
        {
            HoldOutcome::Approved(used) => assert_eq!(used.status, ApprovalStatus::Used),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_wait_dropped_with_its_request_notes_that_the_caller_left() {
        let approvals = approvals();
        let a = approvals
            .request(
                &spec(),
                binding(),
                "/tools/x/action",
                &serde_json::json!({"id": 1}),
            )
            .await
            .unwrap();
        let wait = approvals.wait(&a, None);
        assert!(
            tokio::time::timeout(Duration::from_millis(100), wait)
                .await
                .is_err()
        );
        assert!(approvals.waiters.lock().is_empty());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let now = approvals.store().get(&a.id).await.unwrap().unwrap();
            if now.caller_left_at_ms.is_some() {
                assert_eq!(now.state_at(now_ms()), ApprovalState::PendingCallerLeft);
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{now:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
