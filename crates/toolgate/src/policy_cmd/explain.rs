//! `toolgate policy explain`: one call in, its decision and the evidence out, as text or one JSON
//! object. Counters are not consulted: every counter is taken as empty.

use super::{ExplainArgs, Failure, Loaded, decision_name};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::process::ExitCode;
use toolgate_policy::{
    Action, Call, ConditionCheck, Decision, DefaultAction, Explanation, Identity, Reservation,
    RuleCheck, RuleKind, ToolMatch, WindowMode, describe_window,
};

const COUNTERS_NOTE: &str =
    "counters are not consulted: explain assumes every counter is empty (state.<counter> reads 0)";

pub fn run(args: &ExplainArgs) -> ExitCode {
    match explain(args) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(f) => f.exit(),
    }
}

fn explain(args: &ExplainArgs) -> Result<String, Failure> {
    let loaded = match (&args.source.policy, &args.source.config) {
        (Some(p), _) => Loaded::load(p)?,
        (None, Some(c)) => Loaded::load_config(c)?,
        (None, None) => {
            return Err(Failure::usage(
                "error: say which policy to explain with: --policy FILE, or -c toolgate.toml --server NAME",
            ));
        }
    };
    let server = match &args.server {
        Some(s) => s.as_str(),
        None => loaded
            .default_server()
            .map_err(|e| Failure::usage(format!("error: {e} with --server")))?,
    };
    let policy = loaded
        .policy_for(server)
        .map_err(|e| Failure::usage(format!("error: {e}")))?;
    let call_args: Value = match serde_json::from_str(&args.args) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return Err(Failure::usage("error: --args must be a JSON object")),
        Err(e) => {
            return Err(Failure::usage(format!(
                "error: --args is not JSON: {e}\n  help: quote it for the shell, e.g. --args '{{\"a\": 1}}'"
            )));
        }
    };
    let identity = Identity {
        agent: args.agent.clone(),
        grant: args.grant.clone(),
        tags: args.tags.clone(),
    };
    let call = Call {
        server,
        tool: &args.tool,
        args: &call_args,
        identity: &identity,
        session: &args.session,
    };
    let e = policy.explain(&call);
    Ok(if args.json {
        let mut s = serde_json::to_string_pretty(&to_json(&call, &e, policy)).unwrap_or_default();
        s.push('\n');
        s
    } else {
        render(&call, &e, policy)
    })
}

/// What the agent gets back for this decision (SPEC §3).
fn agent_sees(call: &Call<'_>, d: &Decision<'_>) -> String {
    match d {
        Decision::Allow { .. } => "the server's own answer (the call is forwarded)".to_owned(),
        Decision::Deny { reason, .. } => format!("[POLICY DENIED] {reason}"),
        Decision::Hidden { .. } => format!("JSON-RPC error -32602 \"Unknown tool: {}\"", call.tool),
        Decision::NeedsApproval { approval, .. } => format!(
            "the call is held for approval ({} mode, times out after {})",
            approval.mode.name(),
            describe_window(approval.timeout_ms)
        ),
    }
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Allow => "allow",
        Action::Deny => "deny",
        Action::RequireApproval => "require_approval",
    }
}

fn default_name(d: DefaultAction) -> &'static str {
    match d {
        DefaultAction::Allow => "allow",
        DefaultAction::Deny => "deny",
    }
}

fn window_text(r: &Reservation<'_>) -> String {
    let mode = match r.limit.mode {
        WindowMode::Sliding => "sliding",
        WindowMode::Fixed => "fixed",
    };
    format!("{} ({mode})", describe_window(r.limit.window_ms))
}

/// The limit that denied the call, when a limit did (its amount could not be counted or exceeds max).
fn denying_limit<'p>(e: &Explanation<'p>, policy: &'p toolgate_policy::Policy) -> Option<&'p str> {
    let rule = e.decision.rule()?;
    policy
        .limits()
        .iter()
        .find(|l| l.rule == rule)
        .map(|l| l.rule.as_str())
}

fn render(call: &Call<'_>, e: &Explanation<'_>, policy: &toolgate_policy::Policy) -> String {
    let mut o = String::new();
    let d = &e.decision;
    let _ = writeln!(o, "decision: {}", decision_name(d));
    let _ = writeln!(o, "rule: {}", d.rule().unwrap_or("(none: allowed)"));
    let _ = writeln!(o, "agent sees: {}", agent_sees(call, d));
    let _ = writeln!(o);
    let tags = if call.identity.tags.is_empty() {
        "none".to_owned()
    } else {
        call.identity.tags.join(", ")
    };
    let _ = writeln!(
        o,
        "call: tool {:?} on server {:?}, agent {:?}, grant {:?}, tags: {tags}, session {:?}",
        call.tool, call.server, call.identity.agent, call.identity.grant, call.session
    );
    let _ = writeln!(o, "args: {}", call.args);
    let _ = writeln!(o);
    let _ = writeln!(o, "why:");
    match &e.hidden_by {
        Some(h) => {
            let how = if h.glob { "glob" } else { "name" };
            let _ = writeln!(
                o,
                "  hide: {:?} matches {how} {:?} ({}): the tool is hidden, nothing else is checked",
                call.tool, h.pattern, h.rule
            );
        }
        None => {
            let _ = writeln!(o, "  hide: no entry matches {:?}", call.tool);
        }
    }
    let mut tools_line = String::new();
    match e.tool_match {
        ToolMatch::Exact { key, rule, action } => {
            let _ = write!(
                tools_line,
                "  tools: {:?} matches the exact key {key:?} ({rule}), action {}",
                call.tool,
                action_name(action)
            );
        }
        ToolMatch::Glob {
            pattern,
            rule,
            action,
        } => {
            let _ = write!(
                tools_line,
                "  tools: {:?} matches the glob {pattern:?} ({rule}; no exact key, and no more specific glob), action {}",
                call.tool,
                action_name(action)
            );
        }
        ToolMatch::Default(default) => {
            let _ = write!(
                tools_line,
                "  tools: no key matches {:?}, so the default applies: default {} (/default)",
                call.tool,
                default_name(default)
            );
        }
    }
    if e.hidden_by.is_some() {
        tools_line.push_str(" [not reached: the tool is hidden]");
    }
    let _ = writeln!(o, "{tools_line}");
    if e.checks.is_empty() && e.hidden_by.is_none() {
        let _ = writeln!(o, "  conditions: none apply");
    }
    for check in &e.checks {
        render_check(&mut o, check);
    }
    if let Some(rule) = denying_limit(e, policy) {
        let _ = writeln!(
            o,
            "  limit {rule}: denies before any quota is reserved (see the reason above)"
        );
    }
    let _ = writeln!(o);
    let reserve = d.reservations();
    if reserve.is_empty() {
        let _ = writeln!(o, "counters the call would reserve: none");
    } else {
        let _ = writeln!(
            o,
            "counters the call would reserve (all or nothing, before forwarding):"
        );
        for r in reserve {
            let _ = writeln!(
                o,
                "  {}: scope {}, subject {:?}, window {}, max {}, amount {} ({})",
                r.key.counter,
                r.key.scope,
                r.key.subject,
                window_text(r),
                r.limit.max,
                r.amount,
                r.limit.rule
            );
        }
    }
    let _ = writeln!(o, "note: {COUNTERS_NOTE}");
    o
}

fn render_check(o: &mut String, c: &RuleCheck<'_>) {
    let verdict = match (c.kind, c.denies, c.conditions.is_empty()) {
        (RuleKind::DenyIf, true, true) => "denies (it has no conditions)",
        (RuleKind::DenyIf, true, false) => "denies (every condition holds)",
        (RuleKind::DenyIf, false, _) => "passes (a condition does not hold)",
        (RuleKind::Require, true, _) => "denies (a condition does not hold)",
        (RuleKind::Require, false, _) => "passes (every condition holds)",
    };
    let reached = if c.reached {
        String::new()
    } else {
        " [not reached: the call was decided earlier]".to_owned()
    };
    let _ = writeln!(o, "  {} {}: {verdict}{reached}", c.kind.name(), c.rule);
    for cond in &c.conditions {
        let _ = writeln!(o, "    {}", condition_line(cond));
    }
}

fn condition_line(c: &ConditionCheck<'_>) -> String {
    let mark = if c.held { "✓ holds" } else { "✗ fails" };
    let found = c
        .found
        .as_ref()
        .map_or_else(|| "missing".to_owned(), ToString::to_string);
    format!(
        "{mark}: {} {} {} (found: {found})",
        c.path,
        c.op.name(),
        c.expected
    )
}

fn to_json(call: &Call<'_>, e: &Explanation<'_>, policy: &toolgate_policy::Policy) -> Value {
    let d = &e.decision;
    let reason = match d {
        Decision::Deny { reason, .. } => Value::String(reason.to_string()),
        _ => Value::Null,
    };
    let tool_rule = match e.tool_match {
        ToolMatch::Exact { key, rule, action } => {
            json!({ "match": "exact", "key": key, "rule": rule, "action": action_name(action) })
        }
        ToolMatch::Glob {
            pattern,
            rule,
            action,
        } => {
            json!({ "match": "glob", "key": pattern, "rule": rule, "action": action_name(action) })
        }
        ToolMatch::Default(default) => {
            json!({ "match": "default", "rule": "/default", "action": default_name(default) })
        }
    };
    let checks: Vec<Value> = e
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
        "decision": decision_name(d),
        "rule": d.rule(),
        "reason": reason,
        "agent_sees": agent_sees(call, d),
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
        "hidden_by": e.hidden_by.map(|h| json!({ "pattern": h.pattern, "rule": h.rule, "glob": h.glob })),
        "tool_rule": tool_rule,
        "checks": checks,
        "limit_denied": denying_limit(e, policy),
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
