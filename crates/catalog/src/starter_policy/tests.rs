use super::*;
use serde_json::json;
use toolgate_policy::{Call, Decision, Identity, Policy, SourceFormat, compile};

const PROVENANCE: Provenance<'static> = Provenance {
    command: "toolgate init crm",
    generated_at: "2026-11-24T10:00:00.000Z",
};

fn judged(category: Category, credentials: bool, overridden: bool) -> Classification {
    Classification {
        category,
        severity: category.severity(),
        confidence: 0.9,
        credentials,
        reasons: vec![format!("test says {category}")],
        overridden,
    }
}

/// One tool per group, plus an override that lets a credential tool through.
fn sample() -> Vec<(String, Classification)> {
    vec![
        (
            "findManyCompanies".into(),
            judged(Category::Read, false, false),
        ),
        (
            "createOneCompany".into(),
            judged(Category::Write, false, false),
        ),
        (
            "updateOneCompany".into(),
            judged(Category::Write, false, false),
        ),
        (
            "runWorkflow".into(),
            judged(Category::Execute, false, false),
        ),
        ("runScript".into(), judged(Category::Execute, false, false)),
        (
            "deleteOneCompany".into(),
            judged(Category::Destructive, false, false),
        ),
        (
            "createRefund".into(),
            judged(Category::Financial, false, false),
        ),
        (
            "createOneConnectedAccount".into(),
            judged(Category::Write, true, false),
        ),
        (
            "findManyConnectedAccounts".into(),
            judged(Category::Read, true, false),
        ),
        ("findOneApiKey".into(), judged(Category::Read, true, true)),
    ]
}

fn compiled(text: &str, format: SourceFormat) -> Policy {
    compile(text, "starter", format).unwrap_or_else(|d| panic!("{d}\n---\n{text}"))
}

fn decide<'p>(policy: &'p Policy, tool: &'p str, identity: &'p Identity) -> Decision<'p> {
    static ARGS: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let call = Call {
        server: "crm",
        tool,
        args: ARGS.get_or_init(|| json!({})),
        args_text: None,
        identity,
        session: "s",
    };
    policy.decide_at(&call, &toolgate_policy::NoCounterState, 0)
}

/// Checks every tool of [`sample`] against its expected outcome.
fn assert_places_every_group(policy: &Policy) {
    let who = Identity::default();
    let limit_of = |tool: &str| match decide(policy, tool, &who) {
        Decision::Allow { reserve } => {
            assert_eq!(reserve.len(), 1, "{tool}: {reserve:?}");
            (reserve[0].limit.counter.clone(), reserve[0].limit.max)
        }
        other => panic!("{tool}: {other:?}"),
    };
    assert_eq!(
        decide(policy, "findManyCompanies", &who),
        Decision::Allow { reserve: vec![] }
    );
    assert_eq!(limit_of("createOneCompany"), ("crm_writes".into(), 30));
    assert_eq!(limit_of("updateOneCompany"), ("crm_writes".into(), 30));
    assert_eq!(limit_of("runWorkflow"), ("crm_executes".into(), 10));
    assert_eq!(limit_of("runScript"), ("crm_executes".into(), 10));
    let window = policy.counter("crm_writes").unwrap();
    assert_eq!(window.window_ms, 60_000);
    assert_eq!(window.scope, toolgate_policy::Scope::Grant);
    for tool in ["deleteOneCompany", "createRefund"] {
        match decide(policy, tool, &who) {
            Decision::NeedsApproval { approval, .. } => {
                assert_eq!(approval.timeout_ms, 600_000, "{tool}");
                assert_eq!(approval.mode, toolgate_policy::ApprovalMode::Hold, "{tool}");
            }
            other => panic!("{tool}: {other:?}"),
        }
    }
    for tool in ["createOneConnectedAccount", "findManyConnectedAccounts"] {
        match decide(policy, tool, &who) {
            Decision::Deny { reason, rule } => {
                assert_eq!(reason, CREDENTIALS_REASON, "{tool}");
                assert_eq!(rule, format!("/tools/{tool}/action"));
            }
            other => panic!("{tool}: {other:?}"),
        }
    }
    // The operator said this credential tool is a plain read.
    assert_eq!(
        decide(policy, "findOneApiKey", &who),
        Decision::Allow { reserve: vec![] }
    );
    // A tool the server adds later is refused.
    assert!(matches!(
        decide(policy, "brandNewTool", &who),
        Decision::Deny {
            rule: "/default",
            ..
        }
    ));
}

#[test]
fn every_group_lands_in_place_in_yaml() {
    let yaml = StarterPolicy::new("crm", sample()).to_yaml(&PROVENANCE);
    assert_places_every_group(&compiled(&yaml, SourceFormat::Yaml));
}

#[test]
fn every_group_lands_in_place_in_json() {
    let text = StarterPolicy::new("crm", sample()).to_json();
    assert_places_every_group(&compiled(&text, SourceFormat::Json));
    let parsed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed["default"], "deny");
}

#[test]
fn yaml_explains_itself() {
    let yaml = StarterPolicy::new("crm", sample()).to_yaml(&PROVENANCE);
    assert!(yaml.starts_with(
        "# Starter policy for the MCP server \"crm\", written by `toolgate init crm`\n# at 2026-11-24T10:00:00.000Z from the 10 tools the server listed.\n"
    ), "{yaml}");
    assert!(
        yaml.contains("(1 category set by [servers.crm.risk])"),
        "{yaml}"
    );
    assert!(
        yaml.contains("\n  # Write (2 tools): at most 30 calls per minute per grant"),
        "{yaml}"
    );
    assert!(
        yaml.contains("  findManyCompanies: {}  # test says read\n"),
        "{yaml}"
    );
    assert!(
        yaml.contains("  createOneConnectedAccount:  # write; test says write\n"),
        "{yaml}"
    );
    // The limit block is written once and referred to after.
    assert_eq!(yaml.matches("limits: &writes").count(), 1, "{yaml}");
    assert_eq!(yaml.matches("limits: *writes").count(), 1, "{yaml}");
    assert_eq!(yaml.matches("approval: *approval").count(), 1, "{yaml}");
}

#[test]
fn output_does_not_depend_on_listing_order() {
    let mut reversed = sample();
    reversed.reverse();
    let a = StarterPolicy::new("crm", sample());
    let b = StarterPolicy::new("crm", reversed);
    assert_eq!(a.to_yaml(&PROVENANCE), b.to_yaml(&PROVENANCE));
    assert_eq!(a.to_json(), b.to_json());
}

#[test]
fn a_name_listed_twice_keeps_the_stricter_treatment() {
    let policy = StarterPolicy::new(
        "crm",
        [
            (
                "dup".to_owned(),
                judged(Category::Destructive, false, false),
            ),
            ("dup".to_owned(), judged(Category::Read, false, false)),
        ],
    );
    let yaml = policy.to_yaml(&PROVENANCE);
    let compiled = compiled(&yaml, SourceFormat::Yaml);
    assert!(matches!(
        decide(&compiled, "dup", &Identity::default()),
        Decision::NeedsApproval { .. }
    ));
}

#[test]
fn awkward_names_match_only_themselves() {
    let names = [
        "a*b",
        "true",
        "with space",
        "-dash",
        "x[1]",
        "back\\slash",
        "null",
        "ü",
        "#hash",
        "a: b",
    ];
    let policy = StarterPolicy::new(
        "my-server",
        names
            .iter()
            .map(|n| (n.to_string(), judged(Category::Read, false, false))),
    );
    for text in [policy.to_yaml(&PROVENANCE), policy.to_json()] {
        let format = if text.starts_with('#') {
            SourceFormat::Yaml
        } else {
            SourceFormat::Json
        };
        let compiled = compiled(&text, format);
        let who = Identity::default();
        for name in names {
            assert_eq!(
                decide(&compiled, name, &who),
                Decision::Allow { reserve: vec![] },
                "{name}\n{text}"
            );
        }
        // `a*b` is not a glob.
        assert!(
            matches!(decide(&compiled, "aXXb", &who), Decision::Deny { .. }),
            "{text}"
        );
    }
}

#[test]
fn no_tools_denies_everything() {
    let policy = StarterPolicy::new("empty", []);
    let compiled = compiled(&policy.to_yaml(&PROVENANCE), SourceFormat::Yaml);
    assert!(matches!(
        decide(&compiled, "anything", &Identity::default()),
        Decision::Deny { .. }
    ));
    compiled_json_ok(&policy);
}

fn compiled_json_ok(policy: &StarterPolicy) {
    compiled(&policy.to_json(), SourceFormat::Json);
}

#[test]
fn the_twenty_catalogue_compiles_and_counts_add_up() {
    let doc: Value = serde_json::from_str(include_str!(
        "../../../demo-server/fixtures/twenty-crm-tools.json"
    ))
    .unwrap();
    let tools: Vec<(String, Classification)> = doc["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(crate::ToolDefinition::from_value)
        .map(|t| (t.name.clone(), crate::classify(&t)))
        .collect();
    let policy = StarterPolicy::new("twenty", tools);
    let counts = policy.counts();
    assert_eq!(counts.values().sum::<usize>(), 219);
    assert!(counts[&Treatment::DenyCredentials] > 0, "{counts:?}");
    assert!(counts[&Treatment::ApproveDestructive] > 0, "{counts:?}");
    let yaml_policy = compiled(&policy.to_yaml(&PROVENANCE), SourceFormat::Yaml);
    let json_policy = compiled(&policy.to_json(), SourceFormat::Json);
    let who = Identity::default();
    for name in policy.tools.keys() {
        assert_eq!(
            decide(&yaml_policy, name, &who),
            decide(&json_policy, name, &who),
            "{name}"
        );
    }
}

/// server-everything's `get-env` hands the server's environment (its keys and tokens) to the
/// caller: the starter policy denies it, although it changes nothing.
#[test]
fn a_tool_that_reads_the_environment_is_denied() {
    let get_env = crate::ToolDefinition::from_value(&json!({
        "name": "get-env",
        "description": "Returns all environment variables, helpful for debugging MCP server configuration",
        "inputSchema": {"type": "object", "properties": {}},
        "annotations": {"readOnlyHint": true, "destructiveHint": false}
    }))
    .expect("a tool");
    let judged = crate::classify(&get_env);
    assert_eq!(Treatment::of(&judged), Treatment::DenyCredentials);
    let policy = StarterPolicy::new("everything", [("get-env".to_owned(), judged)]);
    let yaml = policy.to_yaml(&PROVENANCE);
    assert!(
        yaml.contains(
            "  get-env:  # read; handles credentials: reads the environment (\"env\" in name)\n    action: deny\n"
        ),
        "{yaml}"
    );
    let compiled = compiled(&yaml, SourceFormat::Yaml);
    match decide(&compiled, "get-env", &Identity::default()) {
        Decision::Deny { reason, .. } => assert_eq!(reason, CREDENTIALS_REASON),
        other => panic!("{other:?}"),
    }
}
