//! The load generator behind the `loadgen` binary.
//!
//! It opens `sessions` MCP sessions (`initialize`, then `notifications/initialized`), then runs
//! `concurrency` workers, each on its own keep-alive HTTP/1.1 connection and bound to session
//! `worker % sessions`, sending one request after another (`tools/call` or `tools/list`) for
//! `warmup + duration`. Only requests started after the warm-up are counted. Latency is from
//! sending the request to having read the whole body, kept in an HDR histogram (ns, 3 significant
//! digits). Answers may be JSON or SSE.
//!
//! A request is an error when it fails on the wire or times out (the connection is then
//! re-opened), when the status is not 200, or when the answer is not a JSON-RPC result for its id
//! (a JSON-RPC error, a `tools/call` result with `isError: true`, e.g. a policy denial).
//! Answers under 16 KiB are parsed in full; larger ones (`tools/list`) are parsed in full on every
//! 64th request of a worker and otherwise only checked for their status and content type, so that
//! checking does not cost more than the request. The first full `tools/list` check records the
//! number of tools listed.
//!
//! [`hold`] only opens sessions and keeps them open and idle, for measuring what an idle session
//! costs the server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::header::{ACCEPT, CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method as HttpMethod, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::net::TcpStream;

/// The protocol version asked for in `initialize`.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// Answers at least this long are treated as large (see the module docs).
const LARGE: usize = 16 * 1024;

/// Largest answers are fully checked once every this many requests.
const FULL_CHECK_EVERY: u64 = 64;

/// Longest wait for one answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";

/// What each request asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// `tools/call` of `Config::tool` with `Config::args`.
    Call,
    /// `tools/list`.
    List,
}

/// Where to send: an `http://host:port/path` URL split up.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port`, to connect to and for the `Host` header.
    pub authority: String,
    /// The request path.
    pub path: String,
}

impl Target {
    /// Parses an `http://` URL (no TLS; a loopback benchmark target).
    pub fn parse(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("{url}: no host"));
        }
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Target {
            authority,
            path: path.to_owned(),
        })
    }
}

/// One run's settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub target: Target,
    pub sessions: usize,
    pub concurrency: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub method: Method,
    pub tool: String,
    /// The `arguments` of each `tools/call`, as JSON text.
    pub args: String,
    /// Extra request headers (e.g. `Authorization`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// The JSON line a run prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub method: String,
    pub tool: Option<String>,
    pub url: String,
    pub sessions: usize,
    pub concurrency: usize,
    pub warmup_s: f64,
    pub duration_s: f64,
    /// Answers received for requests started after the warm-up.
    pub requests: u64,
    /// Every JSON-RPC request sent in the run: the sessions' `initialize`s, the warm-up and the
    /// measured requests, answered or not (notifications and session `DELETE`s not included).
    /// What a gateway that records each request should have recorded.
    pub sent: u64,
    pub rps: f64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// For `tools/list`: how many tools the first fully checked answer listed.
    pub list_tools: Option<usize>,
}

#[derive(Debug)]
struct Session {
    id: Option<HeaderValue>,
    version: HeaderValue,
}

/// Opens the sessions, runs the workers and summarises. An `Err` means the run could not start
/// (no connection, a session refused); failures during the run are counted in `errors`.
pub async fn run(cfg: Config, url: &str) -> Result<Report, String> {
    let cfg = Arc::new(cfg);
    let mut setup = connect(&cfg.target).await?;
    let mut sessions = Vec::with_capacity(cfg.sessions);
    for i in 0..cfg.sessions {
        let s = open_session(&mut setup, &cfg)
            .await
            .map_err(|e| format!("opening session {i}: {e}"))?;
        sessions.push(Arc::new(s));
    }

    let warm_end = Instant::now() + cfg.warmup;
    let end = warm_end + cfg.duration;
    let mut handles = Vec::with_capacity(cfg.concurrency);
    for w in 0..cfg.concurrency {
        let session = Arc::clone(&sessions[w % sessions.len()]);
        let cfg = Arc::clone(&cfg);
        handles.push(tokio::spawn(worker(w, cfg, session, warm_end, end)));
    }
    let mut total = new_histogram();
    let (mut errors, mut first_error, mut list_tools) = (0, None, None);
    let mut sent = sessions.len() as u64;
    for h in handles {
        let s = h.await.map_err(|e| format!("a worker failed: {e}"))?;
        total.add(&s.hist).map_err(|e| e.to_string())?;
        sent += s.sent;
        errors += s.errors;
        first_error = first_error.or(s.first_error);
        list_tools = list_tools.or(s.list_tools);
    }

    for s in &sessions {
        if s.id.is_some() {
            let _ =
                tokio::time::timeout(Duration::from_secs(2), close_session(&mut setup, &cfg, s))
                    .await;
        }
    }

    let us = |ns: u64| (ns as f64 / 100.0).round() / 10.0;
    let q = |quantile: f64| {
        if total.is_empty() {
            0.0
        } else {
            us(total.value_at_quantile(quantile))
        }
    };
    let requests = total.len();
    Ok(Report {
        method: match cfg.method {
            Method::Call => "call".into(),
            Method::List => "list".into(),
        },
        tool: (cfg.method == Method::Call).then(|| cfg.tool.clone()),
        url: url.to_owned(),
        sessions: cfg.sessions,
        concurrency: cfg.concurrency,
        warmup_s: cfg.warmup.as_secs_f64(),
        duration_s: cfg.duration.as_secs_f64(),
        requests,
        sent,
        rps: (requests as f64 / cfg.duration.as_secs_f64() * 10.0).round() / 10.0,
        mean_us: if total.is_empty() {
            0.0
        } else {
            (total.mean() / 100.0).round() / 10.0
        },
        p50_us: q(0.5),
        p90_us: q(0.9),
        p99_us: q(0.99),
        p999_us: q(0.999),
        max_us: if total.is_empty() {
            0.0
        } else {
            us(total.max())
        },
        errors,
        first_error,
        list_tools,
    })
}

/// What `loadgen --hold` prints: one line once the sessions are open (`phase: "open"`), one
/// once they are closed again (`phase: "closed"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HoldReport {
    pub url: String,
    pub phase: String,
    pub sessions: usize,
    /// Seconds taken to open every session (one after another, on one connection).
    pub open_s: f64,
    /// Seconds the sessions were held open (in the `closed` line).
    pub held_s: Option<f64>,
    /// Sessions whose `DELETE` was not answered with a 2xx (in the `closed` line).
    pub close_errors: Option<usize>,
}

/// Opens `cfg.sessions` sessions one after another on one connection, closes that connection,
/// calls `opened`, and keeps the sessions open and idle (no connection, no request) until `stop`
/// completes or `max` has passed; then ends each with a `DELETE` on a new connection. For
/// measuring what an idle session costs a server: it keeps sessions until they idle out.
pub async fn hold(
    cfg: Config,
    url: &str,
    max: Duration,
    stop: impl std::future::Future<Output = ()>,
    opened: impl FnOnce(&HoldReport),
) -> Result<HoldReport, String> {
    let started = Instant::now();
    let mut sessions = Vec::with_capacity(cfg.sessions);
    {
        let mut setup = connect(&cfg.target).await?;
        for i in 0..cfg.sessions {
            let s = open_session(&mut setup, &cfg)
                .await
                .map_err(|e| format!("opening session {i}: {e}"))?;
            sessions.push(s);
        }
    }
    let mut report = HoldReport {
        url: url.to_owned(),
        phase: "open".into(),
        sessions: sessions.len(),
        open_s: (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        held_s: None,
        close_errors: None,
    };
    opened(&report);
    let held = Instant::now();
    let _ = tokio::time::timeout(max, stop).await;
    report.held_s = Some((held.elapsed().as_secs_f64() * 10.0).round() / 10.0);

    let mut errors = 0;
    let mut conn = None;
    for s in sessions.iter().filter(|s| s.id.is_some()) {
        let sender = match &mut conn {
            Some(c) => c,
            None => match connect(&cfg.target).await {
                Ok(c) => conn.insert(c),
                Err(_) => {
                    errors += 1;
                    continue;
                }
            },
        };
        let mut req = Request::new(Full::new(Bytes::new()));
        *req.method_mut() = HttpMethod::DELETE;
        *req.uri_mut() = cfg.target.path.parse().expect("a valid path");
        *req.headers_mut() = request_headers(&cfg, Some(s));
        match exchange(sender, req).await {
            Ok((status, _, _)) if status.is_success() => {}
            Ok(_) => errors += 1,
            Err(_) => {
                errors += 1;
                conn = None;
            }
        }
    }
    report.phase = "closed".into();
    report.close_errors = Some(errors);
    Ok(report)
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

struct WorkerStats {
    hist: Histogram<u64>,
    sent: u64,
    errors: u64,
    first_error: Option<String>,
    list_tools: Option<usize>,
}

impl WorkerStats {
    fn error(&mut self, e: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e);
        }
    }
}

async fn worker(
    index: usize,
    cfg: Arc<Config>,
    session: Arc<Session>,
    warm_end: Instant,
    end: Instant,
) -> WorkerStats {
    let mut stats = WorkerStats {
        hist: new_histogram(),
        sent: 0,
        errors: 0,
        first_error: None,
        list_tools: None,
    };
    let (prefix, suffix) = request_parts(&cfg);
    let headers = request_headers(&cfg, Some(&session));
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    // Ids unique across workers sharing a session.
    let mut id = index as u64 * 1_000_000_000;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let conn = match &mut sender {
            Some(s) => s,
            None => match connect(&cfg.target).await {
                Ok(s) => sender.insert(s),
                Err(e) => {
                    if now >= warm_end {
                        stats.error(e);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        id += 1;
        stats.sent += 1;
        let mut body = Vec::with_capacity(prefix.len() + 20 + suffix.len());
        body.extend_from_slice(prefix.as_bytes());
        body.extend_from_slice(id.to_string().as_bytes());
        body.extend_from_slice(suffix.as_bytes());
        let mut req = Request::new(Full::new(Bytes::from(body)));
        *req.method_mut() = HttpMethod::POST;
        *req.uri_mut() = cfg.target.path.parse().expect("a valid path");
        *req.headers_mut() = headers.clone();

        let start = Instant::now();
        let answer = exchange(conn, req).await;
        let elapsed = start.elapsed();
        let measured = start >= warm_end;
        match answer {
            Err(e) => {
                sender = None;
                if measured {
                    stats.error(e);
                }
            }
            Ok((status, content_type, body)) => {
                let checked = if status != StatusCode::OK {
                    Err(format!("HTTP {status}: {}", snippet(&body)))
                } else {
                    let full = body.len() < LARGE || stats.sent % FULL_CHECK_EVERY == 1;
                    check_answer(cfg.method, content_type.as_ref(), &body, id, full)
                };
                if measured {
                    let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
                    stats.hist.saturating_record(ns.max(1));
                }
                match checked {
                    Ok(tools) => {
                        if stats.list_tools.is_none() {
                            stats.list_tools = tools;
                        }
                    }
                    Err(e) if measured => stats.error(e),
                    Err(_) => {}
                }
            }
        }
    }
    stats
}

/// The request body around its id: `prefix ID suffix`.
fn request_parts(cfg: &Config) -> (String, String) {
    let prefix = r#"{"jsonrpc":"2.0","id":"#.to_owned();
    let suffix = match cfg.method {
        Method::Call => format!(
            r#","method":"tools/call","params":{{"name":{},"arguments":{}}}}}"#,
            serde_json::Value::from(cfg.tool.as_str()),
            cfg.args
        ),
        Method::List => r#","method":"tools/list"}"#.to_owned(),
    };
    (prefix, suffix)
}

fn request_headers(cfg: &Config, session: Option<&Session>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        HOST,
        HeaderValue::from_str(&cfg.target.authority).expect("a valid authority"),
    );
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(
        ACCEPT,
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    if let Some(s) = session {
        if let Some(id) = &s.id {
            h.insert(SESSION_HEADER, id.clone());
        }
        h.insert(VERSION_HEADER, s.version.clone());
    }
    for (k, v) in &cfg.headers {
        h.append(k.clone(), v.clone());
    }
    h
}

async fn connect(target: &Target) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(&target.authority)
        .await
        .map_err(|e| format!("connect {}: {e}", target.authority))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

type Answer = (StatusCode, Option<HeaderValue>, Bytes);

async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> Result<Answer, String> {
    let go = async {
        sender
            .ready()
            .await
            .map_err(|e| format!("connection: {e}"))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = resp.status();
        let content_type = resp.headers().get(CONTENT_TYPE).cloned();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        Ok((status, content_type, body))
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, go).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {REQUEST_TIMEOUT:?}")),
    }
}

async fn open_session(
    sender: &mut SendRequest<Full<Bytes>>,
    cfg: &Config,
) -> Result<Session, String> {
    let init = format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{PROTOCOL_VERSION}","capabilities":{{}},"clientInfo":{{"name":"loadgen","version":"{}"}}}}}}"#,
        env!("CARGO_PKG_VERSION")
    );
    let (status, ct, body, headers) = post(sender, cfg, None, init).await?;
    if status != StatusCode::OK {
        return Err(format!("initialize: HTTP {status}: {}", snippet(&body)));
    }
    let msg = answer_message(ct.as_ref(), &body, 0)?;
    let resp: Response<'_> =
        serde_json::from_slice(&msg).map_err(|e| format!("initialize: {e}"))?;
    let result = resp
        .result
        .ok_or_else(|| format!("initialize: {}", snippet(&msg)))?;
    #[derive(Deserialize)]
    struct Init {
        #[serde(rename = "protocolVersion")]
        protocol_version: String,
    }
    let init: Init = serde_json::from_str(result.get()).map_err(|e| format!("initialize: {e}"))?;
    let session = Session {
        id: headers.get(SESSION_HEADER).cloned(),
        version: HeaderValue::from_str(&init.protocol_version)
            .map_err(|_| "initialize: a protocol version unusable in a header".to_owned())?,
    };
    let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned();
    let (status, _, body, _) = post(sender, cfg, Some(&session), note).await?;
    if status != StatusCode::ACCEPTED && status != StatusCode::OK {
        return Err(format!(
            "notifications/initialized: HTTP {status}: {}",
            snippet(&body)
        ));
    }
    Ok(session)
}

async fn close_session(sender: &mut SendRequest<Full<Bytes>>, cfg: &Config, s: &Session) {
    let mut req = Request::new(Full::new(Bytes::new()));
    *req.method_mut() = HttpMethod::DELETE;
    *req.uri_mut() = cfg.target.path.parse().expect("a valid path");
    *req.headers_mut() = request_headers(cfg, Some(s));
    let _ = exchange(sender, req).await;
}

async fn post(
    sender: &mut SendRequest<Full<Bytes>>,
    cfg: &Config,
    session: Option<&Session>,
    body: String,
) -> Result<(StatusCode, Option<HeaderValue>, Bytes, HeaderMap), String> {
    let mut req = Request::new(Full::new(Bytes::from(body)));
    *req.method_mut() = HttpMethod::POST;
    *req.uri_mut() = cfg
        .target
        .path
        .parse()
        .map_err(|e| format!("bad path: {e}"))?;
    *req.headers_mut() = request_headers(cfg, session);
    let go = async {
        sender
            .ready()
            .await
            .map_err(|e| format!("connection: {e}"))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        let ct = parts.headers.get(CONTENT_TYPE).cloned();
        Ok((parts.status, ct, body, parts.headers))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, go)
        .await
        .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))?
}

#[derive(Deserialize)]
struct Response<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

/// The JSON-RPC response in an answer: the body itself for JSON, the event carrying the
/// response to `id` for SSE.
fn answer_message(
    content_type: Option<&HeaderValue>,
    body: &Bytes,
    id: u64,
) -> Result<Bytes, String> {
    let is_sse = content_type.is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !is_sse {
        return Ok(body.clone());
    }
    let text = std::str::from_utf8(body).map_err(|_| "SSE answer is not UTF-8".to_owned())?;
    let want = id.to_string();
    let mut data = String::new();
    let mut found = None;
    for line in text.lines().chain(std::iter::once("")) {
        if line.is_empty() {
            if !data.is_empty() {
                if let Ok(r) = serde_json::from_str::<Response<'_>>(&data)
                    && r.id.is_some_and(|i| i.get() == want)
                    && (r.result.is_some() || r.error.is_some())
                {
                    found = Some(std::mem::take(&mut data));
                }
                data.clear();
            }
        } else if let Some(d) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(d.strip_prefix(' ').unwrap_or(d));
        }
    }
    found.map(Bytes::from).ok_or_else(|| {
        format!(
            "SSE answer without a response to id {id}: {}",
            snippet(body)
        )
    })
}

/// Checks one 200 answer; `Ok(Some(n))` for a fully checked `tools/list` listing n tools.
fn check_answer(
    method: Method,
    content_type: Option<&HeaderValue>,
    body: &Bytes,
    id: u64,
    full: bool,
) -> Result<Option<usize>, String> {
    let is_json = content_type.is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !full && is_json {
        return Ok(None);
    }
    let msg = answer_message(content_type, body, id)?;
    let resp: Response<'_> = serde_json::from_slice(&msg)
        .map_err(|e| format!("unreadable answer ({e}): {}", snippet(&msg)))?;
    if resp.id.is_none_or(|i| i.get() != id.to_string()) {
        return Err(format!("answer for another id: {}", snippet(&msg)));
    }
    if let Some(e) = resp.error {
        return Err(format!("JSON-RPC error: {}", snippet(e.get().as_bytes())));
    }
    let result = resp
        .result
        .ok_or_else(|| format!("no result: {}", snippet(&msg)))?;
    match method {
        Method::Call => {
            #[derive(Deserialize)]
            struct CallResult<'a> {
                #[serde(rename = "isError", default)]
                is_error: bool,
                #[serde(borrow, default)]
                content: Option<&'a RawValue>,
            }
            let r: CallResult<'_> = serde_json::from_str(result.get())
                .map_err(|e| format!("tools/call result: {e}"))?;
            if r.is_error {
                let text = r.content.map_or("", |c| c.get());
                return Err(format!("isError: {}", snippet(text.as_bytes())));
            }
            Ok(None)
        }
        Method::List => {
            #[derive(Deserialize)]
            struct ListResult {
                tools: Vec<IgnoredAny>,
            }
            let r: ListResult = serde_json::from_str(result.get())
                .map_err(|e| format!("tools/list result: {e}"))?;
            Ok(Some(r.tools.len()))
        }
    }
}

fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
    text.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let t = Target::parse("http://127.0.0.1:8080/mcp/bench").unwrap();
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(t.path, "/mcp/bench");
        let t = Target::parse("http://localhost").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("localhost:80", "/")
        );
        assert!(Target::parse("https://x/mcp").is_err());
    }

    #[test]
    fn checks_json_and_sse_answers() {
        let json = Some(HeaderValue::from_static("application/json"));
        let sse = Some(HeaderValue::from_static("text/event-stream"));
        let ok = Bytes::from_static(
            br#"{"jsonrpc":"2.0","result":{"content":[],"isError":false},"id":5}"#,
        );
        assert_eq!(
            check_answer(Method::Call, json.as_ref(), &ok, 5, true),
            Ok(None)
        );
        assert!(check_answer(Method::Call, json.as_ref(), &ok, 6, true).is_err());
        let denied = Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":5,"result":{"content":[{"type":"text","text":"[POLICY DENIED] no"}],"isError":true}}"#,
        );
        let e = check_answer(Method::Call, json.as_ref(), &denied, 5, true).unwrap_err();
        assert!(e.contains("POLICY DENIED"), "{e}");
        let err = Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":5,"error":{"code":-32601,"message":"x"}}"#,
        );
        assert!(check_answer(Method::Call, json.as_ref(), &err, 5, true).is_err());
        let stream = Bytes::from_static(
            b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n\
              event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"tools\":[{},{}]}}\r\n\r\n",
        );
        assert_eq!(
            check_answer(Method::List, sse.as_ref(), &stream, 5, false),
            Ok(Some(2))
        );
        assert!(check_answer(Method::List, sse.as_ref(), &stream, 4, false).is_err());
    }
}
