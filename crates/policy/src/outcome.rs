//! What a policy does with a tool before any argument is seen — allowed, limited, held, denied or
//! hidden, and the rule that says so. One summary for every place that shows a catalogue against a
//! policy (the web UI's catalogue and builder, the demo's banner); conditions on arguments are not
//! evaluated here (`Policy::explain` does that for one call).

use crate::policy::{Action, DefaultAction, Policy};

/// The policy's verdict on a tool name alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ToolOutcome {
    /// Forwarded, with no limit.
    Allowed,
    /// Forwarded within one or more limits (the tool's own or `all_tools`').
    Limited,
    /// `action: require_approval`.
    Held,
    /// `action: deny`, or no `tools` key under `default: deny`.
    Denied,
    /// Named by `hide`: removed from `tools/list`, unknown at call time.
    Hidden,
}

impl ToolOutcome {
    pub const ALL: [ToolOutcome; 5] = [
        ToolOutcome::Allowed,
        ToolOutcome::Limited,
        ToolOutcome::Held,
        ToolOutcome::Denied,
        ToolOutcome::Hidden,
    ];

    /// `allowed`, `limited`, `held`, `denied`, `hidden`.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolOutcome::Allowed => "allowed",
            ToolOutcome::Limited => "limited",
            ToolOutcome::Held => "held",
            ToolOutcome::Denied => "denied",
            ToolOutcome::Hidden => "hidden",
        }
    }

    pub fn parse(text: &str) -> Option<ToolOutcome> {
        ToolOutcome::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

/// A [`ToolOutcome`] and the JSON pointer of the rule behind it (`/hide/0`, `/tools/deleteOne*`,
/// `/default`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolVerdict<'p> {
    pub outcome: ToolOutcome,
    pub rule: &'p str,
    /// The tool's `deny_if` / `require` rules (or `all_tools`') may still deny a call.
    pub conditional: bool,
}

impl Policy {
    /// What this policy does with `tool`, judged by its name alone.
    pub fn tool_verdict(&self, tool: &str) -> ToolVerdict<'_> {
        if let Some(rule) = self.hidden_rule(tool) {
            return ToolVerdict {
                outcome: ToolOutcome::Hidden,
                rule,
                conditional: false,
            };
        }
        let all_conditional =
            !self.all_tools.deny_if.is_empty() || !self.all_tools.require.is_empty();
        let Some(rule) = self.lookup(tool) else {
            return match self.default {
                DefaultAction::Deny => ToolVerdict {
                    outcome: ToolOutcome::Denied,
                    rule: "/default",
                    conditional: false,
                },
                DefaultAction::Allow => ToolVerdict {
                    outcome: if self.all_tools.limits.is_empty() {
                        ToolOutcome::Allowed
                    } else {
                        ToolOutcome::Limited
                    },
                    rule: "/default",
                    conditional: all_conditional,
                },
            };
        };
        let conditional =
            all_conditional || !rule.body.deny_if.is_empty() || !rule.body.require.is_empty();
        let outcome = match rule.action {
            Action::Deny => ToolOutcome::Denied,
            Action::RequireApproval => ToolOutcome::Held,
            Action::Allow if rule.body.limits.is_empty() && self.all_tools.limits.is_empty() => {
                ToolOutcome::Allowed
            }
            Action::Allow => ToolOutcome::Limited,
        };
        ToolVerdict {
            outcome,
            rule: &rule.pointer,
            conditional: conditional && outcome != ToolOutcome::Denied,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SourceFormat, compile};

    const DOC: &str = r#"{
      "version": "1", "default": "deny", "hide": ["secret*"],
      "tools": {
        "find*": {},
        "create": { "limits": [ { "counter": "c", "window": "minute", "max": 2 } ] },
        "delete": { "action": "require_approval" },
        "drop": { "action": "deny", "reason": "no" },
        "update": { "deny_if": [ { "conditions": [ { "path": "args.x", "op": "gt", "value": 1 } ] } ] }
      }
    }"#;

    #[test]
    fn verdicts_by_name() {
        let p = compile(DOC, "t.json", SourceFormat::Json).unwrap();
        let v = |t: &str| {
            let v = p.tool_verdict(t);
            (v.outcome, v.rule.to_owned(), v.conditional)
        };
        assert_eq!(
            v("secretKey"),
            (ToolOutcome::Hidden, "/hide/0".into(), false)
        );
        assert_eq!(
            v("findAll"),
            (ToolOutcome::Allowed, "/tools/find*".into(), false)
        );
        assert_eq!(
            v("create"),
            (ToolOutcome::Limited, "/tools/create".into(), false)
        );
        assert_eq!(
            v("delete"),
            (ToolOutcome::Held, "/tools/delete".into(), false)
        );
        assert_eq!(
            v("drop"),
            (ToolOutcome::Denied, "/tools/drop".into(), false)
        );
        assert_eq!(
            v("update"),
            (ToolOutcome::Allowed, "/tools/update".into(), true)
        );
        assert_eq!(v("other"), (ToolOutcome::Denied, "/default".into(), false));
    }

    #[test]
    fn all_tools_limits_limit_everything_allowed() {
        let doc = r#"{"version":"1","default":"allow",
          "all_tools":{"limits":[{"counter":"all","window":"minute","max":9}]}}"#;
        let p = compile(doc, "t.json", SourceFormat::Json).unwrap();
        assert_eq!(p.tool_verdict("x").outcome, ToolOutcome::Limited);
        assert_eq!(ToolOutcome::parse("held"), Some(ToolOutcome::Held));
    }
}
