//! What a tool's input schema says about it: properties that carry code to run (`command`,
//! `script`, `sql`) and an amount of money (`amount` beside `currency`). Only the top level and
//! one level of nesting are read (where servers put a request body), so the check stays cheap and
//! a deeply nested field of some record does not decide the tool.

use crate::lexicon::code_property;
use serde_json::Value;

#[derive(Debug, Default)]
pub struct SchemaEvidence<'a> {
    /// A property whose value is code or a command, e.g. `command`.
    pub code_property: Option<&'a str>,
    /// Numeric `amount` next to `currency`.
    pub money: bool,
    /// An enumerated operation that destroys, e.g. `"delete"` in `operation: [get, delete]`, or
    /// a switch that does (`"reset": boolean`, `"force": boolean`).
    pub destructive_operation: Option<&'a str>,
}

pub fn read(schema: &Value) -> SchemaEvidence<'_> {
    let mut evidence = SchemaEvidence::default();
    let Some(properties) = properties(schema) else {
        return evidence;
    };
    visit(properties, &mut evidence);
    for nested in properties.values().filter_map(properties_of_object) {
        visit(nested, &mut evidence);
    }
    evidence
}

fn visit<'a>(properties: &'a serde_json::Map<String, Value>, evidence: &mut SchemaEvidence<'a>) {
    if evidence.code_property.is_none() {
        evidence.code_property = properties
            .iter()
            .find(|(name, spec)| code_property(&name.to_ascii_lowercase()) && is_text(spec))
            .map(|(name, _)| name.as_str());
    }
    let amount = properties
        .get("amount")
        .is_some_and(|spec| matches!(type_of(spec), Some("number" | "integer")));
    let currency = properties.contains_key("currency");
    evidence.money |= amount && currency;
    if evidence.destructive_operation.is_none() {
        evidence.destructive_operation = properties
            .iter()
            .find(|(name, spec)| {
                // `force` only lifts a safety check; what it forces decides.
                type_of(spec) == Some("boolean")
                    && name.as_str() != "force"
                    && names_destruction(name)
            })
            .map(|(name, _)| name.as_str());
    }
    if evidence.destructive_operation.is_none() {
        evidence.destructive_operation = properties
            .values()
            .filter_map(|spec| spec.get("enum")?.as_array())
            .flatten()
            .filter_map(Value::as_str)
            .find(|option| names_destruction(option));
    }
}

/// `"delete"`, `"DeleteCluster"`, `"force-delete"`: an option whose words include a verb that
/// destroys.
fn names_destruction(option: &str) -> bool {
    option.len() <= 64
        && crate::words::name_words(option)
            .iter()
            .any(|w| crate::lexicon::verb(w) == Some(crate::Category::Destructive))
}

fn properties(schema: &Value) -> Option<&serde_json::Map<String, Value>> {
    schema.get("properties")?.as_object()
}

fn properties_of_object(spec: &Value) -> Option<&serde_json::Map<String, Value>> {
    properties(spec)
}

fn type_of(spec: &Value) -> Option<&str> {
    spec.get("type")?.as_str()
}

/// A string, or an array of strings (`args: ["ls", "-la"]` style commands).
fn is_text(spec: &Value) -> bool {
    match type_of(spec) {
        Some("string") | None => true,
        Some("array") => spec
            .get("items")
            .and_then(type_of)
            .is_none_or(|t| t == "string"),
        _ => false,
    }
}
