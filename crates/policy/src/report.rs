//! What an [`Explanation`] says to people and programs: the names of decisions and actions, what
//! the agent would read back, and the one JSON object that `toolgate policy explain --json` prints
//! and the web UI's simulator shows — written here once, so the two never drift apart.

use serde_json::{Value, json};

use crate::decide::{Call, Decision};
use crate::explain::{Explanation, ToolMatch};
use crate::limit::describe_window;
use crate::policy::{Action, DefaultAction, Policy};

/// What an explanation assumes about counters.
pub const COUNTERS_NOTE: &str =
    "counters are not consulted: explain assumes every counter is empty (state.<counter> reads 0)";

impl Decision<'_> {
    /// `allow`, `deny`, `hidden`, `require_approval`: the names case files and `--json` use.
    pub fn name(&self) -> &'static str {
        match self {
            Decision::Allow { .. } => "allow",
            Decision::Deny { .. } => "deny",
            Decision::Hidden { .. } => "hidden",
            Decision::NeedsApproval { .. } => "require_approval",
        }
    }

    /// What the agent gets back for this decision on `tool`, in words.
    pub fn agent_sees(&self, tool: &str) -> String {
        match self {
            Decision::Allow { .. } => "the server's own answer (the call is forwarded)".to_owned(),
            Decision::Deny { reason, .. } => format!("[POLICY DENIED] {reason}"),
            Decision::Hidden { .. } => format!("JSON-RPC error -32602 \"Unknown tool: {tool}\""),
            Decision::NeedsApproval { approval, .. } => format!(
                "the call is held for approval ({} mode, times out after {})",
                approval.mode.name(),
                describe_window(approval.timeout_ms)
            ),
        }
    }
}

impl Action {
    /// `allow`, `deny`, `require_approval`, as documents write it.
    pub fn name(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
            Action::RequireApproval => "require_approval",
        }
    }
}

impl DefaultAction {
    /// `allow` or `deny`, as documents write it.
    pub fn name(self) -> &'static str {
        match self {
            DefaultAction::Allow => "allow",
            DefaultAction::Deny => "deny",
        }
    }
}

impl<'p> Explanation<'p> {
    /// The limit that denied the call, when a limit did (its amount could not be counted or
    /// exceeds `max`).
    pub fn limit_denied(&self, policy: &'p Policy) -> Option<&'p str> {
        let rule = self.decision.rule()?;
        policy
            .limits()
            .iter()
            .find(|l| l.rule == rule)
            .map(|l| l.rule.as_str())
    }

    /// The explanation of `call` against `policy` as one JSON object: decision, rule, reason, what
    /// the agent sees, the call, the matching `hide` entry and `tools` key, every condition rule
    /// checked, the limit that denied, the counters it would reserve, the approval's terms.
    pub fn to_json(&self, call: &Call<'_>, policy: &'p Policy) -> Value {
        let d = &self.decision;
        let reason = match d {
            Decision::Deny { reason, .. } => Value::String(reason.to_string()),
            _ => Value::Null,
        };
        let tool_rule = match self.tool_match {
            ToolMatch::Exact { key, rule, action } => {
                json!({ "match": "exact", "key": key, "rule": rule, "action": action.name() })
            }
            ToolMatch::Glob {
                pattern,
                rule,
                action,
            } => {
                json!({ "match": "glob", "key": pattern, "rule": rule, "action": action.name() })
            }
            ToolMatch::Default(default) => {
                json!({ "match": "default", "rule": "/default", "action": default.name() })
            }
        };
        let checks: Vec<Value> = self
            .checks
            .iter()
            .map(|c| {
                let conditions: Vec<Value> = c
                    .conditions
                    .iter()
                    .map(|cond| {
                        let mut v = json!({
                            "path": cond.path,
                            "op": cond.op.name(),
                            "value": cond.expected,
                            "missing": cond.found.is_none(),
                            "held": cond.held,
                        });
                        if let Some(found) = &cond.found {
                            v["found"] = found.clone();
                        }
                        v
                    })
                    .collect();
                json!({
                    "rule": c.rule,
                    "kind": c.kind.name(),
                    "on_deny": c.on_deny,
                    "denies": c.denies,
                    "reached": c.reached,
                    "conditions": conditions,
                })
            })
            .collect();
        let reserve: Vec<Value> = d
            .reservations()
            .iter()
            .map(|r| {
                json!({
                    "counter": r.key.counter,
                    "scope": r.key.scope.name(),
                    "subject": r.key.subject,
                    "window": describe_window(r.limit.window_ms),
                    "window_ms": r.limit.window_ms,
                    "mode": r.limit.mode.name(),
                    "max": r.limit.max,
                    "amount": r.amount,
                    "rule": r.limit.rule,
                })
            })
            .collect();
        let mut out = json!({
            "decision": d.name(),
            "rule": d.rule(),
            "reason": reason,
            "agent_sees": d.agent_sees(call.tool),
            "call": {
                "server": call.server,
                "tool": call.tool,
                "args": call.args,
                "identity": {
                    "agent": call.identity.agent,
                    "grant": call.identity.grant,
                    "tags": call.identity.tags,
                },
                "session": call.session,
            },
            "hidden_by": self.hidden_by.map(|h| json!({ "pattern": h.pattern, "rule": h.rule, "glob": h.glob })),
            "tool_rule": tool_rule,
            "checks": checks,
            "limit_denied": self.limit_denied(policy),
            "reserve": reserve,
            "counters_consulted": false,
            "note": COUNTERS_NOTE,
        });
        if let Decision::NeedsApproval { approval, .. } = d {
            out["approval"] = json!({
                "timeout_ms": approval.timeout_ms,
                "mode": approval.mode.name(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::{Call, Identity, SourceFormat, compile};
    use serde_json::json;

    #[test]
    fn the_report_names_the_decision_its_rule_and_what_it_reserves() {
        let policy = compile(
            r#"{"version":"1","default":"deny","tools":{
                "a":{"action":"deny","reason":"No."},
                "b":{"limits":[{"counter":"b","window":"minute","max":2,"scope":"grant"}]},
                "c":{"action":"require_approval","approval":{"timeout":"5m"}}}}"#,
            "p.json",
            SourceFormat::Json,
        )
        .unwrap();
        let identity = Identity {
            agent: "ag".into(),
            grant: "gr".into(),
            tags: vec![],
        };
        let args = json!({});
        let report = |tool: &'static str| {
            let call = Call {
                server: "s",
                tool,
                args: &args,
                args_text: None,
                identity: &identity,
                session: "x",
            };
            policy.explain(&call).to_json(&call, &policy)
        };
        let a = report("a");
        assert_eq!(a["decision"], "deny");
        assert_eq!(a["rule"], "/tools/a/action");
        assert_eq!(a["agent_sees"], "[POLICY DENIED] No.");
        assert_eq!(a["tool_rule"]["match"], "exact");
        let b = report("b");
        assert_eq!(b["decision"], "allow");
        assert_eq!(b["reserve"][0]["counter"], "b");
        assert_eq!(b["reserve"][0]["subject"], "gr");
        assert_eq!(b["reserve"][0]["max"], 2);
        let c = report("c");
        assert_eq!(c["decision"], "require_approval");
        assert_eq!(c["approval"]["timeout_ms"], 300_000);
        let z = report("z");
        assert_eq!(z["decision"], "deny");
        assert_eq!(z["tool_rule"]["match"], "default");
    }
}
