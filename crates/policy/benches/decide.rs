//! `Policy::decide` on a realistic policy for the 219-tool Twenty CRM catalogue: exact rules with
//! numeric and regex conditions and limits for every write tool, globs for reads, hidden deletes.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use toolgate_policy::{Call, Decision, Identity, NoCounterState, Policy, SourceFormat, compile};

fn tool_names() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../demo-server/fixtures/twenty-crm-tools.json"
    );
    let text = std::fs::read_to_string(path).expect("twenty-crm-tools.json fixture");
    let doc: Value = serde_json::from_str(&text).expect("fixture is JSON");
    doc["tools"]
        .as_array()
        .expect("tools array")
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

fn crm_policy(tools: &[String]) -> Policy {
    let mut rules = serde_json::Map::new();
    rules.insert(
        "findMany*".into(),
        json!({"limits": [{"counter": "reads", "window": "minute", "max": 1000}]}),
    );
    rules.insert("findOne*".into(), json!({}));
    rules.insert("find*Duplicates".into(), json!({}));
    for name in tools {
        let rule = if name.starts_with("createMany") {
            json!({"limits": [{"counter": "bulk_created", "window": "hour", "max": 5000, "scope": "agent",
                                 "increment_from": "args.requestBody.length"}]})
        } else if name.starts_with("createOne") || name.starts_with("UpdateOne") {
            json!({
                "deny_if": [
                    {"conditions": [{"path": "args.requestBody.amount.amountMicros", "op": "gt", "value": 1_000_000_000u64}],
                     "on_deny": "Amounts above 1000 need a human."},
                    {"conditions": [{"path": "args.requestBody.name", "op": "regex", "value": "(?i)^(test|tmp)[-_]"}]}
                ],
                "require": [{"conditions": [{"path": "identity.tags", "op": "not_in", "value": ["suspended"]}]}],
                "limits": [{"counter": format!("{}_rate", name.to_lowercase()), "window": "minute", "max": 30}]
            })
        } else if name.starts_with("deleteOne") {
            json!({"action": "require_approval", "approval": {"timeout": "10m"}})
        } else {
            continue;
        };
        rules.insert(name.clone(), rule);
    }
    let doc = json!({
        "version": "1",
        "default": "deny",
        "hide": ["deleteMany*", "GetOpenApiSchema", "*ConnectedAccount*"],
        "all_tools": {"limits": [{"counter": "all_calls", "window": "minute", "max": 600}]},
        "tools": rules
    });
    compile(
        &serde_json::to_string_pretty(&doc).expect("json"),
        "bench.json",
        SourceFormat::Json,
    )
    .expect("bench policy compiles")
}

/// What the benchmarked decision must be (checked once before timing).
type Expect = fn(&Decision<'_>) -> bool;

fn bench(c: &mut Criterion) {
    let tools = tool_names();
    assert_eq!(tools.len(), 219);
    let policy = crm_policy(&tools);
    let identity = Identity {
        agent: "alice".into(),
        grant: "alice-laptop".into(),
        tags: vec!["staff".into()],
    };
    let allowed = json!({"requestBody": {"name": "Acme deal", "amount": {"amountMicros": 5_000_000, "currencyCode": "EUR"}}});
    let too_big = json!({"requestBody": {"name": "Acme deal", "amount": {"amountMicros": 5_000_000_000u64, "currencyCode": "EUR"}}});
    let list = json!({"limit": 60, "filter": "name[eq]:Acme"});
    let empty = json!({});
    let call = |tool, args| Call {
        server: "twenty",
        tool,
        args,
        args_text: None,
        identity: &identity,
        session: "session-1",
    };

    let cases: [(&str, Call<'_>, Expect); 4] = [
        (
            "allowed_exact_with_conditions_and_limits",
            call("UpdateOneOpportunity", &allowed),
            |d| matches!(d, Decision::Allow { reserve } if reserve.len() == 2),
        ),
        (
            "denied_by_condition",
            call("UpdateOneOpportunity", &too_big),
            |d| matches!(d, Decision::Deny { .. }),
        ),
        ("hidden", call("deleteManyPeople", &empty), |d| {
            matches!(d, Decision::Hidden { .. })
        }),
        (
            "glob_matched",
            call("findManyPeople", &list),
            |d| matches!(d, Decision::Allow { reserve } if reserve.len() == 2),
        ),
    ];
    let mut group = c.benchmark_group("decide");
    for (name, call, expect) in &cases {
        assert!(
            expect(&policy.decide_at(call, &NoCounterState, 0)),
            "{name}: unexpected decision"
        );
        group.bench_function(*name, |b| {
            b.iter(|| policy.decide_at(black_box(call), &NoCounterState, black_box(0)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
