//! The caps that keep one client, grant or session from taking what the gateway shares — memory,
//! file descriptors, children, approvers' attention: names and ids of bounded length
//! ([`names`]), sessions per grant ([`sessions`]), GET streams per session ([`streams`]) and
//! pending approvals per grant (in [`crate::approvals`]). Connections and read timeouts are
//! the accept loop's ([`crate::conn`]); children per server the stdio pool's.
//!
//! Each refusal is a [`Rejection`] naming its `[limits]` key, and is audited when the caller
//! passed authentication — with oversized values shortened, so that the audit log stays bounded
//! too. The fronts call one function here at each point (the length screen is the pipeline's,
//! [`crate::pipeline::Pipeline::too_long`], so `wrap` has it too).

pub mod names;
pub mod sessions;
pub mod streams;

use crate::Gateway;
use crate::identity::Caller;
use crate::rejection::Rejection;
use crate::telemetry::{CallRecord, Outcome};
use axum::response::Response;
use toolgate_mcp::upstream::UpstreamError;

/// What one `[limits]` cap refusal puts in the audit log: the rule is `/limits/<key>`.
fn rule(key: &str) -> String {
    format!("/limits/{key}")
}

/// The per-grant and per-session counts the caps are checked against.
#[derive(Debug, Default)]
pub struct Counts {
    pub sessions: sessions::SessionCounts,
    pub streams: streams::StreamCounts,
}

/// Audits a cap's refusal of an authenticated request and returns the response for it.
fn refuse(
    gw: &Gateway,
    caller: &Caller,
    server: &str,
    session: Option<&str>,
    method: &str,
    key: &str,
    rejection: Rejection,
) -> Response {
    let mut record = audit_record(gw, caller, server, session, method);
    record.decided(Outcome::RateLimited);
    record.audit.rule = Some(rule(key));
    record.audit.message = Some(rejection.message());
    record.ended(None);
    gw.pipeline.telemetry.emit(record);
    tracing::warn!(server, agent = %caller.identity.agent, reason = %rejection.message(), "request refused by a limit");
    rejection.to_response(None)
}

/// Audits an `initialize` that could not open its upstream: refused by the server's cap on
/// children (`[servers.<name>] max_children`), or failed.
pub fn audit_failed_open(gw: &Gateway, caller: &Caller, server: &str, error: &UpstreamError) {
    let mut record = audit_record(gw, caller, server, None, "initialize");
    match error {
        UpstreamError::TooManyChildren { .. } => {
            record.decided(Outcome::RateLimited);
            record.audit.rule = Some(format!("/servers/{server}/max_children"));
        }
        _ => record.decided(Outcome::Invalid),
    }
    record.audit.message = Some(format!("server {server} is unavailable: {error}"));
    record.ended(Some("unavailable".into()));
    gw.pipeline.telemetry.emit(record);
}

fn audit_record(
    gw: &Gateway,
    caller: &Caller,
    server: &str,
    session: Option<&str>,
    method: &str,
) -> CallRecord {
    let policy_version = gw
        .state()
        .servers
        .get(server)
        .map(|s| caller.policy_for(s).version_hash().to_owned())
        .unwrap_or_default();
    CallRecord::new(
        caller,
        session.unwrap_or(""),
        server,
        method,
        &policy_version,
    )
}
