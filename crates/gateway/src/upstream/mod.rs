//! One client session's connection to its upstream server: an upstream Streamable HTTP session,
//! a message pipe of its own (a legacy HTTP+SSE stream, a stdio child; opened again when it ends,
//! [`OwnPipe`]), or its share of the stdio child of its grant ([`stdio_pool`] decides which).
//! Either way a request yields a stream of messages that ends with
//! its response, so the inbound side has one shape to relay.

mod call;
mod http_link;
mod own_pipe;
mod pipe_link;
#[cfg(test)]
pub(crate) mod scripted;
mod shared_link;
pub mod stdio_pool;

pub use call::CallError;
pub use http_link::HttpLink;
pub use own_pipe::OwnPipe;
pub use pipe_link::PipeLink;
pub use shared_link::SharedLink;
pub use stdio_pool::Opener;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use serde_json::value::RawValue;
use toolgate_mcp::upstream::UpstreamError;

/// Messages relayed for one request; the last one is its response.
pub type MessageStream = BoxStream<'static, Result<Bytes, UpstreamError>>;

/// The messages answering one request.
pub struct ReplyStream {
    pub messages: MessageStream,
    /// The upstream chose to stream (SSE); the client gets a stream too.
    pub streaming: bool,
}

/// A client session's link to its server.
pub enum UpstreamLink {
    Http(HttpLink),
    Pipe(PipeLink),
    /// A pipe of the session's own — a stdio child from the pool, or a legacy HTTP+SSE
    /// connection — opened again when it ends.
    Own(OwnPipe),
    Shared(SharedLink),
    /// A server scripted in memory (the pipeline's tests).
    #[cfg(test)]
    Scripted(scripted::ScriptedLink),
}

impl std::fmt::Debug for UpstreamLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamLink::Http(l) => write!(f, "Http({})", l.url()),
            UpstreamLink::Pipe(l) => write!(f, "Pipe(pid {:?})", l.pid()),
            UpstreamLink::Own(l) => write!(f, "Own(pid {:?})", l.pid()),
            UpstreamLink::Shared(l) => write!(f, "Shared({})", l.server()),
            #[cfg(test)]
            UpstreamLink::Scripted(_) => write!(f, "Scripted"),
        }
    }
}

impl UpstreamLink {
    /// Sends a request; `id` is its raw JSON-RPC id, `progress_token` the raw token it carries.
    pub async fn request(
        &self,
        message: Bytes,
        id: &RawValue,
        progress_token: Option<Box<RawValue>>,
        protocol_version: Option<&str>,
    ) -> Result<ReplyStream, UpstreamError> {
        match self {
            UpstreamLink::Http(l) => l.request(message, protocol_version).await,
            UpstreamLink::Pipe(l) => l.request(message, id, progress_token).await,
            UpstreamLink::Own(l) => l.request(message, id, progress_token).await,
            UpstreamLink::Shared(l) => l.request(message).await,
            #[cfg(test)]
            UpstreamLink::Scripted(l) => l.request(message),
        }
    }

    /// Sends a notification or a response to a server request.
    pub async fn send(
        &self,
        message: Bytes,
        protocol_version: Option<&str>,
    ) -> Result<(), UpstreamError> {
        match self {
            UpstreamLink::Http(l) => l.send(message, protocol_version).await,
            UpstreamLink::Pipe(l) => l.send(&message).await,
            UpstreamLink::Own(l) => l.send(&message).await,
            UpstreamLink::Shared(l) => l.send(message).await,
            #[cfg(test)]
            UpstreamLink::Scripted(l) => {
                l.send(message);
                Ok(())
            }
        }
    }

    /// The server's own stream of requests and notifications. `None` when it offers none or
    /// another stream already takes it.
    pub async fn open_stream(
        &self,
        protocol_version: Option<&str>,
    ) -> Result<Option<MessageStream>, UpstreamError> {
        match self {
            UpstreamLink::Http(l) => l.open_stream(protocol_version).await,
            UpstreamLink::Pipe(l) => Ok(l.take_standalone()),
            UpstreamLink::Own(l) => l.open_stream().await,
            UpstreamLink::Shared(l) => Ok(Some(l.subscribe())),
            #[cfg(test)]
            UpstreamLink::Scripted(_) => Ok(None),
        }
    }

    /// Ends the upstream side of the session.
    pub async fn close(&self, protocol_version: Option<&str>) {
        match self {
            UpstreamLink::Http(l) => l.close(protocol_version).await,
            UpstreamLink::Pipe(l) => l.close().await,
            UpstreamLink::Own(l) => l.close().await,
            UpstreamLink::Shared(l) => l.close(),
            #[cfg(test)]
            UpstreamLink::Scripted(_) => {}
        }
    }
}
