//! `toolgate policy test FILE`: every case of a case file decided by the policy, with its counters
//! in a fresh in-memory store (so `repeat: 31` against `max: 30` sees the 31st call refused), one
//! line per case and a summary. Exit 0 when every case passes, 1 on a mismatch, 78 on an invalid
//! policy, config or case file.

use super::cases::{self, Case, Expect};
use super::{Failure, Loaded, TestArgs};
use std::path::Path;
use std::process::ExitCode;
use toolgate_policy::{Call, Decision, Policy, system_now_ms};
use toolgate_store::{CounterStore, MemoryCounterStore, ReserveOutcome};

/// The session cases run in unless they name one.
const DEFAULT_SESSION: &str = "policy-test";

pub fn run(args: &TestArgs) -> ExitCode {
    let (loaded, cases) = match load(args) {
        Ok(l) => l,
        Err(f) => return f.exit(),
    };
    let mut passed = 0;
    let mut failed = 0;
    for (case, server) in &cases {
        // `load` checked that every case's server has a policy.
        let Ok(policy) = loaded.policy_for(server) else {
            continue;
        };
        let got = run_case(policy, case, server);
        match mismatch(case, &got) {
            None => {
                passed += 1;
                println!("✓ {}: {}", case.name, got.summary(case.repeat));
            }
            Some(expected) => {
                failed += 1;
                println!(
                    "✗ {}: expected {expected}, got {}",
                    case.name,
                    got.summary(case.repeat)
                );
                if !got.sees.is_empty() {
                    println!("    agent sees: {}", got.sees);
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The policies and the cases, each with the server its call goes to; every problem located.
fn load(args: &TestArgs) -> Result<(Loaded, Vec<(Case, String)>), Failure> {
    let file = &args.file;
    let origin = file.display().to_string();
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::config(format!("{origin}: cannot read the case file: {e}")))?;
    let parsed = cases::parse(&text, &origin).map_err(|d| {
        Failure::config(format!(
            "{d}\nerror: {origin} is invalid ({})",
            crate::plural(d.len(), "error")
        ))
    })?;
    let loaded = match (&args.source.policy, &args.source.config, &parsed.policy) {
        (Some(p), _, _) => Loaded::load(p)?,
        (None, Some(c), _) => Loaded::load_config(c)?,
        (None, None, Some((p, pos))) => {
            let base = file.parent().unwrap_or(Path::new(""));
            let path = base.join(p);
            if !path.exists() {
                return Err(Failure::config(format!(
                    "{origin}:{}:{}: policy {p:?} not found at {}\n  at: /policy\n  help: a relative path is resolved against the folder of the case file",
                    pos.line,
                    pos.col,
                    path.display()
                )));
            }
            Loaded::load(&path)?
        }
        (None, None, None) => {
            return Err(Failure::config(format!(
                "{origin}: no policy to test\n  help: add \"policy\": \"path/to/policy.json\" to the case file, or pass --policy FILE or -c toolgate.toml"
            )));
        }
    };
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(parsed.cases.len());
    for case in parsed.cases {
        let server = match &case.server {
            Some(s) => Ok(s.clone()),
            None => loaded.default_server().map(str::to_owned),
        };
        match server.and_then(|s| loaded.policy_for(&s).map(|_| s)) {
            Ok(s) => out.push((case, s)),
            Err(e) => errors.push(format!(
                "{origin}:{}:{}: case {:?}: {e}\n  at: {}\n  help: set \"server\" in the case to one of the config's servers",
                case.pos.line, case.pos.col, case.name, case.pointer
            )),
        }
    }
    if !errors.is_empty() {
        return Err(Failure::config(format!(
            "{}\nerror: {origin} is invalid ({})",
            errors.join("\n"),
            crate::plural(errors.len(), "error")
        )));
    }
    Ok((loaded, out))
}

/// What the last call of a case got.
struct Outcome {
    decision: Expect,
    rule: Option<String>,
    /// What the agent would see: the `[POLICY DENIED] …` text, or `Unknown tool: …`.
    sees: String,
    /// Which call of the case this was (1-based).
    calls: u64,
}

impl Outcome {
    fn summary(&self, repeat: u64) -> String {
        let mut s = self.decision.name().to_owned();
        if let Some(rule) = &self.rule {
            s.push_str(&format!(" by {rule}"));
        }
        if repeat > 1 {
            s.push_str(&format!(" on call {} of {repeat}", self.calls));
        }
        s
    }
}

/// The expectation that failed, described; `None` when the case passes.
fn mismatch(case: &Case, got: &Outcome) -> Option<String> {
    let decision_ok = case.expect == got.decision;
    let rule_ok = case
        .rule
        .as_ref()
        .is_none_or(|r| got.rule.as_deref() == Some(r.as_str()));
    let reason_ok = case
        .reason_contains
        .as_ref()
        .is_none_or(|needle| got.sees.contains(needle.as_str()));
    if decision_ok && rule_ok && reason_ok {
        return None;
    }
    let mut expected = case.expect.name().to_owned();
    if let Some(rule) = &case.rule {
        expected.push_str(&format!(" by {rule}"));
    }
    if let Some(needle) = &case.reason_contains {
        expected.push_str(&format!(" with a reason containing {needle:?}"));
    }
    Some(expected)
}

/// Makes the case's call `repeat` times at one instant against fresh counters, reserving the quota
/// of every admitted call as the gateway does; returns what the last call got.
fn run_case(policy: &Policy, case: &Case, server: &str) -> Outcome {
    let store = MemoryCounterStore::new();
    let now = system_now_ms();
    let call = Call {
        server,
        tool: &case.tool,
        args: &case.args,
        args_text: None,
        identity: &case.identity,
        session: case.session.as_deref().unwrap_or(DEFAULT_SESSION),
    };
    let mut last = None;
    for n in 1..=case.repeat {
        let decision = policy.decide_at(&call, store.snapshot(), now);
        last = Some(outcome(&case.tool, &decision, &store, now, n));
    }
    last.unwrap_or(Outcome {
        decision: Expect::Allow,
        rule: None,
        sees: String::new(),
        calls: 0,
    })
}

fn outcome(
    tool: &str,
    decision: &Decision<'_>,
    store: &MemoryCounterStore,
    now: u64,
    calls: u64,
) -> Outcome {
    let (admitted, rule) = match decision {
        Decision::Hidden { rule } => {
            return Outcome {
                decision: Expect::Hidden,
                rule: Some((*rule).to_owned()),
                sees: format!("Unknown tool: {tool}"),
                calls,
            };
        }
        Decision::Deny { rule, reason } => {
            return Outcome {
                decision: Expect::Deny,
                rule: Some((*rule).to_owned()),
                sees: format!("[POLICY DENIED] {reason}"),
                calls,
            };
        }
        Decision::Allow { .. } => (Expect::Allow, None),
        Decision::NeedsApproval { rule, .. } => (Expect::RequireApproval, Some((*rule).to_owned())),
    };
    let reserve = decision.reservations();
    if !reserve.is_empty() {
        // The gateway's wording for a refused reservation (gateway::enforce).
        if let ReserveOutcome::Rejected {
            limit_rule,
            description,
            retry_after_ms,
        } = store.reserve_now(reserve, now)
        {
            let reason = if retry_after_ms == u64::MAX {
                format!("{tool} asks for more than the whole limit allows: {description}")
            } else {
                let s = retry_after_ms.div_ceil(1000).max(1);
                format!("rate limit reached for {tool}: {description}; retry in {s}s")
            };
            return Outcome {
                decision: Expect::Deny,
                rule: Some(limit_rule),
                sees: format!("[POLICY DENIED] {reason}"),
                calls,
            };
        }
    }
    Outcome {
        decision: admitted,
        rule,
        sees: String::new(),
        calls,
    }
}
