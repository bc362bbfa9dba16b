//! Standalone GET streams: at most `[limits] streams_per_session` open per session (a client opens
//! one, and briefly two while it reconnects; each holds a connection and an upstream stream); and
//! how any GET stream — these, and the admin plane's live views — ends when the gateway drains:
//! told the gateway is going away, then closed ([`ending_on_drain`], applied by the accept loop).
//! A stream never finishes by itself, so without this a stopping gateway would wait for it until
//! its grace ran out.

use crate::Gateway;
use crate::drain::{Drain, Phase};
use crate::identity::Caller;
use crate::rejection::Rejection;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// The last thing a stream carries when the gateway stops: a comment for people reading the
/// stream, and how long clients should wait before they reconnect (SSE `retry`, in ms).
pub const GOING_AWAY: &[u8] = b": toolgate is shutting down; reconnect shortly\nretry: 5000\n\n";

/// Open GET streams by session id.
#[derive(Debug, Default)]
pub struct StreamCounts {
    open: Arc<Mutex<HashMap<String, usize>>>,
}

/// One stream's place in its session's count, given back when dropped (with the stream's body).
#[derive(Debug)]
pub struct StreamSlot {
    open: Arc<Mutex<HashMap<String, usize>>>,
    session: String,
}

impl StreamCounts {
    fn take(&self, session: &str, limit: usize) -> Option<StreamSlot> {
        let mut open = self.open.lock();
        let n = open.entry(session.to_owned()).or_default();
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(StreamSlot {
            open: self.open.clone(),
            session: session.to_owned(),
        })
    }

    /// The streams `session` holds now.
    #[cfg(test)]
    fn of(&self, session: &str) -> usize {
        self.open.lock().get(session).copied().unwrap_or(0)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock();
        if let Some(n) = open.get_mut(&self.session) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.session);
            }
        }
    }
}

/// The slot for one more GET stream of `session` (of `caller`, on `server`, `""` for `/mcp`), or
/// the refusal — audited — when it holds `[limits] streams_per_session` already.
#[allow(clippy::result_large_err)] // a ready response, built on the cold path
pub fn open(
    gw: &Gateway,
    caller: &Caller,
    server: &str,
    session: &str,
) -> Result<StreamSlot, Response> {
    let limit = gw.state().settings.limits.streams_per_session;
    gw.limits.streams.take(session, limit).ok_or_else(|| {
        let rejection = Rejection::TooManyStreams { limit };
        super::refuse(
            gw,
            caller,
            server,
            Some(session),
            "GET",
            "streams_per_session",
            rejection,
        )
    })
}

impl StreamSlot {
    /// `response` (the stream) holding this slot until its body is dropped.
    pub fn hold(self, response: Response) -> Response {
        response.map(|body| {
            let frames = body.into_data_stream().map(move |frame| {
                let _held = &self;
                frame
            });
            Body::from_stream(frames)
        })
    }
}

/// `response` (a stream) ending with [`GOING_AWAY`] when `drain` starts draining.
pub fn ending_on_drain(response: Response, drain: &Drain) -> Response {
    let (parts, body) = response.into_parts();
    let until = {
        let drain = drain.clone();
        async move { drain.draining().await }
    };
    let drain = drain.clone();
    let farewell = futures_util::stream::once(async move {
        (drain.phase() != Phase::Serving).then(|| Ok(Bytes::from_static(GOING_AWAY)))
    })
    .filter_map(std::future::ready);
    let frames = body.into_data_stream().take_until(until).chain(farewell);
    Response::from_parts(parts, Body::from_stream(frames))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_stream_ends_with_the_farewell_when_the_gateway_drains_and_gives_its_slot_back() {
        let counts = StreamCounts::default();
        let drain = Drain::default();
        let slot = counts.take("s1", 1).unwrap();
        assert!(counts.take("s1", 1).is_none());
        assert!(counts.take("s2", 1).is_some());
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        let endless =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|m| (m, rx)) },
            );
        let response = slot.hold(Response::new(Body::from_stream(endless)));
        let response = ending_on_drain(response, &drain);
        tx.send(Ok(Bytes::from_static(b"data: 1\n\n")))
            .await
            .unwrap();
        let mut body = response.into_body().into_data_stream();
        assert_eq!(&body.next().await.unwrap().unwrap()[..], b"data: 1\n\n");
        assert_eq!(counts.of("s1"), 1, "held while the stream is open");
        drain.begin();
        let rest = tokio::time::timeout(Duration::from_secs(1), async {
            let mut rest = Vec::new();
            while let Some(frame) = body.next().await {
                rest.extend_from_slice(&frame.unwrap());
            }
            rest
        })
        .await
        .expect("the stream ends");
        assert_eq!(rest, GOING_AWAY);
        assert_eq!(counts.of("s1"), 0, "given back when the stream ended");
        drop(body);
        drop(tx);
    }
}
