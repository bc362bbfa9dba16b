//! What the pipeline gives a front to send back, whatever its transport: the answer, the
//! messages that lead to it, nothing (a notification taken), or a refusal before policy.

use crate::tools_cache::CachedAnswer;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http::StatusCode;

pub enum Reply {
    /// The answer: one JSON-RPC response.
    Answer(Bytes),
    /// The answer from the server's tool-list cache, in the parts it is kept as.
    Cached(CachedAnswer),
    /// Messages for the client, the answer (or the error that ends the request) last: the
    /// server sent requests or notifications first, or the call is held with progress.
    Stream(BoxStream<'static, Bytes>),
    /// A notification or a client's response, taken: nothing to answer.
    Accepted,
    /// Not taken: a JSON-RPC error without an answer to a request, and the HTTP status that
    /// goes with it.
    Refused(StatusCode, Bytes),
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Answer(b) => write!(f, "Answer({b:?})"),
            Reply::Cached(_) => write!(f, "Cached"),
            Reply::Stream(_) => write!(f, "Stream"),
            Reply::Accepted => write!(f, "Accepted"),
            Reply::Refused(s, b) => write!(f, "Refused({s}, {b:?})"),
        }
    }
}

impl Reply {
    /// Every message the client gets, in order (a stdio client takes them one per line).
    pub fn into_messages(self) -> BoxStream<'static, Bytes> {
        let one = |b: Bytes| futures_util::stream::once(async move { b }).boxed();
        match self {
            Reply::Answer(b) | Reply::Refused(_, b) => one(b),
            Reply::Cached(c) => one(c.parts.concat().into()),
            Reply::Stream(s) => s,
            Reply::Accepted => futures_util::stream::empty().boxed(),
        }
    }

    /// Whether the reply is a JSON-RPC error (an `initialize` answered so leaves no session).
    pub fn is_error(&self) -> bool {
        match self {
            Reply::Answer(b) => toolgate_mcp::jsonrpc::Message::parse(b)
                .is_ok_and(|m| m.kind == toolgate_mcp::jsonrpc::Kind::Error),
            Reply::Refused(..) => true,
            Reply::Cached(_) | Reply::Stream(_) | Reply::Accepted => false,
        }
    }
}
