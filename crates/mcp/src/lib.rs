//! The parts of the Model Context Protocol the gateway has to look into, and the connectors that
//! carry messages to upstream servers. Knows nothing about policy: it reads envelopes, frames
//! messages and moves bytes.

pub mod jsonrpc;
pub mod methods;
pub mod secrets;
pub mod sse;
pub mod tool_call;
pub mod upstream;

/// Protocol versions the gateway speaks on its client side, newest first.
pub const SUPPORTED_PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];

/// The header that carries the session id in Streamable HTTP.
pub const SESSION_HEADER: &str = "mcp-session-id";
/// The header that carries the negotiated protocol version in Streamable HTTP.
pub const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";
