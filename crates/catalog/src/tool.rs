//! A tool definition as an MCP server publishes it in `tools/list`, reduced to what
//! classification reads.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "inputSchema", default)]
    pub input_schema: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
}

/// MCP tool annotations. The specification calls them hints that a client must not trust from an
/// untrusted server, and gives their defaults: a tool without them may change things
/// (`readOnlyHint` false) and may do so destructively (`destructiveHint` true).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Annotations {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_hint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destructive_hint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent_hint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_world_hint: Option<bool>,
}

impl ToolDefinition {
    /// Every tool of a `tools/list` result (`{"tools": [...]}`) that has a name.
    pub fn all_from_listing(listing: &Value) -> Vec<ToolDefinition> {
        listing
            .get("tools")
            .and_then(Value::as_array)
            .map(|tools| {
                tools
                    .iter()
                    .filter_map(ToolDefinition::from_value)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Reads a tool object from a `tools/list` result; `None` when it has no string `name`.
    /// Malformed optional parts (a non-object `annotations`) are ignored rather than fatal: a
    /// server's sloppiness must not hide its tool from review.
    pub fn from_value(tool: &Value) -> Option<ToolDefinition> {
        let name = tool.get("name")?.as_str()?.to_owned();
        let description = tool
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let input_schema = tool.get("inputSchema").cloned().unwrap_or(Value::Null);
        let annotations = tool
            .get("annotations")
            .and_then(|a| serde_json::from_value(a.clone()).ok());
        Some(ToolDefinition {
            name,
            description,
            input_schema,
            annotations,
        })
    }
}
