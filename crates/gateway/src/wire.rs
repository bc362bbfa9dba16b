//! The one table that turns the gateway's own answers into JSON-RPC messages, so every denial,
//! rate limit and unknown tool looks the same on every transport (SPEC §3).

use serde_json::value::RawValue;
use toolgate_mcp::jsonrpc::{self, codes};

/// An answer the gateway gives itself instead of forwarding.
#[derive(Debug, Clone, PartialEq)]
pub enum GatewayAnswer {
    /// A tool call refused by policy or a limit: a normal tool result with `isError: true`, so the
    /// model can read the reason.
    ToolDenied {
        reason: String,
        rule: String,
        retry_after_s: Option<u64>,
    },
    /// A hidden or unknown tool: `-32602 Unknown tool`.
    UnknownTool { name: String },
    /// A call that waits for a person's approval (retry mode): a tool result with the approval
    /// id, telling the agent to retry the identical call once approved.
    ApprovalPending {
        tool: String,
        approval_id: String,
        rule: String,
        expires_in_s: u64,
    },
    /// A JSON-RPC error of the gateway's own.
    Error { code: i64, message: String },
}

impl GatewayAnswer {
    /// The JSON-RPC response for request `id`.
    pub fn to_response(&self, id: Option<&RawValue>) -> Vec<u8> {
        match self {
            GatewayAnswer::ToolDenied {
                reason,
                rule,
                retry_after_s,
            } => {
                let mut structured = serde_json::json!({ "decision": "deny", "rule": rule });
                if let Some(s) = retry_after_s {
                    structured["retry_after_s"] = (*s).into();
                }
                tool_error(id, &format!("[POLICY DENIED] {reason}"), structured)
            }
            GatewayAnswer::ApprovalPending {
                tool,
                approval_id,
                rule,
                expires_in_s,
            } => {
                let text = format!(
                    "[APPROVAL REQUIRED] {tool} needs a person's approval (approval id {approval_id}). \
                     Retry this identical call once it is approved; the request expires in {expires_in_s}s."
                );
                let structured = serde_json::json!({ "decision": "approval_required", "approval_id": approval_id, "rule": rule });
                tool_error(id, &text, structured)
            }
            GatewayAnswer::UnknownTool { name } => {
                jsonrpc::error_response(id, codes::INVALID_PARAMS, &format!("Unknown tool: {name}"))
            }
            GatewayAnswer::Error { code, message } => jsonrpc::error_response(id, *code, message),
        }
    }
}

/// A tool result with `isError: true` that the model can read: `text`, and `structured` for
/// programs. A request without an id cannot take a result: it gets the text as an error.
fn tool_error(id: Option<&RawValue>, text: &str, structured: serde_json::Value) -> Vec<u8> {
    let Some(id) = id else {
        return jsonrpc::error_response(None, codes::INVALID_REQUEST, text);
    };
    let result = serde_json::json!({
        "content": [{ "type": "text", "text": text }],
        "isError": true,
        "structuredContent": structured,
    });
    jsonrpc::result_response(id, &result.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn render(a: &GatewayAnswer) -> Value {
        let id = RawValue::from_string("\"r1\"".into()).unwrap();
        serde_json::from_slice(&a.to_response(Some(&id))).unwrap()
    }

    #[test]
    fn denial_is_a_tool_result_with_the_rule() {
        let v = render(&GatewayAnswer::ToolDenied {
            reason: "Opportunities above 1000 need a human.".into(),
            rule: "/tools/UpdateOneOpportunity/deny_if/0".into(),
            retry_after_s: None,
        });
        assert_eq!(v["id"], "r1");
        assert_eq!(v["result"]["isError"], true);
        assert_eq!(
            v["result"]["content"][0]["text"],
            "[POLICY DENIED] Opportunities above 1000 need a human."
        );
        assert_eq!(v["result"]["structuredContent"]["decision"], "deny");
        assert_eq!(
            v["result"]["structuredContent"]["rule"],
            "/tools/UpdateOneOpportunity/deny_if/0"
        );
        assert!(
            v["result"]["structuredContent"]
                .get("retry_after_s")
                .is_none()
        );
    }

    #[test]
    fn rate_limit_carries_retry_time() {
        let v = render(&GatewayAnswer::ToolDenied {
            reason: "limit".into(),
            rule: "/tools/x/limits/0".into(),
            retry_after_s: Some(12),
        });
        assert_eq!(v["result"]["structuredContent"]["retry_after_s"], 12);
    }

    #[test]
    fn unknown_tool_is_invalid_params() {
        let v = render(&GatewayAnswer::UnknownTool {
            name: "deleteOneCompany".into(),
        });
        assert_eq!(v["error"]["code"], -32602);
        assert_eq!(v["error"]["message"], "Unknown tool: deleteOneCompany");
    }
}
