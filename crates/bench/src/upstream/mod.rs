//! The protocol core of `bench-upstream`, shared by its HTTP and stdio transports.
//!
//! Every answer is a pre-built head that ends with `"id":` (the `result` comes before the `id`)
//! followed by a short tail, the request's id spliced in as it was written and a closing brace.
//! The 220-tool `tools/list` result and the `tools/call` result are serialised once at start, so
//! a request costs one borrowed parse of its envelope and a copy of its id.

pub mod http;
pub mod stdio;

use std::collections::HashSet;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::catalogue;

/// Protocol versions answered as asked; any other is answered with the first.
pub const PROTOCOL_VERSIONS: [&str; 4] = ["2025-06-18", "2025-11-25", "2025-03-26", "2024-11-05"];

/// The text of every `tools/call` result.
pub const CALL_TEXT: &str = "ok";

/// What to send back for one incoming message.
#[derive(Debug)]
pub enum Reply {
    /// A notification or a response from the client: nothing to answer (HTTP 202).
    Accepted,
    /// A JSON-RPC response: `head` then `tail`, as one JSON object.
    Message {
        head: Bytes,
        tail: Bytes,
        /// The message was `initialize` (HTTP issues a session id).
        initialize: bool,
    },
}

impl Reply {
    /// The response as one buffer (tests and diagnostics; the transports write both parts).
    pub fn to_vec(&self) -> Option<Vec<u8>> {
        match self {
            Reply::Accepted => None,
            Reply::Message { head, tail, .. } => Some([&head[..], &tail[..]].concat()),
        }
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<&'a str>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct CallParams<'a> {
    #[serde(borrow)]
    name: &'a str,
}

#[derive(Deserialize)]
struct InitializeParams<'a> {
    #[serde(rename = "protocolVersion", borrow, default)]
    protocol_version: Option<&'a str>,
}

/// Answers MCP messages from pre-built parts.
#[derive(Debug)]
pub struct Responder {
    list_head: Bytes,
    call_head: Bytes,
    ping_head: Bytes,
    tools: HashSet<String>,
}

impl Default for Responder {
    fn default() -> Self {
        Self::new()
    }
}

impl Responder {
    /// Serialises the catalogue and the fixed results.
    pub fn new() -> Self {
        let list_head = format!(
            r#"{{"jsonrpc":"2.0","result":{},"id":"#,
            catalogue::list_result_json()
        );
        let call_head = format!(
            r#"{{"jsonrpc":"2.0","result":{{"content":[{{"type":"text","text":"{CALL_TEXT}"}}],"isError":false}},"id":"#
        );
        let mut tools: HashSet<String> = catalogue::twenty_tool_names().into_iter().collect();
        tools.insert(catalogue::ECHO.to_owned());
        Responder {
            list_head: Bytes::from(list_head),
            call_head: Bytes::from(call_head),
            ping_head: Bytes::from_static(br#"{"jsonrpc":"2.0","result":{},"id":"#),
            tools,
        }
    }

    /// The answer to one JSON-RPC message (one HTTP body or one stdio line).
    pub fn handle(&self, body: &[u8]) -> Reply {
        let Ok(env) = serde_json::from_slice::<Envelope<'_>>(body) else {
            return error(None, -32700, "Parse error");
        };
        let (Some(id), Some(method)) = (env.id, env.method) else {
            // A notification (no id) or a response to the server (no method).
            return Reply::Accepted;
        };
        let id = id.get().as_bytes();
        match method {
            "tools/call" => {
                let name = env
                    .params
                    .and_then(|p| serde_json::from_str::<CallParams<'_>>(p.get()).ok())
                    .map(|p| p.name);
                match name {
                    Some(n) if self.tools.contains(n) => message(self.call_head.clone(), id, false),
                    Some(n) => error(Some(id), -32602, &format!("Unknown tool: {n}")),
                    None => error(Some(id), -32602, "Invalid params: missing tool name"),
                }
            }
            "tools/list" => message(self.list_head.clone(), id, false),
            "ping" => message(self.ping_head.clone(), id, false),
            "initialize" => {
                let asked = env
                    .params
                    .and_then(|p| serde_json::from_str::<InitializeParams<'_>>(p.get()).ok())
                    .and_then(|p| p.protocol_version);
                let version = PROTOCOL_VERSIONS
                    .iter()
                    .find(|v| Some(**v) == asked)
                    .unwrap_or(&PROTOCOL_VERSIONS[0]);
                let head = format!(
                    r#"{{"jsonrpc":"2.0","result":{{"protocolVersion":"{version}","capabilities":{{"tools":{{"listChanged":false}}}},"serverInfo":{{"name":"bench-upstream","version":"{}"}}}},"id":"#,
                    env!("CARGO_PKG_VERSION")
                );
                message(Bytes::from(head), id, true)
            }
            _ => error(Some(id), -32601, "Method not found"),
        }
    }
}

fn message(head: Bytes, id: &[u8], initialize: bool) -> Reply {
    let mut tail = Vec::with_capacity(id.len() + 1);
    tail.extend_from_slice(id);
    tail.push(b'}');
    Reply::Message {
        head,
        tail: Bytes::from(tail),
        initialize,
    }
}

fn error(id: Option<&[u8]>, code: i32, text: &str) -> Reply {
    let head = format!(
        r#"{{"jsonrpc":"2.0","error":{{"code":{code},"message":{}}},"id":"#,
        serde_json::Value::from(text)
    );
    message(Bytes::from(head), id.unwrap_or(b"null"), false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn answer(r: &Responder, msg: Value) -> Value {
        let reply = r.handle(msg.to_string().as_bytes());
        serde_json::from_slice(&reply.to_vec().expect("a response")).expect("JSON")
    }

    #[test]
    fn answers_the_methods_it_knows() {
        let r = Responder::new();
        let init = answer(
            &r,
            json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
        );
        assert_eq!(init["id"], 0);
        assert_eq!(init["result"]["protocolVersion"], "2025-03-26");
        let list = answer(&r, json!({"jsonrpc":"2.0","id":"a","method":"tools/list"}));
        assert_eq!(list["id"], "a");
        assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 220);
        let call = answer(
            &r,
            json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}),
        );
        assert_eq!(call["id"], 7);
        assert_eq!(call["result"]["content"][0]["text"], CALL_TEXT);
        let twenty = answer(
            &r,
            json!({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"UpdateOneOpportunity","arguments":{}}}),
        );
        assert_eq!(twenty["result"]["isError"], false);
        let unknown = answer(
            &r,
            json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"nope"}}),
        );
        assert_eq!(unknown["error"]["code"], -32602);
        let other = answer(
            &r,
            json!({"jsonrpc":"2.0","id":10,"method":"resources/list"}),
        );
        assert_eq!(other["error"]["code"], -32601);
        let bad: Value = serde_json::from_slice(&r.handle(b"{").to_vec().unwrap()).unwrap();
        assert_eq!(bad["error"]["code"], -32700);
        assert_eq!(bad["id"], Value::Null);
    }

    #[test]
    fn notifications_and_responses_are_accepted() {
        let r = Responder::new();
        for m in [
            json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
            json!({"jsonrpc":"2.0","id":3,"result":{}}),
        ] {
            assert!(matches!(
                r.handle(m.to_string().as_bytes()),
                Reply::Accepted
            ));
        }
    }
}
