//! The gateway's own requests on a link (an aggregate member's handshake and listings, the
//! catalogue's listing session): one request, the messages before its answer dropped, the
//! answer's result or why there is none.

use super::UpstreamLink;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;
use serde_json::value::RawValue;
use std::sync::atomic::{AtomicU64, Ordering};
use toolgate_mcp::jsonrpc::{Kind, Message};
use toolgate_mcp::upstream::UpstreamError;

/// Ids the gateway uses for its own requests upstream; a prefix no client is expected to use.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> String {
    format!("\"toolgate-{}\"", NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

/// Why one of the gateway's own requests got no result.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{0}")]
    Link(#[from] UpstreamError),
    /// The server answered with a JSON-RPC error (its `error` object, as sent).
    #[error("{0}")]
    Refused(String),
    #[error("the server closed without answering {0}")]
    NoAnswer(String),
    #[error("the answer to {method} is not JSON: {detail}")]
    Malformed { method: String, detail: String },
}

impl UpstreamLink {
    /// Sends `method` with `params` (raw JSON) and returns the answer's `result`.
    pub async fn call(
        &self,
        method: &str,
        params: Option<&str>,
        pv: Option<&str>,
    ) -> Result<Value, CallError> {
        let id = next_id();
        let message = match params {
            Some(p) => format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{p}}}"#),
            None => format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}"}}"#),
        };
        let raw_id = RawValue::from_string(id).expect("a quoted id is JSON");
        let mut reply = self
            .request(Bytes::from(message), &raw_id, None, pv)
            .await?;
        while let Some(msg) = reply.messages.next().await {
            let msg = msg?;
            let Ok(parsed) = Message::parse(&msg) else {
                continue;
            };
            if !parsed.is_response() || parsed.id.map(RawValue::get) != Some(raw_id.get()) {
                continue;
            }
            return match parsed.kind {
                Kind::Result => serde_json::from_str(parsed.result.map_or("null", RawValue::get))
                    .map_err(|e| CallError::Malformed {
                        method: method.to_owned(),
                        detail: e.to_string(),
                    }),
                _ => Err(CallError::Refused(
                    parsed
                        .error
                        .map_or_else(|| "error".to_owned(), |e| e.get().to_owned()),
                )),
            };
        }
        Err(CallError::NoAnswer(method.to_owned()))
    }
}
