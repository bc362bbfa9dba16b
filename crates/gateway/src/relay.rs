//! What the gateway does with each message a client sends, whatever the transport: answer it
//! itself, or forward it and remember what to do with the response (filter a tool list, give
//! quota back after an error). Everything not policed passes through byte for byte. Every
//! request ends here too: its record is emitted once, answered or forwarded.

use crate::aggregate::lists::ListKind;
use crate::approvals::{Approvals, HoldOutcome};
use crate::enforce::{Enforcer, Verdict};
use crate::identity::Caller;
use crate::rejection::Rejection;
use crate::screen::{Methods, Screened, screen};
use crate::server::ServerRuntime;
use crate::telemetry::{CallRecord, Outcome, Telemetry};
use crate::tools_cache;
use crate::tools_list;
use crate::wire::GatewayAnswer;
use bytes::Bytes;
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::Duration;
use toolgate_mcp::jsonrpc::{Kind, Message, codes};
use toolgate_mcp::tool_call::ToolCall;
use toolgate_policy::{ApprovalSpec, Policy};
use toolgate_store::Approval;
use toolgate_store::ReservationTicket;

/// The plan for one client request. Lives on the stack for one request, so the size difference
/// between its variants costs nothing that boxing would not cost more.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Plan {
    /// Answer with these bytes (a complete JSON-RPC response); nothing is forwarded. The record
    /// has been emitted.
    Answer(Vec<u8>),
    /// Forward the original bytes; apply `Pending` to the response.
    Forward(Pending),
    /// Wait for a person's approval first ([`Relay::resume`]).
    Hold(Box<HeldCall>),
}

/// What happens to a client notification.
#[derive(Debug, PartialEq, Eq)]
pub enum NotificationPlan {
    /// Send it on unchanged.
    Forward,
    /// Not a notification the gateway knows: dropped (and logged), the client gets 202.
    Drop,
    /// Refused: answer with these bytes (a JSON-RPC error without an id); the refusal is audited.
    Refuse(Vec<u8>),
}

/// A call waiting for its approval, with what it needs to go ahead.
#[derive(Debug)]
pub struct HeldCall {
    pub approval: Approval,
    /// The policy's `approval.hold_max`, if it sets one.
    hold_max: Option<Duration>,
    record: CallRecord,
    policy: Arc<Policy>,
    caller: Arc<Caller>,
    tool: String,
    arguments: serde_json::Value,
    id: Option<Box<RawValue>>,
}

/// A forwarded request: what its response needs, and its record.
#[derive(Debug)]
pub struct Pending {
    work: Work,
    record: CallRecord,
}

#[derive(Debug)]
enum Work {
    Plain,
    /// Drop hidden and quarantined tools from the result; keep it in the server's cache.
    ToolsList(Arc<Policy>, Option<CacheSlot>),
    /// A tool call holding quota, given back if the server answers with a JSON-RPC error.
    ToolCall(Option<ReservationTicket>),
}

/// Where a forwarded listing's filtered answer is to be kept.
#[derive(Debug)]
struct CacheSlot {
    server: Arc<ServerRuntime>,
    key: tools_cache::Key,
    generation: u64,
}

impl Pending {
    /// A request forwarded unchanged (not policed).
    pub fn plain(mut record: CallRecord) -> Self {
        record.forwarded();
        Pending {
            work: Work::Plain,
            record,
        }
    }
}

/// Decides, forwards and records.
#[derive(Debug)]
pub struct Relay {
    pub enforcer: Enforcer,
    pub telemetry: Telemetry,
    pub approvals: Option<Arc<Approvals>>,
}

impl Relay {
    pub fn new(
        enforcer: Enforcer,
        telemetry: Telemetry,
        approvals: Option<Arc<Approvals>>,
    ) -> Self {
        Relay {
            enforcer,
            telemetry,
            approvals,
        }
    }

    /// Ends a request the gateway answered itself.
    fn answer(
        &self,
        mut record: CallRecord,
        outcome: Outcome,
        answer: GatewayAnswer,
        id: Option<&RawValue>,
    ) -> Plan {
        record.decided(outcome);
        let (rule, message) = answer.audit_note();
        if let Some(rule) = rule {
            record.audit.rule = Some(rule.to_owned());
        }
        if let Some(message) = message {
            record.audit.message = Some(message.to_owned());
        }
        record.ended(None);
        self.telemetry.emit(record);
        Plan::Answer(answer.to_response(id))
    }

    /// A request or notification refused before policy: audited with the reason; the bytes are
    /// the refusal's JSON-RPC error, answering `id` when there is one.
    pub fn refuse(
        &self,
        record: CallRecord,
        rejection: &Rejection,
        id: Option<&RawValue>,
    ) -> Vec<u8> {
        let answer = GatewayAnswer::Error {
            code: rejection.code(),
            message: rejection.message(),
        };
        match self.answer(record, Outcome::Invalid, answer, id) {
            Plan::Answer(bytes) => bytes,
            _ => unreachable!("a refusal is an answer"),
        }
    }

    /// What to do with a client notification (`msg.kind == Notification`): forward a known one,
    /// drop (and log) an unknown one, refuse (and audit, as `record`) a request method sent
    /// without an id.
    pub fn plan_notification(
        &self,
        record: impl FnOnce() -> CallRecord,
        msg: &Message<'_>,
        methods: Methods<'_>,
    ) -> NotificationPlan {
        match screen(msg, methods) {
            Screened::Pass => NotificationPlan::Forward,
            Screened::Drop => {
                tracing::warn!(method = %msg.method(), "unknown notification dropped");
                NotificationPlan::Drop
            }
            Screened::Refuse(rejection) => {
                NotificationPlan::Refuse(self.refuse(record(), &rejection, None))
            }
        }
    }

    /// Decides what to do with a client request (`msg.kind == Request`).
    pub async fn plan_request(
        &self,
        policy: &Arc<Policy>,
        server: &str,
        caller: &Arc<Caller>,
        session: &str,
        msg: &Message<'_>,
        methods: Methods<'_>,
    ) -> Plan {
        debug_assert_eq!(msg.kind, Kind::Request);
        let record = CallRecord::new(caller, session, server, msg.method(), policy.version_hash());
        if let Screened::Refuse(rejection) = screen(msg, methods) {
            return Plan::Answer(self.refuse(record, &rejection, msg.id));
        }
        if let Some(answer) = self.kill_switch_answer(server, caller, msg.method()) {
            return self.answer(record, Outcome::Denied, answer, msg.id);
        }
        let mut record = record;
        match msg.method() {
            "tools/call" => match ToolCall::parse(msg.params) {
                Ok(call) => {
                    self.plan_tool_call(record, policy, caller, &call, msg.id)
                        .await
                }
                // Unreadable calls are refused, never forwarded (fail closed).
                Err(e) => {
                    let answer = GatewayAnswer::Error {
                        code: codes::INVALID_PARAMS,
                        message: e.to_string(),
                    };
                    self.answer(record, Outcome::Invalid, answer, msg.id)
                }
            },
            "tools/list" => {
                // A server never catalogued is listed by the catalogue first, whoever lists first.
                if let Some(c) = &self.enforcer.catalogue {
                    c.before_listing(server).await;
                }
                record.forwarded();
                Plan::Forward(Pending {
                    work: Work::ToolsList(policy.clone(), None),
                    record,
                })
            }
            // The 2026 protocol's probe: an error at once makes clients fall back to `initialize`.
            "server/discover" => {
                let answer = GatewayAnswer::Error {
                    code: codes::METHOD_NOT_FOUND,
                    message: "Method not found: server/discover".into(),
                };
                self.answer(record, Outcome::Answered, answer, msg.id)
            }
            _ => Plan::Forward(Pending::plain(record)),
        }
    }

    /// A request the aggregate endpoint routes to one server by what it names (a prompt, a
    /// resource, a completion reference): refused when a kill switch stops that server for this
    /// caller, otherwise forwarded unchanged.
    pub fn plan_routed(&self, record: CallRecord, caller: &Caller, id: Option<&RawValue>) -> Plan {
        let server = record.audit.server.as_str();
        match self.kill_switch_answer(server, caller, &record.audit.method) {
            Some(answer) => self.answer(record, Outcome::Denied, answer, id),
            None => Plan::Forward(Pending::plain(record)),
        }
    }

    /// The answer to a request of `method` that a kill switch keeps from `server`: every request
    /// that reaches a server's capabilities is stopped; lists are answered empty, the rest with
    /// a JSON-RPC error. `tools/call` is stopped by [`Enforcer::tool_call`], as a tool result the
    /// model can read; the session's lifecycle (`initialize`, `ping`) goes on.
    fn kill_switch_answer(
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

    /// Decides one tool call (its name already the upstream's own).
    pub async fn plan_tool_call(
        &self,
        mut record: CallRecord,
        policy: &Arc<Policy>,
        caller: &Arc<Caller>,
        call: &ToolCall<'_>,
        id: Option<&RawValue>,
    ) -> Plan {
        record.audit.tool = Some(call.name.to_string());
        if let Some(args) = call.arguments.as_object() {
            record.audit.arg_keys = args.keys().cloned().collect();
        }
        record.audit.args = self.telemetry.recorded_args(&call.arguments);
        let session = record.audit.session.as_deref().unwrap_or("");
        let verdict = self
            .enforcer
            .tool_call(policy, &record.audit.server, caller, session, call, false)
            .await;
        match verdict {
            Verdict::Forward(ticket) => {
                record.decided(Outcome::Allowed);
                record.audit.rule = policy.matched_rule(&call.name).map(str::to_owned);
                self.forward_tool_call(record, ticket, id).await
            }
            Verdict::Answer(answer, outcome) => self.answer(record, outcome, answer, id),
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
        mut record: CallRecord,
        policy: &Arc<Policy>,
        caller: &Arc<Caller>,
        call: &ToolCall<'_>,
        id: Option<&RawValue>,
        rule: String,
        spec: ApprovalSpec,
    ) -> Plan {
        record.audit.rule = Some(rule.clone());
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
            return self.answer(record, Outcome::ApprovalRequired, answer, id);
        };
        let server = record.audit.server.clone();
        let binding = Approvals::binding(
            caller,
            &server,
            &call.name,
            &call.arguments,
            policy.version_hash(),
        );
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
                return self
                    .forward_approved(record, policy, caller, call, id)
                    .await;
            }
            Ok(None) => {}
            Err(e) => return self.answer(record, Outcome::ApprovalRequired, unavailable(e), id),
        }
        if let Some(answer) = approvals.over_pending_limit(&binding).await {
            return self.answer(record, Outcome::RateLimited, answer, id);
        }
        if spec.mode == toolgate_policy::ApprovalMode::Retry {
            let existing = match approvals.pending_for(&binding).await {
                Ok(a) => a,
                Err(e) => {
                    return self.answer(record, Outcome::ApprovalRequired, unavailable(e), id);
                }
            };
            let approval = match existing {
                Some(a) => a,
                None => match approvals
                    .request(&spec, binding, &rule, &call.arguments)
                    .await
                {
                    Ok(a) => a,
                    Err(e) => {
                        return self.answer(record, Outcome::ApprovalRequired, unavailable(e), id);
                    }
                },
            };
            let answer = approval_pending(&call.name, &approval);
            record.audit.message = Some(format!("approval {} requested", approval.id));
            return self.answer(record, Outcome::ApprovalRequired, answer, id);
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
            Ok(approval) => Plan::Hold(Box::new(HeldCall {
                approval,
                hold_max: spec.hold_max_ms.map(Duration::from_millis),
                record,
                policy: policy.clone(),
                caller: caller.clone(),
                tool: call.name.to_string(),
                arguments: call.arguments.clone(),
                id: id.map(ToOwned::to_owned),
            })),
            Err(e) => self.answer(record, Outcome::ApprovalRequired, unavailable(e), id),
        }
    }

    /// An approved call goes ahead: its quota is reserved now, then it is forwarded.
    async fn forward_approved(
        &self,
        mut record: CallRecord,
        policy: &Arc<Policy>,
        caller: &Arc<Caller>,
        call: &ToolCall<'_>,
        id: Option<&RawValue>,
    ) -> Plan {
        let session = record.audit.session.clone().unwrap_or_default();
        match self
            .enforcer
            .tool_call(policy, &record.audit.server, caller, &session, call, true)
            .await
        {
            Verdict::Forward(ticket) => {
                record.decided(Outcome::Allowed);
                self.forward_tool_call(record, ticket, id).await
            }
            Verdict::Answer(answer, outcome) => self.answer(record, outcome, answer, id),
            Verdict::NeedsApproval { .. } => unreachable!("an approved call is not held again"),
        }
    }

    /// An allowed tool call goes ahead if the audit log can take it (in strict durability, once
    /// its request record is on disk); otherwise it is refused and its quota given back.
    async fn forward_tool_call(
        &self,
        mut record: CallRecord,
        ticket: Option<ReservationTicket>,
        id: Option<&RawValue>,
    ) -> Plan {
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
            return self.answer(record, Outcome::Unrecorded, answer, id);
        }
        record.forwarded();
        Plan::Forward(Pending {
            work: Work::ToolCall(ticket),
            record,
        })
    }

    /// Waits for a held call's decision; approved, it goes ahead (`Ok`), otherwise the client
    /// gets the denial, or — the hold ran out first — the approval to wait for and to retry
    /// (`Err`, a complete JSON-RPC response). Dropped while it waits (the client went away), the
    /// call is recorded as held and abandoned.
    pub async fn resume(&self, held: Box<HeldCall>) -> Result<Pending, Vec<u8>> {
        let HeldCall {
            approval,
            hold_max,
            record,
            policy,
            caller,
            tool,
            arguments,
            id,
        } = *held;
        let rule = approval.rule.clone();
        let Some(approvals) = self.approvals.as_ref() else {
            let answer = GatewayAnswer::Error {
                code: codes::GATEWAY_ERROR,
                message: "approvals are not enabled".into(),
            };
            return match self.answer(record, Outcome::Invalid, answer, id.as_deref()) {
                Plan::Answer(bytes) => Err(bytes),
                _ => unreachable!("answer() answers"),
            };
        };
        let mut waiting = HeldRecord {
            telemetry: &self.telemetry,
            record: Some(record),
            approval_id: &approval.id,
        };
        let outcome = approvals.wait(&approval, hold_max).await;
        let mut record = waiting.answered();
        let deny = |reason: String| GatewayAnswer::ToolDenied {
            reason,
            rule: rule.clone(),
            retry_after_s: None,
        };
        let call = ToolCall {
            name: std::borrow::Cow::Borrowed(&tool),
            arguments,
        };
        let plan = match outcome {
            HoldOutcome::Approved(a) => {
                record.audit.message = Some(format!(
                    "approved {} by {}",
                    a.id,
                    a.decided_by.as_deref().unwrap_or("?")
                ));
                self.forward_approved(record, &policy, &caller, &call, id.as_deref())
                    .await
            }
            HoldOutcome::Denied { by, note } => {
                let by = by.map(|b| format!(" by {b}")).unwrap_or_default();
                let note = note.map(|n| format!(": {n}")).unwrap_or_default();
                let reason = format!("{tool} was denied{by}{note}");
                self.answer(record, Outcome::Denied, deny(reason), id.as_deref())
            }
            HoldOutcome::TimedOut => {
                let reason = format!(
                    "{tool} was not approved in time (approval {} timed out)",
                    approval.id
                );
                self.answer(record, Outcome::Denied, deny(reason), id.as_deref())
            }
            HoldOutcome::StillPending(a) => {
                record.audit.message = Some(format!(
                    "approval {} still pending when the hold ended; the client was asked to retry",
                    a.id
                ));
                let answer = approval_pending(&tool, &a);
                self.answer(record, Outcome::ApprovalRequired, answer, id.as_deref())
            }
            HoldOutcome::Restarting(a) => {
                record.audit.message = Some(crate::wire::restarting_note(&a.id));
                let answer = GatewayAnswer::Restarting {
                    tool: tool.clone(),
                    approval_id: a.id.clone(),
                    rule: a.rule.clone(),
                };
                self.answer(record, Outcome::ApprovalRequired, answer, id.as_deref())
            }
            HoldOutcome::Failed(e) => {
                let reason = format!("{tool} could not be approved: {e}");
                self.answer(record, Outcome::Denied, deny(reason), id.as_deref())
            }
        };
        match plan {
            Plan::Forward(p) => Ok(p),
            Plan::Answer(bytes) => Err(bytes),
            Plan::Hold(_) => unreachable!("resume never holds again"),
        }
    }

    /// Applies a request's pending work to its response, records it, and returns what the
    /// client gets.
    pub async fn finish(&self, pending: Pending, response: Bytes) -> Bytes {
        let Pending { work, mut record } = pending;
        let (status, is_error) = upstream_status(&response);
        let out = match work {
            Work::Plain | Work::ToolCall(None) => response,
            Work::ToolCall(Some(ticket)) => {
                if is_error {
                    self.enforcer.release(&ticket).await;
                }
                response
            }
            Work::ToolsList(policy, slot) => {
                let pins = self.enforcer.catalogue.as_deref();
                let server = record.audit.server.as_str();
                let out = tools_list::filter_response(&policy, pins.map(|c| (c, server)), response);
                if let Some(c) = pins {
                    c.after_listing(server).await;
                }
                if let Some(slot) = slot {
                    (slot.server.tools_cache).store(slot.key, &policy, slot.generation, &out);
                }
                out
            }
        };
        record.ended(Some(status));
        self.telemetry.emit(record);
        out
    }

    /// A planned `tools/list` answered from the server's cache, if it can be (then end it with
    /// [`Relay::served_from_cache`]); otherwise the request is marked so that its answer is
    /// kept. `client` is the session's client key.
    pub fn tools_list_from_cache(
        &self,
        pending: &mut Pending,
        server: &Arc<ServerRuntime>,
        client: u64,
        msg: &Message<'_>,
    ) -> Option<tools_cache::CachedAnswer> {
        let Work::ToolsList(policy, slot @ None) = &mut pending.work else {
            return None;
        };
        let generation = self
            .enforcer
            .catalogue
            .as_deref()
            .map_or(0, |c| c.listing_generation());
        let key = tools_cache::Key::new(client, cursor(msg).as_deref(), policy);
        if let Some(answer) = server.tools_cache.answer(&key, generation, msg.id?) {
            return Some(answer);
        }
        *slot = Some(CacheSlot {
            server: server.clone(),
            key,
            generation,
        });
        None
    }

    /// Records a request answered from the tools/list cache.
    pub fn served_from_cache(&self, pending: Pending) {
        let mut record = pending.record;
        record.ended(Some("cached".into()));
        self.telemetry.emit(record);
    }

    /// The client went away before the server's answer came (its request was dropped): the
    /// call may have reached the server, so its quota stays taken; it is recorded as abandoned,
    /// like every other request.
    pub fn client_gone(&self, pending: Pending) {
        let Pending {
            work: _,
            mut record,
        } = pending;
        record
            .audit
            .message
            .get_or_insert_with(|| "the client went away before the answer".into());
        record.ended(Some("abandoned".into()));
        self.telemetry.emit(record);
    }

    /// The request never got an answer from the server: give its quota back, and record it.
    pub async fn abandon(&self, pending: Pending) {
        let Pending { work, mut record } = pending;
        if let Work::ToolCall(Some(ticket)) = work {
            self.enforcer.release(&ticket).await;
        }
        record.ended(Some("unavailable".into()));
        self.telemetry.emit(record);
    }
}

/// The record of a held call while it waits. Dropped before [`HeldRecord::answered`] — the
/// request was dropped because its client went away — it emits the record as held and abandoned,
/// so that such a call is audited like every other.
struct HeldRecord<'a> {
    telemetry: &'a Telemetry,
    record: Option<CallRecord>,
    approval_id: &'a str,
}

impl HeldRecord<'_> {
    /// The wait ended with an answer for the client: the record goes on with it.
    fn answered(&mut self) -> CallRecord {
        self.record.take().expect("answered once")
    }
}

impl Drop for HeldRecord<'_> {
    fn drop(&mut self) {
        if let Some(mut record) = self.record.take() {
            record.decided(Outcome::Held);
            record.audit.message = Some(format!(
                "the client went away while approval {} was pending",
                self.approval_id
            ));
            record.ended(Some("abandoned".into()));
            self.telemetry.emit(record);
        }
    }
}

/// The answer to a call that waits for `approval`: its id, and to retry the identical call once
/// it is approved.
fn approval_pending(tool: &str, approval: &Approval) -> GatewayAnswer {
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

/// What the server's answer says, for the record: `ok`, `tool_error`, or `error <code>`; and
/// whether it was a JSON-RPC error.
fn upstream_status(response: &[u8]) -> (String, bool) {
    match Message::parse(response) {
        Ok(m) if m.kind == Kind::Error => {
            #[derive(serde::Deserialize)]
            struct E {
                code: Option<i64>,
            }
            let code = m
                .error
                .and_then(|e| serde_json::from_str::<E>(e.get()).ok())
                .and_then(|e| e.code);
            (format!("error {}", code.unwrap_or(0)), true)
        }
        Ok(m) if m.result.is_some_and(is_error_result) => ("tool_error".into(), false),
        Ok(_) => ("ok".into(), false),
        Err(_) => ("unreadable".into(), false),
    }
}

/// A tool result with `isError: true` (parsed only when the word appears at all).
fn is_error_result(result: &RawValue) -> bool {
    #[derive(serde::Deserialize)]
    struct R {
        #[serde(rename = "isError")]
        is_error: Option<bool>,
    }
    result.get().contains("isError")
        && serde_json::from_str::<R>(result.get()).is_ok_and(|r| r.is_error == Some(true))
}

/// True when `msg` is the response to the request with raw id `id`.
pub fn is_response_to(msg: &[u8], id: &RawValue) -> bool {
    Message::parse(msg).is_ok_and(|m| m.is_response() && m.id.is_some_and(|i| i.get() == id.get()))
}

/// The `cursor` of a `tools/list` request, if it asks for a later page.
fn cursor(msg: &Message<'_>) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Params {
        cursor: Option<String>,
    }
    serde_json::from_str::<Params>(msg.params?.get())
        .ok()?
        .cursor
}
