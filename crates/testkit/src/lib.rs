//! Test support for toolgate: the 219-tool Twenty-like server as a binary (stdio and HTTP), and bounded helpers
//! that start real third-party MCP servers and run real third-party MCP clients against the gateway.
//!
//! The third-party peers are installed by `bash peers/setup.sh` into `<repo>/.peers` (or `$TOOLGATE_PEERS`).
//! Every helper that waits has a timeout and every process it starts dies with its guard, so a hung peer fails
//! a test instead of hanging CI. Helpers panic with a readable message: they are for tests only.
//!
//! ```no_run
//! use toolgate_testkit::{McpClient, spawn_twenty_http};
//!
//! let twenty = spawn_twenty_http(None);
//! let out = McpClient::python_http(&twenty.url).call("findOneCompany", serde_json::json!({"id": "1"})).run();
//! out.assert_exit(0);
//! assert_eq!(out.events_named("tools")[0]["count"], 219);
//! ```

mod child;
mod client;
mod command;
mod net;
mod paths;
mod servers;
mod twenty_bin;

/// The Twenty-like server itself lives in its own crate, shipped with toolgate for `toolgate demo`.
pub use toolgate_demo_server as twenty;

pub use child::ChildGuard;
pub use client::{McpClient, conformance, inspector_cli};
pub use command::{PeerCommand, PeerOutput};
pub use net::{free_port, wait_for_port};
pub use paths::{node22_bin, peers_dir, python_bin, repo_root};
pub use servers::{
    HttpPeer, capability_server_stdio_command, fastmcp_stdio_command,
    server_everything_stdio_command, spawn_announced, spawn_capability_server_http,
    spawn_fastmcp_http, spawn_server_everything_http, spawn_twenty_http,
    spawn_twenty_http_echoing_headers, twenty_stdio_command,
};
pub use twenty_bin::twenty_mcp_bin;
