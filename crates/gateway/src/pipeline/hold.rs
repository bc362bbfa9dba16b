//! A tool call held for a person's approval: the request stays open until the decision (or the
//! policy's `hold_max`), then goes ahead or gets the denial. A client that sent a progress token
//! and takes a stream hears every two seconds that the call is still waiting, so clients whose
//! timeouts reset on progress keep waiting.

use super::Pipeline;
use super::decide::{Decision, approval_pending};
use super::finish::Pending;
use super::record::OpenRecord;
use super::reply::Reply;
use super::target::Route;
use crate::approvals::HoldOutcome;
use crate::identity::Caller;
use crate::telemetry::Outcome;
use crate::wire::GatewayAnswer;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;
use toolgate_mcp::tool_call::ToolCall;
use toolgate_policy::Policy;
use toolgate_store::Approval;

/// How often a held call's client hears that it is still waiting.
const HOLD_PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// A call waiting for its approval, with what it needs to go ahead.
#[derive(Debug)]
pub(crate) struct HeldCall {
    pub approval: Approval,
    /// The policy's `approval.hold_max`, if it sets one.
    pub hold_max: Option<Duration>,
    pub record: OpenRecord,
    pub policy: Arc<Policy>,
    pub caller: Arc<Caller>,
    pub tool: String,
    pub arguments: serde_json::Value,
    /// The arguments as the client wrote them: the approved call is decided again on exactly these.
    pub raw_arguments: Option<Box<RawValue>>,
    pub id: Option<Box<RawValue>>,
}

/// How a held request is answered: the pieces of the forward that follows an approval.
pub(super) struct Resumption {
    pub route: Route,
    pub id: Box<RawValue>,
    pub progress_token: Option<Box<RawValue>>,
    pub streams: bool,
    pub upstream_timeout: Duration,
}

impl Pipeline {
    /// Holds the call until its approval is decided; approved, it is forwarded on `resumption`.
    pub(super) async fn hold(self: &Arc<Self>, held: Box<HeldCall>, then: Resumption) -> Reply {
        let progress = then.progress_token.clone().filter(|_| then.streams);
        match progress {
            Some(token) => self.hold_with_progress(held, token, then),
            None => match self.wait(held).await {
                Ok(pending) => self.forward(pending, then).await,
                Err(answer) => Reply::Answer(answer),
            },
        }
    }

    /// The answer starts at once as a stream carrying a progress notification every two
    /// seconds, then the denial or whatever the server answers once approved.
    fn hold_with_progress(
        self: &Arc<Self>,
        held: Box<HeldCall>,
        token: Box<RawValue>,
        then: Resumption,
    ) -> Reply {
        // Two messages at most wait for a client that does not read: a progress note and the answer.
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(2);
        let approval_id = held.approval.id.clone();
        let pipeline = self.clone();
        tokio::spawn(async move {
            let wait = pipeline.wait(held);
            tokio::pin!(wait);
            let mut ticks = tokio::time::interval(HOLD_PROGRESS_EVERY);
            let mut waited = 0u64;
            let outcome = loop {
                tokio::select! {
                    outcome = &mut wait => break outcome,
                    // The client went away: dropping the wait records the call as abandoned.
                    () = tx.closed() => return,
                    _ = ticks.tick() => {
                        let note = progress_note(&token, waited, &approval_id);
                        waited += HOLD_PROGRESS_EVERY.as_secs();
                        if tx.send(note).await.is_err() {
                            return;
                        }
                    }
                }
            };
            let mut messages = match outcome {
                Err(answer) => futures_util::stream::once(async { answer }).boxed(),
                Ok(pending) => pipeline.forward(pending, then).await.into_messages(),
            };
            while let Some(m) = messages.next().await {
                if tx.send(m).await.is_err() {
                    break;
                }
            }
        });
        Reply::Stream(
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|m| (m, rx)) },
            )
            .boxed(),
        )
    }

    /// Waits for a held call's decision; approved, it goes ahead (`Ok`), otherwise the client
    /// gets the denial, or — the hold ran out first — the approval to wait for and to retry
    /// (`Err`, a complete JSON-RPC response). Dropped while it waits (the client went away), the
    /// call is recorded as held and abandoned.
    async fn wait(&self, held: Box<HeldCall>) -> Result<Pending, Bytes> {
        let HeldCall {
            approval,
            hold_max,
            mut record,
            policy,
            caller,
            tool,
            arguments,
            raw_arguments,
            id,
        } = *held;
        let id = id.as_deref();
        let rule = approval.rule.clone();
        let Some(approvals) = self.approvals.as_ref() else {
            let answer = GatewayAnswer::Error {
                code: toolgate_mcp::jsonrpc::codes::GATEWAY_ERROR,
                message: "approvals are not enabled".into(),
            };
            return Err(self.answer(record, Outcome::Invalid, answer, id));
        };
        record.holding(&approval.id);
        let outcome = approvals.wait(&approval, hold_max).await;
        record.resumed();
        let deny = |reason: String| GatewayAnswer::ToolDenied {
            reason,
            rule: rule.clone(),
            retry_after_s: None,
        };
        let answer = match outcome {
            HoldOutcome::Approved(a) => {
                record.audit.message = Some(format!(
                    "approved {} by {}",
                    a.id,
                    a.decided_by.as_deref().unwrap_or("?")
                ));
                let call = ToolCall {
                    name: Cow::Borrowed(&tool),
                    arguments,
                    raw_arguments: raw_arguments.as_deref(),
                };
                return match self.approved(record, &policy, &caller, &call, id).await {
                    Decision::Forward(pending) => Ok(pending),
                    Decision::Answered(bytes) => Err(bytes),
                    Decision::Hold(_) => unreachable!("an approved call is not held again"),
                };
            }
            HoldOutcome::Denied { by, note } => {
                let by = by.map(|b| format!(" by {b}")).unwrap_or_default();
                let note = note.map(|n| format!(": {n}")).unwrap_or_default();
                (
                    Outcome::Denied,
                    deny(format!("{tool} was denied{by}{note}")),
                )
            }
            HoldOutcome::TimedOut => {
                let reason = format!(
                    "{tool} was not approved in time (approval {} timed out)",
                    approval.id
                );
                (Outcome::Denied, deny(reason))
            }
            HoldOutcome::StillPending(a) => {
                record.audit.message = Some(format!(
                    "approval {} still pending when the hold ended; the client was asked to retry",
                    a.id
                ));
                (Outcome::ApprovalRequired, approval_pending(&tool, &a))
            }
            HoldOutcome::Restarting(a) => {
                record.audit.message = Some(crate::wire::restarting_note(&a.id));
                let answer = GatewayAnswer::Restarting {
                    tool: tool.clone(),
                    approval_id: a.id.clone(),
                    rule: a.rule.clone(),
                };
                (Outcome::ApprovalRequired, answer)
            }
            HoldOutcome::Failed(e) => (
                Outcome::Denied,
                deny(format!("{tool} could not be approved: {e}")),
            ),
        };
        Err(self.answer(record, answer.0, answer.1, id))
    }
}

/// "Still waiting for approval …", as a progress notification for `token`.
fn progress_note(token: &RawValue, waited: u64, approval_id: &str) -> Bytes {
    let note = serde_json::json!({
        "jsonrpc": "2.0",
        "method": "notifications/progress",
        "params": {
            "progressToken": serde_json::from_str::<serde_json::Value>(token.get()).unwrap_or_default(),
            "progress": waited,
            "message": format!("waiting for approval, id {approval_id}"),
        },
    });
    Bytes::from(note.to_string())
}
