//! The tool catalogue `bench-upstream` serves: the 219 tools of the Twenty CRM fixture
//! (`crates/demo-server/fixtures/twenty-crm-tools.json`, embedded at build time) plus `echo`,
//! serialised once, minified, when the server starts.

use serde_json::{Value, json};

/// The Twenty CRM fixture, as shipped in the demo server.
const TWENTY_FIXTURE: &str = include_str!("../../demo-server/fixtures/twenty-crm-tools.json");

/// The name of the cheap tool every `tools/call` benchmark uses.
pub const ECHO: &str = "echo";

/// The names of the 219 Twenty tools, in catalogue order.
pub fn twenty_tool_names() -> Vec<String> {
    twenty_tools()
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

fn twenty_tools() -> Vec<Value> {
    let doc: Value = serde_json::from_str(TWENTY_FIXTURE).expect("the embedded fixture is JSON");
    match doc {
        Value::Object(mut o) => match o.remove("tools") {
            Some(Value::Array(tools)) => tools,
            _ => panic!("the embedded fixture has no tools array"),
        },
        _ => panic!("the embedded fixture is not an object"),
    }
}

/// The definition of `echo`.
pub fn echo_tool() -> Value {
    json!({
        "name": ECHO,
        "description": "Answers every call with the same short text; for benchmarks.",
        "inputSchema": {
            "type": "object",
            "properties": {"text": {"type": "string"}, "amount": {"type": "number"}}
        }
    })
}

/// Every tool served: the 219 Twenty tools, then `echo`.
pub fn all_tools() -> Vec<Value> {
    let mut tools = twenty_tools();
    tools.push(echo_tool());
    tools
}

/// The `result` of `tools/list`, minified: `{"tools":[...]}`.
pub fn list_result_json() -> String {
    serde_json::to_string(&json!({ "tools": all_tools() })).expect("serialise the tool list")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_has_219_twenty_tools_plus_echo() {
        assert_eq!(twenty_tool_names().len(), 219);
        let v: Value = serde_json::from_str(&list_result_json()).unwrap();
        let tools = v["tools"].as_array().unwrap();
        assert_eq!(tools.len(), 220);
        assert_eq!(tools[219]["name"], ECHO);
    }
}
