//! A Streamable HTTP upstream: POST a message, get back nothing (202), one JSON message, or an
//! SSE stream of messages; GET opens the server's own stream; DELETE ends the session.
//! One pooled client per upstream; the caller's `Authorization` and cookies never reach it.

use super::UpstreamError;
use crate::sse::SseParser;
use crate::{PROTOCOL_VERSION_HEADER, SESSION_HEADER};
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use std::time::Duration;

/// A stream of JSON-RPC messages (one JSON text per item) read from an SSE body.
pub type MessageStream = BoxStream<'static, Result<Bytes, UpstreamError>>;

/// What an upstream answered to a POST.
pub enum Reply {
    /// 202 Accepted: the message was a notification or a response.
    Accepted,
    /// `application/json`: exactly one message.
    Json(Bytes),
    /// `text/event-stream`: messages until the response to the request.
    Stream(MessageStream),
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Accepted => f.write_str("Accepted"),
            Reply::Json(b) => f.debug_tuple("Json").field(&b.len()).finish(),
            Reply::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// A POST's answer with the session id the upstream assigned, if any.
#[derive(Debug)]
pub struct PostReply {
    pub session_id: Option<String>,
    pub reply: Reply,
}

/// How to reach one Streamable HTTP server.
#[derive(Debug, Clone)]
pub struct HttpUpstream {
    client: reqwest::Client,
    url: String,
    /// Parsed once: parsing (with IDNA) on every request showed in profiles.
    parsed: reqwest::Url,
    headers: HeaderMap,
}

impl HttpUpstream {
    /// `headers` are static headers the gateway injects (upstream credentials).
    pub fn new(
        url: &str,
        headers: HeaderMap,
        connect_timeout: Duration,
    ) -> Result<Self, UpstreamError> {
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| UpstreamError::Connect {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        let parsed = reqwest::Url::parse(url).map_err(|e| UpstreamError::Connect {
            url: url.to_owned(),
            reason: format!("invalid URL: {e}"),
        })?;
        Ok(HttpUpstream {
            client,
            url: url.to_owned(),
            parsed,
            headers,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn request(
        &self,
        method: reqwest::Method,
        session: Option<&str>,
        protocol_version: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut rb = self
            .client
            .request(method, self.parsed.clone())
            .headers(self.headers.clone());
        if let Some(s) = session {
            rb = rb.header(HeaderName::from_static(SESSION_HEADER), s);
        }
        if let Some(v) = protocol_version {
            rb = rb.header(HeaderName::from_static(PROTOCOL_VERSION_HEADER), v);
        }
        rb
    }

    fn connect_error(&self, e: reqwest::Error) -> UpstreamError {
        UpstreamError::Connect {
            url: self.url.clone(),
            reason: error_chain(&e),
        }
    }

    /// Sends one JSON-RPC message.
    pub async fn post(
        &self,
        session: Option<&str>,
        protocol_version: Option<&str>,
        body: Bytes,
    ) -> Result<PostReply, UpstreamError> {
        let resp = self
            .request(reqwest::Method::POST, session, protocol_version)
            .header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )
            .header(
                header::ACCEPT,
                HeaderValue::from_static("application/json, text/event-stream"),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| self.connect_error(e))?;
        let status = resp.status();
        let session_id = resp
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if status == StatusCode::ACCEPTED {
            return Ok(PostReply {
                session_id,
                reply: Reply::Accepted,
            });
        }
        if session.is_some() && status == StatusCode::NOT_FOUND {
            return Err(UpstreamError::SessionExpired);
        }
        if session.is_some() && status == StatusCode::BAD_REQUEST {
            // Some servers answer an unknown session with 400 instead of 404.
            let body = resp.bytes().await.unwrap_or_default();
            if String::from_utf8_lossy(&body)
                .to_ascii_lowercase()
                .contains("session")
            {
                return Err(UpstreamError::SessionExpired);
            }
            if looks_like_jsonrpc(&body) {
                return Ok(PostReply {
                    session_id,
                    reply: Reply::Json(body),
                });
            }
            return Err(status_error(status, &body));
        }
        if !status.is_success() {
            // A JSON-RPC error body (e.g. 400 for an invalid request) is still a reply.
            if is_json(resp.headers()) {
                let body = resp.bytes().await.map_err(|e| self.connect_error(e))?;
                if looks_like_jsonrpc(&body) {
                    return Ok(PostReply {
                        session_id,
                        reply: Reply::Json(body),
                    });
                }
                return Err(status_error(status, &body));
            }
            let body = resp.bytes().await.unwrap_or_default();
            return Err(status_error(status, &body));
        }
        let reply = if is_event_stream(resp.headers()) {
            Reply::Stream(message_stream(resp))
        } else {
            Reply::Json(resp.bytes().await.map_err(|e| self.connect_error(e))?)
        };
        Ok(PostReply { session_id, reply })
    }

    /// Opens the server's own stream (GET). `Ok(None)` when the server offers none (405).
    pub async fn open_stream(
        &self,
        session: Option<&str>,
        protocol_version: Option<&str>,
    ) -> Result<Option<MessageStream>, UpstreamError> {
        let resp = self
            .request(reqwest::Method::GET, session, protocol_version)
            .header(
                header::ACCEPT,
                HeaderValue::from_static("text/event-stream"),
            )
            .send()
            .await
            .map_err(|e| self.connect_error(e))?;
        match resp.status() {
            StatusCode::METHOD_NOT_ALLOWED => Ok(None),
            StatusCode::NOT_FOUND if session.is_some() => Err(UpstreamError::SessionExpired),
            s if s.is_success() && is_event_stream(resp.headers()) => {
                Ok(Some(message_stream(resp)))
            }
            s => {
                let body = resp.bytes().await.unwrap_or_default();
                Err(status_error(s, &body))
            }
        }
    }

    /// Ends an upstream session (DELETE). Servers may answer 405 when clients cannot end sessions.
    pub async fn delete(
        &self,
        session: &str,
        protocol_version: Option<&str>,
    ) -> Result<(), UpstreamError> {
        let resp = self
            .request(reqwest::Method::DELETE, Some(session), protocol_version)
            .send()
            .await
            .map_err(|e| self.connect_error(e))?;
        let s = resp.status();
        if s.is_success() || s == StatusCode::METHOD_NOT_ALLOWED || s == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            let body = resp.bytes().await.unwrap_or_default();
            Err(status_error(s, &body))
        }
    }
}

fn status_error(status: StatusCode, body: &[u8]) -> UpstreamError {
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
    UpstreamError::Status {
        status: status.as_u16(),
        body: text,
    }
}

fn is_event_stream(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"))
}

fn is_json(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

fn looks_like_jsonrpc(body: &[u8]) -> bool {
    crate::jsonrpc::Message::parse(body).is_ok()
}

/// Reads an SSE body as messages, skipping events without data (priming events).
fn message_stream(resp: reqwest::Response) -> MessageStream {
    let url = resp.url().to_string();
    let chunks = resp.bytes_stream();
    futures_util::stream::unfold(
        (
            chunks,
            SseParser::new(),
            std::collections::VecDeque::new(),
            url,
        ),
        |(mut chunks, mut parser, mut ready, url)| async move {
            loop {
                if let Some(msg) = ready.pop_front() {
                    return Some((Ok(msg), (chunks, parser, ready, url)));
                }
                match chunks.next().await {
                    None => return None,
                    Some(Err(e)) => {
                        let err = UpstreamError::Connect {
                            url: url.clone(),
                            reason: error_chain(&e),
                        };
                        return Some((Err(err), (chunks, parser, ready, url)));
                    }
                    Some(Ok(chunk)) => {
                        for ev in parser.push(&chunk) {
                            if !ev.data.trim().is_empty() {
                                ready.push_back(Bytes::from(ev.data));
                            }
                        }
                    }
                }
            }
        },
    )
    .boxed()
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
