//! The legacy HTTP+SSE connector fails closed, quickly and by name: no server, a silent stream, a
//! stream that is not SSE, and an `endpoint` event that points at another origin (which would
//! send the session's messages and the upstream credentials elsewhere).

use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use toolgate_mcp::upstream::UpstreamError;
use toolgate_mcp::upstream::legacy_sse::LegacySseUpstream;

/// A one-route HTTP server on loopback: every connection gets `response` after its request head,
/// and is then held open (as a stream would be) until the test ends.
async fn raw_server(response: String) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sse", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = socket.write_all(response.as_bytes()).await;
            held.push(socket);
        }
    });
    (url, task)
}

fn sse_response(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n{body}"
    )
}

#[tokio::test]
async fn a_server_that_is_not_there_is_a_quick_connect_error_naming_the_url() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/sse");
    let started = Instant::now();
    let err = LegacySseUpstream::connect(&url, Default::default(), Duration::from_secs(5))
        .await
        .expect_err("nothing listens there");
    assert!(started.elapsed() < Duration::from_secs(3), "{err}");
    match &err {
        UpstreamError::Connect { url: named, .. } => assert_eq!(named, &url),
        other => panic!("expected Connect, got {other:?}"),
    }
    assert!(err.to_string().contains(&url), "{err}");
}

#[tokio::test]
async fn an_endpoint_on_another_origin_is_refused() {
    // The "other origin" listens too, so a wrong implementation would reach it.
    let elsewhere = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let evil = format!(
        "http://{}/message?sessionId=stolen",
        elsewhere.local_addr().unwrap()
    );
    let (url, _server) =
        raw_server(sse_response(&format!("event: endpoint\ndata: {evil}\n\n"))).await;
    let err = LegacySseUpstream::connect(&url, Default::default(), Duration::from_secs(5))
        .await
        .expect_err("the endpoint is on another origin");
    let text = err.to_string();
    assert!(matches!(err, UpstreamError::Protocol(_)), "{text}");
    assert!(text.contains("another origin"), "{text}");
    assert!(text.contains(&url), "{text}");
    assert!(!text.contains("stolen"), "the session id leaked: {text}");
    let contacted = tokio::time::timeout(Duration::from_millis(300), elsewhere.accept()).await;
    assert!(contacted.is_err(), "the other origin was contacted");
}

#[tokio::test]
async fn a_stream_that_never_announces_its_endpoint_times_out() {
    let (url, _server) = raw_server(sse_response(": keep-alive\n\n")).await;
    let started = Instant::now();
    let err = LegacySseUpstream::connect(&url, Default::default(), Duration::from_millis(500))
        .await
        .expect_err("no endpoint event");
    assert!(started.elapsed() < Duration::from_secs(3), "{err}");
    assert!(
        matches!(&err, UpstreamError::Connect { url: named, reason } if named == &url && reason.contains("endpoint")),
        "{err}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    // Accepts the connection and reads the request, but sends nothing back.
    let (url, _server) = raw_server(String::new()).await;
    let started = Instant::now();
    let err = LegacySseUpstream::connect(&url, Default::default(), Duration::from_millis(500))
        .await
        .expect_err("no answer");
    assert!(started.elapsed() < Duration::from_secs(3), "{err}");
    assert!(
        matches!(&err, UpstreamError::Connect { url: named, .. } if named == &url),
        "{err}"
    );
}

#[tokio::test]
async fn a_first_event_other_than_endpoint_is_refused() {
    let (url, _server) = raw_server(sse_response(
        "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"x\"}\n\n",
    ))
    .await;
    let err = LegacySseUpstream::connect(&url, Default::default(), Duration::from_secs(5))
        .await
        .expect_err("the first event must be endpoint");
    assert!(matches!(err, UpstreamError::Protocol(_)), "{err}");
    assert!(err.to_string().contains("endpoint"), "{err}");
}

#[tokio::test]
async fn a_response_that_is_not_sse_is_refused() {
    let (url, _server) = raw_server(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
            .to_owned(),
    )
    .await;
    let err = LegacySseUpstream::connect(&url, Default::default(), Duration::from_secs(5))
        .await
        .expect_err("not an SSE stream");
    assert!(matches!(err, UpstreamError::Protocol(_)), "{err}");
    assert!(err.to_string().contains(&url), "{err}");

    let (url, _server) = raw_server(
        "HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\n\r\nbad key here".to_owned(),
    )
    .await;
    let err = LegacySseUpstream::connect(&url, Default::default(), Duration::from_secs(5))
        .await
        .expect_err("refused");
    match &err {
        UpstreamError::Status { status, body } => {
            assert_eq!(*status, 401);
            assert!(
                body.contains(&url) && body.contains("bad key here"),
                "{body}"
            );
        }
        other => panic!("expected Status, got {other:?}"),
    }
}
