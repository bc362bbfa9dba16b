//! Connectors to upstream MCP servers: a supervised stdio child and a Streamable HTTP client.

pub mod bounded;
pub mod child_env;
pub mod client_caps;
pub mod http;
pub mod legacy_sse;
pub mod lines;
pub mod mux;
pub mod process;
pub mod rewrite;
pub mod shared;
pub mod stdin_queue;
pub mod stdio;
pub mod supervisor;

/// The largest message a server may send by default (`[limits] max_upstream_message_bytes`):
/// a tool result with a few screenshots or a large file fits several times over, and it is more
/// text than any model reads at once.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 << 20;

/// How much the gateway holds for one upstream server, and how long it waits for one to take
/// what it is sent (`docs/operations.md` says why each default is what it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerLimits {
    /// The largest message the server may send (a stdio line, an HTTP body, an SSE event); also
    /// what may wait for the client of one request before that request is cut off.
    pub max_message_bytes: usize,
    /// Bytes that may wait for a stdio server's stdin.
    pub stdin_queue_bytes: usize,
    /// A stdio server that takes no byte of its input for this long is cut off.
    pub write_timeout: std::time::Duration,
}

impl Default for PeerLimits {
    fn default() -> Self {
        PeerLimits {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            stdin_queue_bytes: stdin_queue::STDIN_QUEUE_BYTES,
            write_timeout: std::time::Duration::from_secs(30),
        }
    }
}

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
    #[error("{}", lines::too_long(server, *size, *limit))]
    TooLarge {
        server: String,
        /// When known.
        size: Option<usize>,
        limit: usize,
    },
    #[error(
        "server {server} is not reading its input: {queued} bytes wait for it, the limit is {limit}; it is cut off if it takes nothing for [limits] write_timeout"
    )]
    InputFull {
        server: String,
        queued: usize,
        limit: usize,
    },
    #[error(
        "the client did not take the messages of server {server} in time ({queued} bytes waiting, the limit is {limit}); the request is cut off"
    )]
    ClientTooSlow {
        server: String,
        queued: usize,
        limit: usize,
    },
}
