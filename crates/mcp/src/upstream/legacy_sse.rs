//! A legacy HTTP+SSE upstream (the MCP 2024-11-05 transport), for servers that never moved to
//! Streamable HTTP: `GET` opens a stream whose first event, `endpoint`, names the URL to POST
//! messages to; every server message (responses, notifications, requests) then arrives on that
//! stream as a `message` event. The endpoint must share the stream's origin: messages (and the
//! upstream credentials in the static headers) never go anywhere else. Redirects are not
//! followed, for the same reason.

use super::UpstreamError;
use super::bounded::{BoundedReceiver, BoundedSender, bounded};
use crate::sse::{Event, SseParser};
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use reqwest::Url;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::task::AbortHandle;

/// How long a POST may take before `send` gives up, unless set with
/// [`LegacySseUpstream::with_send_timeout`]. Servers answer as soon as they have queued the
/// message (the reply travels on the stream), so this is generous.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach one legacy HTTP+SSE server. One pooled client serves every session opened
/// through it.
#[derive(Clone)]
pub struct LegacySseUpstream {
    client: reqwest::Client,
    url: Url,
    headers: HeaderMap,
    connect_timeout: Duration,
    send_timeout: Duration,
    /// The largest event taken from the stream; also what may wait in the receiver before the
    /// stream is no longer read.
    max_message_bytes: usize,
}

impl std::fmt::Debug for LegacySseUpstream {
    // The static headers carry upstream credentials: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacySseUpstream")
            .field("url", &self.url.as_str())
            .field("connect_timeout", &self.connect_timeout)
            .field("send_timeout", &self.send_timeout)
            .finish_non_exhaustive()
    }
}

impl LegacySseUpstream {
    /// `url` is the SSE stream (often `…/sse`); `headers` are static headers the gateway injects
    /// (upstream credentials), sent on the GET and on every POST. `connect_timeout` bounds the
    /// TCP connect and, separately, the whole handshake: the stream's response and its
    /// `endpoint` event.
    pub fn new(
        url: &str,
        headers: HeaderMap,
        connect_timeout: Duration,
    ) -> Result<Self, UpstreamError> {
        let connect_error = |reason: String| UpstreamError::Connect {
            url: url.to_owned(),
            reason,
        };
        let parsed = Url::parse(url).map_err(|e| connect_error(format!("invalid URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(connect_error(format!(
                "unsupported scheme {:?}: expected http or https",
                parsed.scheme()
            )));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true)
            // A silent peer that vanished is noticed instead of holding the stream open forever.
            .tcp_keepalive(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| connect_error(error_chain(&e)))?;
        Ok(LegacySseUpstream {
            client,
            url: parsed,
            headers,
            connect_timeout,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            max_message_bytes: super::DEFAULT_MAX_MESSAGE_BYTES,
        })
    }

    /// Sets the largest event taken from the stream: one larger ends the session (a warning
    /// says why), never held whole.
    pub fn with_max_message_bytes(mut self, max: usize) -> Self {
        self.max_message_bytes = max;
        self
    }

    /// Sets how long one POST may take (default [`DEFAULT_SEND_TIMEOUT`]).
    pub fn with_send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// The largest event taken from the stream.
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    /// The stream URL.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// Opens a session in one call: [`LegacySseUpstream::new`] then [`LegacySseUpstream::open`].
    pub async fn connect(
        url: &str,
        headers: HeaderMap,
        connect_timeout: Duration,
    ) -> Result<(LegacySseSession, BoundedReceiver<Bytes>), UpstreamError> {
        Self::new(url, headers, connect_timeout)?.open().await
    }

    /// Opens the stream and waits (bounded by the connect timeout) for its `endpoint` event.
    /// Every message the server sends afterwards arrives on the receiver, one JSON text per
    /// item, at most the message limit waiting; the receiver ends when the stream does (the
    /// server went away or the session was closed).
    pub async fn open(&self) -> Result<(LegacySseSession, BoundedReceiver<Bytes>), UpstreamError> {
        let (endpoint, body, parser, pending) =
            tokio::time::timeout(self.connect_timeout, self.handshake())
                .await
                .map_err(|_| UpstreamError::Connect {
                    url: self.url.to_string(),
                    reason: format!(
                        "the SSE stream did not announce its message endpoint within {} ms",
                        self.connect_timeout.as_millis()
                    ),
                })??;
        let (tx, rx) = bounded(self.max_message_bytes);
        let reader = tokio::spawn(pump(body, parser, pending, tx, self.url.to_string()));
        let session = LegacySseSession {
            client: self.client.clone(),
            endpoint_name: redacted(&endpoint),
            endpoint,
            headers: self.headers.clone(),
            send_timeout: self.send_timeout,
            reader: reader.abort_handle(),
            closed: AtomicBool::new(false),
        };
        Ok((session, rx))
    }

    fn connect_error(&self, reason: String) -> UpstreamError {
        UpstreamError::Connect {
            url: self.url.to_string(),
            reason,
        }
    }

    /// GET the stream, check it is one, and read up to the first event, which must be
    /// `endpoint`. Returns the resolved endpoint, the rest of the body, the parser's state and
    /// any events that arrived in the same chunk after the endpoint.
    async fn handshake(
        &self,
    ) -> Result<
        (
            Url,
            BoxStream<'static, reqwest::Result<Bytes>>,
            SseParser,
            Vec<Event>,
        ),
        UpstreamError,
    > {
        let mut headers = self.headers.clone();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        let resp = self
            .client
            .get(self.url.clone())
            .headers(headers)
            .send()
            .await
            .map_err(|e| self.connect_error(error_chain(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(status_error(status, &body, &format!("GET {}", self.url)));
        }
        if !is_event_stream(resp.headers()) {
            let kind = resp
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("no content type")
                .to_owned();
            return Err(UpstreamError::Protocol(format!(
                "{} answered {kind}, not an SSE stream (text/event-stream)",
                self.url
            )));
        }
        let mut body = resp.bytes_stream().boxed();
        let mut parser = SseParser::with_limit(self.max_message_bytes);
        loop {
            let chunk = match body.next().await {
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => return Err(self.connect_error(error_chain(&e))),
                None => {
                    return Err(self.connect_error(
                        "the SSE stream ended before announcing its message endpoint".to_owned(),
                    ));
                }
            };
            let mut events = parser.push(&chunk).into_iter();
            if let Some(first) = events.next() {
                let endpoint = self.endpoint(&first)?;
                return Ok((endpoint, body, parser, events.collect()));
            }
            if parser.exceeded() {
                return Err(UpstreamError::TooLarge {
                    server: self.url.to_string(),
                    size: None,
                    limit: self.max_message_bytes,
                });
            }
        }
    }

    /// Resolves the first event's data against the stream URL; fails closed on anything but an
    /// `endpoint` event naming a URL on the stream's own origin.
    fn endpoint(&self, first: &Event) -> Result<Url, UpstreamError> {
        let kind = first.event.as_deref().unwrap_or("message");
        if kind != "endpoint" {
            return Err(UpstreamError::Protocol(format!(
                "the SSE stream at {} sent a {kind:?} event before its \"endpoint\" event",
                self.url
            )));
        }
        let data = first.data.trim();
        if data.is_empty() {
            return Err(UpstreamError::Protocol(format!(
                "the SSE stream at {} announced an empty message endpoint",
                self.url
            )));
        }
        let endpoint = self.url.join(data).map_err(|e| {
            UpstreamError::Protocol(format!(
                "the SSE stream at {} announced an unreadable message endpoint: {e}",
                self.url
            ))
        })?;
        if endpoint.origin() != self.url.origin() {
            return Err(UpstreamError::Protocol(format!(
                "the SSE stream at {} announced a message endpoint on another origin ({}); \
                 refusing to send messages there",
                self.url,
                endpoint.origin().ascii_serialization()
            )));
        }
        Ok(endpoint)
    }
}

/// One open session: the stream is read in the background; messages go out by POST.
/// Dropping it closes the stream.
pub struct LegacySseSession {
    client: reqwest::Client,
    endpoint: Url,
    /// The endpoint without its query, for errors and logs: the query usually holds the session
    /// id, which is all it takes to post into the session.
    endpoint_name: String,
    headers: HeaderMap,
    send_timeout: Duration,
    reader: AbortHandle,
    closed: AtomicBool,
}

impl std::fmt::Debug for LegacySseSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacySseSession")
            .field("endpoint", &self.endpoint_name)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl LegacySseSession {
    /// POSTs one JSON-RPC message to the endpoint. Any 2xx is success (the answer, if any,
    /// arrives on the stream); anything else is [`UpstreamError::Status`].
    pub async fn send(&self, message: Bytes) -> Result<(), UpstreamError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(UpstreamError::Closed(format!(
                "the session posting to {} is closed",
                self.endpoint_name
            )));
        }
        let mut headers = self.headers.clone();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let resp = self
            .client
            .post(self.endpoint.clone())
            .headers(headers)
            .timeout(self.send_timeout)
            .body(message)
            .send()
            .await
            .map_err(|e| self.connect_error(&e))?;
        let status = resp.status();
        if status.is_success() {
            // Drain the small body ("Accepted") so the connection goes back to the pool.
            let _ = resp.bytes().await;
            return Ok(());
        }
        let body = resp.bytes().await.unwrap_or_default();
        Err(status_error(
            status,
            &body,
            &format!("POST {}", self.endpoint_name),
        ))
    }

    /// Closes the stream; the receiver ends and later sends fail with
    /// [`UpstreamError::Closed`].
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.reader.abort();
    }

    /// Whether the session was closed or its stream ended.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire) || self.reader.is_finished()
    }

    fn connect_error(&self, e: &reqwest::Error) -> UpstreamError {
        let reason = if e.is_timeout() {
            format!(
                "no answer to a POST within {} ms",
                self.send_timeout.as_millis()
            )
        } else {
            error_chain(e)
        };
        UpstreamError::Connect {
            url: self.endpoint_name.clone(),
            reason,
        }
    }
}

impl Drop for LegacySseSession {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Reads the stream until it ends, forwarding each `message` event's data. Dropping `tx` on the
/// way out ends the receiver.
async fn pump(
    mut body: BoxStream<'static, reqwest::Result<Bytes>>,
    mut parser: SseParser,
    pending: Vec<Event>,
    tx: BoundedSender<Bytes>,
    url: String,
) {
    for event in pending {
        if !forward(event, &tx, &url).await {
            return;
        }
    }
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => {
                for event in parser.push(&chunk) {
                    if !forward(event, &tx, &url).await {
                        return;
                    }
                }
                if parser.exceeded() {
                    let why = super::lines::too_long(&url, None, tx.budget());
                    tracing::warn!(url = %url, "legacy SSE stream sent an event over the size limit; the session ends: {why}");
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(url = %url, error = %error_chain(&e), "legacy SSE stream broke");
                return;
            }
        }
    }
    tracing::debug!(url = %url, "legacy SSE stream ended");
}

/// Forwards one event; `false` when nobody is listening any more.
async fn forward(event: Event, tx: &BoundedSender<Bytes>, url: &str) -> bool {
    match event.event.as_deref() {
        None | Some("message") => {
            if event.data.trim().is_empty() {
                return true;
            }
            tx.send(Bytes::from(event.data)).await.is_ok()
        }
        Some("endpoint") => {
            // The endpoint is fixed for the session: a second one is not followed.
            tracing::warn!(url = %url, "legacy SSE stream announced a second endpoint; ignored");
            true
        }
        Some(other) => {
            tracing::debug!(url = %url, event = %other, "legacy SSE event of unknown type skipped");
            true
        }
    }
}

/// The URL without query or fragment.
fn redacted(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// `Status` has no URL field: the request line goes in front of the body excerpt.
fn status_error(status: StatusCode, body: &[u8], request: &str) -> UpstreamError {
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]);
    UpstreamError::Status {
        status: status.as_u16(),
        body: format!("{request}: {text}"),
    }
}

fn is_event_stream(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"))
}

/// The error and its sources on one line: reqwest's top-level message alone says little.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(url: &str) -> LegacySseUpstream {
        LegacySseUpstream::new(url, HeaderMap::new(), Duration::from_secs(1)).unwrap()
    }

    fn endpoint_event(data: &str) -> Event {
        Event {
            event: Some("endpoint".into()),
            data: data.into(),
            ..Default::default()
        }
    }

    #[test]
    fn endpoint_resolves_relative_and_absolute_on_the_same_origin() {
        let up = upstream("http://127.0.0.1:8080/a/sse");
        let rel = up
            .endpoint(&endpoint_event("/message?sessionId=x"))
            .unwrap();
        assert_eq!(rel.as_str(), "http://127.0.0.1:8080/message?sessionId=x");
        let sibling = up
            .endpoint(&endpoint_event("messages?sessionId=x"))
            .unwrap();
        assert_eq!(
            sibling.as_str(),
            "http://127.0.0.1:8080/a/messages?sessionId=x"
        );
        let abs = up
            .endpoint(&endpoint_event("http://127.0.0.1:8080/m?s=1"))
            .unwrap();
        assert_eq!(redacted(&abs), "http://127.0.0.1:8080/m");
    }

    #[test]
    fn endpoint_on_another_origin_or_of_another_kind_is_refused() {
        let up = upstream("http://127.0.0.1:8080/sse");
        for data in [
            "http://evil.example/m",
            "https://127.0.0.1:8080/m",
            "http://127.0.0.1:8081/m",
            "//evil.example/m",
        ] {
            let err = up.endpoint(&endpoint_event(data)).unwrap_err();
            assert!(err.to_string().contains("another origin"), "{data}: {err}");
        }
        let message = Event {
            data: "{}".into(),
            ..Default::default()
        };
        assert!(matches!(
            up.endpoint(&message),
            Err(UpstreamError::Protocol(_))
        ));
        assert!(up.endpoint(&endpoint_event("  ")).is_err());
    }

    #[test]
    fn bad_stream_urls_are_refused_by_name() {
        for url in ["not a url", "ftp://127.0.0.1/sse"] {
            let err =
                LegacySseUpstream::new(url, HeaderMap::new(), Duration::from_secs(1)).unwrap_err();
            assert!(
                matches!(&err, UpstreamError::Connect { url: u, .. } if u == url),
                "{err}"
            );
        }
    }
}
