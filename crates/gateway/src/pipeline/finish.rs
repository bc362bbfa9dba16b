//! The end of a forwarded request: the server's answer is read for the record (`ok`,
//! `tool_error`, `error <code>`), a tool list is filtered (and cached), an `initialize` answer
//! carries the server's instructions only as pinned, a list of prompts, resources or resource
//! templates leaves out those quarantined by their pins, quota goes back when the server answered
//! with an error or never answered, and the record is emitted.

use super::Pipeline;
use super::record::OpenRecord;
use super::target::Route;
use crate::aggregate::lists::ListKind;
use crate::server::ServerRuntime;
use crate::tools_cache::{self, CachedAnswer};
use crate::tools_list;
use bytes::Bytes;
use serde_json::value::RawValue;
use std::sync::Arc;
use toolgate_mcp::jsonrpc::{Kind, Message};
use toolgate_policy::Policy;
use toolgate_store::ReservationTicket;

/// A forwarded request: what its answer needs, and its record.
#[derive(Debug)]
pub(crate) struct Pending {
    work: Work,
    record: OpenRecord,
}

#[derive(Debug)]
pub(super) enum Work {
    /// Relayed as it is.
    Plain,
    /// A list of prompts, resources or templates: without what their pins withhold.
    PinnedList(ListKind),
    /// Drop hidden and quarantined tools from the result; keep it in the server's cache.
    ToolsList(Arc<Policy>, Option<CacheSlot>),
    /// A tool call holding quota, given back if the server answers with a JSON-RPC error.
    ToolCall(Option<ReservationTicket>),
    /// The server's `instructions` go to the client only as pinned (a change waits for an
    /// operator, like a changed tool).
    Initialize,
}

/// Where a forwarded listing's filtered answer is to be kept.
#[derive(Debug)]
pub(super) struct CacheSlot {
    server: Arc<ServerRuntime>,
    key: tools_cache::Key,
    generation: u64,
}

impl Pending {
    pub(super) fn new(work: Work, record: OpenRecord) -> Self {
        Pending { work, record }
    }
}

impl Pipeline {
    /// A `tools/list` answered from the server's cache, if it can be (its record is then
    /// emitted); otherwise the request goes on (`Err`), marked so that its answer is kept.
    // The request moves through once; boxing it to shrink the `Err` would allocate per request.
    #[allow(clippy::result_large_err)]
    pub(super) fn answer_from_cache(
        &self,
        mut pending: Pending,
        route: &Route,
        msg: &Message<'_>,
    ) -> Result<CachedAnswer, Pending> {
        let (Work::ToolsList(policy, slot @ None), Some((server, client)), Some(id)) =
            (&mut pending.work, route.cache.as_ref(), msg.id)
        else {
            return Err(pending);
        };
        let generation = self
            .enforcer
            .catalogue
            .as_deref()
            .map_or(0, |c| c.listing_generation());
        let key = tools_cache::Key::new(*client, cursor(msg).as_deref(), policy);
        if let Some(answer) = server.tools_cache.answer(&key, generation, id) {
            pending.record.close(Some("cached".into()));
            return Ok(answer);
        }
        *slot = Some(CacheSlot {
            server: server.clone(),
            key,
            generation,
        });
        Err(pending)
    }

    /// Applies a request's pending work to the server's answer, records it, and returns what
    /// the client gets.
    pub(super) async fn finish(&self, pending: Pending, response: Bytes) -> Bytes {
        let Pending { work, record } = pending;
        let (status, is_error) = upstream_status(&response);
        let out = match work {
            Work::Plain | Work::ToolCall(None) => response,
            Work::PinnedList(list) => match self.enforcer.catalogue.as_deref() {
                Some(c) => c.screen_list(&record.audit.server, list, response).await,
                None => response,
            },
            Work::Initialize => match self.enforcer.catalogue.as_deref() {
                Some(c) => c.screen_initialize(&record.audit.server, response),
                None => response,
            },
            Work::ToolCall(Some(ticket)) => {
                if is_error {
                    self.enforcer.release(&ticket).await;
                }
                response
            }
            Work::ToolsList(policy, slot) => {
                let pins = self.enforcer.catalogue.as_deref();
                let server = record.audit.server.as_str();
                let out = tools_list::filter_response(&policy, pins.map(|c| (c, server)), response);
                if let Some(c) = pins {
                    c.after_listing(server).await;
                }
                if let Some(slot) = slot {
                    (slot.server.tools_cache).store(slot.key, &policy, slot.generation, &out);
                }
                out
            }
        };
        record.close(Some(status));
        out
    }

    /// The request never got an answer from the server: its quota goes back, and it is
    /// recorded as `unavailable` with the reason.
    pub(super) async fn abandon(&self, pending: Pending, reason: &str) {
        let Pending { work, mut record } = pending;
        if let Work::ToolCall(Some(ticket)) = work {
            self.enforcer.release(&ticket).await;
        }
        record.audit.message = Some(reason.to_owned());
        record.close(Some("unavailable".into()));
    }
}

/// What the server's answer says, for the record: `ok`, `tool_error`, or `error <code>`; and
/// whether it was a JSON-RPC error.
fn upstream_status(response: &[u8]) -> (String, bool) {
    match Message::parse(response) {
        Ok(m) if m.kind == Kind::Error => {
            #[derive(serde::Deserialize)]
            struct E {
                code: Option<i64>,
            }
            let code = m
                .error
                .and_then(|e| serde_json::from_str::<E>(e.get()).ok())
                .and_then(|e| e.code);
            (format!("error {}", code.unwrap_or(0)), true)
        }
        Ok(m) if m.result.is_some_and(is_error_result) => ("tool_error".into(), false),
        Ok(_) => ("ok".into(), false),
        Err(_) => ("unreadable".into(), false),
    }
}

/// A tool result with `isError: true` (parsed only when the word appears at all).
fn is_error_result(result: &RawValue) -> bool {
    #[derive(serde::Deserialize)]
    struct R {
        #[serde(rename = "isError")]
        is_error: Option<bool>,
    }
    result.get().contains("isError")
        && serde_json::from_str::<R>(result.get()).is_ok_and(|r| r.is_error == Some(true))
}

/// The `cursor` of a `tools/list` request, if it asks for a later page.
fn cursor(msg: &Message<'_>) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Params {
        cursor: Option<String>,
    }
    serde_json::from_str::<Params>(msg.params?.get())
        .ok()?
        .cursor
}
