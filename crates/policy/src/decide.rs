//! `Policy::decide`: one tool call in, one typed decision out, with the rule that fired. Order (SPEC §2):
//! hide → unmatched under `default: deny` → `action: deny` → `deny_if`/`require` (the tool's, then
//! `all_tools`') → limits (returned as reservations for the counter store) → `require_approval` → allow.
//! Deny beats approval, approval beats allow. The allow path allocates nothing unless limits apply
//! (then one `Vec` of reservations).

use std::borrow::Cow;

use serde_json::Value;

use crate::approval::ApprovalSpec;
use crate::limit::{Increment, Limit, Scope};
use crate::path::{Path, Val};
use crate::policy::{Action, ConditionRule, DefaultAction, Policy, RuleBody};

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    pub agent: String,
    /// The grant's label.
    pub grant: String,
    pub tags: Vec<String>,
}

/// One `tools/call` as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub server: &'a str,
    pub tool: &'a str,
    pub args: &'a Value,
    /// The arguments as the agent wrote them, when known: conditions then compare numbers a double
    /// cannot hold (`18446744073709551617`, `100.50000000000000001`) exactly.
    pub args_text: Option<&'a str>,
    pub identity: &'a Identity,
    /// The MCP session id (subject of `scope: session` counters).
    pub session: &'a str,
}

/// Identifies one counter: its name, scope and the subject within that scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CounterKey<'a> {
    pub counter: &'a str,
    pub scope: Scope,
    /// Grant label, agent, session id, server name, or `""` for `global`.
    pub subject: &'a str,
}

impl<'a> CounterKey<'a> {
    /// The key a limit uses for this call.
    pub fn for_call(limit: &'a Limit, call: &Call<'a>) -> CounterKey<'a> {
        let subject = match limit.scope {
            Scope::Grant => call.identity.grant.as_str(),
            Scope::Agent => call.identity.agent.as_str(),
            Scope::Session => call.session,
            Scope::Server => call.server,
            Scope::Global => "",
        };
        CounterKey {
            counter: &limit.counter,
            scope: limit.scope,
            subject,
        }
    }
}

/// Read access to counters, for `state.<counter>` conditions.
pub trait CounterState {
    /// The amount `key` currently counts under `limit`'s window at `now_ms`.
    fn current(&self, key: &CounterKey<'_>, limit: &Limit, now_ms: u64) -> u64;
}

/// A counter state where every counter is 0 (no store, or tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCounterState;

impl CounterState for NoCounterState {
    fn current(&self, _key: &CounterKey<'_>, _limit: &Limit, _now_ms: u64) -> u64 {
        0
    }
}

/// Quota to reserve before forwarding: `amount` of `key` under `limit`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reservation<'p> {
    pub key: CounterKey<'p>,
    pub limit: &'p Limit,
    pub amount: u64,
}

/// The outcome of [`Policy::decide`].
#[derive(Debug, Clone, PartialEq)]
pub enum Decision<'p> {
    /// Forward, after reserving `reserve` atomically (empty: nothing to reserve).
    Allow { reserve: Vec<Reservation<'p>> },
    /// Hold for approval (after reserving `reserve`). `rule` is `/tools/<key>/action`.
    NeedsApproval {
        rule: &'p str,
        approval: &'p ApprovalSpec,
        reserve: Vec<Reservation<'p>>,
    },
    /// Refuse with `reason` (shown to the agent). `rule` points at what fired; `/default` for an
    /// unmatched tool under `default: deny`.
    Deny { rule: &'p str, reason: Cow<'p, str> },
    /// A hidden tool: answer as an unknown tool. `rule` is `/hide/<i>`.
    Hidden { rule: &'p str },
}

impl<'p> Decision<'p> {
    /// The JSON pointer of the rule that decided, if one did (`None` for a plain allow).
    pub fn rule(&self) -> Option<&'p str> {
        match self {
            Decision::Allow { .. } => None,
            Decision::NeedsApproval { rule, .. }
            | Decision::Deny { rule, .. }
            | Decision::Hidden { rule } => Some(rule),
        }
    }

    /// The quota to reserve (empty for deny and hidden).
    pub fn reservations(&self) -> &[Reservation<'p>] {
        match self {
            Decision::Allow { reserve } | Decision::NeedsApproval { reserve, .. } => reserve,
            Decision::Deny { .. } | Decision::Hidden { .. } => &[],
        }
    }
}

/// Milliseconds since the Unix epoch from the system clock: the one place this crate reads time, used
/// only by [`Policy::decide`]. Everything else takes time as an argument.
pub fn system_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Policy {
    /// Decides one call, reading `state.<counter>` at the system clock's now. Prefer [`Policy::decide_at`]
    /// where the caller owns a clock (tests, a paused runtime).
    pub fn decide<'p>(&'p self, call: &Call<'p>, state: &dyn CounterState) -> Decision<'p> {
        self.decide_at(call, state, system_now_ms())
    }

    /// Decides one call at `now_ms` (only `state.<counter>` conditions look at time).
    pub fn decide_at<'p>(
        &'p self,
        call: &Call<'p>,
        state: &dyn CounterState,
        now_ms: u64,
    ) -> Decision<'p> {
        if let Some(rule) = self.hidden_rule(call.tool) {
            return Decision::Hidden { rule };
        }
        let rule = self.lookup(call.tool);
        if rule.is_none() && self.default == DefaultAction::Deny {
            return Decision::Deny {
                rule: "/default",
                reason: Cow::Owned(format!(
                    "tool \"{}\" is not allowed by this policy (default: deny, and no rule under \"tools\" matches it)",
                    call.tool
                )),
            };
        }
        if let Some(r) = rule
            && r.action == Action::Deny
        {
            let reason = match &r.reason {
                Some(text) => Cow::Borrowed(text.as_str()),
                None => Cow::Owned(format!(
                    "tool \"{}\" is denied by policy (rule {})",
                    call.tool, r.action_pointer
                )),
            };
            return Decision::Deny {
                rule: &r.action_pointer,
                reason,
            };
        }
        let ctx = Eval {
            policy: self,
            call,
            state,
            now_ms,
        };
        if let Some(r) = rule
            && let Some(denied) = ctx.check_conditions(&r.body)
        {
            return denied;
        }
        if let Some(denied) = ctx.check_conditions(&self.all_tools) {
            return denied;
        }
        let tool_limits: &[usize] = rule.map_or(&[], |r| &r.body.limits);
        let count = tool_limits.len() + self.all_tools.limits.len();
        let mut reserve = Vec::new();
        if count > 0 {
            reserve.reserve_exact(count);
            for &i in tool_limits.iter().chain(&self.all_tools.limits) {
                let limit = &self.limits[i];
                match ctx.amount(limit) {
                    Ok(amount) => reserve.push(Reservation {
                        key: CounterKey::for_call(limit, call),
                        limit,
                        amount,
                    }),
                    Err(denied) => return denied,
                }
            }
        }
        match rule {
            Some(r) if r.action == Action::RequireApproval => Decision::NeedsApproval {
                rule: &r.action_pointer,
                approval: &r.approval,
                reserve,
            },
            _ => Decision::Allow { reserve },
        }
    }
}

struct Eval<'p, 'c> {
    policy: &'p Policy,
    call: &'c Call<'p>,
    state: &'c dyn CounterState,
    now_ms: u64,
}

impl<'p> Eval<'p, '_> {
    fn resolve(&self, path: &Path) -> Val<'p> {
        match path {
            Path::State { limit, .. } => match self.policy.limits.get(*limit) {
                Some(l) => Val::Num(self.state.current(
                    &CounterKey::for_call(l, self.call),
                    l,
                    self.now_ms,
                )),
                None => Val::Missing,
            },
            other => other.resolve(self.call),
        }
    }

    fn all_hold(&self, rule: &ConditionRule) -> Result<(), usize> {
        for (i, c) in rule.conditions.iter().enumerate() {
            if !c.holds(self.resolve(&c.path)) {
                return Err(i);
            }
        }
        Ok(())
    }

    fn check_conditions(&self, body: &'p RuleBody) -> Option<Decision<'p>> {
        for r in &body.deny_if {
            if self.all_hold(r).is_ok() {
                let reason = match &r.on_deny {
                    Some(text) => Cow::Borrowed(text.as_str()),
                    None if r.conditions.is_empty() => Cow::Owned(format!(
                        "tool \"{}\" is denied by rule {}",
                        self.call.tool, r.pointer
                    )),
                    None => {
                        let conds: Vec<&str> =
                            r.conditions.iter().map(|c| c.display.as_str()).collect();
                        Cow::Owned(format!(
                            "tool \"{}\" is denied by rule {} because {}",
                            self.call.tool,
                            r.pointer,
                            conds.join(" and ")
                        ))
                    }
                };
                return Some(Decision::Deny {
                    rule: &r.pointer,
                    reason,
                });
            }
        }
        for r in &body.require {
            if let Err(i) = self.all_hold(r) {
                let reason = match &r.on_deny {
                    Some(text) => Cow::Borrowed(text.as_str()),
                    None => Cow::Owned(format!(
                        "tool \"{}\" is denied by rule {}: it requires {}",
                        self.call.tool, r.pointer, r.conditions[i].display
                    )),
                };
                return Some(Decision::Deny {
                    rule: &r.pointer,
                    reason,
                });
            }
        }
        None
    }

    /// How much of `limit` this call uses; a bad `increment_from` value denies (fail closed).
    fn amount(&self, limit: &'p Limit) -> Result<u64, Decision<'p>> {
        let amount = match &limit.increment {
            Increment::Fixed(n) => *n,
            Increment::From { path, source } => match count_of(path.resolve(self.call)) {
                Ok(n) => n,
                Err(found) => {
                    return Err(Decision::Deny {
                        rule: &limit.rule,
                        reason: Cow::Owned(format!(
                            "tool \"{}\" cannot be counted against limit {}: its size comes from {source}, which {found}",
                            self.call.tool, limit.rule
                        )),
                    });
                }
            },
        };
        if amount > limit.max {
            return Err(Decision::Deny {
                rule: &limit.rule,
                reason: Cow::Owned(format!(
                    "tool \"{}\" would use {amount} at once, more than the whole quota of {}",
                    self.call.tool,
                    limit.describe()
                )),
            });
        }
        Ok(amount)
    }
}

/// A non-negative integer (integral floats accepted), or a description of what was found instead.
fn count_of(v: Val<'_>) -> Result<u64, String> {
    match v {
        Val::Num(n) => Ok(n),
        Val::Exact(text) => crate::number::count_from_text(text)
            .ok_or_else(|| format!("is {text}, not a non-negative integer")),
        Val::Json(Value::Number(n)) => {
            if let Some(u) = n.as_u64() {
                Ok(u)
            } else if let Some(f) = n.as_f64()
                && f >= 0.0
                && f.fract() == 0.0
                && f <= u64::MAX as f64
            {
                Ok(f as u64)
            } else {
                Err(format!("is {n}, not a non-negative integer"))
            }
        }
        Val::Missing => Err("is missing".to_owned()),
        Val::Json(Value::String(_)) | Val::Str(_) => Err("is a string, not a number".to_owned()),
        Val::Json(Value::Array(_)) | Val::Tags(_) => {
            Err("is an array, not a number (use .length)".to_owned())
        }
        Val::Json(Value::Object(_)) => Err("is an object, not a number (use .length)".to_owned()),
        Val::Json(Value::Bool(_)) => Err("is a boolean, not a number".to_owned()),
        Val::Json(Value::Null) => Err("is null, not a number".to_owned()),
    }
}
