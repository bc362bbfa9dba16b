//! `toolgate connect URL`: a stdio bridge to a Streamable HTTP endpoint, for MCP clients that
//! can only spawn commands. Each line read from stdin is one JSON-RPC message, POSTed to the
//! endpoint; every message of the answer (the JSON body, or each SSE event's data) is written to
//! stdout as one line. After `initialize` the bridge keeps the session (`Mcp-Session-Id`) and the
//! negotiated protocol version, opens the server's own stream (GET) once the client has sent
//! `notifications/initialized`, and reopens it when it drops. On stdin EOF it ends the session
//! (DELETE) and exits 0.
//!
//! Ordering: messages are POSTed in the order the client wrote them. Notifications and
//! responses are sent one at a time (their answer is an immediate 202); requests run
//! concurrently, each relaying its own answer, so a slow tool call never holds up another one.
//! `initialize` is finished before anything after it is sent, since later messages need its
//! session. One writer task owns stdout, so lines never interleave.
//!
//! Failures never leave a request unanswered: when the endpoint refuses it (HTTP 401, 403, 404,
//! …), cannot be reached, or ends a stream before the answer, the client gets a JSON-RPC error
//! with the request's id, and stderr gets a line saying why.

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, header};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use toolgate_mcp::jsonrpc::{Kind, Message, codes};
use toolgate_mcp::upstream::UpstreamError;
use toolgate_mcp::upstream::http::{HttpUpstream, Reply};

/// Exit code for a command line that cannot work (EX_USAGE).
const EXIT_USAGE: i32 = 64;
/// How long to wait for a TCP connection to the endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// After stdin EOF, how long requests still in flight may take to finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait for the DELETE that ends the session.
const DELETE_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest wait for stdout to take the last lines.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// Reopening the server's stream: the first delay, doubled after each failure up to the cap.
const STREAM_BACKOFF_MIN: Duration = Duration::from_millis(250);
const STREAM_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A stream that stayed open this long was healthy: the next reopen starts from the first delay.
const STREAM_HEALTHY: Duration = Duration::from_secs(10);

/// Runs the bridge until stdin closes (exit 0) or a signal arrives (130 / 143); 64 when the URL
/// or token cannot be used at all.
pub async fn run(url: &str, token: Option<&str>) -> i32 {
    if let Err(e) = check_url(url) {
        eprintln!("toolgate connect: {e}");
        return EXIT_USAGE;
    }
    let mut headers = HeaderMap::new();
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        match HeaderValue::from_str(&format!("Bearer {token}")) {
            Ok(mut v) => {
                v.set_sensitive(true);
                headers.insert(header::AUTHORIZATION, v);
            }
            Err(_) => {
                eprintln!(
                    "toolgate connect: the token contains characters an HTTP header cannot carry"
                );
                return EXIT_USAGE;
            }
        }
    }
    let upstream = match HttpUpstream::new(url, headers, CONNECT_TIMEOUT) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("toolgate connect: {e}");
            return 1;
        }
    };

    let (out_tx, out_rx) = mpsc::channel::<Bytes>(256);
    let writer = tokio::spawn(write_lines(out_rx));
    let bridge = Arc::new(Bridge {
        upstream,
        url: url.to_owned(),
        session: Mutex::new(None),
        protocol_version: Mutex::new(None),
        out: out_tx,
        stream_started: AtomicBool::new(false),
        stream_task: Mutex::new(None),
    });

    let (line_tx, line_rx) = mpsc::channel::<Bytes>(64);
    let mut dispatcher = tokio::spawn(dispatch(bridge.clone(), line_rx));

    let mut stdin = BufReader::new(tokio::io::stdin());
    // `read_until` keeps what it read when another branch wins: only a finished line is cleared.
    let mut line = Vec::with_capacity(4096);
    let mut sigint = signal(SignalKind::interrupt()).ok();
    let mut sigterm = signal(SignalKind::terminate()).ok();
    let code = loop {
        tokio::select! {
            read = stdin.read_until(b'\n', &mut line) => {
                match read {
                    Ok(0) => break 0,
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("toolgate connect: cannot read stdin: {e}");
                        break 0;
                    }
                }
                let text = line.trim_ascii();
                if !text.is_empty() && line_tx.send(Bytes::copy_from_slice(text)).await.is_err() {
                    break 0;
                }
                line.clear();
            }
            _ = recv(&mut sigint) => break 130,
            _ = recv(&mut sigterm) => break 143,
        }
    };
    drop(line_tx);
    // stdin closed: the client wrote everything; let the answers still in flight arrive. After a
    // signal, or once the wait is over, aborting the dispatcher drops the requests in flight.
    let drained = code == 0
        && tokio::time::timeout(DRAIN_TIMEOUT, &mut dispatcher)
            .await
            .is_ok();
    if !drained {
        if code == 0 {
            tracing::warn!("requests still unanswered after stdin closed; giving up on them");
        }
        dispatcher.abort();
        let _ = dispatcher.await;
    }
    bridge.close().await;
    drop(bridge);
    let _ = tokio::time::timeout(FLUSH_TIMEOUT, writer).await;
    code
}

fn check_url(url: &str) -> Result<(), String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => Ok(()),
        _ => Err(format!(
            "{url:?} is not an http(s) URL; use the gateway's endpoint, e.g. http://127.0.0.1:8080/mcp"
        )),
    }
}

async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Owns stdout: one message per line, flushed after each, in the order they were queued.
async fn write_lines(mut rx: mpsc::Receiver<Bytes>) {
    let mut stdout = tokio::io::stdout();
    while let Some(msg) = rx.recv().await {
        let ok = async {
            stdout.write_all(&msg).await?;
            stdout.write_all(b"\n").await?;
            stdout.flush().await
        }
        .await;
        if ok.is_err() {
            // The client closed its end; nothing more can reach it.
            break;
        }
    }
}

/// Sends the client's messages in order: `initialize`, notifications and responses one at a
/// time, every other request on its own task. Returns when the lines end and every request
/// has been answered.
async fn dispatch(bridge: Arc<Bridge>, mut lines: mpsc::Receiver<Bytes>) {
    let mut requests = JoinSet::new();
    while let Some(body) = lines.recv().await {
        while requests.try_join_next().is_some() {}
        let (id, method) = match Message::parse(&body) {
            Ok(m) => (
                m.id.filter(|_| m.kind == Kind::Request)
                    .map(RawValue::to_owned),
                m.method().to_owned(),
            ),
            Err(e) => {
                // What the server would answer, without a round trip.
                eprintln!("toolgate connect: unreadable message from the client: {e}");
                bridge
                    .emit(error_line(None, e.code(), &e.to_string(), None))
                    .await;
                continue;
            }
        };
        match id {
            Some(id) if method == "initialize" => bridge.initialize(body, id).await,
            Some(id) => {
                let bridge = bridge.clone();
                requests.spawn(async move { bridge.request(body, id, &method).await });
            }
            None => bridge.send(body, &method).await,
        }
    }
    while requests.join_next().await.is_some() {}
}

/// The endpoint and what the session has established.
struct Bridge {
    upstream: HttpUpstream,
    url: String,
    session: Mutex<Option<String>>,
    protocol_version: Mutex<Option<String>>,
    out: mpsc::Sender<Bytes>,
    stream_started: AtomicBool,
    stream_task: Mutex<Option<JoinHandle<()>>>,
}

impl Bridge {
    fn session(&self) -> (Option<String>, Option<String>) {
        (
            self.session.lock().clone(),
            self.protocol_version.lock().clone(),
        )
    }

    /// Queues one message for stdout.
    async fn emit(&self, msg: Bytes) {
        let _ = self.out.send(one_line(msg)).await;
    }

    /// `initialize` opens a new session: it is sent without one, and on success its session id
    /// and protocol version are used by everything after it.
    async fn initialize(self: &Arc<Self>, body: Bytes, id: Box<RawValue>) {
        let reply = match self.upstream.post(None, None, body).await {
            Ok(r) => r,
            Err(e) => return self.refused(Some(&id), "initialize", &e).await,
        };
        let answer = self.relay(reply.reply, Some(&id), "initialize").await;
        let Some(version) = answer.as_deref().and_then(negotiated_version) else {
            return; // refused: the error already went to the client
        };
        let old = std::mem::replace(&mut *self.session.lock(), reply.session_id);
        *self.protocol_version.lock() = Some(version.clone());
        if let Some(old) = old {
            // The client started over; the previous session is of no further use.
            let this = self.clone();
            tokio::spawn(async move {
                let _ = this.upstream.delete(&old, Some(&version)).await;
            });
        }
    }

    /// Any request but `initialize`: every message of its answer goes to stdout.
    async fn request(&self, body: Bytes, id: Box<RawValue>, method: &str) {
        let (session, version) = self.session();
        match self
            .upstream
            .post(session.as_deref(), version.as_deref(), body)
            .await
        {
            Ok(reply) => {
                self.relay(reply.reply, Some(&id), method).await;
            }
            Err(e) => self.refused(Some(&id), method, &e).await,
        }
    }

    /// A notification or a response to a server request: nothing comes back but a 202.
    async fn send(self: &Arc<Self>, body: Bytes, method: &str) {
        let (session, version) = self.session();
        let what = if method.is_empty() {
            "response"
        } else {
            method
        };
        match self
            .upstream
            .post(session.as_deref(), version.as_deref(), body)
            .await
        {
            Ok(reply) => {
                if let Reply::Accepted = reply.reply {
                    if method == "notifications/initialized" {
                        self.start_stream();
                    }
                } else {
                    self.relay(reply.reply, None, what).await;
                }
            }
            Err(e) => self.refused(None, what, &e).await,
        }
    }

    /// Relays an answer to stdout; returns the response to `id`, if it came. A request is
    /// always answered: when the endpoint sent no response, the client gets an error instead.
    async fn relay(&self, reply: Reply, id: Option<&RawValue>, method: &str) -> Option<Bytes> {
        match reply {
            Reply::Accepted => {
                if let Some(id) = id {
                    self.fail(
                        id,
                        codes::UPSTREAM_UNAVAILABLE,
                        &format!(
                            "{} accepted {method} (HTTP 202) without answering it",
                            self.url
                        ),
                        None,
                    )
                    .await;
                }
                None
            }
            Reply::Json(body) => match id {
                Some(id) => {
                    let body = self.answer_for(id, method, body);
                    self.emit(body.clone()).await;
                    Some(body)
                }
                None => {
                    // The endpoint refused a notification or a response: the client cannot take
                    // an answer to it, so only stderr hears of it.
                    eprintln!(
                        "toolgate connect: {} refused {method}: {}",
                        self.url,
                        error_message(&body).unwrap_or_else(|| lossy(&body))
                    );
                    None
                }
            },
            Reply::Stream(mut messages) => {
                let mut answer = None;
                while let Some(item) = messages.next().await {
                    match item {
                        Ok(msg) => {
                            if answer.is_none() && id.is_some_and(|id| answers(&msg, id)) {
                                answer = Some(msg.clone());
                            }
                            self.emit(msg).await;
                        }
                        Err(e) => {
                            tracing::warn!(method, error = %e, "the answer's stream broke");
                            break;
                        }
                    }
                }
                if let (Some(id), None) = (id, &answer) {
                    self.fail(
                        id,
                        codes::UPSTREAM_UNAVAILABLE,
                        &format!("{} ended the stream before answering {method}", self.url),
                        None,
                    )
                    .await;
                }
                answer
            }
        }
    }

    /// A JSON answer to a request. An error without an id (the endpoint refused the HTTP request
    /// before reading it: bad token, unknown server, no session) gets the request's id, so the
    /// client can match it, and a line on stderr.
    fn answer_for(&self, id: &RawValue, method: &str, body: Bytes) -> Bytes {
        let unmatched = match Message::parse(&body) {
            Ok(m) => m.kind == Kind::Error && m.id.is_none_or(|i| i.get() == "null"),
            Err(_) => false,
        };
        if !unmatched {
            return body;
        }
        let Ok(mut v) = serde_json::from_slice::<Value>(&body) else {
            return body;
        };
        let reason = v
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("no reason given")
            .to_owned();
        let mut message = format!("{} refused {method}: {reason}", self.url);
        if reason.contains("bearer token") {
            message
                .push_str(" (toolgate connect sends the token given by --token or TOOLGATE_TOKEN)");
        }
        eprintln!("toolgate connect: {message}");
        v["id"] = serde_json::from_str(id.get()).unwrap_or(Value::Null);
        v["error"]["message"] = Value::String(message);
        serde_json::to_vec(&v).map(Bytes::from).unwrap_or(body)
    }

    /// The endpoint could not take a message: say why on stderr, and answer a request with an
    /// error carrying its id.
    async fn refused(&self, id: Option<&RawValue>, method: &str, e: &UpstreamError) {
        let (code, status, message) = match e {
            UpstreamError::Status { status, body } => {
                let detail =
                    error_message(body.as_bytes()).unwrap_or_else(|| body.trim().to_owned());
                let why = match status {
                    401 => "HTTP 401 Unauthorized: the token is missing or wrong (pass the grant's token with --token or TOOLGATE_TOKEN)".to_owned(),
                    403 => "HTTP 403 Forbidden: the token may not use this endpoint".to_owned(),
                    404 => format!("HTTP 404 Not Found: no MCP endpoint at {}", self.url),
                    s => format!("HTTP {s}"),
                };
                let message = if detail.is_empty() {
                    format!("{} refused {method}: {why}", self.url)
                } else {
                    format!("{} refused {method}: {why}: {detail}", self.url)
                };
                let code = if (400..500).contains(status) {
                    codes::INVALID_REQUEST
                } else {
                    codes::UPSTREAM_UNAVAILABLE
                };
                (code, Some(*status), message)
            }
            UpstreamError::SessionExpired => (
                codes::INVALID_REQUEST,
                Some(404),
                format!(
                    "{} no longer knows this session (HTTP 404): it restarted or closed it; restart the client",
                    self.url
                ),
            ),
            e => (codes::UPSTREAM_UNAVAILABLE, None, e.to_string()),
        };
        eprintln!("toolgate connect: {message}");
        if let Some(id) = id {
            self.fail(id, code, &message, status).await;
        }
    }

    async fn fail(&self, id: &RawValue, code: i64, message: &str, status: Option<u16>) {
        self.emit(error_line(Some(id), code, message, status)).await;
    }

    /// Opens the server's own stream once per bridge; it follows the current session.
    fn start_stream(self: &Arc<Self>) {
        if self.stream_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let task = tokio::spawn(self.clone().server_stream());
        *self.stream_task.lock() = Some(task);
    }

    /// Relays the server's stream (GET) and reopens it when it drops, waiting longer after each
    /// failure (up to [`STREAM_BACKOFF_MAX`]). Stops when the server offers none (405) or the
    /// endpoint refuses it for good (a 4xx, or the session is gone).
    async fn server_stream(self: Arc<Self>) {
        let mut delay = STREAM_BACKOFF_MIN;
        loop {
            let (session, version) = self.session();
            match self
                .upstream
                .open_stream(session.as_deref(), version.as_deref())
                .await
            {
                Ok(None) => {
                    tracing::debug!("the server offers no stream of its own (405)");
                    return;
                }
                Ok(Some(mut messages)) => {
                    let opened = Instant::now();
                    while let Some(item) = messages.next().await {
                        match item {
                            Ok(msg) => self.emit(msg).await,
                            Err(e) => {
                                tracing::warn!(error = %e, "the server's stream broke");
                                break;
                            }
                        }
                    }
                    if opened.elapsed() >= STREAM_HEALTHY {
                        delay = STREAM_BACKOFF_MIN;
                    }
                    tracing::debug!("the server's stream ended; reopening");
                }
                Err(UpstreamError::SessionExpired) => {
                    tracing::warn!("the session is gone; not reopening the server's stream");
                    return;
                }
                Err(UpstreamError::Status { status, body })
                    if (400..500).contains(&status) && status != 408 && status != 429 =>
                {
                    tracing::warn!(status, body = %body.trim(), "the endpoint refused the server's stream");
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "cannot open the server's stream"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(STREAM_BACKOFF_MAX);
        }
    }

    /// Stops the server's stream and ends the session.
    async fn close(&self) {
        if let Some(task) = self.stream_task.lock().take() {
            task.abort();
        }
        let (session, version) = self.session();
        if let Some(session) = session {
            let deleted = tokio::time::timeout(
                DELETE_TIMEOUT,
                self.upstream.delete(&session, version.as_deref()),
            )
            .await;
            match deleted {
                Ok(Ok(())) => tracing::debug!("session ended"),
                Ok(Err(e)) => tracing::warn!(error = %e, "ending the session failed"),
                Err(_) => tracing::warn!("ending the session timed out"),
            }
        }
    }
}

/// The protocol version of a successful `initialize` result.
fn negotiated_version(answer: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        result: Option<InitResult>,
    }
    #[derive(serde::Deserialize)]
    struct InitResult {
        #[serde(rename = "protocolVersion")]
        protocol_version: String,
    }
    serde_json::from_slice::<Answer>(answer)
        .ok()?
        .result
        .map(|r| r.protocol_version)
}

/// True when `msg` is the response to the request with this id.
fn answers(msg: &[u8], id: &RawValue) -> bool {
    Message::parse(msg).is_ok_and(|m| m.is_response() && m.id.is_some_and(|i| i.get() == id.get()))
}

/// `error.message` of a JSON-RPC error body.
fn error_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.pointer("/error/message")?.as_str().map(str::to_owned)
}

fn lossy(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned()
}

/// A JSON-RPC error response; `data.httpStatus` when an HTTP status explains it.
fn error_line(id: Option<&RawValue>, code: i64, message: &str, status: Option<u16>) -> Bytes {
    #[derive(Serialize)]
    struct Response<'a> {
        jsonrpc: &'static str,
        id: Option<&'a RawValue>,
        error: Error<'a>,
    }
    #[derive(Serialize)]
    struct Error<'a> {
        code: i64,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<Data>,
    }
    #[derive(Serialize)]
    struct Data {
        #[serde(rename = "httpStatus")]
        http_status: u16,
    }
    let response = Response {
        jsonrpc: "2.0",
        id,
        error: Error {
            code,
            message,
            data: status.map(|http_status| Data { http_status }),
        },
    };
    Bytes::from(serde_json::to_vec(&response).expect("plain values serialise"))
}

/// One message as one line. In valid JSON a line break can only be whitespace between tokens
/// (inside a string it must be escaped), so it becomes a space.
fn one_line(msg: Bytes) -> Bytes {
    if !msg.iter().any(|&b| b == b'\n' || b == b'\r') {
        return msg;
    }
    msg.iter()
        .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
        .collect::<Vec<u8>>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn line_breaks_become_spaces() {
        let m = one_line(Bytes::from_static(b"{\n  \"a\": \"x\\ny\"\r\n}"));
        assert_eq!(&m[..], b"{   \"a\": \"x\\ny\"  }");
        serde_json::from_slice::<Value>(&m).unwrap();
    }

    #[test]
    fn error_lines_carry_the_id_and_the_status() {
        let id = raw("\"a-1\"");
        let line = error_line(Some(&id), -32600, "no", Some(401));
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["id"], "a-1");
        assert_eq!(v["error"]["code"], -32600);
        assert_eq!(v["error"]["data"]["httpStatus"], 401);
        let v: Value = serde_json::from_slice(&error_line(None, -32700, "bad", None)).unwrap();
        assert_eq!(v["id"], Value::Null);
        assert!(v["error"].get("data").is_none());
    }

    #[test]
    fn the_initialize_answer_gives_the_version() {
        assert_eq!(
            negotiated_version(br#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25","capabilities":{}}}"#).as_deref(),
            Some("2025-11-25")
        );
        assert_eq!(
            negotiated_version(
                br#"{"jsonrpc":"2.0","id":0,"error":{"code":-32600,"message":"no"}}"#
            ),
            None
        );
    }

    #[test]
    fn responses_are_matched_by_raw_id() {
        let id = raw("7");
        assert!(answers(br#"{"jsonrpc":"2.0","id":7,"result":{}}"#, &id));
        assert!(!answers(br#"{"jsonrpc":"2.0","id":"7","result":{}}"#, &id));
        assert!(!answers(
            br#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#,
            &id
        ));
        assert!(!answers(
            br#"{"jsonrpc":"2.0","method":"notifications/progress"}"#,
            &id
        ));
    }

    #[test]
    fn refusals_without_an_id_get_the_requests_id() {
        let b = Bridge {
            upstream: HttpUpstream::new(
                "http://127.0.0.1:9/mcp",
                HeaderMap::new(),
                CONNECT_TIMEOUT,
            )
            .unwrap(),
            url: "http://127.0.0.1:9/mcp".into(),
            session: Mutex::new(None),
            protocol_version: Mutex::new(None),
            out: mpsc::channel(1).0,
            stream_started: AtomicBool::new(false),
            stream_task: Mutex::new(None),
        };
        let id = raw("3");
        let out = b.answer_for(
            &id,
            "initialize",
            Bytes::from_static(br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid bearer token"}}"#),
        );
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["id"], 3);
        let m = v["error"]["message"].as_str().unwrap();
        assert!(
            m.contains("refused initialize: invalid bearer token"),
            "{m}"
        );
        assert!(m.contains("TOOLGATE_TOKEN"), "{m}");
        // An answer that names its request passes unchanged.
        let ok = Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"x"}}"#,
        );
        assert_eq!(b.answer_for(&id, "tools/call", ok.clone()), ok);
    }
}
