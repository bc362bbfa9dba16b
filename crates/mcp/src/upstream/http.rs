//! A Streamable HTTP upstream: POST a message, get back nothing (202), one JSON message, or an
//! SSE stream of messages; GET opens the server's own stream; DELETE ends the session.
//! One pooled client per upstream; the caller's `Authorization` and cookies never reach it.

use super::UpstreamError;
use crate::sse::SseParser;
use crate::{PROTOCOL_VERSION_HEADER, SESSION_HEADER};
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, header,
};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioTimer};
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

/// The client side of the connections to one server: hyper's pooled client over plain TCP or
/// rustls (Mozilla's roots), HTTP/1.1, or HTTP/2 when TLS negotiates it. Redirects are not
/// followed (a server that redirects gets a status error), and proxies from the environment are
/// not used: the gateway talks to the servers it is configured with, nothing else.
type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// How to reach one Streamable HTTP server.
#[derive(Debug, Clone)]
pub struct HttpUpstream {
    /// Shared by every session on this server (the pool is per client).
    client: std::sync::Arc<Client>,
    url: String,
    /// Parsed once, cloned into every request.
    uri: Uri,
    headers: HeaderMap,
    /// The largest body or SSE event taken from the server.
    max_message_bytes: usize,
}

impl HttpUpstream {
    /// `headers` are static headers the gateway injects (upstream credentials).
    pub fn new(
        url: &str,
        headers: HeaderMap,
        connect_timeout: Duration,
    ) -> Result<Self, UpstreamError> {
        let invalid = |reason: String| UpstreamError::Connect {
            url: url.to_owned(),
            reason: format!("invalid URL: {reason}"),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(e.to_string()))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err(invalid("the scheme must be http or https".into())),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(invalid("no host".into()));
        }
        let mut tcp = hyper_util::client::legacy::connect::HttpConnector::new();
        tcp.set_connect_timeout(Some(connect_timeout));
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(tcp);
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(HttpUpstream {
            client: std::sync::Arc::new(client),
            url: url.to_owned(),
            uri,
            headers,
            max_message_bytes: super::DEFAULT_MAX_MESSAGE_BYTES,
        })
    }

    /// Sets the largest message (a JSON body, an SSE event) taken from the server; a larger one
    /// is an [`UpstreamError::TooLarge`], never held whole.
    pub fn with_max_message_bytes(mut self, max: usize) -> Self {
        self.max_message_bytes = max;
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends one request with the injected headers, the session and the protocol version; a
    /// body is JSON.
    async fn send(
        &self,
        method: Method,
        session: Option<&str>,
        protocol_version: Option<&str>,
        accept: Option<&'static str>,
        body: Bytes,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let has_body = !body.is_empty();
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.reserve(self.headers.len() + 4);
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        if has_body {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        if let Some(accept) = accept {
            headers.insert(header::ACCEPT, HeaderValue::from_static(accept));
        }
        if let Some(s) = session {
            headers.insert(
                HeaderName::from_static(SESSION_HEADER),
                self.header_value("session id", s)?,
            );
        }
        if let Some(v) = protocol_version {
            headers.insert(
                HeaderName::from_static(PROTOCOL_VERSION_HEADER),
                self.header_value("protocol version", v)?,
            );
        }
        self.client
            .request(request)
            .await
            .map_err(|e| self.connect_error(&e))
    }

    fn header_value(&self, what: &str, value: &str) -> Result<HeaderValue, UpstreamError> {
        HeaderValue::from_str(value).map_err(|_| UpstreamError::Connect {
            url: self.url.clone(),
            reason: format!("the {what} {value:?} cannot be sent as an HTTP header"),
        })
    }

    fn connect_error(&self, e: &dyn std::error::Error) -> UpstreamError {
        UpstreamError::Connect {
            url: self.url.clone(),
            reason: error_chain(e),
        }
    }

    /// The whole body of a response, up to the message limit.
    async fn body(&self, resp: Response<Incoming>) -> Result<Bytes, UpstreamError> {
        let declared = resp
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if declared.is_some_and(|n| n > self.max_message_bytes) {
            return Err(self.too_large(declared));
        }
        let limited = http_body_util::Limited::new(resp.into_body(), self.max_message_bytes);
        match limited.collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(self.too_large(None)),
            Err(e) => Err(self.connect_error(&*e)),
        }
    }

    fn too_large(&self, size: Option<usize>) -> UpstreamError {
        UpstreamError::TooLarge {
            server: self.url.clone(),
            size,
            limit: self.max_message_bytes,
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
            .send(
                Method::POST,
                session,
                protocol_version,
                Some("application/json, text/event-stream"),
                body,
            )
            .await?;
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
            let body = self.body(resp).await.unwrap_or_default();
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
                let body = self.body(resp).await?;
                if looks_like_jsonrpc(&body) {
                    return Ok(PostReply {
                        session_id,
                        reply: Reply::Json(body),
                    });
                }
                return Err(status_error(status, &body));
            }
            let body = self.body(resp).await.unwrap_or_default();
            return Err(status_error(status, &body));
        }
        let reply = if is_event_stream(resp.headers()) {
            Reply::Stream(self.message_stream(resp))
        } else {
            Reply::Json(self.body(resp).await?)
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
            .send(
                Method::GET,
                session,
                protocol_version,
                Some("text/event-stream"),
                Bytes::new(),
            )
            .await?;
        match resp.status() {
            StatusCode::METHOD_NOT_ALLOWED => Ok(None),
            StatusCode::NOT_FOUND if session.is_some() => Err(UpstreamError::SessionExpired),
            s if s.is_success() && is_event_stream(resp.headers()) => {
                Ok(Some(self.message_stream(resp)))
            }
            s => {
                let body = self.body(resp).await.unwrap_or_default();
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
            .send(
                Method::DELETE,
                Some(session),
                protocol_version,
                None,
                Bytes::new(),
            )
            .await?;
        let s = resp.status();
        if s.is_success() || s == StatusCode::METHOD_NOT_ALLOWED || s == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            let body = self.body(resp).await.unwrap_or_default();
            Err(status_error(s, &body))
        }
    }

    /// Reads an SSE body as messages, skipping events without data (priming events). The body
    /// is read as the messages are taken (the server waits for a slow client), and an event over
    /// the message limit ends the stream with an error.
    fn message_stream(&self, resp: Response<Incoming>) -> MessageStream {
        struct Reading<S> {
            chunks: S,
            parser: SseParser,
            ready: std::collections::VecDeque<Bytes>,
            url: String,
            limit: usize,
        }
        let state = Reading {
            chunks: resp.into_body().into_data_stream(),
            parser: SseParser::with_limit(self.max_message_bytes),
            ready: std::collections::VecDeque::new(),
            url: self.url.clone(),
            limit: self.max_message_bytes,
        };
        futures_util::stream::unfold(Some(state), |state| async move {
            let mut st = state?;
            loop {
                if let Some(msg) = st.ready.pop_front() {
                    return Some((Ok(msg), Some(st)));
                }
                if st.parser.exceeded() {
                    let err = UpstreamError::TooLarge {
                        server: st.url,
                        size: None,
                        limit: st.limit,
                    };
                    return Some((Err(err), None));
                }
                match st.chunks.next().await {
                    None => return None,
                    Some(Err(e)) => {
                        let err = UpstreamError::Connect {
                            url: st.url.clone(),
                            reason: error_chain(&e),
                        };
                        return Some((Err(err), Some(st)));
                    }
                    Some(Ok(chunk)) => {
                        for ev in st.parser.push(&chunk) {
                            if !ev.data.trim().is_empty() {
                                st.ready.push_back(Bytes::from(ev.data));
                            }
                        }
                    }
                }
            }
        })
        .boxed()
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

/// The error and its sources on one line: the client's top-level message alone says little.
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
