//! The gateway's HTTP surface: MCP endpoints and health probes.

pub mod aggregate;
pub mod headers;
pub mod health;
pub mod mcp;
pub mod origin;
pub mod parts_body;
pub mod posted;
pub mod respond;
#[cfg(test)]
mod tests;
