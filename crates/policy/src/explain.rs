//! `Policy::explain`: the decision for one call and why — which `hide` entry or `tools` key matched the
//! tool and how, and every `deny_if` / `require` condition evaluated with the value its path found. For
//! `toolgate policy explain` and `policy test`, not the hot path: the decision itself comes from
//! [`Policy::decide_at`], so an explanation never disagrees with what the gateway does; the rest is
//! recomputed here, allocating freely.

use serde_json::Value;

use crate::condition::{Condition, Operand};
use crate::decide::{Call, CounterKey, CounterState, Decision};
use crate::path::{Path, Segment, Val};
use crate::policy::{Action, ConditionRule, DefaultAction, Policy, RuleBody};
use crate::{NoCounterState, Op};

/// The decision for one call, with the evidence behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation<'p> {
    /// Exactly what [`Policy::decide_at`] returns for the call.
    pub decision: Decision<'p>,
    /// The `hide` entry that matches the tool, if any (it decides first).
    pub hidden_by: Option<HideMatch<'p>>,
    /// How the tool's name selected a `tools` key, or fell to `default`.
    pub tool_match: ToolMatch<'p>,
    /// Every `deny_if` and `require` rule that applies to the tool, in the order `decide` checks them
    /// (the tool's `deny_if`, its `require`, then `all_tools`' `deny_if` and `require`). Empty when the
    /// call was decided before conditions (hidden, unmatched under `default: deny`).
    pub checks: Vec<RuleCheck<'p>>,
}

/// A `hide` entry matching the tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HideMatch<'p> {
    /// The entry as written (a name or a glob).
    pub pattern: &'p str,
    /// Its pointer, `/hide/<i>`.
    pub rule: &'p str,
    /// True when the entry is a glob.
    pub glob: bool,
}

/// How a tool name selected its rule under `tools`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolMatch<'p> {
    /// The key equals the tool's name.
    Exact {
        key: &'p str,
        rule: &'p str,
        action: Action,
    },
    /// The most specific glob key that matches the name.
    Glob {
        pattern: &'p str,
        rule: &'p str,
        action: Action,
    },
    /// No key matches: the document's `default` applies.
    Default(DefaultAction),
}

/// Which list a condition rule belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    /// Denies when every condition holds.
    DenyIf,
    /// Denies when a condition does not hold.
    Require,
}

impl RuleKind {
    pub fn name(self) -> &'static str {
        match self {
            RuleKind::DenyIf => "deny_if",
            RuleKind::Require => "require",
        }
    }
}

/// One `deny_if` or `require` rule evaluated against the call.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleCheck<'p> {
    /// `/tools/<key>/deny_if/<i>`, `/all_tools/require/<i>`, ...
    pub rule: &'p str,
    pub kind: RuleKind,
    /// `on_deny` as written, if any.
    pub on_deny: Option<&'p str>,
    /// Every condition of the rule, all evaluated (`decide` stops at the first that settles the rule).
    pub conditions: Vec<ConditionCheck<'p>>,
    /// True when this rule, on its own, denies the call.
    pub denies: bool,
    /// False when an earlier step already decided the call, so `decide` never looked at this rule.
    pub reached: bool,
}

/// One condition evaluated against the call.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionCheck<'p> {
    /// The path as written (`args.requestBody.amount`).
    pub path: String,
    pub op: Op,
    /// The expected value as written; `true` for an `exists` written without one.
    pub expected: Value,
    /// The value the path resolved to; `None` when the path does not exist in this call.
    pub found: Option<Value>,
    pub held: bool,
    /// `args.x gt 5`, as in generated deny reasons.
    pub display: &'p str,
}

impl Policy {
    /// Explains one call assuming every counter is empty (`state.<counter>` reads 0, limits are not
    /// consulted beyond what [`Policy::decide`] itself checks).
    pub fn explain<'p>(&'p self, call: &Call<'p>) -> Explanation<'p> {
        self.explain_at(call, &NoCounterState, 0)
    }

    /// Explains one call against `state` at `now_ms` (what `state.<counter>` conditions read).
    pub fn explain_at<'p>(
        &'p self,
        call: &Call<'p>,
        state: &dyn CounterState,
        now_ms: u64,
    ) -> Explanation<'p> {
        let decision = self.decide_at(call, state, now_ms);
        let hidden_by = self.hide_match(call.tool);
        let rule = self.lookup(call.tool);
        let tool_match = match rule {
            None => ToolMatch::Default(self.default),
            // The rule may have matched the folded name: name its key by the rule itself.
            Some(r) => match self
                .exact
                .iter()
                .find(|&(_, &i)| std::ptr::eq(&self.rules[i], r))
            {
                Some((key, _)) => ToolMatch::Exact {
                    key,
                    rule: &r.pointer,
                    action: r.action,
                },
                None => ToolMatch::Glob {
                    pattern: self
                        .globs
                        .iter()
                        .find(|&&(_, i)| std::ptr::eq(&self.rules[i], r))
                        .map_or("", |(g, _)| g.as_str()),
                    rule: &r.pointer,
                    action: r.action,
                },
            },
        };
        let mut checks = Vec::new();
        let conditions_apply =
            hidden_by.is_none() && (rule.is_some() || self.default == DefaultAction::Allow);
        if conditions_apply {
            // `action: deny` decides before any condition.
            let mut reached = !rule.is_some_and(|r| r.action == Action::Deny);
            let bodies = rule.map(|r| &r.body).into_iter().chain([&self.all_tools]);
            for body in bodies {
                self.check_body(body, call, state, now_ms, &mut reached, &mut checks);
            }
        }
        Explanation {
            decision,
            hidden_by,
            tool_match,
            checks,
        }
    }

    fn hide_match(&self, tool: &str) -> Option<HideMatch<'_>> {
        self.hidden_entry(tool).map(|e| HideMatch {
            pattern: &e.pattern,
            rule: &e.pointer,
            glob: e.glob,
        })
    }

    fn check_body<'p>(
        &'p self,
        body: &'p RuleBody,
        call: &Call<'p>,
        state: &dyn CounterState,
        now_ms: u64,
        reached: &mut bool,
        out: &mut Vec<RuleCheck<'p>>,
    ) {
        let rules = body
            .deny_if
            .iter()
            .map(|r| (RuleKind::DenyIf, r))
            .chain(body.require.iter().map(|r| (RuleKind::Require, r)));
        for (kind, r) in rules {
            let check = self.check_rule(kind, r, call, state, now_ms, *reached);
            if check.reached && check.denies {
                *reached = false;
            }
            out.push(check);
        }
    }

    fn check_rule<'p>(
        &'p self,
        kind: RuleKind,
        rule: &'p ConditionRule,
        call: &Call<'p>,
        state: &dyn CounterState,
        now_ms: u64,
        reached: bool,
    ) -> RuleCheck<'p> {
        let conditions: Vec<ConditionCheck<'p>> = rule
            .conditions
            .iter()
            .map(|c| self.check_condition(c, call, state, now_ms))
            .collect();
        let all_hold = conditions.iter().all(|c| c.held);
        RuleCheck {
            rule: &rule.pointer,
            kind,
            on_deny: rule.on_deny.as_deref(),
            denies: match kind {
                RuleKind::DenyIf => all_hold,
                RuleKind::Require => !all_hold,
            },
            conditions,
            reached,
        }
    }

    fn check_condition<'p>(
        &'p self,
        c: &'p Condition,
        call: &Call<'p>,
        state: &dyn CounterState,
        now_ms: u64,
    ) -> ConditionCheck<'p> {
        let val = match &c.path {
            Path::State { limit, .. } => match self.limits.get(*limit) {
                Some(l) => Val::Num(state.current(&CounterKey::for_call(l, call), l, now_ms)),
                None => Val::Missing,
            },
            other => other.resolve(call),
        };
        ConditionCheck {
            path: path_text(&c.path),
            op: c.op,
            expected: operand_value(&c.operand),
            found: found_value(val),
            held: c.holds(val),
            display: &c.display,
        }
    }
}

/// The path as written: parsing splits on dots, so joining the segments restores it.
fn path_text(path: &Path) -> String {
    match path {
        Path::Args(segments) => {
            let mut s = String::from("args");
            for seg in segments {
                s.push('.');
                match seg {
                    Segment::Key { name, .. } => s.push_str(name),
                    Segment::Length => s.push_str("length"),
                }
            }
            s
        }
        Path::Agent => "identity.agent".to_owned(),
        Path::Grant => "identity.grant".to_owned(),
        Path::Tags => "identity.tags".to_owned(),
        Path::TagsLength => "identity.tags.length".to_owned(),
        Path::Server => "server".to_owned(),
        Path::Tool => "tool".to_owned(),
        Path::State { counter, .. } => format!("state.{counter}"),
    }
}

fn operand_value(operand: &Operand) -> Value {
    match operand {
        Operand::Value(v) | Operand::Ordered(v) => v.clone(),
        Operand::List(items) => Value::Array(items.clone()),
        Operand::Regex(re) => Value::String(re.as_str().to_owned()),
        Operand::Glob(g) => Value::String(g.as_str().to_owned()),
        Operand::Text(t) => Value::String(t.clone()),
        Operand::Exists(b) => Value::Bool(*b),
    }
}

fn found_value(val: Val<'_>) -> Option<Value> {
    match val {
        Val::Missing => None,
        Val::Json(v) => Some(v.clone()),
        Val::Str(s) => Some(Value::String(s.to_owned())),
        Val::Num(n) => Some(Value::from(n)),
        Val::Exact(text) => serde_json::from_str(text).ok(),
        Val::Tags(tags) => Some(Value::Array(
            tags.iter().map(|t| Value::String(t.clone())).collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Identity, SourceFormat, compile};
    use serde_json::json;

    const DOC: &str = r#"{
      "version": "1",
      "default": "deny",
      "hide": ["secret_*", "drop"],
      "all_tools": { "require": [ { "conditions": [ { "path": "identity.agent", "op": "neq", "value": "mallory" } ] } ] },
      "tools": {
        "pay": {
          "deny_if": [ { "conditions": [ { "path": "args.amount", "op": "gt", "value": 100 },
                                         { "path": "args.currency", "op": "eq", "value": "EUR" } ],
                         "on_deny": "Big payments need a human." } ],
          "require": [ { "conditions": [ { "path": "args.memo", "op": "exists" } ] } ]
        },
        "find*": {},
        "rm": { "action": "deny" }
      }
    }"#;

    fn explain<'p>(
        p: &'p Policy,
        tool: &'p str,
        args: &'p Value,
        id: &'p Identity,
    ) -> Explanation<'p> {
        p.explain(&Call {
            server: "crm",
            tool,
            args,
            args_text: None,
            identity: id,
            session: "s",
        })
    }

    #[test]
    fn explains_conditions_with_found_values() {
        let p = compile(DOC, "t.json", SourceFormat::Json).unwrap();
        let id = Identity::default();
        let args = json!({"amount": 150, "currency": "EUR"});
        let e = explain(&p, "pay", &args, &id);
        assert_eq!(e.decision.rule(), Some("/tools/pay/deny_if/0"));
        assert_eq!(
            e.tool_match,
            ToolMatch::Exact {
                key: "pay",
                rule: "/tools/pay",
                action: Action::Allow
            }
        );
        assert_eq!(e.checks.len(), 3);
        let first = &e.checks[0];
        assert!(first.denies && first.reached);
        assert_eq!(first.conditions[0].path, "args.amount");
        assert_eq!(first.conditions[0].found, Some(json!(150)));
        assert_eq!(first.conditions[0].expected, json!(100));
        assert!(first.conditions[0].held);
        // The require would deny too (no memo), but the deny_if decided first.
        assert!(e.checks[1].denies && !e.checks[1].reached);
        assert_eq!(e.checks[1].conditions[0].found, None);
        assert_eq!(e.checks[2].rule, "/all_tools/require/0");
        assert!(!e.checks[2].denies && !e.checks[2].reached);
    }

    #[test]
    fn explains_globs_hide_and_default() {
        let p = compile(DOC, "t.json", SourceFormat::Json).unwrap();
        let id = Identity::default();
        let args = json!({});
        let e = explain(&p, "findMany", &args, &id);
        assert!(matches!(e.decision, Decision::Allow { .. }));
        assert!(matches!(
            e.tool_match,
            ToolMatch::Glob {
                pattern: "find*",
                ..
            }
        ));
        assert_eq!(e.checks.len(), 1);
        assert!(e.checks[0].reached && !e.checks[0].denies);

        let e = explain(&p, "secret_x", &args, &id);
        assert_eq!(
            e.hidden_by,
            Some(HideMatch {
                pattern: "secret_*",
                rule: "/hide/0",
                glob: true
            })
        );
        assert!(e.checks.is_empty());

        let e = explain(&p, "other", &args, &id);
        assert_eq!(e.tool_match, ToolMatch::Default(DefaultAction::Deny));
        assert_eq!(e.decision.rule(), Some("/default"));
        assert!(e.checks.is_empty());

        let e = explain(&p, "rm", &args, &id);
        assert_eq!(e.decision.rule(), Some("/tools/rm/action"));
        assert!(e.checks.iter().all(|c| !c.reached));
    }

    /// The first reached rule that denies is always the rule `decide` names.
    #[test]
    fn agrees_with_decide() {
        let p = compile(DOC, "t.json", SourceFormat::Json).unwrap();
        let mallory = Identity {
            agent: "mallory".into(),
            ..Identity::default()
        };
        let nobody = Identity::default();
        for (tool, args, id) in [
            ("pay", json!({"amount": 150, "currency": "EUR"}), &nobody),
            ("pay", json!({"amount": 150, "currency": "USD"}), &nobody),
            ("pay", json!({"amount": 1, "memo": "x"}), &nobody),
            ("pay", json!({"amount": 1, "memo": "x"}), &mallory),
            ("findAll", json!({}), &mallory),
        ] {
            let e = explain(&p, tool, &args, id);
            let denied_by = e
                .checks
                .iter()
                .find(|c| c.reached && c.denies)
                .map(|c| c.rule);
            assert_eq!(denied_by, e.decision.rule(), "{tool} {args}");
        }
    }
}
