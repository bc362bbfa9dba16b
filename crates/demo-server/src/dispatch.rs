//! One JSON-RPC message in, at most one out: the MCP methods the Twenty-like server answers.
//!
//! The envelope is read with borrowed fields and the reply is written as text around the request's own `id`
//! and `arguments` bytes, so a call costs one parse of the envelope and no re-serialisation.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::catalogue::Catalogue;

/// Protocol revisions echoed back when a client asks for them; anything else gets the first.
pub const SUPPORTED_PROTOCOL_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

const PARSE_ERROR: i32 = -32700;
const INVALID_REQUEST: i32 = -32600;
const METHOD_NOT_FOUND: i32 = -32601;
const INVALID_PARAMS: i32 = -32602;

/// What the incoming message was, so a transport can choose its status code and session handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// An `initialize` request (answered successfully or not).
    Initialize,
    /// Any other request: it has an id and a method.
    Request,
    /// A notification: a method and no id. Never answered.
    Notification,
    /// A response to a request of ours: an id and no method. Never answered.
    Response,
    /// Not JSON, or not a JSON-RPC message; answered with an error whose id is null.
    Invalid,
}

/// The outcome of [`TwentyServer::handle`].
#[derive(Debug)]
pub struct Handled {
    pub kind: MessageKind,
    /// The complete JSON-RPC response, on one line; `None` for notifications and responses.
    pub reply: Option<String>,
}

/// The server: stateless apart from the catalogue, so one instance serves every session.
#[derive(Debug)]
pub struct TwentyServer {
    catalogue: Catalogue,
    server_info: String,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct InitializeParams<'a> {
    #[serde(borrow, default, rename = "protocolVersion")]
    protocol_version: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ListParams<'a> {
    #[serde(borrow, default)]
    cursor: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct CallParams<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
}

impl Default for TwentyServer {
    fn default() -> Self {
        Self::new(None)
    }
}

impl TwentyServer {
    /// A server over the embedded fixture; `page_size` paginates `tools/list`.
    pub fn new(page_size: Option<usize>) -> Self {
        Self::with_catalogue(Catalogue::new(page_size))
    }

    pub fn with_catalogue(catalogue: Catalogue) -> Self {
        let server_info = format!(
            "{{\"name\":\"twenty-like\",\"version\":\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        );
        Self {
            catalogue,
            server_info,
        }
    }

    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// Answers one JSON-RPC message.
    pub fn handle(&self, message: &[u8]) -> Handled {
        let envelope: Envelope<'_> = match serde_json::from_slice(message) {
            Ok(e) => e,
            Err(e) => {
                let code = if e.is_data() {
                    INVALID_REQUEST
                } else {
                    PARSE_ERROR
                };
                let text = if code == PARSE_ERROR {
                    "Parse error"
                } else {
                    "Invalid Request"
                };
                return Handled {
                    kind: MessageKind::Invalid,
                    reply: Some(error("null", code, text, None)),
                };
            }
        };
        let (id, method) = match (envelope.id, envelope.method) {
            (None, Some(_)) => {
                return Handled {
                    kind: MessageKind::Notification,
                    reply: None,
                };
            }
            (Some(_), None) => {
                return Handled {
                    kind: MessageKind::Response,
                    reply: None,
                };
            }
            (None, None) => {
                let reply = error("null", INVALID_REQUEST, "Invalid Request", None);
                return Handled {
                    kind: MessageKind::Invalid,
                    reply: Some(reply),
                };
            }
            (Some(id), Some(method)) => (id.get(), method),
        };
        let params = envelope.params.map(RawValue::get);
        let (kind, reply) = match method.as_ref() {
            "initialize" => (MessageKind::Initialize, self.initialize(id, params)),
            "ping" => (MessageKind::Request, result(id, "{}")),
            "tools/list" => (MessageKind::Request, self.list_tools(id, params)),
            "tools/call" => (MessageKind::Request, self.call_tool(id, params)),
            other => {
                let data = format!("{{\"method\":{}}}", json_string(other));
                (
                    MessageKind::Request,
                    error(id, METHOD_NOT_FOUND, "Method not found", Some(&data)),
                )
            }
        };
        Handled {
            kind,
            reply: Some(reply),
        }
    }

    fn initialize(&self, id: &str, params: Option<&str>) -> String {
        let asked = params
            .and_then(|p| serde_json::from_str::<InitializeParams<'_>>(p).ok())
            .and_then(|p| p.protocol_version);
        let version = match asked {
            Some(v) if SUPPORTED_PROTOCOL_VERSIONS.contains(&v.as_ref()) => v,
            _ => Cow::Borrowed(SUPPORTED_PROTOCOL_VERSIONS[0]),
        };
        let body = format!(
            "{{\"protocolVersion\":\"{version}\",\"capabilities\":{{\"tools\":{{\"listChanged\":false}}}},\"serverInfo\":{}}}",
            self.server_info
        );
        result(id, &body)
    }

    fn list_tools(&self, id: &str, params: Option<&str>) -> String {
        let cursor = match params.map(serde_json::from_str::<ListParams<'_>>) {
            None => None,
            Some(Ok(p)) => p.cursor,
            Some(Err(_)) => return error(id, INVALID_PARAMS, "Invalid params", None),
        };
        match self.catalogue.page(cursor.as_deref()) {
            Some(page) => result(id, page),
            None => error(
                id,
                INVALID_PARAMS,
                "Invalid params",
                Some("{\"reason\":\"unknown cursor\"}"),
            ),
        }
    }

    fn call_tool(&self, id: &str, params: Option<&str>) -> String {
        let Some(call) = params.and_then(|p| serde_json::from_str::<CallParams<'_>>(p).ok()) else {
            return error(
                id,
                INVALID_PARAMS,
                "Invalid params",
                Some("{\"reason\":\"expected {name, arguments}\"}"),
            );
        };
        let Some(tool) = self.catalogue.tool(&call.name) else {
            let name = json_string(&call.name);
            let data = format!("{{\"tool\":{name}}}");
            return error(
                id,
                INVALID_PARAMS,
                &format!("Unknown tool: {}", call.name),
                Some(&data),
            );
        };
        let arguments = match call.arguments.map(RawValue::get) {
            None | Some("null") => "{}",
            Some(raw) if raw.starts_with('{') => raw,
            Some(_) => {
                let data = format!(
                    "{{\"tool\":{},\"reason\":\"arguments must be an object\"}}",
                    tool.name_json
                );
                return error(id, INVALID_PARAMS, "Invalid params", Some(&data));
            }
        };
        if !tool.required.is_empty() {
            let present: HashMap<String, IgnoredAny> =
                serde_json::from_str(arguments).unwrap_or_default();
            let missing: Vec<&String> = tool
                .required
                .iter()
                .filter(|r| !present.contains_key(*r))
                .collect();
            if !missing.is_empty() {
                let list = serde_json::to_string(&missing).unwrap_or_else(|_| "[]".to_owned());
                let data = format!("{{\"tool\":{},\"missing\":{list}}}", tool.name_json);
                return error(id, INVALID_PARAMS, "Invalid params", Some(&data));
            }
        }
        let name = &tool.name_json[1..tool.name_json.len() - 1];
        let body = format!(
            "{{\"content\":[{{\"type\":\"text\",\"text\":\"{name} ok\"}}],\"structuredContent\":{{\"tool\":{},\"arguments\":{arguments}}}}}",
            tool.name_json
        );
        result(id, &body)
    }
}

fn result(id: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + id.len() + 32);
    out.push_str("{\"jsonrpc\":\"2.0\",\"id\":");
    out.push_str(id);
    out.push_str(",\"result\":");
    out.push_str(body);
    out.push('}');
    out
}

fn error(id: &str, code: i32, message: &str, data: Option<&str>) -> String {
    let mut out = String::with_capacity(96);
    let _ = write!(
        out,
        "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"error\":{{\"code\":{code},\"message\":{}",
        json_string(message)
    );
    if let Some(data) = data {
        out.push_str(",\"data\":");
        out.push_str(data);
    }
    out.push_str("}}");
    out
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{MessageKind, TwentyServer};

    fn ask(server: &TwentyServer, message: Value) -> (MessageKind, Option<Value>) {
        let handled = server.handle(message.to_string().as_bytes());
        let reply = handled.reply.map(|r| {
            assert!(!r.contains('\n'), "replies must fit on one line: {r}");
            serde_json::from_str(&r).expect("reply is JSON")
        });
        (handled.kind, reply)
    }

    #[test]
    fn initialize_echoes_a_supported_version_and_defaults_otherwise() {
        let s = TwentyServer::default();
        for (asked, expected) in [("2025-06-18", "2025-06-18"), ("2099-01-01", "2025-11-25")] {
            let (kind, reply) = ask(
                &s,
                json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":asked}}),
            );
            let reply = reply.unwrap();
            assert_eq!(kind, MessageKind::Initialize);
            assert_eq!(reply["result"]["protocolVersion"], expected);
            assert_eq!(reply["result"]["serverInfo"]["name"], "twenty-like");
            assert_eq!(
                reply["result"]["capabilities"],
                json!({"tools":{"listChanged":false}})
            );
        }
    }

    #[test]
    fn call_echoes_tool_and_arguments_and_keeps_the_id() {
        let s = TwentyServer::default();
        let args = json!({"id":"7", "depth":1});
        let (_, reply) = ask(
            &s,
            json!({"jsonrpc":"2.0","id":"abc","method":"tools/call","params":{"name":"findOneCompany","arguments":args}}),
        );
        let reply = reply.unwrap();
        assert_eq!(reply["id"], "abc");
        assert_eq!(reply["result"]["content"][0]["text"], "findOneCompany ok");
        assert_eq!(
            reply["result"]["structuredContent"],
            json!({"tool":"findOneCompany","arguments":args})
        );
    }

    #[test]
    fn invalid_calls_are_invalid_params() {
        let s = TwentyServer::default();
        for params in [
            json!({"name":"findOneCompany","arguments":{}}),
            json!({"name":"findOneCompany"}),
            json!({"name":"findManyCompanies","arguments":[1]}),
            json!({"name":"noSuchTool","arguments":{}}),
            json!({"arguments":{}}),
        ] {
            let (_, reply) = ask(
                &s,
                json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":params}),
            );
            assert_eq!(reply.unwrap()["error"]["code"], -32602, "{params}");
        }
    }

    #[test]
    fn notifications_and_responses_get_no_reply() {
        let s = TwentyServer::default();
        let (kind, reply) = ask(
            &s,
            json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        );
        assert_eq!((kind, reply), (MessageKind::Notification, None));
        let (kind, reply) = ask(&s, json!({"jsonrpc":"2.0","id":5,"result":{}}));
        assert_eq!((kind, reply), (MessageKind::Response, None));
    }

    #[test]
    fn unknown_methods_and_garbage_are_errors() {
        let s = TwentyServer::default();
        let (_, reply) = ask(
            &s,
            json!({"jsonrpc":"2.0","id":3,"method":"resources/list"}),
        );
        assert_eq!(reply.unwrap()["error"]["code"], -32601);
        let handled = s.handle(b"{not json");
        assert_eq!(handled.kind, MessageKind::Invalid);
        let reply: Value = serde_json::from_str(&handled.reply.unwrap()).unwrap();
        assert_eq!(
            (reply["id"].clone(), reply["error"]["code"].clone()),
            (Value::Null, json!(-32700))
        );
    }
}
