//! The decision step for `tools/call`: the kill switch and the pins first, then the policy decides, the counter store reserves quota, and
//! the outcome is either "forward, holding this reservation" or an answer for the client.
//! Quota is given back when the call never reached the server or the server answered with a
//! JSON-RPC error (SPEC §2).

use crate::catalogue::Catalogue;
use crate::identity::Caller;
use crate::kill_switch::{KillSwitches, Stop};
use crate::telemetry::Outcome;
use crate::wire::GatewayAnswer;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use toolgate_mcp::tool_call::ToolCall;
use toolgate_policy::{ApprovalSpec, Call, Decision, Policy};
use toolgate_store::{CounterStore, ReservationTicket, ReserveOutcome};

/// What to do with a `tools/call`.
#[derive(Debug)]
pub enum Verdict {
    /// Forward it; give the reservation back if it fails before the server handles it.
    Forward(Option<ReservationTicket>),
    /// Answer the client without forwarding, for this reason.
    Answer(GatewayAnswer, Outcome),
    /// A person must approve the call first; its quota is reserved once it is approved.
    NeedsApproval { rule: String, spec: ApprovalSpec },
}

/// Decides tool calls against a policy and the shared counters.
pub struct Enforcer {
    counters: Arc<dyn CounterStore>,
    pub kill_switches: Arc<KillSwitches>,
    /// The pins: a quarantined tool is denied right after the kill switch.
    pub catalogue: Option<Arc<Catalogue>>,
}

impl std::fmt::Debug for Enforcer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enforcer")
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Enforcer {
    pub fn new(counters: Arc<dyn CounterStore>, kill_switches: Arc<KillSwitches>) -> Self {
        Enforcer {
            counters,
            kill_switches,
            catalogue: None,
        }
    }

    /// Also denies calls of tools quarantined by `catalogue`.
    pub fn with_catalogue(mut self, catalogue: Arc<Catalogue>) -> Self {
        self.catalogue = Some(catalogue);
        self
    }

    /// The engaged kill switch that stops every request to `server` by `caller`, if there is one.
    pub fn kill_switch(&self, server: &str, caller: &Caller) -> Option<Stop> {
        self.kill_switches.stop(server, &caller.identity.grant)
    }

    /// Runs the decision order of SPEC §2 for one call (authentication has already happened).
    /// `approved`: a person approved this very call, so `require_approval` no longer holds it.
    pub async fn tool_call(
        &self,
        policy: &Policy,
        server: &str,
        caller: &Caller,
        session: &str,
        call: &ToolCall<'_>,
        approved: bool,
    ) -> Verdict {
        // The kill switch comes before anything else.
        if let Some(stop) = self.kill_switch(server, caller) {
            let answer = GatewayAnswer::ToolDenied {
                reason: format!("calls are stopped by {}", stop.by),
                rule: stop.rule,
                retry_after_s: None,
            };
            return Verdict::Answer(answer, Outcome::Denied);
        }
        // Then the pins: a tool whose definition changed since it was pinned is not called.
        if let Some(catalogue) = &self.catalogue {
            if let Some(reason) = catalogue.blocking(server, &call.name) {
                let answer = GatewayAnswer::ToolDenied {
                    reason,
                    rule: "/pinning".into(),
                    retry_after_s: None,
                };
                return Verdict::Answer(answer, Outcome::Denied);
            }
        }
        let input = Call {
            server,
            tool: &call.name,
            args: &call.arguments,
            args_text: call.raw_arguments.map(|raw| raw.get()),
            identity: &caller.identity,
            session,
        };
        let decision = policy.decide(&input, self.counters.snapshot());
        let reserve = match decision {
            Decision::Hidden { rule } => {
                return Verdict::Answer(
                    GatewayAnswer::UnknownTool {
                        name: call.name.to_string(),
                        rule: Some(rule.to_owned()),
                    },
                    Outcome::Hidden,
                );
            }
            Decision::Deny { rule, reason } => {
                let answer = GatewayAnswer::ToolDenied {
                    reason: reason.into_owned(),
                    rule: rule.to_owned(),
                    retry_after_s: None,
                };
                return Verdict::Answer(answer, Outcome::Denied);
            }
            Decision::NeedsApproval { reserve, .. } if approved => reserve,
            Decision::NeedsApproval { rule, approval, .. } => {
                return Verdict::NeedsApproval {
                    rule: rule.to_owned(),
                    spec: approval.clone(),
                };
            }
            Decision::Allow { reserve } => reserve,
        };
        if reserve.is_empty() {
            return Verdict::Forward(None);
        }
        match self.counters.reserve(&reserve, now_ms()).await {
            Ok(ReserveOutcome::Reserved(ticket)) => Verdict::Forward(Some(ticket)),
            Ok(ReserveOutcome::Rejected {
                limit_rule,
                description,
                retry_after_ms: u64::MAX,
            }) => Verdict::Answer(
                GatewayAnswer::ToolDenied {
                    reason: format!(
                        "{} asks for more than the whole limit allows: {description}",
                        call.name
                    ),
                    rule: limit_rule,
                    retry_after_s: None,
                },
                Outcome::RateLimited,
            ),
            Ok(ReserveOutcome::Rejected {
                limit_rule,
                description,
                retry_after_ms,
            }) => {
                let retry_after_s = retry_after_ms.div_ceil(1000).max(1);
                let answer = GatewayAnswer::ToolDenied {
                    reason: format!(
                        "rate limit reached for {}: {description}; retry in {retry_after_s}s",
                        call.name
                    ),
                    rule: limit_rule,
                    retry_after_s: Some(retry_after_s),
                };
                Verdict::Answer(answer, Outcome::RateLimited)
            }
            Err(e) => {
                // Fail closed: without the counters, a limited call cannot be admitted.
                tracing::error!(error = %e, tool = %call.name, "counter store failed; denying the call");
                let answer = GatewayAnswer::ToolDenied {
                    reason: format!(
                        "the gateway cannot check the limits of {} right now",
                        call.name
                    ),
                    rule: "/".into(),
                    retry_after_s: Some(1),
                };
                Verdict::Answer(answer, Outcome::RateLimited)
            }
        }
    }

    /// Gives quota back.
    pub async fn release(&self, ticket: &ReservationTicket) {
        if let Err(e) = self.counters.release(ticket, now_ms()).await {
            tracing::warn!(error = %e, "releasing a reservation failed");
        }
    }
}
