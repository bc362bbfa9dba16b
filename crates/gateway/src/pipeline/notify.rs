//! Messages that are not requests: a client's notifications (screened, then passed on) and its
//! responses to the server's own requests (back to the server that asked), and the requests the
//! aggregate endpoint answers itself.

use super::Pipeline;
use super::record::OpenRecord;
use super::reply::Reply;
use super::target::{Context, Target};
use crate::screen::{Screened, screen};
use crate::upstream::UpstreamLink;
use bytes::Bytes;
use http::StatusCode;
use std::sync::Arc;
use toolgate_mcp::jsonrpc::{self, Message, codes};

impl Pipeline {
    /// A notification: a known one goes on, an unknown one is dropped (and logged), a request
    /// method sent without an id is refused and audited.
    pub(super) async fn notification(
        self: &Arc<Self>,
        cx: &Context<'_>,
        msg: &Message<'_>,
        body: Bytes,
    ) -> Reply {
        match screen(msg, cx.methods()) {
            Screened::Pass => {}
            Screened::Drop => {
                tracing::warn!(method = %msg.method(), "unknown notification dropped");
                return Reply::Accepted;
            }
            Screened::Refuse(rejection) => {
                let record = OpenRecord::new(self, cx.new_record(msg.method()));
                let refusal = self.refuse(record, &rejection, None);
                return Reply::Refused(rejection.status(), refusal);
            }
        }
        match &cx.target {
            Target::Aggregate { session, .. } => {
                crate::aggregate::route::notification(session, msg, body).await;
                Reply::Accepted
            }
            one => pass_on(one, body).await,
        }
    }

    /// A client's answer to a request its server sent.
    pub(super) async fn client_response(
        &self,
        cx: &Context<'_>,
        msg: &Message<'_>,
        body: Bytes,
    ) -> Reply {
        match &cx.target {
            Target::Aggregate { session, .. } => {
                crate::aggregate::route::client_response(session, msg, &body).await
            }
            one => pass_on(one, body).await,
        }
    }

    /// A request the aggregate endpoint answers itself.
    pub(super) async fn answer_locally(
        self: &Arc<Self>,
        cx: &Context<'_>,
        record: OpenRecord,
        msg: &Message<'_>,
    ) -> Reply {
        let Target::Aggregate { gw, session } = &cx.target else {
            unreachable!("only the aggregate endpoint answers requests itself")
        };
        Reply::Answer(crate::aggregate::local::answer(self, gw, session, record, msg).await)
    }
}

/// Passes a message on to the one server of `target` (not `/mcp`, which routes it).
async fn pass_on(target: &Target<'_>, body: Bytes) -> Reply {
    match target {
        Target::Session {
            session,
            protocol_version,
        } => send(&session.link, body, *protocol_version).await,
        Target::Direct(d) => send(&d.link, body, None).await,
        Target::Aggregate { .. } => unreachable!("the aggregate endpoint routes by member"),
    }
}

/// Passes a message on to the server: taken, or refused with why the server cannot take it.
pub(crate) async fn send(
    link: &UpstreamLink,
    body: Bytes,
    protocol_version: Option<&str>,
) -> Reply {
    match link.send(body, protocol_version).await {
        Ok(()) => Reply::Accepted,
        Err(e) => Reply::Refused(
            StatusCode::BAD_GATEWAY,
            jsonrpc::error_response(None, codes::UPSTREAM_UNAVAILABLE, &e.to_string()).into(),
        ),
    }
}
