//! The decision on one request: the kill switch, then — for a tool call — quarantine, policy,
//! counters and approvals ([`Enforcer::tool_call`]). A request the gateway answers itself ends
//! here with its record; one to forward leaves with what its answer will need ([`Pending`]).

use super::Pipeline;
use super::finish::{Pending, Work};
use super::hold::HeldCall;
use super::record::OpenRecord;
use super::target::Route;
use crate::aggregate::lists::ListKind;
use crate::approvals::Approvals;
use crate::enforce::Verdict;
use crate::identity::Caller;
use crate::rejection::Rejection;
use crate::telemetry::Outcome;
use crate::wire::GatewayAnswer;
use bytes::Bytes;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;
use toolgate_mcp::jsonrpc::{Message, codes};
use toolgate_mcp::tool_call::ToolCall;
use toolgate_policy::{ApprovalMode, ApprovalSpec, Policy};
use toolgate_store::{Approval, ReservationTicket};

/// What the decision on a request says to do. Lives on the stack for one request, so the size
/// difference between its variants costs nothing that boxing would not cost more.
#[allow(clippy::large_enum_variant)]
pub(super) enum Decision {
    /// The gateway answered with these bytes; the record is emitted.
    Answered(Bytes),
    /// Forward it; `Pending` is what its answer needs.
    Forward(Pending),
    /// Wait for a person's approval first.
    Hold(Box<HeldCall>),
}

impl Pipeline {
    /// Ends a request the gateway answers itself: its record, then the JSON-RPC response.
    pub(crate) fn answer(
        &self,
        mut record: OpenRecord,
        outcome: Outcome,
        answer: GatewayAnswer,
        id: Option<&RawValue>,
    ) -> Bytes {
        record.decided(outcome);
        let (rule, message) = answer.audit_note();
        if let Some(rule) = rule {
            record.audit.rule = Some(rule.to_owned());
        }
        if let Some(message) = message {
            record.audit.message = Some(message.to_owned());
        }
        record.close(None);
        answer.to_response(id).into()
    }

    /// A message refused before policy, audited with the reason: the refusal's JSON-RPC error.
    pub(super) fn refuse(
        &self,
        record: OpenRecord,
        rejection: &Rejection,
        id: Option<&RawValue>,
    ) -> Bytes {
        let answer = GatewayAnswer::Error {
            code: rejection.code(),
            message: rejection.message(),
        };
        self.answer(record, Outcome::Invalid, answer, id)
    }

    /// Decides a request on its route.
    pub(super) async fn decide(
        &self,
        mut record: OpenRecord,
        caller: &Arc<Caller>,
        route: &Route,
        msg: &Message<'_>,
    ) -> Decision {
        let method = msg.method();
        if let Some(answer) = self.kill_switch_answer(&route.server, caller, method) {
            return Decision::Answered(self.answer(record, Outcome::Denied, answer, msg.id));
        }
        // A prompt or resource its pin quarantines is refused, as a quarantined tool's call is.
        if let Some(reason) = self.quarantined_entry(route, method) {
            let answer = GatewayAnswer::MethodDenied {
                reason,
                rule: "/pinning".into(),
            };
            return Decision::Answered(self.answer(record, Outcome::Denied, answer, msg.id));
        }
        match method {
            "tools/call" => match ToolCall::parse(msg.params) {
                Ok(mut call) => {
                    let client_name = call.name.to_string();
                    if let Some(tool) = &route.tool {
                        call.name = Cow::Borrowed(tool);
                    }
                    self.decide_tool_call(record, &route.policy, caller, &call, msg.id, client_name)
                        .await
                }
                // Unreadable calls are refused, never forwarded (fail closed).
                Err(e) => {
                    let answer = GatewayAnswer::Error {
                        code: codes::INVALID_PARAMS,
                        message: e.to_string(),
                    };
                    Decision::Answered(self.answer(record, Outcome::Invalid, answer, msg.id))
                }
            },
            "tools/list" => {
                let work = Work::ToolsList(route.policy.clone(), None);
                self.listing(record, route, work).await
            }
            "prompts/list" => {
                let work = Work::PinnedList(ListKind::Prompts);
                self.listing(record, route, work).await
            }
            "resources/list" => {
                let work = Work::PinnedList(ListKind::Resources);
                self.listing(record, route, work).await
            }
            "resources/templates/list" => {
                let work = Work::PinnedList(ListKind::ResourceTemplates);
                self.listing(record, route, work).await
            }
            // The server's instructions reach the client as pinned ([`Work::Initialize`]).
            "initialize" => {
                record.forwarded();
                Decision::Forward(Pending::new(Work::Initialize, record))
            }
            // The 2026 protocol's probe: an error at once makes clients fall back to `initialize`.
            "server/discover" => Decision::Answered(self.discover(record, msg.id)),
            _ => {
                record.forwarded();
                Decision::Forward(Pending::new(Work::Plain, record))
            }
        }
    }

    /// A list request goes on, its answer to be filtered by `work`; a server never catalogued is
    /// listed by the catalogue first, whoever lists first, so the answer is checked against pins.
    async fn listing(&self, mut record: OpenRecord, route: &Route, work: Work) -> Decision {
        if let Some(c) = &self.enforcer.catalogue {
            c.before_listing(&route.server).await;
        }
        record.forwarded();
        Decision::Forward(Pending::new(work, record))
    }

    /// Why a `prompts/get` or `resources/read` may not reach its server: the prompt or
    /// resource it names changed (or appeared) and its pin quarantines it.
    fn quarantined_entry(&self, route: &Route, method: &str) -> Option<String> {
        let catalogue = self.enforcer.catalogue.as_deref()?;
        catalogue.refusal(&route.server, method, &route.body)
    }

    /// The answer to `server/discover`, which this gateway does not offer yet.
    pub(super) fn discover(&self, record: OpenRecord, id: Option<&RawValue>) -> Bytes {
        let answer = GatewayAnswer::Error {
            code: codes::METHOD_NOT_FOUND,
            message: "Method not found: server/discover".into(),
        };
        self.answer(record, Outcome::Answered, answer, id)
    }

    /// The answer to a request of `method` that a kill switch keeps from `server`: every request
    /// that reaches a server's capabilities is stopped; lists are answered empty, the rest with
    /// a JSON-RPC error. `tools/call` is stopped by [`crate::enforce::Enforcer::tool_call`], as a
    /// tool result the model can read; the session's lifecycle (`initialize`, `ping`) goes on.
    pub(crate) fn kill_switch_answer(
        &self,
        server: &str,
        caller: &Caller,
        method: &str,
    ) -> Option<GatewayAnswer> {
        if matches!(
            method,
            "tools/call" | "initialize" | "ping" | "server/discover"
        ) {
            return None;
        }
        let stop = self.enforcer.kill_switch(server, caller)?;
        let reason = format!("{method} is stopped by {}", stop.by);
        Some(match ListKind::from_method(method) {
            Some(kind) => GatewayAnswer::EmptyList {
                key: kind.key(),
                reason,
                rule: stop.rule,
            },
            None => GatewayAnswer::MethodDenied {
                reason,
                rule: stop.rule,
            },
        })
    }

    /// Decides one tool call (`call.name` is the server's own name for it; `client_name` the
    /// one the client used, which a hidden tool's answer names).
    async fn decide_tool_call(
        &self,
        mut record: OpenRecord,
        policy: &Arc<Policy>,
        caller: &Arc<Caller>,
        call: &ToolCall<'_>,
        id: Option<&RawValue>,
        client_name: String,
    ) -> Decision {
        record.audit.tool = Some(call.name.to_string());
        if let Some(args) = call.arguments.as_object() {
            record.audit.arg_keys = args.keys().cloned().collect();
        }
        record.audit.args = self.telemetry.recorded_args(&call.arguments);
        let session = record.audit.session.clone().unwrap_or_default();
        let verdict = self
            .enforcer
            .tool_call(policy, &record.audit.server, caller, &session, call, false)
            .await;
        match verdict {
            Verdict::Forward(ticket) => {
                record.decided(Outcome::Allowed);
                record.audit.rule = policy.matched_rule(&call.name).map(str::to_owned);
                self.admit(record, ticket, id).await
            }
            Verdict::Answer(mut answer, outcome) => {
                if let GatewayAnswer::UnknownTool { name, .. } = &mut answer {
                    *name = client_name;
                }
                Decision::Answered(self.answer(record, outcome, answer, id))
            }
            Verdict::NeedsApproval { rule, spec } => {
                self.needs_approval(record, policy, caller, call, id, rule, spec)
                    .await
            }
        }
    }

    /// A call the policy holds for a person's approval: retry mode answers at once (or lets an
    /// approved retry through); hold mode returns the call to wait on.
    #[allow(clippy::too_many_arguments)]
    async fn needs_approval(
        &self,
        mut record: OpenRecord,
        policy: &Arc<Policy>,
        caller: &Arc<Caller>,
        call: &ToolCall<'_>,
        id: Option<&RawValue>,
        rule: String,
        spec: ApprovalSpec,
    ) -> Decision {
        record.audit.rule = Some(rule.clone());
        let answered =
            |record, outcome, answer| Decision::Answered(self.answer(record, outcome, answer, id));
        let Some(approvals) = &self.approvals else {
            // Fail closed: nothing is held or forwarded without a store to keep the approval.
            let answer = GatewayAnswer::ToolDenied {
                reason: format!(
                    "{} requires human approval, and approvals need a store ([gateway] store)",
                    call.name
                ),
                rule,
                retry_after_s: None,
            };
            return answered(record, Outcome::ApprovalRequired, answer);
        };
        let server = record.audit.server.clone();
        let binding = Approvals::binding(caller, &server, call, policy.version_hash());
        let unavailable = |e: toolgate_store::StoreError| {
            tracing::error!(error = %e, "approval store failed; refusing the call");
            GatewayAnswer::ToolDenied {
                reason: format!(
                    "{} needs approval, and approvals cannot be checked right now",
                    call.name
                ),
                rule: rule.clone(),
                retry_after_s: Some(1),
            }
        };
        // The identical retry of a call approved after its caller left goes ahead, once.
        match approvals.take_approved(&binding).await {
            Ok(Some(approval)) => {
                record.audit.message = Some(format!("approved retry {}", approval.id));
                return self.approved(record, policy, caller, call, id).await;
            }
            Ok(None) => {}
            Err(e) => return answered(record, Outcome::ApprovalRequired, unavailable(e)),
        }
        if let Some(answer) = approvals.over_pending_limit(&binding).await {
            return answered(record, Outcome::RateLimited, answer);
        }
        if spec.mode == ApprovalMode::Retry {
            let approval = match approvals.pending_for(&binding).await {
                Ok(Some(a)) => Ok(a),
                Ok(None) => {
                    approvals
                        .request(&spec, binding, &rule, &call.arguments)
                        .await
                }
                Err(e) => Err(e),
            };
            return match approval {
                Ok(approval) => {
                    record.audit.message = Some(format!("approval {} requested", approval.id));
                    let answer = approval_pending(&call.name, &approval);
                    answered(record, Outcome::ApprovalRequired, answer)
                }
                Err(e) => answered(record, Outcome::ApprovalRequired, unavailable(e)),
            };
        }
        // Held: the identical retry of a call whose caller left waits for the same approval.
        let approval = match approvals.rejoin(&binding).await {
            Ok(Some(a)) => Ok(a),
            Ok(None) => {
                approvals
                    .request(&spec, binding, &rule, &call.arguments)
                    .await
            }
            Err(e) => Err(e),
        };
        match approval {
            Ok(approval) => Decision::Hold(Box::new(HeldCall {
                approval,
                hold_max: spec.hold_max_ms.map(Duration::from_millis),
                record,
                policy: policy.clone(),
                caller: caller.clone(),
                tool: call.name.to_string(),
                arguments: call.arguments.clone(),
                raw_arguments: call.raw_arguments.map(ToOwned::to_owned),
                id: id.map(ToOwned::to_owned),
            })),
            Err(e) => answered(record, Outcome::ApprovalRequired, unavailable(e)),
        }
    }

    /// An approved call goes ahead: its quota is reserved now, then it is admitted.
    pub(super) async fn approved(
        &self,
        mut record: OpenRecord,
        policy: &Arc<Policy>,
        caller: &Arc<Caller>,
        call: &ToolCall<'_>,
        id: Option<&RawValue>,
    ) -> Decision {
        let session = record.audit.session.clone().unwrap_or_default();
        match self
            .enforcer
            .tool_call(policy, &record.audit.server, caller, &session, call, true)
            .await
        {
            Verdict::Forward(ticket) => {
                record.decided(Outcome::Allowed);
                self.admit(record, ticket, id).await
            }
            Verdict::Answer(answer, outcome) => {
                Decision::Answered(self.answer(record, outcome, answer, id))
            }
            Verdict::NeedsApproval { .. } => unreachable!("an approved call is not held again"),
        }
    }

    /// An allowed tool call goes ahead if the audit log can take it (in strict durability, once
    /// its request record is on disk); otherwise it is refused and its quota given back.
    async fn admit(
        &self,
        mut record: OpenRecord,
        ticket: Option<ReservationTicket>,
        id: Option<&RawValue>,
    ) -> Decision {
        if let Err(why) = self.telemetry.admit_call(&mut record).await {
            if let Some(ticket) = &ticket {
                self.enforcer.release(ticket).await;
            }
            let answer = GatewayAnswer::Error {
                code: codes::GATEWAY_ERROR,
                message: format!(
                    "refused: toolgate cannot record this call in its audit log ({why}); retry once it recovers"
                ),
            };
            return Decision::Answered(self.answer(record, Outcome::Unrecorded, answer, id));
        }
        record.forwarded();
        Decision::Forward(Pending::new(Work::ToolCall(ticket), record))
    }
}

/// The answer to a call that waits for `approval`: its id, and to retry the identical call once
/// it is approved.
pub(super) fn approval_pending(tool: &str, approval: &Approval) -> GatewayAnswer {
    GatewayAnswer::ApprovalPending {
        tool: tool.to_owned(),
        approval_id: approval.id.clone(),
        rule: approval.rule.clone(),
        expires_in_s: approval
            .expires_at_ms
            .saturating_sub(crate::enforce::now_ms())
            / 1000,
    }
}
