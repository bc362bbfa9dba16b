//! Human approval of tool calls (`action: "require_approval"`). An approval covers exactly one
//! call — grant, agent, server, tool, a digest of the canonical arguments, the policy version —
//! and lives in the store, so it can be decided from any process (CLI, admin API). A held call
//! waits here for its decision; the store is polled for decisions made elsewhere.

use crate::enforce::now_ms;
use crate::identity::{ANONYMOUS, Caller};
use crate::webhook::{WebhookNotifier, approval_payload};
use parking_lot::Mutex;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use toolgate_policy::ApprovalSpec;
use toolgate_store::audit::AdminEvent;
use toolgate_store::{
    Approval, ApprovalBinding, ApprovalFilter, ApprovalMode, ApprovalStatus, ApprovalStore,
    AuditSink, NewApproval, StoreError, args_digest,
};

/// How often the store is read for decisions made elsewhere.
const POLL_EVERY: Duration = Duration::from_millis(250);

/// Pending approvals and the calls waiting for them.
pub struct Approvals {
    steps: AuditSteps,
    store: Arc<dyn ApprovalStore>,
    waiters: Mutex<HashMap<String, oneshot::Sender<Approval>>>,
    notifier: WebhookNotifier,
    /// The gateway's admin base URL, for the approve/deny links of notifications.
    public_url: Option<String>,
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
    Failed(String),
}

impl Approvals {
    pub fn new(store: Arc<dyn ApprovalStore>, webhook_secret: Option<String>) -> Self {
        Approvals {
            store,
            waiters: Mutex::default(),
            notifier: WebhookNotifier::new(webhook_secret),
            public_url: None,
            steps: AuditSteps { audit: None },
        }
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

    pub fn store(&self) -> &Arc<dyn ApprovalStore> {
        &self.store
    }

    /// The binding of a call: what an approval must match exactly.
    pub fn binding(
        caller: &Caller,
        server: &str,
        tool: &str,
        args: &Value,
        policy_version: &str,
    ) -> ApprovalBinding {
        let grant = &caller.identity.grant;
        ApprovalBinding {
            grant: (grant != ANONYMOUS).then(|| grant.clone()),
            agent: caller.identity.agent.clone(),
            server: server.to_owned(),
            tool: tool.to_owned(),
            args_digest: args_digest(args),
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

    /// Records a new pending approval and notifies its webhook.
    pub async fn request(
        &self,
        spec: &ApprovalSpec,
        binding: ApprovalBinding,
        rule: &str,
        arguments: Option<Value>,
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
                arguments,
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

    /// Waits for the decision on a held call, up to its expiry.
    pub async fn wait(&self, approval: &Approval) -> HoldOutcome {
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().insert(approval.id.clone(), tx);
        // A decision may have landed between creation and registration.
        if let Ok(Some(current)) = self.store.get(&approval.id).await {
            if current.status != ApprovalStatus::Pending {
                self.waiters.lock().remove(&approval.id);
                return self.settle(current).await;
            }
        }
        let left = approval.expires_at_ms.saturating_sub(now_ms());
        let outcome = match tokio::time::timeout(Duration::from_millis(left), rx).await {
            Ok(Ok(decided)) => self.settle(decided).await,
            Ok(Err(_)) => HoldOutcome::Failed("the gateway stopped waiting".into()),
            Err(_) => {
                self.steps
                    .record("approval.timeout", approval, serde_json::json!({}));
                HoldOutcome::TimedOut
            }
        };
        self.waiters.lock().remove(&approval.id);
        if matches!(outcome, HoldOutcome::TimedOut) {
            let _ = self.store.expire_due(now_ms()).await;
        }
        outcome
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
                            if let Some(tx) = self.waiters.lock().remove(&a.id) {
                                let _ = tx.send(a);
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
