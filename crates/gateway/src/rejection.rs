//! Every way the gateway refuses a request before its policy is asked — a header it will not
//! trust, a message it cannot read, a method it does not know, a session or server that is not
//! there, a caller who is not allowed — as one typed value with one HTTP status, one JSON-RPC
//! code and one message. Beside [`crate::wire`]'s table of the policy's answers, this is the
//! table of the gateway's refusals: a front never makes up an error of its own.

use crate::identity::AuthError;
use http::StatusCode;
use serde_json::value::RawValue;
use toolgate_mcp::jsonrpc::{self, EnvelopeError, codes};

/// A request refused before policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// A header security rests on came more than once.
    DuplicateHeader(&'static str),
    /// An HTTP/1.1 request without `Host`.
    MissingHost,
    /// A `Host` that is not the gateway's own (DNS rebinding).
    HostNotAllowed(String),
    /// A browser `Origin` that may not call the gateway (DNS rebinding).
    OriginNotAllowed,
    /// An `MCP-Protocol-Version` the gateway does not speak.
    UnsupportedProtocolVersion(String),
    /// A POST whose body is not declared as JSON.
    NotJson,
    /// A body that is not one unambiguous JSON-RPC message.
    Unreadable(EnvelopeError),
    /// A request whose method is not a client method of the negotiated protocol version.
    UnknownMethod(String),
    /// A method that takes an answer, sent without an `id`.
    RequestWithoutId(String),
    /// No credentials, wrong ones, or none that can be checked now.
    Unauthenticated(AuthError),
    /// `/mcp/<server>` for a server the configuration does not name.
    UnknownServer(String),
    /// A grant asking for a server it is not bound to.
    ServerNotGranted { grant: String, server: String },
    /// A request other than `initialize` without `Mcp-Session-Id`.
    SessionRequired,
    /// An `Mcp-Session-Id` the gateway does not know (or that belongs to someone else).
    UnknownSession,
}

impl Rejection {
    /// The HTTP status of the refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::DuplicateHeader(_)
            | Rejection::MissingHost
            | Rejection::UnsupportedProtocolVersion(_)
            | Rejection::Unreadable(_)
            | Rejection::RequestWithoutId(_)
            | Rejection::SessionRequired => StatusCode::BAD_REQUEST,
            Rejection::HostNotAllowed(_)
            | Rejection::OriginNotAllowed
            | Rejection::ServerNotGranted { .. } => StatusCode::FORBIDDEN,
            Rejection::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            // A readable request with an id: the JSON-RPC error is its answer.
            Rejection::UnknownMethod(_) => StatusCode::OK,
            Rejection::Unauthenticated(AuthError::Unavailable) => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Rejection::UnknownServer(_) | Rejection::UnknownSession => StatusCode::NOT_FOUND,
        }
    }

    /// The JSON-RPC error code of the refusal.
    pub fn code(&self) -> i64 {
        match self {
            Rejection::Unreadable(e) => e.code(),
            Rejection::UnknownMethod(_) => codes::METHOD_NOT_FOUND,
            _ => codes::INVALID_REQUEST,
        }
    }

    /// What the client is told: which header, message or name, and why.
    pub fn message(&self) -> String {
        match self {
            Rejection::DuplicateHeader(name) => {
                format!("the {name} header appears more than once: send it once")
            }
            Rejection::MissingHost => "an HTTP/1.1 request needs a Host header".to_owned(),
            Rejection::HostNotAllowed(host) => format!(
                "Host {host:?} is not this gateway's (DNS-rebinding protection); list it in [gateway] allowed_hosts"
            ),
            Rejection::OriginNotAllowed => "origin not allowed".to_owned(),
            Rejection::UnsupportedProtocolVersion(v) => format!(
                "MCP-Protocol-Version {v:?} is not supported; supported: {}",
                toolgate_mcp::SUPPORTED_PROTOCOL_VERSIONS.join(", ")
            ),
            Rejection::NotJson => "Content-Type must be application/json".to_owned(),
            Rejection::Unreadable(e) => e.to_string(),
            Rejection::UnknownMethod(m) => {
                format!("method not found: {m:?} is not an MCP method this gateway forwards")
            }
            Rejection::RequestWithoutId(m) => {
                format!("{m} is a request: send it with an id")
            }
            Rejection::Unauthenticated(e) => e.to_string(),
            Rejection::UnknownServer(name) => format!("no server named {name:?}"),
            Rejection::ServerNotGranted { grant, server } => {
                format!("grant {grant:?} may not reach server {server:?}")
            }
            Rejection::SessionRequired => {
                "missing Mcp-Session-Id: send initialize first".to_owned()
            }
            Rejection::UnknownSession => "session not found".to_owned(),
        }
    }

    /// The `WWW-Authenticate` challenge that goes with a 401 or 503 for credentials.
    pub fn challenge(&self) -> Option<&'static str> {
        match self {
            Rejection::Unauthenticated(AuthError::Missing) => Some("Bearer"),
            Rejection::Unauthenticated(_) => Some("Bearer error=\"invalid_token\""),
            _ => None,
        }
    }

    /// The JSON-RPC error response, answering request `id` when there is one.
    pub fn to_jsonrpc(&self, id: Option<&RawValue>) -> Vec<u8> {
        jsonrpc::error_response(id, self.code(), &self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn each_refusal_has_its_status_code_and_message() {
        let table = [
            (
                Rejection::DuplicateHeader("Authorization"),
                400,
                -32600,
                "Authorization header appears more than once",
            ),
            (Rejection::MissingHost, 400, -32600, "needs a Host header"),
            (
                Rejection::HostNotAllowed("evil.example".into()),
                403,
                -32600,
                "\"evil.example\" is not this gateway's",
            ),
            (
                Rejection::UnsupportedProtocolVersion("1999-01-01".into()),
                400,
                -32600,
                "2025-11-25",
            ),
            (
                Rejection::UnknownMethod("Tools/Call".into()),
                200,
                -32601,
                "\"Tools/Call\"",
            ),
            (
                Rejection::RequestWithoutId("tools/call".into()),
                400,
                -32600,
                "send it with an id",
            ),
            (
                Rejection::Unauthenticated(AuthError::Missing),
                401,
                -32600,
                "missing bearer token",
            ),
            (
                Rejection::Unauthenticated(AuthError::Unavailable),
                503,
                -32600,
                "cannot be checked",
            ),
            (
                Rejection::Unreadable(EnvelopeError::Json("x".into())),
                400,
                -32700,
                "invalid JSON",
            ),
            (Rejection::UnknownSession, 404, -32600, "session not found"),
        ];
        for (r, status, code, says) in table {
            assert_eq!(r.status().as_u16(), status, "{r:?}");
            assert_eq!(r.code(), code, "{r:?}");
            let v: Value = serde_json::from_slice(&r.to_jsonrpc(None)).unwrap();
            assert_eq!(v["error"]["code"], code);
            let message = v["error"]["message"].as_str().unwrap();
            assert!(message.contains(says), "{r:?}: {message}");
        }
    }

    #[test]
    fn an_unknown_method_answers_its_request() {
        let id = RawValue::from_string("7".into()).unwrap();
        let v: Value =
            serde_json::from_slice(&Rejection::UnknownMethod("x/y".into()).to_jsonrpc(Some(&id)))
                .unwrap();
        assert_eq!(v["id"], 7);
    }
}
