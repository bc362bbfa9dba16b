//! The gateway's catalogue of every server's tools: listing them from the server itself (so the
//! operator can review them before any client asks), classifying each by risk.

pub mod fetch;
