//! A borrowed view of one JSON-RPC 2.0 message: just enough to route and police it, while the
//! original bytes are what gets forwarded.
//!
//! Parsing is strict where ambiguity could let a message slip past policy: duplicate top-level
//! keys, a wrong `jsonrpc` tag, an id that is neither a string nor an integer, or a message that
//! is at once a request and a response are all rejected.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Standard JSON-RPC error codes used by the gateway.
pub mod codes {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;
    /// Denied by policy (non-tool methods).
    pub const POLICY_DENIED: i64 = -32001;
    /// The upstream server could not be reached or failed.
    pub const UPSTREAM_UNAVAILABLE: i64 = -32002;
    /// The gateway rejected the request for a reason of its own (limits, shutdown).
    pub const GATEWAY_ERROR: i64 = -32003;
}

/// What a message is, decided from which members it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    Notification,
    /// A response carrying `result`.
    Result,
    /// A response carrying `error`.
    Error,
}

/// One parsed message. Borrowed from the buffer it was read from.
#[derive(Debug)]
pub struct Message<'a> {
    pub kind: Kind,
    /// The raw id (`"abc"` with quotes, or `7`) for requests and responses.
    pub id: Option<&'a RawValue>,
    pub method: Option<Cow<'a, str>>,
    pub params: Option<&'a RawValue>,
    pub result: Option<&'a RawValue>,
    pub error: Option<&'a RawValue>,
}

/// Why a message could not be read unambiguously.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("batches are not supported: send one JSON-RPC message per request")]
    Batch,
    #[error("not a JSON-RPC 2.0 message: \"jsonrpc\" must be \"2.0\"")]
    Version,
    #[error("invalid id: a JSON-RPC id must be a string or an integer")]
    Id,
    #[error("ambiguous message: {0}")]
    Ambiguous(&'static str),
}

impl EnvelopeError {
    /// The JSON-RPC error code a client should get for this failure.
    pub fn code(&self) -> i64 {
        match self {
            EnvelopeError::Json(_) => codes::PARSE_ERROR,
            _ => codes::INVALID_REQUEST,
        }
    }
}

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "borrowed_str")]
    method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

/// A string borrowed from the message when it has no escapes (`Cow::Borrowed`), so that a
/// method written with escapes can be told from one written as its plain name; serde's own
/// `Option<Cow<str>>` always copies.
fn borrowed_str<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct Text;
    impl<'de> serde::de::Visitor<'de> for Text {
        type Value = Cow<'de, str>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v))
        }
    }
    d.deserialize_str(Text).map(Some)
}

/// Keeps an explicit `null` as `Some("null")` so that `"id": null` is not mistaken for a
/// notification and `"result": null` still counts as a result.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

impl<'a> Message<'a> {
    /// Parses one message. Duplicate keys at the top level are an error (serde rejects a
    /// repeated field), so two `method`s or two `params` can never disagree.
    pub fn parse(bytes: &'a [u8]) -> Result<Message<'a>, EnvelopeError> {
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'[') {
            return Err(EnvelopeError::Batch);
        }
        let wire: Wire<'a> =
            serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Json(e.to_string()))?;
        if wire.jsonrpc.as_deref() != Some("2.0") {
            return Err(EnvelopeError::Version);
        }
        if let Some(id) = wire.id {
            if !is_valid_id(id) {
                return Err(EnvelopeError::Id);
            }
        }
        let kind = match (&wire.method, wire.id, wire.result, wire.error) {
            (Some(_), _, Some(_), _) | (Some(_), _, _, Some(_)) => {
                return Err(EnvelopeError::Ambiguous("both a method and a result/error"));
            }
            (Some(_), Some(_), None, None) => Kind::Request,
            (Some(_), None, None, None) => Kind::Notification,
            (None, _, Some(_), Some(_)) => {
                return Err(EnvelopeError::Ambiguous("both a result and an error"));
            }
            (None, Some(_), Some(_), None) => Kind::Result,
            (None, _, None, Some(_)) => Kind::Error,
            (None, None, Some(_), None) => {
                return Err(EnvelopeError::Ambiguous("a result without an id"));
            }
            (None, _, None, None) => {
                return Err(EnvelopeError::Ambiguous("neither a method nor a result"));
            }
        };
        if kind != Kind::Error && wire.id.is_some_and(|id| id.get() == "null") {
            return Err(EnvelopeError::Id);
        }
        Ok(Message {
            kind,
            id: wire.id,
            method: wire.method,
            params: wire.params,
            result: wire.result,
            error: wire.error,
        })
    }

    pub fn method(&self) -> &str {
        self.method.as_deref().unwrap_or("")
    }

    pub fn is_response(&self) -> bool {
        matches!(self.kind, Kind::Result | Kind::Error)
    }

    /// The progress token a request carries in `params._meta.progressToken`, as raw JSON.
    pub fn progress_token(&self) -> Option<Box<RawValue>> {
        #[derive(Deserialize)]
        struct P<'a> {
            #[serde(borrow, rename = "_meta")]
            meta: Option<M<'a>>,
        }
        #[derive(Deserialize)]
        struct M<'a> {
            #[serde(borrow, rename = "progressToken")]
            token: Option<&'a RawValue>,
        }
        let p: P<'_> = serde_json::from_str(self.params?.get()).ok()?;
        p.meta?.token.map(|t| t.to_owned())
    }
}

/// A JSON-RPC id must be a string or an integer (MCP forbids null for requests).
fn is_valid_id(id: &RawValue) -> bool {
    let s = id.get();
    match s.as_bytes().first() {
        Some(b'"') => true,
        Some(b'-' | b'0'..=b'9') => s.parse::<i64>().is_ok() || s.parse::<u64>().is_ok(),
        Some(b'n') => s == "null",
        _ => false,
    }
}

/// Builds a JSON-RPC error response for the given raw id (`null` when the id is unknown).
pub fn error_response(id: Option<&RawValue>, code: i64, message: &str) -> Vec<u8> {
    let id = id.map(RawValue::get).unwrap_or("null");
    let mut out = Vec::with_capacity(64 + message.len());
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b",\"error\":{\"code\":");
    out.extend_from_slice(code.to_string().as_bytes());
    out.extend_from_slice(b",\"message\":");
    out.extend_from_slice(
        serde_json::to_string(message)
            .unwrap_or_default()
            .as_bytes(),
    );
    out.extend_from_slice(b"}}");
    out
}

/// Builds a JSON-RPC result response around an already serialised result.
pub fn result_response(id: &RawValue, result: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + result.len());
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.get().as_bytes());
    out.extend_from_slice(b",\"result\":");
    out.extend_from_slice(result.as_bytes());
    out.push(b'}');
    out
}

/// Canonical key for an id, so `"1"` and `1` stay distinct but equal ids compare equal.
pub fn id_key(id: &RawValue) -> String {
    id.get().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Kind, EnvelopeError> {
        Message::parse(s.as_bytes()).map(|m| m.kind)
    }

    #[test]
    fn a_plain_method_is_borrowed_an_escaped_one_is_not() {
        let plain = Message::parse(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#).unwrap();
        assert!(matches!(plain.method, Some(Cow::Borrowed("tools/call"))));
        let escaped =
            Message::parse(br#"{"jsonrpc":"2.0","id":1,"method":"tools\/call"}"#).unwrap();
        assert!(matches!(escaped.method, Some(Cow::Owned(_))));
        assert_eq!(escaped.method(), "tools/call");
    }

    #[test]
    fn kinds() {
        assert_eq!(
            parse(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            Ok(Kind::Request)
        );
        assert_eq!(
            parse(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Ok(Kind::Notification)
        );
        assert_eq!(
            parse(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#),
            Ok(Kind::Result)
        );
        assert_eq!(
            parse(r#"{"jsonrpc":"2.0","id":"a","result":null}"#),
            Ok(Kind::Result)
        );
        assert_eq!(
            parse(r#"{"jsonrpc":"2.0","id":null,"error":{"code":1,"message":"x"}}"#),
            Ok(Kind::Error)
        );
    }

    #[test]
    fn rejects_what_it_cannot_read_unambiguously() {
        assert_eq!(
            parse(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#),
            Err(EnvelopeError::Batch)
        );
        assert_eq!(
            parse(r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#),
            Err(EnvelopeError::Version)
        );
        assert_eq!(
            parse(r#"{"id":1,"method":"ping"}"#),
            Err(EnvelopeError::Version)
        );
        assert_eq!(
            parse(r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#),
            Err(EnvelopeError::Id)
        );
        assert_eq!(
            parse(r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#),
            Err(EnvelopeError::Id)
        );
        assert_eq!(
            parse(r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#),
            Err(EnvelopeError::Id)
        );
        assert!(matches!(
            parse(r#"{"jsonrpc":"2.0","id":1,"method":"a","result":1}"#),
            Err(EnvelopeError::Ambiguous(_))
        ));
        assert!(matches!(
            parse(r#"{"jsonrpc":"2.0","id":1}"#),
            Err(EnvelopeError::Ambiguous(_))
        ));
        // Two methods: a policy could read one and the upstream the other.
        assert!(matches!(
            parse(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}"#),
            Err(EnvelopeError::Json(_))
        ));
        assert!(matches!(parse("{not json"), Err(EnvelopeError::Json(_))));
    }

    #[test]
    fn escaped_method_names_are_decoded() {
        let m = Message::parse(br#"{"jsonrpc":"2.0","id":1,"method":"tools\/call"}"#).unwrap();
        assert_eq!(m.method(), "tools/call");
    }

    #[test]
    fn progress_token() {
        let m = Message::parse(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":{"progressToken":"t1"}}}"#,
        )
        .unwrap();
        assert_eq!(m.progress_token().unwrap().get(), "\"t1\"");
    }

    #[test]
    fn builds_responses() {
        let id = RawValue::from_string("7".into()).unwrap();
        let e = error_response(Some(&id), codes::INVALID_PARAMS, "Unknown tool: \"x\"");
        let v: serde_json::Value = serde_json::from_slice(&e).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["error"]["code"], -32602);
        assert_eq!(v["error"]["message"], "Unknown tool: \"x\"");
        let r = result_response(&id, r#"{"ok":true}"#);
        let v: serde_json::Value = serde_json::from_slice(&r).unwrap();
        assert_eq!(v["result"]["ok"], true);
    }
}
