//! The Streamable HTTP transport at `/mcp`: JSON responses (never SSE), a session id issued by `initialize`
//! and required afterwards, 202 for notifications and responses, DELETE to end a session, 405 for GET.
//! Bound to loopback, it refuses a foreign `Host` or `Origin` (DNS-rebinding protection) as the spec asks.
//! With env `TWENTY_ECHO_HEADERS=1`, every `tools/call` result's `structuredContent` also carries
//! `"headers": {name: value}`, the headers of the HTTP request that carried the call (names lowercased), so
//! a test can see what reaches the upstream through a gateway.

use std::collections::HashSet;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use toolgate_testkit::twenty::{MessageKind, SUPPORTED_PROTOCOL_VERSIONS, TwentyServer};

const SESSION_HEADER: &str = "mcp-session-id";
const PROTOCOL_HEADER: &str = "mcp-protocol-version";

struct App {
    server: TwentyServer,
    sessions: Mutex<HashSet<String>>,
    /// Listening on loopback only: requests must name a loopback host.
    loopback: bool,
    /// `TWENTY_ECHO_HEADERS=1`: tool results echo the request's headers.
    echo_headers: bool,
}

type Shared = Arc<App>;

/// Binds `addr`, prints `listening on http://ADDR/mcp` on stdout, and serves until killed.
pub fn serve(server: TwentyServer, addr: SocketAddr) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "listening on http://{local}/mcp")?;
        stdout.flush()?;
        drop(stdout);
        let app = App {
            server,
            sessions: Mutex::new(HashSet::new()),
            loopback: local.ip().is_loopback(),
            echo_headers: std::env::var("TWENTY_ECHO_HEADERS").is_ok_and(|v| v == "1"),
        };
        let router = Router::new()
            .route("/mcp", post(on_post).delete(on_delete).get(on_get))
            .with_state(Arc::new(app));
        axum::serve(listener, router).await
    })
}

async fn on_post(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refusal) = check_origin(&app, &headers) {
        return refusal;
    }
    if let Some(v) = headers.get(PROTOCOL_HEADER)
        && !SUPPORTED_PROTOCOL_VERSIONS
            .iter()
            .any(|s| v.as_bytes() == s.as_bytes())
    {
        return plain(
            StatusCode::BAD_REQUEST,
            "Bad Request: unsupported MCP-Protocol-Version",
        );
    }
    let handled = app.server.handle(&body);
    let issued = match handled.kind {
        MessageKind::Initialize => {
            let id = uuid::Uuid::new_v4().simple().to_string();
            app.sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id.clone());
            Some(id)
        }
        MessageKind::Invalid => None,
        _ => {
            if let Err(refusal) = check_session(&app, &headers) {
                return refusal;
            }
            None
        }
    };
    let Some(mut reply) = handled.reply else {
        return StatusCode::ACCEPTED.into_response();
    };
    if app.echo_headers && handled.kind == MessageKind::Request {
        reply = with_headers(reply, &headers);
    }
    let status = if handled.kind == MessageKind::Invalid {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut response =
        (status, [(header::CONTENT_TYPE, "application/json")], reply).into_response();
    if let Some(id) = issued.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response.headers_mut().insert(SESSION_HEADER, id);
    }
    response
}

/// Adds `"headers"` to the `structuredContent` of a tool result; any other reply is returned as it is.
fn with_headers(reply: String, headers: &HeaderMap) -> String {
    let Ok(mut message) = serde_json::from_str::<serde_json::Value>(&reply) else {
        return reply;
    };
    let Some(structured) = message
        .pointer_mut("/result/structuredContent")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return reply;
    };
    let mut echoed = serde_json::Map::new();
    for (name, value) in headers {
        // HeaderMap names are lowercase already; repeated headers are joined as HTTP would fold them.
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match echoed.get_mut(name.as_str()) {
            Some(serde_json::Value::String(v)) => {
                v.push_str(", ");
                v.push_str(&value);
            }
            _ => {
                echoed.insert(name.as_str().to_owned(), value.into());
            }
        }
    }
    structured.insert("headers".to_owned(), echoed.into());
    message.to_string()
}

async fn on_delete(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(refusal) = check_origin(&app, &headers) {
        return refusal;
    }
    if let Err(refusal) = check_session(&app, &headers) {
        return refusal;
    }
    let id = session_of(&headers).unwrap_or_default();
    app.sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(id);
    StatusCode::OK.into_response()
}

async fn on_get() -> Response {
    let mut response = plain(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed: this server sends no SSE stream",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST, DELETE"));
    response
}

/// 403 when a loopback server is reached under a foreign name (`Host`) or from a foreign page (`Origin`).
#[allow(clippy::result_large_err)]
fn check_origin(app: &App, headers: &HeaderMap) -> Result<(), Response> {
    if !app.loopback {
        return Ok(());
    }
    let host_ok = headers
        .get(header::HOST)
        .is_none_or(|h| h.to_str().is_ok_and(is_loopback_authority));
    let origin_ok = headers.get(header::ORIGIN).is_none_or(|o| {
        o.to_str().is_ok_and(|o| {
            let authority = o.split_once("://").map_or(o, |(_, rest)| rest);
            is_loopback_authority(authority)
        })
    });
    if host_ok && origin_ok {
        Ok(())
    } else {
        Err(plain(
            StatusCode::FORBIDDEN,
            "Forbidden: Host and Origin must be a loopback address",
        ))
    }
}

/// `localhost`, `127.0.0.1` or `[::1]`, with or without a port.
fn is_loopback_authority(authority: &str) -> bool {
    let host = if authority.starts_with('[') {
        authority
            .split_once(']')
            .map_or(authority, |(h, _)| h)
            .trim_start_matches('[')
    } else {
        authority.split_once(':').map_or(authority, |(h, _)| h)
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

/// 400 without a session id, 404 for one this server never issued or already ended.
#[allow(clippy::result_large_err)]
fn check_session(app: &App, headers: &HeaderMap) -> Result<(), Response> {
    let Some(id) = session_of(headers) else {
        return Err(plain(
            StatusCode::BAD_REQUEST,
            "Bad Request: Mcp-Session-Id header is required",
        ));
    };
    if app
        .sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(id)
    {
        Ok(())
    } else {
        Err(plain(
            StatusCode::NOT_FOUND,
            "Not Found: unknown or ended session",
        ))
    }
}

fn session_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok())
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}
