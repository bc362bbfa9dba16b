//! The one table that turns the gateway's own answers into JSON-RPC messages, so every denial,
//! rate limit and unknown tool looks the same on every transport (SPEC §3).
//!
//! A tool result the gateway makes answers for a tool it did not run, so it must be valid for
//! whatever `outputSchema` that tool declares: clients (the TypeScript SDK, the Inspector)
//! validate `structuredContent` even when `isError` is true. The reason goes in `content`, the
//! decision in `_meta` under [`DECISION_META_KEY`], and there is never a `structuredContent`.

use serde_json::value::RawValue;
use toolgate_mcp::jsonrpc::{self, codes};

/// The `_meta` key of a gateway-made tool result that holds its decision (`decision`, `rule`, and
/// `retry_after_s` or `approval_id`). A reverse-DNS prefix, as MCP asks of `_meta` keys that are
/// not its own; its second label is not one MCP reserves (`modelcontextprotocol`, `mcp`).
pub const DECISION_META_KEY: &str = "io.toolgate/decision";

/// How long a held call answered by a stopping gateway is told to wait before its retry.
pub const RESTART_RETRY_AFTER_S: u64 = 5;

/// The audit note of a held call answered because the gateway stopped.
pub fn restarting_note(approval_id: &str) -> String {
    format!(
        "the gateway stopped while approval {approval_id} was pending; the client was asked to retry"
    )
}

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
    /// A hidden or unknown tool: `-32602 Unknown tool`. `rule` is the `hide` pattern that hid it,
    /// for the audit log only: the agent cannot tell a hidden tool from one that does not exist.
    UnknownTool { name: String, rule: Option<String> },
    /// A call that waits for a person's approval (retry mode): a tool result with the approval
    /// id, telling the agent to retry the identical call once approved.
    ApprovalPending {
        tool: String,
        approval_id: String,
        rule: String,
        expires_in_s: u64,
    },
    /// A held call the gateway answers because it is stopping: a tool result telling the agent
    /// to retry the identical call shortly, which then waits for the same approval.
    Restarting {
        tool: String,
        approval_id: String,
        rule: String,
    },
    /// A request other than `tools/call` that reaches a server (a resource read, a prompt, a
    /// completion, a subscription), refused (by a kill switch): JSON-RPC error `-32001` with the
    /// reason, and the decision in `error.data` under [`DECISION_META_KEY`].
    MethodDenied { reason: String, rule: String },
    /// A list (`tools/list`, `prompts/list`, …) answered empty by the gateway, the server not
    /// being reached (a kill switch stops it); the decision, with the reason, in `_meta`.
    EmptyList {
        /// The member that holds the items: `tools`, `prompts`, `resources`, `resourceTemplates`.
        key: &'static str,
        reason: String,
        rule: String,
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
                let mut decision = serde_json::json!({ "decision": "deny", "rule": rule });
                if let Some(s) = retry_after_s {
                    decision["retry_after_s"] = (*s).into();
                }
                tool_error(id, &format!("[POLICY DENIED] {reason}"), decision)
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
                let decision = serde_json::json!({ "decision": "approval_required", "approval_id": approval_id, "rule": rule });
                tool_error(id, &text, decision)
            }
            GatewayAnswer::Restarting {
                tool,
                approval_id,
                rule,
            } => {
                let text = format!(
                    "[GATEWAY RESTARTING] toolgate is restarting; {tool} still waits for approval {approval_id}. \
                     Retry this identical call in a few seconds: it will wait for the same approval, or go ahead once it is approved."
                );
                let decision = serde_json::json!({ "decision": "approval_required", "approval_id": approval_id,
                    "rule": rule, "retry_after_s": RESTART_RETRY_AFTER_S });
                tool_error(id, &text, decision)
            }
            GatewayAnswer::UnknownTool { name, .. } => {
                jsonrpc::error_response(id, codes::INVALID_PARAMS, &format!("Unknown tool: {name}"))
            }
            GatewayAnswer::MethodDenied { reason, rule } => {
                let error = serde_json::json!({
                    "code": codes::POLICY_DENIED,
                    "message": format!("[POLICY DENIED] {reason}"),
                    "data": { DECISION_META_KEY: { "decision": "deny", "rule": rule } },
                });
                let id = id.map_or("null", RawValue::get);
                format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{error}}}"#).into_bytes()
            }
            GatewayAnswer::EmptyList { key, reason, rule } => {
                let Some(id) = id else {
                    return jsonrpc::error_response(None, codes::INVALID_REQUEST, reason);
                };
                let result = serde_json::json!({
                    *key: [],
                    "_meta": { DECISION_META_KEY: { "decision": "deny", "rule": rule, "reason": reason } },
                });
                jsonrpc::result_response(id, &result.to_string())
            }
            GatewayAnswer::Error { code, message } => jsonrpc::error_response(id, *code, message),
        }
    }

    /// The rule and the message an answer puts in the request's audit record.
    pub fn audit_note(&self) -> (Option<&str>, Option<&str>) {
        match self {
            GatewayAnswer::ToolDenied { reason, rule, .. }
            | GatewayAnswer::MethodDenied { reason, rule }
            | GatewayAnswer::EmptyList { reason, rule, .. } => (Some(rule), Some(reason)),
            GatewayAnswer::Error { message, .. } => (None, Some(message)),
            GatewayAnswer::UnknownTool { rule, .. } => (rule.as_deref(), None),
            GatewayAnswer::ApprovalPending { .. } | GatewayAnswer::Restarting { .. } => {
                (None, None)
            }
        }
    }
}

/// A tool result with `isError: true` that the model can read: `text`, and `decision` for
/// programs in `_meta`. A request without an id cannot take a result: it gets the text as an error.
fn tool_error(id: Option<&RawValue>, text: &str, decision: serde_json::Value) -> Vec<u8> {
    let Some(id) = id else {
        return jsonrpc::error_response(None, codes::INVALID_REQUEST, text);
    };
    let result = serde_json::json!({
        "content": [{ "type": "text", "text": text }],
        "isError": true,
        "_meta": { DECISION_META_KEY: decision },
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
        let decision = &v["result"]["_meta"][DECISION_META_KEY];
        assert_eq!(decision["decision"], "deny");
        assert_eq!(decision["rule"], "/tools/UpdateOneOpportunity/deny_if/0");
        assert!(decision.get("retry_after_s").is_none());
        assert!(v["result"].get("structuredContent").is_none());
    }

    #[test]
    fn rate_limit_carries_retry_time() {
        let v = render(&GatewayAnswer::ToolDenied {
            reason: "limit".into(),
            rule: "/tools/x/limits/0".into(),
            retry_after_s: Some(12),
        });
        assert_eq!(v["result"]["_meta"][DECISION_META_KEY]["retry_after_s"], 12);
        assert!(v["result"].get("structuredContent").is_none());
    }

    #[test]
    fn approval_pending_names_the_approval_in_meta() {
        let v = render(&GatewayAnswer::ApprovalPending {
            tool: "deleteOnePerson".into(),
            approval_id: "apv_1".into(),
            rule: "/tools/deleteOnePerson/action".into(),
            expires_in_s: 600,
        });
        assert_eq!(v["result"]["isError"], true);
        let decision = &v["result"]["_meta"][DECISION_META_KEY];
        assert_eq!(decision["decision"], "approval_required");
        assert_eq!(decision["approval_id"], "apv_1");
        assert_eq!(decision["rule"], "/tools/deleteOnePerson/action");
        assert!(v["result"].get("structuredContent").is_none());
    }

    #[test]
    fn a_denied_method_is_a_policy_error_naming_the_rule() {
        let v = render(&GatewayAnswer::MethodDenied {
            reason: "resources/read is stopped by the server kill switch: incident 42".into(),
            rule: "/kill_switch/server".into(),
        });
        assert_eq!(v["id"], "r1");
        assert_eq!(v["error"]["code"], -32001);
        assert_eq!(
            v["error"]["message"],
            "[POLICY DENIED] resources/read is stopped by the server kill switch: incident 42"
        );
        assert_eq!(
            v["error"]["data"][DECISION_META_KEY]["rule"],
            "/kill_switch/server"
        );
        assert!(v.get("result").is_none());
    }

    #[test]
    fn an_emptied_list_says_why_in_meta() {
        let v = render(&GatewayAnswer::EmptyList {
            key: "resourceTemplates",
            reason: "resources/templates/list is stopped by the global kill switch".into(),
            rule: "/kill_switch/global".into(),
        });
        assert_eq!(v["result"]["resourceTemplates"], serde_json::json!([]));
        let decision = &v["result"]["_meta"][DECISION_META_KEY];
        assert_eq!(decision["decision"], "deny");
        assert_eq!(decision["rule"], "/kill_switch/global");
        assert!(v["result"].get("nextCursor").is_none());
    }

    #[test]
    fn the_meta_key_follows_the_mcp_key_rules() {
        // Prefix: dot-separated labels (a letter first, a letter or digit last, hyphens inside)
        // then `/`; the second label may not be `modelcontextprotocol` or `mcp`.
        let (prefix, name) = DECISION_META_KEY.split_once('/').unwrap();
        let labels: Vec<&str> = prefix.split('.').collect();
        assert!(labels.iter().all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphabetic()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        }));
        assert!(!["modelcontextprotocol", "mcp"].contains(&labels[1]));
        assert!(name.bytes().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn unknown_tool_is_invalid_params() {
        let v = render(&GatewayAnswer::UnknownTool {
            name: "deleteOneCompany".into(),
            rule: Some("/hide/0".into()),
        });
        assert_eq!(v["error"]["code"], -32602);
        assert_eq!(v["error"]["message"], "Unknown tool: deleteOneCompany");
        assert!(
            !v.to_string().contains("hide"),
            "the rule is not the agent's: {v}"
        );
    }
}
