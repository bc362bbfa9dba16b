//! The Twenty-like CRM catalogue: the verbs of its 219 generated tool names must decide their
//! class exactly.

use toolgate_catalog::{Category, ToolDefinition, classify, classify_with_override};

fn twenty() -> Vec<ToolDefinition> {
    let text = include_str!("../../demo-server/fixtures/twenty-crm-tools.json");
    ToolDefinition::all_from_listing(&serde_json::from_str(text).expect("fixture parses"))
}

#[test]
fn twenty_verbs_decide_the_class() {
    let tools = twenty();
    assert_eq!(tools.len(), 219);
    let mut checked = 0;
    for tool in &tools {
        let name = tool.name.as_str();
        let expected = if name.starts_with("deleteOne") || name.starts_with("deleteMany") {
            Category::Destructive
        } else if name.starts_with("findMany") || name.starts_with("findOne") {
            Category::Read
        } else if [
            "createOne",
            "createMany",
            "UpdateOne",
            "updateOne",
            "updateMany",
        ]
        .iter()
        .any(|p| name.starts_with(p))
        {
            Category::Write
        } else {
            continue;
        };
        let got = classify(tool);
        assert_eq!(got.category, expected, "{name}: {:?}", got.reasons);
        checked += 1;
    }
    assert!(checked >= 180, "only {checked} tools matched the patterns");
}

#[test]
fn an_override_wins_and_says_so() {
    let tools = twenty();
    let run = tools
        .iter()
        .find(|t| t.name == "createOneWorkflowRun")
        .expect("fixture has createOneWorkflowRun");
    assert_eq!(classify(run).category, Category::Write);
    let overridden = classify_with_override(run, Some(Category::Execute));
    assert_eq!(overridden.category, Category::Execute);
    assert!(overridden.overridden);
    assert_eq!(overridden.reasons[0], "operator override: execute");
}

#[test]
fn connected_accounts_are_credentials() {
    let tools = twenty();
    let account = tools
        .iter()
        .find(|t| t.name == "createOneConnectedAccount")
        .expect("fixture has createOneConnectedAccount");
    let judged = classify(account);
    assert!(judged.credentials, "{:?}", judged.reasons);
    assert_eq!(judged.severity, toolgate_catalog::Severity::High);
}
