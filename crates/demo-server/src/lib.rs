//! The Twenty-like MCP server behind the `twenty-mcp` binary: 219 CRM tools, answered without an MCP SDK.
//!
//! The transports live in the binary (`src/bin/twenty-mcp`); everything a message means lives here, so that it
//! can be tested without a process and reused by tests that want the server in-process.

mod catalogue;
mod dispatch;
mod minify;

pub use catalogue::{Catalogue, FIXTURE};
pub use dispatch::{Handled, MessageKind, SUPPORTED_PROTOCOL_VERSIONS, TwentyServer};
