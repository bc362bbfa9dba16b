//! The servers' own messages to a client outside any request (the stream a client opens with
//! GET, the lines a `wrap`ped server writes between answers): watched by the catalogue for list
//! changes, joined by the gateway's own notes when a quarantine changes the tool list, and, on
//! `/mcp`, tagged with their server. The stream ends when the server's ends or fails.

use super::Direct;
use crate::Gateway;
use crate::aggregate::rewrite;
use crate::aggregate::session::AggregateSession;
use crate::session::Session;
use crate::upstream::MessageStream;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use toolgate_mcp::upstream::UpstreamError;

/// Messages for the client, in order.
pub type ServerMessages = BoxStream<'static, Bytes>;

/// The session's server's own stream; `None` when it offers none (or another stream has it).
pub async fn of_session(
    gw: &Gateway,
    session: &Session,
    protocol_version: Option<&str>,
) -> Result<Option<ServerMessages>, UpstreamError> {
    let server = session.server.name.clone();
    let Some(stream) = session.link.open_stream(protocol_version).await? else {
        return Ok(None);
    };
    let stream = gw
        .catalogue
        .with_quarantine_notes(vec![server.clone()], stream);
    let catalogue = gw.catalogue.clone();
    Ok(Some(until_failure(stream, move |m| {
        catalogue.observe(&server, &m);
        m
    })))
}

/// Every member's own stream, merged, each message tagged with its server; `None` when no
/// member offers one.
pub async fn of_aggregate(gw: &Gateway, session: &AggregateSession) -> Option<ServerMessages> {
    let mut streams = Vec::new();
    for m in session.members() {
        match m.link.open_stream(m.protocol_version.as_deref()).await {
            Ok(Some(s)) => {
                let server = m.server.name.clone();
                let s = gw.catalogue.with_quarantine_notes(vec![server.clone()], s);
                let catalogue = gw.catalogue.clone();
                streams.push(until_failure(s, move |b| {
                    catalogue.observe(&server, &b);
                    rewrite::from_upstream(&server, b)
                }));
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(server = %m.server.name, error = %e, "cannot open the server's stream")
            }
        }
    }
    (!streams.is_empty()).then(|| futures_util::stream::select_all(streams).boxed())
}

/// The own stream of a server reached directly (`wrap`), as it comes.
pub async fn of_direct(server: &Direct) -> Option<ServerMessages> {
    let stream = server.link.open_stream(None).await.ok().flatten()?;
    Some(until_failure(stream, |m| m))
}

/// `stream`'s messages, each passed through `each`, until it ends or fails.
fn until_failure(
    stream: MessageStream,
    each: impl Fn(Bytes) -> Bytes + Send + 'static,
) -> ServerMessages {
    stream
        .take_while(|m| std::future::ready(m.is_ok()))
        .map(move |m| each(m.unwrap_or_default()))
        .boxed()
}
