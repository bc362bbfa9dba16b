//! `toolgate policy explain`: one call in, its decision and the evidence out, as text or one JSON
//! object. Counters are not consulted: every counter is taken as empty.

use super::{ExplainArgs, Failure, Loaded};
use serde_json::Value;
use std::fmt::Write as _;
use std::process::ExitCode;
use toolgate_policy::{
    COUNTERS_NOTE, Call, ConditionCheck, Explanation, Identity, Reservation, RuleCheck, RuleKind,
    ToolMatch, WindowMode, describe_window,
};

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
        args_text: Some(&args.args),
        identity: &identity,
        session: &args.session,
    };
    let e = policy.explain(&call);
    Ok(if args.json {
        let mut s = serde_json::to_string_pretty(&e.to_json(&call, policy)).unwrap_or_default();
        s.push('\n');
        s
    } else {
        render(&call, &e, policy)
    })
}

fn window_text(r: &Reservation<'_>) -> String {
    let mode = match r.limit.mode {
        WindowMode::Sliding => "sliding",
        WindowMode::Fixed => "fixed",
    };
    format!("{} ({mode})", describe_window(r.limit.window_ms))
}

fn render(call: &Call<'_>, e: &Explanation<'_>, policy: &toolgate_policy::Policy) -> String {
    let mut o = String::new();
    let d = &e.decision;
    let _ = writeln!(o, "decision: {}", d.name());
    let _ = writeln!(o, "rule: {}", d.rule().unwrap_or("(none: allowed)"));
    let _ = writeln!(o, "agent sees: {}", d.agent_sees(call.tool));
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
                action.name()
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
                action.name()
            );
        }
        ToolMatch::Default(default) => {
            let _ = write!(
                tools_line,
                "  tools: no key matches {:?}, so the default applies: default {} (/default)",
                call.tool,
                default.name()
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
    if let Some(rule) = e.limit_denied(policy) {
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
