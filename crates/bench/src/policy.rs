//! The "realistic" policy of the gateway benchmarks: a starter-like policy for the 219 Twenty
//! tools plus `echo`. `default: deny`; `find*`, `Get*` and `get*` allowed by globs; every
//! `create*` and `Update*` tool (and `echo`, the tool the benchmark calls) an exact rule with two
//! `deny_if` conditions on its arguments (a numeric `gt`, a case-insensitive `regex`), a `require`
//! on the caller's tags and a per-grant limit; `delete*` behind `require_approval` (denied until
//! approvals land); an `all_tools` limit. Limits are per minute with a maximum of 10^9, so that
//! a benchmark pays for counting but never trips them.

use serde_json::{Map, Value, json};

use crate::catalogue;

/// The maximum of every limit: high enough never to trip in a benchmark run.
pub const LIMIT_MAX: u64 = 1_000_000_000;

fn write_rule(name: &str) -> Value {
    json!({
        "deny_if": [
            {"conditions": [{"path": "args.requestBody.amount.amountMicros", "op": "gt", "value": 1_000_000_000u64}],
             "on_deny": "Amounts above 1000 need a human."},
            {"conditions": [{"path": "args.text", "op": "regex", "value": "(?i)^(drop|truncate)[ _-]"}],
             "on_deny": "Destructive text needs a human."}
        ],
        "require": [{"conditions": [{"path": "identity.tags", "op": "not_in", "value": ["suspended"]}]}],
        "limits": [{"counter": format!("{}_rate", name.to_lowercase()), "window": "minute",
                    "max": LIMIT_MAX, "scope": "grant"}]
    })
}

/// The policy document.
pub fn realistic_policy() -> Value {
    let mut tools = Map::new();
    tools.insert("find*".into(), json!({}));
    tools.insert("Get*".into(), json!({}));
    tools.insert("get*".into(), json!({}));
    tools.insert(
        "delete*".into(),
        json!({"action": "require_approval", "approval": {"timeout": "10m"}}),
    );
    let names = catalogue::twenty_tool_names();
    for name in names
        .iter()
        .map(String::as_str)
        .chain([catalogue::ECHO])
        .filter(|n| n.starts_with("create") || n.starts_with("Update") || *n == catalogue::ECHO)
    {
        tools.insert(name.to_owned(), write_rule(name));
    }
    json!({
        "version": "1",
        "default": "deny",
        "all_tools": {"limits": [{"counter": "all_calls", "window": "minute", "max": LIMIT_MAX, "scope": "grant"}]},
        "tools": tools
    })
}

/// The policy document, pretty-printed.
pub fn realistic_policy_json() -> String {
    serde_json::to_string_pretty(&realistic_policy()).expect("serialise the policy")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_every_write_tool_and_echo() {
        let p = realistic_policy();
        let tools = p["tools"].as_object().unwrap();
        // 62 create* + 31 Update* + echo, plus 4 globs.
        assert_eq!(tools.len(), 62 + 31 + 1 + 4);
        assert!(tools["echo"]["limits"][0]["max"].as_u64() == Some(LIMIT_MAX));
    }
}
