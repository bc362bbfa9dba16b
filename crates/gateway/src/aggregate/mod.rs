//! `/mcp`: every server a grant may reach behind one endpoint. Tools and prompts are namespaced
//! `<server>__<name>`, resource URIs `<server>+<uri>`; lists are merged (each upstream's pages
//! followed, the merged list paginated again); calls are routed to the server that owns the name
//! and decided by that server's policy, under the upstream's own tool name.

pub mod lists;
pub(crate) mod local;
pub mod member;
pub mod names;
pub mod rewrite;
pub(crate) mod route;
pub mod session;
