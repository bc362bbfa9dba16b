//! Filtering a `tools/list` result: tools the policy hides are removed, everything else about
//! the response (other tools' fields, `nextCursor`, `_meta`) is kept as the server sent it.

use bytes::Bytes;
use serde_json::Value;
use toolgate_mcp::jsonrpc::{Kind, Message};
use toolgate_policy::Policy;

/// Returns the response with hidden tools removed. A response that is not a readable result
/// (an error, or something malformed) passes unchanged: it lists no tools.
pub fn filter_response(policy: &Policy, response: Bytes) -> Bytes {
    match Message::parse(&response) {
        Ok(m) if m.kind == Kind::Result => {}
        _ => return response,
    }
    let Ok(mut value) = serde_json::from_slice::<Value>(&response) else {
        return response;
    };
    let Some(tools) = value
        .pointer_mut("/result/tools")
        .and_then(Value::as_array_mut)
    else {
        return response;
    };
    let before = tools.len();
    tools.retain(|t| {
        t.get("name")
            .and_then(Value::as_str)
            .is_some_and(|name| !policy.is_hidden(name))
    });
    if tools.len() == before {
        return response;
    }
    serde_json::to_vec(&value)
        .map(Bytes::from)
        .unwrap_or(response)
}
