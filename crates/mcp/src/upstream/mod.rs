//! Connectors to upstream MCP servers: a supervised stdio child and a Streamable HTTP client.

pub mod child_env;
pub mod client_caps;
pub mod http;
pub mod legacy_sse;
pub mod mux;
pub mod process;
pub mod rewrite;
pub mod shared;
pub mod stdio;
pub mod supervisor;

/// Why an upstream could not carry a message.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot reach upstream {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("upstream answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("upstream session expired")]
    SessionExpired,
    #[error("upstream broke the protocol: {0}")]
    Protocol(String),
    #[error("upstream process is not running: {0}")]
    Closed(String),
    #[error("cannot start upstream command {command:?}: {reason}")]
    Spawn { command: String, reason: String },
    #[error(
        "server {server} already runs {limit} stdio children, its limit (servers.{server}.max_children); close idle sessions or raise the limit"
    )]
    TooManyChildren { server: String, limit: usize },
}
