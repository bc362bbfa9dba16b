//! The Twenty-like MCP server shipped with toolgate: 219 CRM tools (the catalogue of the Twenty CRM
//! MCP server, in `fixtures/`), answered without an MCP SDK. `toolgate demo` runs it over stdio
//! (`toolgate demo-server`) so a newcomer has a realistic server behind the gateway with nothing
//! to install; the tests and the load benchmark run it as testkit's `twenty-mcp` binary.
//!
//! Everything a message means lives here, so that it can be tested without a process; the
//! transports are [`stdio`] and, in testkit's binary, Streamable HTTP.

mod catalogue;
mod dispatch;
mod minify;
pub mod stdio;

pub use catalogue::{Catalogue, FIXTURE};
pub use dispatch::{Handled, MessageKind, SUPPORTED_PROTOCOL_VERSIONS, TwentyServer};
