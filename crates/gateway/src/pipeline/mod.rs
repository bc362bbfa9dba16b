//! The one path every client message takes, whatever front it came through (`/mcp/<server>`,
//! `/mcp`, `toolgate wrap`). [`Pipeline::request`] is the whole life of a tool call, top to
//! bottom: open the record → screen the method → resolve the route → decide → hold → forward →
//! finish. The fronts only turn their transport into messages, and [`Reply`]s back into their
//! transport; none of them decides, forwards or audits by itself.

mod decide;
mod finish;
mod forward;
mod hold;
mod notify;
pub(crate) mod open;
pub(crate) mod record;
mod reply;
pub mod streams;
mod target;
#[cfg(test)]
mod tests;

pub(crate) use notify::send;
pub use reply::Reply;
pub use target::{Context, Direct, Target};
pub(crate) use target::{LinkHolder, Resolved, Rewrite, Route};

use crate::approvals::Approvals;
use crate::enforce::Enforcer;
use crate::identity::Caller;
use crate::limits::names;
use crate::rejection::Rejection;
use crate::screen::{Screened, screen};
use crate::telemetry::{CallRecord, Telemetry};
use bytes::Bytes;
use decide::Decision;
use hold::Resumption;
use record::OpenRecord;
use std::sync::Arc;
use toolgate_mcp::jsonrpc::{Kind, Message};

/// Decides, forwards and records every message: the policy engine, counters and kill switches
/// ([`Enforcer`]), the audit log ([`Telemetry`]) and the approval queue, in one place.
#[derive(Debug)]
pub struct Pipeline {
    pub(crate) enforcer: Enforcer,
    pub(crate) telemetry: Telemetry,
    pub(crate) approvals: Option<Arc<Approvals>>,
}

impl Pipeline {
    pub fn new(
        enforcer: Enforcer,
        telemetry: Telemetry,
        approvals: Option<Arc<Approvals>>,
    ) -> Self {
        Pipeline {
            enforcer,
            telemetry,
            approvals,
        }
    }

    /// A pipeline without a store (`toolgate wrap`): limits counted in `counters`, no audit
    /// log, no approvals (a call that needs one is refused), no kill switches.
    pub fn without_store(counters: Arc<dyn toolgate_store::CounterStore>) -> Self {
        let kill_switches = Arc::new(crate::kill_switch::KillSwitches::default());
        Pipeline::new(
            Enforcer::new(counters, kill_switches),
            Telemetry::default(),
            None,
        )
    }

    /// One message from a client, in the context its front established.
    pub async fn handle(
        self: &Arc<Self>,
        cx: &Context<'_>,
        msg: &Message<'_>,
        body: Bytes,
    ) -> Reply {
        match msg.kind {
            Kind::Request => self.request(cx, msg, body).await,
            Kind::Notification => self.notification(cx, msg, body).await,
            Kind::Result | Kind::Error => self.client_response(cx, msg, body).await,
        }
    }

    /// The life of a request.
    async fn request(self: &Arc<Self>, cx: &Context<'_>, msg: &Message<'_>, body: Bytes) -> Reply {
        let id = msg.id.expect("a request has an id");
        // 1. Open the record: from here on the request is audited exactly once, whatever happens.
        let mut record = OpenRecord::new(self, cx.new_record(msg.method()));
        // 2. Screen: a method the gateway does not know is refused, never forwarded.
        if let Screened::Refuse(rejection) = screen(msg, cx.methods()) {
            let refusal = self.refuse(record, &rejection, Some(id));
            return Reply::Refused(rejection.status(), refusal);
        }
        // 3. Resolve the route: which server and tool, and the bytes to send.
        let route = match cx.resolve(msg, body).await {
            Resolved::Route(route) => *route,
            Resolved::Answer(answer, outcome) => {
                return Reply::Answer(self.answer(record, outcome, answer, Some(id)));
            }
            Resolved::Local => return self.answer_locally(cx, record, msg).await,
        };
        record.on_route(&route);
        let then = Resumption {
            route,
            id: id.to_owned(),
            progress_token: msg.progress_token(),
            streams: cx.streams,
            upstream_timeout: cx.upstream_timeout,
        };
        // 4. Decide: kill switch, quarantine, policy, counters.
        let pending = match self.decide(record, cx.caller, &then.route, msg).await {
            Decision::Answered(answer) => return Reply::Answer(answer),
            Decision::Forward(pending) => pending,
            // 5. Hold for a person's approval when the policy asks for it; then forward.
            Decision::Hold(held) => return self.hold(held, then).await,
        };
        // 6. A tool list the cache can answer is not forwarded.
        let pending = match self.answer_from_cache(pending, &then.route, msg) {
            Ok(cached) => return Reply::Cached(cached),
            Err(pending) => pending,
        };
        // 7. Forward and relay; finish (filter lists, give quota back on errors) and emit.
        self.forward(pending, then).await
    }

    /// A message that could not be read at all (not declared as JSON, not JSON-RPC): refused,
    /// and audited under the caller who sent it.
    pub fn unreadable(
        self: &Arc<Self>,
        caller: &Caller,
        server: &str,
        rejection: &Rejection,
    ) -> Reply {
        let record = OpenRecord::new(self, CallRecord::new(caller, "", server, "", ""));
        Reply::Refused(rejection.status(), self.refuse(record, rejection, None))
    }

    /// A message with a method, id, progress token or tool name longer than the gateway takes:
    /// refused before anything else reads it (no session lookup, no metric label) and audited
    /// under a shortened method. An id within bounds is answered; an oversized one is not echoed.
    pub fn too_long(
        self: &Arc<Self>,
        caller: &Caller,
        server: &str,
        msg: &Message<'_>,
    ) -> Option<Reply> {
        let rejection = names::check(msg).err()?;
        let method = names::shortened(msg.method(), names::MAX_METHOD_BYTES);
        let record = OpenRecord::new(self, CallRecord::new(caller, "", server, &method, ""));
        tracing::warn!(server, agent = %caller.identity.agent, reason = %rejection.message(), "request refused");
        let id = msg.id.filter(|id| id.get().len() <= names::MAX_ID_BYTES);
        Some(Reply::Refused(
            rejection.status(),
            self.refuse(record, &rejection, id),
        ))
    }

    /// A request without a session: only `server/discover` is answered (and audited); anything
    /// else needs a session first.
    pub fn sessionless(
        self: &Arc<Self>,
        caller: &Caller,
        server: &str,
        msg: &Message<'_>,
    ) -> Option<Reply> {
        (msg.method() == "server/discover").then(|| {
            let record =
                OpenRecord::new(self, CallRecord::new(caller, "", server, msg.method(), ""));
            Reply::Answer(self.discover(record, msg.id))
        })
    }
}
