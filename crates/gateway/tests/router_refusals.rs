//! The data plane's router in process (`tower::ServiceExt::oneshot`, no socket): every refusal
//! before policy, on `/mcp/<server>` and on `/mcp`, with its status and JSON-RPC code, and the
//! bodies that cannot be read recorded in the audit log like any other request.

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use toolgate_gateway::Gateway;
use toolgate_gateway::settings::{ServerSettings, Settings, Transport};
use toolgate_policy::SourceFormat;
use toolgate_store::audit::{AuditDecision, AuditQuery};
use toolgate_store::{MemoryCounterStore, Stores};
use tower::ServiceExt;

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
const LIST: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;

async fn gateway() -> (Arc<Gateway>, Stores) {
    let policy = toolgate_policy::compile(
        r#"{"version":"1","default":"allow"}"#,
        "p.json",
        SourceFormat::Json,
    )
    .unwrap();
    let server = ServerSettings::new(
        "s",
        // Never reached: every request here is refused before a server is.
        Transport::Http {
            url: "http://127.0.0.1:9/mcp".into(),
            headers: Default::default(),
        },
        policy,
    );
    let settings = Settings {
        servers: vec![server],
        ..Settings::default()
    };
    let stores = Stores::memory();
    let gw = Gateway::new(
        settings,
        Arc::new(MemoryCounterStore::new()),
        Some(stores.clone()),
    )
    .await
    .unwrap();
    (gw, stores)
}

/// A POST as a client would send it, then `change` applied.
fn post(path: &str, body: &str, change: impl FnOnce(&mut Request<Body>)) -> Request<Body> {
    let mut request = Request::post(path)
        .header("host", "127.0.0.1:8080")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(Body::from(body.to_owned()))
        .unwrap();
    change(&mut request);
    request
}

async fn send(gw: &Arc<Gateway>, request: Request<Body>) -> (StatusCode, Value) {
    let response = gw.router().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn every_refusal_before_policy_has_its_status_and_code_on_both_endpoints() {
    let (gw, stores) = gateway().await;
    let header = |name: &'static str, value: &'static str| {
        move |r: &mut Request<Body>| {
            r.headers_mut().append(name, value.parse().unwrap());
        }
    };
    for path in ["/mcp/s", "/mcp"] {
        let cases: Vec<(&str, Request<Body>, StatusCode)> = vec![
            (
                "no Host",
                post(path, INIT, |r| {
                    r.headers_mut().remove("host");
                }),
                StatusCode::BAD_REQUEST,
            ),
            (
                "a second Authorization",
                post(path, INIT, |r| {
                    header("authorization", "Bearer a")(r);
                    header("authorization", "Bearer b")(r);
                }),
                StatusCode::BAD_REQUEST,
            ),
            (
                "a Host that is not the gateway's",
                post(path, INIT, |r| {
                    r.headers_mut()
                        .insert("host", "evil.example".parse().unwrap());
                }),
                StatusCode::FORBIDDEN,
            ),
            (
                "a foreign Origin",
                post(path, INIT, header("origin", "http://evil.example")),
                StatusCode::FORBIDDEN,
            ),
            (
                "a protocol version it does not speak",
                post(path, LIST, header("mcp-protocol-version", "1999-01-01")),
                StatusCode::BAD_REQUEST,
            ),
            (
                "no session",
                post(path, LIST, |_| {}),
                StatusCode::BAD_REQUEST,
            ),
            (
                "a session that does not exist",
                post(path, LIST, header("mcp-session-id", "nope")),
                StatusCode::NOT_FOUND,
            ),
            (
                "a body not declared as JSON",
                post(path, INIT, |r| {
                    r.headers_mut()
                        .insert("content-type", "text/plain".parse().unwrap());
                }),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (
                "a body that is not JSON",
                post(path, "not json", |_| {}),
                StatusCode::BAD_REQUEST,
            ),
        ];
        for (what, request, expected) in cases {
            let (status, body) = send(&gw, request).await;
            assert_eq!(status, expected, "{path}, {what}: {body}");
            assert!(
                body["error"]["code"].as_i64().is_some_and(|c| c < 0),
                "{path}, {what}: a JSON-RPC error, got {body}"
            );
        }
    }
    let (status, body) = send(&gw, post("/mcp/nope", INIT, |_| {})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // The two bodies that could not be read, once per endpoint, are in the audit log.
    let deadline = Instant::now() + Duration::from_secs(10);
    let unreadable = loop {
        let records = stores.audit.query(&AuditQuery::default()).await.unwrap();
        let unreadable: Vec<_> = records
            .into_iter()
            .map(|c| c.record)
            .filter(|r| r.method.is_empty())
            .collect();
        if unreadable.len() >= 4 || Instant::now() > deadline {
            break unreadable;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(unreadable.len(), 4, "{unreadable:?}");
    assert!(
        unreadable
            .iter()
            .all(|r| r.decision == AuditDecision::Error)
    );
    let servers: Vec<&str> = unreadable.iter().map(|r| r.server.as_str()).collect();
    assert_eq!(servers, vec!["s", "s", "", ""]);
}
