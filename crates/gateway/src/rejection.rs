//! Every way the gateway refuses a request before its policy is asked — a header it will not
//! trust, a message it cannot read, a method it does not know, a session or server that is not
//! there, a caller who is not allowed — as one typed value with one HTTP status, one JSON-RPC
//! code and one message. Beside [`crate::wire`]'s table of the policy's answers, this is the
//! table of the gateway's refusals: a front never makes up an error of its own.

use crate::identity::AuthError;
use axum::response::IntoResponse;
use http::StatusCode;
use serde_json::value::RawValue;
use std::time::Duration;
use toolgate_mcp::jsonrpc::{self, EnvelopeError, codes};

/// A part of a message whose length the gateway bounds ([`crate::limits::names`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bounded {
    Method,
    Id,
    ProgressToken,
    /// The tool of a `tools/call`, the prompt of a `prompts/get`.
    Name,
}

impl Bounded {
    fn describe(self) -> &'static str {
        match self {
            Bounded::Method => "method name",
            Bounded::Id => "request id",
            Bounded::ProgressToken => "progress token",
            Bounded::Name => "tool or prompt name",
        }
    }
}

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
    /// A method, id, progress token or name longer than the gateway takes.
    TooLong {
        part: Bounded,
        bytes: usize,
        limit: usize,
    },
    /// The data plane holds `[limits] max_connections` connections.
    TooManyConnections { limit: usize },
    /// The peer's address holds `[limits] max_connections_per_address` connections.
    TooManyConnectionsFromAddress { limit: usize },
    /// The request's body did not arrive within `[limits] body_read_timeout`.
    BodyTimeout(Duration),
    /// The grant holds `[limits] sessions_per_grant` sessions.
    TooManySessions { grant: String, limit: usize },
    /// The session holds `[limits] streams_per_session` GET streams.
    TooManyStreams { limit: usize },
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
            // Without a readable id or method there is no request to answer.
            Rejection::TooLong {
                part: Bounded::Id | Bounded::Method,
                ..
            } => StatusCode::BAD_REQUEST,
            // A request with an id: the JSON-RPC error is its answer.
            Rejection::TooLong { .. } => StatusCode::OK,
            Rejection::TooManyConnections { .. }
            | Rejection::TooManyConnectionsFromAddress { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Rejection::TooManySessions { .. } | Rejection::TooManyStreams { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
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
            Rejection::TooLong {
                part: Bounded::Name | Bounded::ProgressToken,
                ..
            } => codes::INVALID_PARAMS,
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
            Rejection::TooLong { part, bytes, limit } => format!(
                "the {} is {bytes} bytes long; this gateway takes at most {limit}",
                part.describe()
            ),
            Rejection::TooManyConnections { limit } => format!(
                "the gateway holds {limit} connections, its limit ([limits] max_connections); retry shortly"
            ),
            Rejection::TooManyConnectionsFromAddress { limit } => format!(
                "your address holds {limit} connections to the gateway, its limit ([limits] max_connections_per_address); close idle connections or retry shortly"
            ),
            Rejection::BodyTimeout(t) => format!(
                "the request body did not arrive within {}s ([limits] body_read_timeout)",
                t.as_secs_f64()
            ),
            Rejection::TooManySessions { grant, limit } => format!(
                "grant {grant:?} holds {limit} open sessions, its limit ([limits] sessions_per_grant); end unused sessions (DELETE) or wait for idle ones to close"
            ),
            Rejection::TooManyStreams { limit } => format!(
                "this session holds {limit} GET streams, its limit ([limits] streams_per_session); close one first"
            ),
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

    /// The `[limits]` key a refusal of a cap names, if it is one.
    pub fn limit(&self) -> Option<&'static str> {
        Some(match self {
            Rejection::TooManyConnections { .. } => "max_connections",
            Rejection::TooManyConnectionsFromAddress { .. } => "max_connections_per_address",
            Rejection::BodyTimeout(_) => "body_read_timeout",
            Rejection::TooManySessions { .. } => "sessions_per_grant",
            Rejection::TooManyStreams { .. } => "streams_per_session",
            _ => return None,
        })
    }

    /// The JSON-RPC error response, answering request `id` when there is one.
    pub fn to_jsonrpc(&self, id: Option<&RawValue>) -> Vec<u8> {
        jsonrpc::error_response(id, self.code(), &self.message())
    }

    /// The whole HTTP response: status, challenge, JSON-RPC error (answering `id` when there is
    /// one).
    pub fn to_response(&self, id: Option<&RawValue>) -> axum::response::Response {
        let mut response = (
            self.status(),
            [(http::header::CONTENT_TYPE, "application/json")],
            self.to_jsonrpc(id),
        )
            .into_response();
        if let Some(challenge) = self.challenge() {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static(challenge),
            );
        }
        response
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
            (
                Rejection::TooLong {
                    part: Bounded::Name,
                    bytes: 1 << 20,
                    limit: 256,
                },
                200,
                -32602,
                "tool or prompt name is 1048576 bytes long; this gateway takes at most 256",
            ),
            (
                Rejection::TooLong {
                    part: Bounded::Id,
                    bytes: 300,
                    limit: 128,
                },
                400,
                -32600,
                "request id is 300 bytes",
            ),
            (
                Rejection::TooManyConnectionsFromAddress { limit: 512 },
                503,
                -32600,
                "max_connections_per_address",
            ),
            (
                Rejection::BodyTimeout(std::time::Duration::from_secs(30)),
                408,
                -32600,
                "within 30s ([limits] body_read_timeout)",
            ),
            (
                Rejection::TooManySessions {
                    grant: "ci".into(),
                    limit: 1000,
                },
                429,
                -32600,
                "grant \"ci\" holds 1000 open sessions",
            ),
            (
                Rejection::TooManyStreams { limit: 8 },
                429,
                -32600,
                "streams_per_session",
            ),
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
