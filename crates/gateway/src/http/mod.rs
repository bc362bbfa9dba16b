//! The gateway's HTTP surface: MCP endpoints and health probes.

pub mod mcp;
pub mod origin;
