//! Table tests for `Policy::decide`: every op and path form, tool precedence, default, hide, decision
//! order, rule pointers, reasons, the rate_limit shorthand, increment_from and state.<counter>.

use std::borrow::Cow;

use serde_json::{Value, json};
use toolgate_policy::{
    ApprovalMode, Call, CounterKey, CounterState, Decision, Identity, Limit, NoCounterState,
    Policy, Scope, SourceFormat, WindowMode, compile,
};

fn policy(doc: Value) -> Policy {
    let text = serde_json::to_string_pretty(&doc).expect("serialisable");
    match compile(&text, "test.json", SourceFormat::Json) {
        Ok(p) => p,
        Err(d) => panic!("test policy should compile:\n{d}\n{text}"),
    }
}

fn identity() -> Identity {
    Identity {
        agent: "alice".into(),
        grant: "alice-laptop".into(),
        tags: vec!["staff".into(), "eu".into()],
    }
}

fn decide<'p>(p: &'p Policy, tool: &'p str, args: &'p Value, id: &'p Identity) -> Decision<'p> {
    p.decide_at(
        &Call {
            server: "crm",
            tool,
            args,
            args_text: None,
            identity: id,
            session: "sess-1",
        },
        &NoCounterState,
        1_000,
    )
}

/// Does a deny_if rule with this single condition fire on `args`?
fn fires(path: &str, op: &str, value: Option<Value>, args: Value) -> bool {
    let mut cond = json!({"path": path, "op": op});
    if let Some(v) = value {
        cond["value"] = v;
    }
    let p = policy(
        json!({"version": "1", "default": "allow", "tools": {"t": {"deny_if": [{"conditions": [cond]}]}}}),
    );
    let id = identity();
    match decide(&p, "t", &args, &id) {
        Decision::Deny { rule, .. } => {
            assert_eq!(rule, "/tools/t/deny_if/0");
            true
        }
        Decision::Allow { .. } => false,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn every_op() {
    let a = json!({
        "n": 5, "f": 2.5, "big": 1_000_000_000u64, "s": "hello world", "arr": [1, "x", {"k": 1}],
        "obj": {"k": 1}, "null": null, "b": true, "email": "bob@example.com", "date": "2024-05-01"
    });
    #[rustfmt::skip]
    let table: Vec<(&str, &str, Option<Value>, bool)> = vec![
        // eq / neq: numbers numerically, no string/number coercion, deep equality
        ("args.n", "eq", Some(json!(5)), true),
        ("args.n", "eq", Some(json!(5.0)), true),
        ("args.n", "eq", Some(json!("5")), false),
        ("args.obj", "eq", Some(json!({"k": 1.0})), true),
        ("args.null", "eq", Some(Value::Null), true),
        ("args.missing", "eq", Some(Value::Null), false),
        ("args.n", "neq", Some(json!(6)), true),
        ("args.n", "neq", Some(json!(5)), false),
        ("args.missing", "neq", Some(json!(5)), true),
        // in / not_in
        ("args.n", "in", Some(json!([1, 5])), true),
        ("args.s", "in", Some(json!(["a", "b"])), false),
        ("args.arr", "in", Some(json!(["x", "y"])), true),
        ("args.missing", "in", Some(json!([null])), false),
        ("args.n", "not_in", Some(json!([1, 2])), true),
        ("args.n", "not_in", Some(json!([5.0])), false),
        ("args.missing", "not_in", Some(json!([1])), true),
        // ordering: numbers numerically (int vs float), strings lexicographically, mixed false
        ("args.n", "lt", Some(json!(5.5)), true),
        ("args.n", "lt", Some(json!(5)), false),
        ("args.n", "lte", Some(json!(5)), true),
        ("args.f", "gt", Some(json!(2)), true),
        ("args.f", "gte", Some(json!(2.5)), true),
        ("args.f", "gte", Some(json!(3)), false),
        ("args.big", "gt", Some(json!(999_999_999)), true),
        ("args.date", "gte", Some(json!("2024-01-01")), true),
        ("args.date", "lt", Some(json!("2024-01-01")), false),
        ("args.s", "gt", Some(json!(1)), false),
        ("args.n", "gt", Some(json!("1")), false),
        ("args.missing", "lt", Some(json!(10)), false),
        // regex: unanchored search, strings only
        ("args.s", "regex", Some(json!("wor")), true),
        ("args.s", "regex", Some(json!("^wor")), false),
        ("args.email", "regex", Some(json!("^[a-z]+@example\\.com$")), true),
        ("args.n", "regex", Some(json!("5")), false),
        // contains: substring, array element, object key
        ("args.s", "contains", Some(json!("lo wo")), true),
        ("args.s", "contains", Some(json!("xyz")), false),
        ("args.arr", "contains", Some(json!(1.0)), true),
        ("args.arr", "contains", Some(json!({"k": 1})), true),
        ("args.arr", "contains", Some(json!(2)), false),
        ("args.obj", "contains", Some(json!("k")), true),
        ("args.n", "contains", Some(json!(5)), false),
        // starts_with / ends_with / glob
        ("args.s", "starts_with", Some(json!("hell")), true),
        ("args.s", "starts_with", Some(json!("world")), false),
        ("args.email", "ends_with", Some(json!("@example.com")), true),
        ("args.email", "ends_with", Some(json!("@evil.com")), false),
        ("args.email", "glob", Some(json!("*@example.???")), true),
        ("args.email", "glob", Some(json!("*@example")), false),
        ("args.n", "glob", Some(json!("*")), false),
        // exists: null exists; value optional (defaults to true)
        ("args.null", "exists", Some(json!(true)), true),
        ("args.missing", "exists", Some(json!(true)), false),
        ("args.missing", "exists", Some(json!(false)), true),
        ("args.n", "exists", Some(json!(false)), false),
        ("args.n", "exists", None, true),
    ];
    for (path, op, value, want) in table {
        assert_eq!(
            fires(path, op, value.clone(), a.clone()),
            want,
            "{path} {op} {value:?}"
        );
    }
}

#[test]
fn every_path_form() {
    let a = json!({"items": [{"id": "a1"}, {"id": "b2"}], "name": "Zoë", "o": {"x": 1, "y": 2}, "l": {"length": 9}});
    #[rustfmt::skip]
    let table: Vec<(&str, &str, Value, bool)> = vec![
        ("args.items.1.id", "eq", json!("b2"), true),
        ("args.items.2.id", "exists", json!(false), true),
        ("args.items.length", "eq", json!(2), true),
        ("args.name.length", "eq", json!(3), true),
        ("args.o.length", "eq", json!(2), true),
        ("args.l.length", "eq", json!(9), true),
        ("args.name.first", "exists", json!(false), true),
        ("identity.agent", "eq", json!("alice"), true),
        ("identity.grant", "starts_with", json!("alice-"), true),
        ("identity.tags", "contains", json!("eu"), true),
        ("identity.tags", "contains", json!("us"), false),
        ("identity.tags", "in", json!(["admin", "staff"]), true),
        ("identity.tags", "not_in", json!(["admin"]), true),
        ("identity.tags", "eq", json!(["staff", "eu"]), true),
        ("identity.tags.length", "gte", json!(2), true),
        ("server", "eq", json!("crm"), true),
        ("tool", "eq", json!("t"), true),
        ("args", "contains", json!("items"), true),
    ];
    for (path, op, value, want) in table {
        assert_eq!(
            fires(path, op, Some(value.clone()), a.clone()),
            want,
            "{path} {op} {value}"
        );
    }
}

#[test]
fn tool_precedence_exact_then_longest_prefix_then_longest_pattern_then_order() {
    let deny = |reason: &str| json!({"action": "deny", "reason": reason});
    let p = policy(json!({
        "version": "1", "default": "allow",
        "tools": {
            "*": deny("star"),
            "find*": deny("find*"),
            "findMany*": deny("findMany*"),
            "findManyPeople": deny("exact"),
            "findOne*e": deny("findOne*e"),
            "findOne*": deny("findOne*"),
            "*Note": deny("*Note"),
            "?reateOneNote": deny("?reateOneNote"),
            "[c]reateOne*": deny("[c]reateOne*"),
            "x*": deny("x* first"),
            "x?": deny("x? second")
        }
    }));
    let id = identity();
    let args = json!({});
    let cases = [
        ("findManyPeople", "exact"),
        ("findManyCompanies", "findMany*"),
        ("findDuplicates", "find*"),
        ("findOnePerson", "findOne*"),      // findOne*e doesn't match
        ("findOnePeople", "findOne*e"),     // same prefix, longer pattern wins
        ("createOneNote", "?reateOneNote"), // prefixes "", "", "" : longest pattern wins
        ("createOneTask", "[c]reateOne*"),
        ("deleteNote", "*Note"),
        ("xy", "x* first"), // same prefix and length: document order
        ("other", "star"),
    ];
    for (tool, want) in cases {
        match decide(&p, tool, &args, &id) {
            Decision::Deny { reason, .. } => assert_eq!(reason, want, "{tool}"),
            other => panic!("{tool}: {other:?}"),
        }
    }
    assert_eq!(
        p.matched_rule("findManyCompanies"),
        Some("/tools/findMany*")
    );
}

#[test]
fn default_allow_and_deny() {
    let id = identity();
    let args = json!({});
    let deny =
        policy(json!({"version": "1", "default": "deny", "tools": {"listed": {}, "find*": null}}));
    assert_eq!(
        decide(&deny, "listed", &args, &id),
        Decision::Allow { reserve: vec![] }
    );
    assert_eq!(
        decide(&deny, "findX", &args, &id),
        Decision::Allow { reserve: vec![] }
    );
    match decide(&deny, "unlisted", &args, &id) {
        Decision::Deny { rule, reason } => {
            assert_eq!(rule, "/default");
            assert!(
                reason.contains("\"unlisted\"") && reason.contains("default: deny"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    let allow = policy(json!({"version": "1", "default": "allow"}));
    assert_eq!(
        decide(&allow, "anything", &args, &id),
        Decision::Allow { reserve: vec![] }
    );
    let all = Policy::allow_all();
    assert_eq!(
        decide(&all, "anything", &args, &id),
        Decision::Allow { reserve: vec![] }
    );
    assert!(!all.is_hidden("anything"));
    assert_eq!(all.version_hash().len(), 64);
}

#[test]
fn hide_beats_everything() {
    let p = policy(json!({
        "version": "1", "default": "allow",
        "hide": ["GetOpenApiSchema", "deleteOne*"],
        "tools": {"deleteOneCompany": {"action": "require_approval"}, "GetOpenApiSchema": {}}
    }));
    let id = identity();
    let args = json!({});
    assert_eq!(
        decide(&p, "GetOpenApiSchema", &args, &id),
        Decision::Hidden { rule: "/hide/0" }
    );
    assert_eq!(
        decide(&p, "deleteOneCompany", &args, &id),
        Decision::Hidden { rule: "/hide/1" }
    );
    assert!(p.is_hidden("deleteOnePerson") && p.is_hidden("GetOpenApiSchema"));
    assert!(!p.is_hidden("deleteManyPeople"));
    assert_eq!(
        decide(&p, "deleteManyPeople", &args, &id),
        Decision::Allow { reserve: vec![] }
    );
}

#[test]
fn deny_beats_approval_beats_allow() {
    let p = policy(json!({
        "version": "1", "default": "deny",
        "all_tools": {"limits": [{"counter": "all", "window": "minute", "max": 100}]},
        "tools": {
            "approveMe": {
                "action": "require_approval",
                "approval": {"timeout": "30s", "mode": "retry", "hold_max": 20},
                "deny_if": [{"conditions": [{"path": "args.force", "op": "eq", "value": true}], "on_deny": "No forcing."}]
            },
            "blocked": {
                "action": "deny",
                "deny_if": [{"conditions": [], "on_deny": "unreached"}]
            },
            "plain": {}
        }
    }));
    let id = identity();
    let forced = json!({"force": true});
    let gentle = json!({"force": false});
    match decide(&p, "approveMe", &forced, &id) {
        Decision::Deny { rule, reason } => {
            assert_eq!(rule, "/tools/approveMe/deny_if/0");
            assert_eq!(reason, "No forcing.");
            assert!(
                matches!(reason, Cow::Borrowed(_)),
                "configured reasons are not copied"
            );
        }
        other => panic!("{other:?}"),
    }
    match decide(&p, "approveMe", &gentle, &id) {
        Decision::NeedsApproval {
            rule,
            approval,
            reserve,
        } => {
            assert_eq!(rule, "/tools/approveMe/action");
            assert_eq!(approval.timeout_ms, 30_000);
            assert_eq!(approval.hold_max_ms, Some(20_000));
            assert_eq!(approval.mode, ApprovalMode::Retry);
            assert_eq!(reserve.len(), 1, "all_tools limits apply to held calls too");
            assert_eq!(reserve[0].limit.rule, "/all_tools/limits/0");
        }
        other => panic!("{other:?}"),
    }
    match decide(&p, "blocked", &gentle, &id) {
        Decision::Deny { rule, reason } => {
            assert_eq!(rule, "/tools/blocked/action");
            assert!(
                reason.contains("\"blocked\"") && reason.contains("/tools/blocked/action"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    match decide(&p, "plain", &gentle, &id) {
        Decision::Allow { reserve } => assert_eq!(reserve.len(), 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn deny_if_and_require_semantics_and_generated_reasons() {
    let p = policy(json!({
        "version": "1", "default": "allow",
        "all_tools": {"require": [{"conditions": [{"path": "identity.agent", "op": "neq", "value": "mallory"}], "on_deny": "Not you."}]},
        "tools": {
            "always": {"deny_if": [{"on_deny": "Never."}]},
            "needsTicket": {"require": [{"conditions": [
                {"path": "args.ticket", "op": "regex", "value": "^JIRA-[0-9]+$"},
                {"path": "args.env", "op": "in", "value": ["staging", "prod"]}
            ]}]},
            "anded": {"deny_if": [{"conditions": [
                {"path": "args.a", "op": "eq", "value": 1},
                {"path": "args.b", "op": "eq", "value": 2}
            ]}]}
        }
    }));
    let id = identity();
    let empty = json!({});
    assert!(
        matches!(decide(&p, "always", &empty, &id), Decision::Deny { rule: "/tools/always/deny_if/0", reason } if reason == "Never.")
    );
    // require fails closed on a missing argument, naming the condition that failed.
    match decide(&p, "needsTicket", &empty, &id) {
        Decision::Deny { rule, reason } => {
            assert_eq!(rule, "/tools/needsTicket/require/0");
            assert!(
                reason.contains("args.ticket regex \"^JIRA-[0-9]+$\""),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    let half = json!({"ticket": "JIRA-12", "env": "dev"});
    match decide(&p, "needsTicket", &half, &id) {
        Decision::Deny { reason, .. } => assert!(
            reason.contains("args.env in [\"staging\",\"prod\"]"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
    let good = json!({"ticket": "JIRA-12", "env": "prod"});
    assert_eq!(
        decide(&p, "needsTicket", &good, &id),
        Decision::Allow { reserve: vec![] }
    );
    // Conditions are ANDed.
    assert!(matches!(
        decide(&p, "anded", &json!({"a": 1}), &id),
        Decision::Allow { .. }
    ));
    match decide(&p, "anded", &json!({"a": 1, "b": 2}), &id) {
        Decision::Deny { reason, .. } => {
            assert!(reason.contains("args.a eq 1 and args.b eq 2"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // all_tools conditions apply to every tool, unlisted ones included.
    let mallory = Identity {
        agent: "mallory".into(),
        ..identity()
    };
    assert!(matches!(
        decide(&p, "unlisted", &empty, &mallory),
        Decision::Deny {
            rule: "/all_tools/require/0",
            ..
        }
    ));
}

#[test]
fn limits_become_reservations_with_keys_per_scope() {
    let p = policy(json!({
        "version": "1", "default": "allow",
        "all_tools": {"limits": [{"counter": "everything", "window": "day", "max": 1000, "scope": "global", "mode": "fixed"}]},
        "tools": {
            "createOneWorkflowRun": {
                "limits": [
                    {"counter": "wf", "window": "minute", "max": 30},
                    {"counter": "wf_agent", "window": "1h", "max": 100, "scope": "agent", "increment": 3},
                    {"counter": "wf_server", "window": 90, "max": 100, "scope": "server"}
                ],
                "rate_limit": {"max": 10, "window": 60}
            }
        }
    }));
    let id = identity();
    let args = json!({});
    let Decision::Allow { reserve } = decide(&p, "createOneWorkflowRun", &args, &id) else {
        panic!("allow expected")
    };
    let got: Vec<(&str, Scope, &str, u64, &str, u64)> = reserve
        .iter()
        .map(|r| {
            (
                r.key.counter,
                r.key.scope,
                r.key.subject,
                r.amount,
                r.limit.rule.as_str(),
                r.limit.window_ms,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "wf",
                Scope::Grant,
                "alice-laptop",
                1,
                "/tools/createOneWorkflowRun/limits/0",
                60_000
            ),
            (
                "wf_agent",
                Scope::Agent,
                "alice",
                3,
                "/tools/createOneWorkflowRun/limits/1",
                3_600_000
            ),
            (
                "wf_server",
                Scope::Server,
                "crm",
                1,
                "/tools/createOneWorkflowRun/limits/2",
                90_000
            ),
            (
                "createOneWorkflowRun__rate_limit",
                Scope::Session,
                "sess-1",
                1,
                "/tools/createOneWorkflowRun/rate_limit",
                60_000
            ),
            (
                "everything",
                Scope::Global,
                "",
                1,
                "/all_tools/limits/0",
                86_400_000
            ),
        ]
    );
    assert_eq!(reserve[4].limit.mode, WindowMode::Fixed);
    assert_eq!(
        reserve[3].limit.describe(),
        "10 calls per minute (counter createOneWorkflowRun__rate_limit, scope session)"
    );
    assert_eq!(
        reserve[1].limit.describe(),
        "100 units per hour (counter wf_agent, scope agent)"
    );
}

#[test]
fn increment_from_counts_or_fails_closed() {
    let p = policy(json!({
        "version": "1", "default": "allow",
        "tools": {"createManyPeople": {"limits": [{"counter": "people", "window": "hour", "max": 500, "scope": "agent", "increment_from": "args.requestBody.length"}]},
                  "bulk": {"limits": [{"counter": "units", "window": "hour", "max": 500, "increment_from": "args.count"}]}}
    }));
    let id = identity();
    let amount = |tool: &str, args: Value| -> Result<u64, String> {
        match decide(&p, tool, &args, &id) {
            Decision::Allow { reserve } => Ok(reserve[0].amount),
            Decision::Deny { rule, reason } => Err(format!("{rule}: {reason}")),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        amount("createManyPeople", json!({"requestBody": [{}, {}, {}]})),
        Ok(3)
    );
    assert_eq!(
        amount("createManyPeople", json!({"requestBody": []})),
        Ok(0)
    );
    assert_eq!(amount("bulk", json!({"count": 7})), Ok(7));
    assert_eq!(amount("bulk", json!({"count": 7.0})), Ok(7));
    for (args, needle) in [
        (json!({}), "is missing"),
        (json!({"count": "7"}), "is a string"),
        (json!({"count": -1}), "not a non-negative integer"),
        (json!({"count": 1.5}), "not a non-negative integer"),
        (json!({"count": [1]}), "is an array"),
        (
            json!({"count": 501}),
            "more than the whole quota of 500 units per hour",
        ),
    ] {
        let e = amount("bulk", args.clone()).expect_err("denied");
        assert!(
            e.starts_with("/tools/bulk/limits/0: ") && e.contains(needle),
            "{args}: {e}"
        );
        assert!(e.contains("args.count") || needle.contains("quota"), "{e}");
    }
    let e = amount("createManyPeople", json!({"requestBody": {"a": 1}}))
        .expect("object length counts members");
    assert_eq!(e, 1);
}

/// A counter state with fixed values per counter, checking it is asked with the right key.
struct FixedState;
impl CounterState for FixedState {
    fn current(&self, key: &CounterKey<'_>, limit: &Limit, now_ms: u64) -> u64 {
        assert_eq!(now_ms, 1_000, "decide_at passes its time through");
        assert_eq!(limit.counter, key.counter);
        match (key.counter, key.scope, key.subject) {
            ("updates", Scope::Agent, "alice") => 6,
            _ => 0,
        }
    }
}

#[test]
fn state_conditions_read_the_counter_for_this_calls_subject() {
    let p = policy(json!({
        "version": "1", "default": "allow",
        "tools": {"UpdateOneOpportunity": {
            "deny_if": [{"conditions": [{"path": "state.updates", "op": "gt", "value": 5}], "on_deny": "Slow down."}],
            "limits": [{"counter": "updates", "window": "hour", "max": 50, "scope": "agent"}]
        }}
    }));
    let args = json!({});
    let alice = identity();
    let bob = Identity {
        agent: "bob".into(),
        ..identity()
    };
    let call = |id| Call {
        server: "crm",
        tool: "UpdateOneOpportunity",
        args: &args,
        args_text: None,
        identity: id,
        session: "s",
    };
    assert!(
        matches!(p.decide_at(&call(&alice), &FixedState, 1_000), Decision::Deny { reason, .. } if reason == "Slow down.")
    );
    assert!(matches!(
        p.decide_at(&call(&bob), &FixedState, 1_000),
        Decision::Allow { .. }
    ));
    assert!(matches!(
        p.decide_at(&call(&alice), &NoCounterState, 1_000),
        Decision::Allow { .. }
    ));
    assert_eq!(p.counter("updates").map(|l| l.max), Some(50));
}

/// Numbers a double cannot hold are compared as the agent wrote them when the call carries its text.
#[test]
fn conditions_compare_the_numbers_an_agent_wrote_exactly() {
    let p = policy(json!({
        "version": "1",
        "default": "allow",
        "tools": { "pay": {
            "require": [{ "conditions": [
                { "path": "args.amount", "op": "lte", "value": 100.5 },
                { "path": "args.lines.0.qty", "op": "in", "value": [1, 2.5] },
                { "path": "args.batch.length", "op": "lt", "value": 18446744073709551615u64 }
            ], "reason": "out of bounds" }]
        }}
    }));
    let id = identity();
    let verdict = |text: &str| {
        let args: Value = serde_json::from_str(text).expect(text);
        let call = Call {
            server: "crm",
            tool: "pay",
            args: &args,
            args_text: Some(text),
            identity: &id,
            session: "sess-1",
        };
        matches!(
            p.decide_at(&call, &NoCounterState, 1_000),
            Decision::Allow { .. }
        )
    };
    let args = |amount: &str, qty: &str, length: &str| {
        format!(
            r#"{{"amount": {amount}, "lines": [{{"qty": {qty}}}], "batch": {{"length": {length}}}}}"#
        )
    };
    assert!(verdict(&args("100.5", "2.5", "1")));
    assert!(verdict(&args("1.005e2", "25e-1", "18446744073709551614")));
    assert!(
        !verdict(&args("100.50000000000000001", "2.5", "1")),
        "amount just above"
    );
    assert!(
        verdict(&args("100.49999999999999999", "2.5", "1")),
        "amount just below"
    );
    assert!(
        !verdict(&args("1", "2.50000000000000001", "1")),
        "not in the list"
    );
    assert!(
        !verdict(&args("1", "2.5", "18446744073709551616")),
        "length beyond 64 bits"
    );
    // Without the text, the parsed value is all there is (a double).
    let args_only: Value =
        serde_json::from_str(&args("100.50000000000000001", "2.5", "1")).unwrap();
    assert!(matches!(
        decide(&p, "pay", &args_only, &id),
        Decision::Allow { .. }
    ));
}

/// A policy constant that would lose digits is refused at its line, in JSON and YAML alike.
#[test]
fn a_constant_a_policy_cannot_keep_exactly_is_refused() {
    let json_doc = "{\"version\": \"1\", \"default\": \"allow\", \"tools\": {\"pay\": {\"deny_if\": [{\"conditions\": [\n  {\"path\": \"args.id\", \"op\": \"eq\", \"value\": 18446744073709551617}]}]}}}";
    let yaml_doc = "version: \"1\"\ndefault: allow\ntools:\n  pay:\n    deny_if:\n      - conditions:\n          - { path: args.amount, op: gt, value: 0.30000000000000000001 }\n";
    for (text, format, at) in [
        (json_doc, SourceFormat::Json, "2:"),
        (yaml_doc, SourceFormat::Yaml, "7:49"),
    ] {
        let err = match compile(text, "p", format) {
            Ok(_) => panic!("{format:?}: the constant should be refused"),
            Err(d) => d.to_string(),
        };
        assert!(
            err.contains("has more digits than a policy keeps exactly") && err.contains(at),
            "{format:?}: {err}"
        );
    }
    for (text, format) in [
        (
            "{\"version\": \"1\", \"default\": \"allow\", \"tools\": {\"pay\": {\"deny_if\": [{\"conditions\": [{\"path\": \"args.n\", \"op\": \"gt\", \"value\": 1e30}]}]}}}",
            SourceFormat::Json,
        ),
        (
            "version: \"1\"\ndefault: allow\ntools:\n  pay:\n    deny_if:\n      - conditions:\n          - { path: args.n, op: lt, value: .5 }\n",
            SourceFormat::Yaml,
        ),
        (
            "version: \"1\"\ndefault: allow\ntools:\n  pay:\n    deny_if:\n      - conditions:\n          - { path: args.n, op: lte, value: 18446744073709551615 }\n",
            SourceFormat::Yaml,
        ),
    ] {
        if let Err(d) = compile(text, "p", format) {
            panic!("{format:?}: {d}\n{text}");
        }
    }
}
