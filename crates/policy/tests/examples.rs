//! Every policy under tests/valid/ compiles — the seed's policy byte-for-byte, SPEC §2's example (JSON
//! and YAML) and a document using every field — and the JSON and YAML spellings compile alike.

use std::fs;

use serde_json::json;
use toolgate_policy::{Call, Decision, Identity, NoCounterState, SourceFormat, compile};

fn valid_files() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/valid");
    let mut files: Vec<_> = fs::read_dir(dir)
        .expect("tests/valid exists")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
}

#[test]
fn every_valid_example_compiles() {
    let files = valid_files();
    assert!(files.len() >= 4, "examples missing: {files:?}");
    for path in files {
        let text = fs::read_to_string(&path).expect("readable");
        let name = path.display().to_string();
        if let Err(d) = compile(&text, &name, SourceFormat::from_path(&name)) {
            panic!("{name} should compile:\n{d}");
        }
    }
}

#[test]
fn seed_policy_is_accepted_byte_for_byte() {
    let text = include_str!("valid/seed-createOneWorkflowRun.json");
    let policy = compile(text, "seed.json", SourceFormat::Json).expect("seed policy compiles");
    let identity = Identity {
        agent: "a".into(),
        grant: "g".into(),
        tags: vec![],
    };
    let args = json!({});
    let call = |tool| Call {
        server: "twenty",
        tool,
        args: &args,
        args_text: None,
        identity: &identity,
        session: "s",
    };
    match policy.decide_at(&call("createOneWorkflowRun"), &NoCounterState, 0) {
        Decision::Allow { reserve } => {
            assert_eq!(reserve.len(), 1);
            assert_eq!(
                reserve[0].limit.describe(),
                "30 calls per minute (counter createoneworkflowrun_rate, scope grant)"
            );
            assert_eq!(
                reserve[0].limit.rule,
                "/tools/createOneWorkflowRun/limits/0"
            );
        }
        other => panic!("expected allow, got {other:?}"),
    }
    assert!(matches!(
        policy.decide_at(&call("findManyPeople"), &NoCounterState, 0),
        Decision::Deny {
            rule: "/default",
            ..
        }
    ));
    // The version hash is the SHA-256 of the exact bytes.
    assert_eq!(policy.version_hash().len(), 64);
    let reformatted =
        compile(&text.replace("  ", "\t"), "seed.json", SourceFormat::Json).expect("compiles");
    assert_ne!(policy.version_hash(), reformatted.version_hash());
}

#[test]
fn spec_example_json_and_yaml_decide_alike() {
    let j = compile(
        include_str!("valid/spec-example.json"),
        "spec.json",
        SourceFormat::Json,
    )
    .expect("json");
    let y = compile(
        include_str!("valid/spec-example.yaml"),
        "spec.yaml",
        SourceFormat::Yaml,
    )
    .expect("yaml");
    let identity = Identity {
        agent: "a".into(),
        grant: "g".into(),
        tags: vec![],
    };
    let cases = [
        ("createOneWorkflowRun", json!({})),
        ("findManyPeople", json!({})),
        (
            "UpdateOneOpportunity",
            json!({"requestBody": {"amount": {"amountMicros": 2_000_000_000u64}}}),
        ),
        (
            "UpdateOneOpportunity",
            json!({"requestBody": {"amount": {"amountMicros": 5}}}),
        ),
        ("deleteOneCompany", json!({})),
        ("createOneConnectedAccount", json!({})),
        ("createManyPeople", json!({"requestBody": [{}, {}, {}]})),
        ("createManyPeople", json!({"requestBody": "x"})),
        ("GetOpenApiSchema", json!({})),
        ("somethingElse", json!({})),
    ];
    for (tool, args) in &cases {
        let call = Call {
            server: "twenty",
            tool,
            args,
            args_text: None,
            identity: &identity,
            session: "s",
        };
        let a = j.decide_at(&call, &NoCounterState, 0);
        let b = y.decide_at(&call, &NoCounterState, 0);
        assert_eq!(a, b, "{tool} {args}");
    }
}
