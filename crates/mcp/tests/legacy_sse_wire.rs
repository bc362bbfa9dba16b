//! What the legacy HTTP+SSE connector puts on the wire and reads off it, seen from a scripted
//! server: static headers on the GET and on every POST, the message body as sent, a message that
//! shares a chunk with the `endpoint` event, and a refused POST reported as a status without the
//! session id.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use toolgate_mcp::upstream::UpstreamError;
use toolgate_mcp::upstream::legacy_sse::LegacySseUpstream;

/// One request as the server read it: the head (lowercased) and the body.
#[derive(Debug, Clone)]
struct Seen {
    head: String,
    body: String,
}

/// GET → an SSE stream whose first chunk holds the endpoint and a notification; POST → `post`.
async fn scripted_server(post: &'static str) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/sse", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut data = Vec::new();
            let mut buf = [0u8; 4096];
            let head_end = loop {
                if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => data.extend_from_slice(&buf[..n]),
                }
            };
            let head = String::from_utf8_lossy(&data[..head_end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            while data.len() < head_end + length {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => data.extend_from_slice(&buf[..n]),
                }
            }
            let body = String::from_utf8_lossy(&data[head_end..head_end + length]).into_owned();
            let is_get = head.starts_with("get ");
            log.lock().unwrap().push(Seen { head, body });
            if is_get {
                let stream = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n\
                    event: endpoint\ndata: messages?sessionId=s3cr3t\n\n\
                    event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/hello\"}\n\n";
                let _ = socket.write_all(stream.as_bytes()).await;
                held.push(socket);
            } else {
                let _ = socket.write_all(post.as_bytes()).await;
                held.push(socket);
            }
        }
    });
    (url, seen)
}

fn credentials() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-upstream-key", HeaderValue::from_static("k-123"));
    headers
}

#[tokio::test]
async fn static_headers_go_on_the_get_and_every_post_and_early_messages_are_kept() {
    let (url, seen) = scripted_server(
        "HTTP/1.1 202 Accepted\r\nContent-Length: 8\r\nConnection: close\r\n\r\nAccepted",
    )
    .await;
    let (session, mut rx) = LegacySseUpstream::connect(&url, credentials(), Duration::from_secs(5))
        .await
        .expect("connect");
    let first = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("the message after the endpoint arrives")
        .expect("the stream is open");
    assert_eq!(
        &first[..],
        br#"{"jsonrpc":"2.0","method":"notifications/hello"}"#
    );

    let message = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    session
        .send(Bytes::from_static(message.as_bytes()))
        .await
        .expect("202 is success");
    session
        .send(Bytes::from_static(message.as_bytes()))
        .await
        .expect("a second POST");

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    let get = &seen[0];
    assert!(get.head.starts_with("get /v1/sse "), "{get:?}");
    assert!(get.head.contains("accept: text/event-stream"), "{get:?}");
    assert!(get.head.contains("x-upstream-key: k-123"), "{get:?}");
    for post in &seen[1..] {
        // Resolved against the stream URL: a sibling of `sse`, query kept.
        assert!(
            post.head.starts_with("post /v1/messages?sessionid=s3cr3t "),
            "{post:?}"
        );
        assert!(post.head.contains("x-upstream-key: k-123"), "{post:?}");
        assert!(
            post.head.contains("content-type: application/json"),
            "{post:?}"
        );
        assert_eq!(post.body, message);
    }
}

#[tokio::test]
async fn a_refused_post_is_a_status_error_naming_the_endpoint_without_the_session_id() {
    let (url, _seen) = scripted_server(
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\nConnection: close\r\n\r\nbad session",
    )
    .await;
    let (session, _rx) = LegacySseUpstream::connect(&url, credentials(), Duration::from_secs(5))
        .await
        .expect("connect");
    let err = session
        .send(Bytes::from_static(b"{}"))
        .await
        .expect_err("400");
    match &err {
        UpstreamError::Status { status, body } => {
            assert_eq!(*status, 400);
            let endpoint = url.replace("/v1/sse", "/v1/messages");
            assert!(body.contains(&endpoint), "{body}");
            assert!(body.contains("bad session"), "{body}");
            assert!(!body.contains("s3cr3t"), "{body}");
        }
        other => panic!("expected Status, got {other:?}"),
    }
}

#[tokio::test]
async fn a_post_that_is_never_answered_times_out() {
    // The POST's head is read but nothing is written back.
    let (url, _seen) = scripted_server("").await;
    let upstream = LegacySseUpstream::new(&url, credentials(), Duration::from_secs(5))
        .unwrap()
        .with_send_timeout(Duration::from_millis(300));
    let (session, _rx) = upstream.open().await.expect("connect");
    let started = std::time::Instant::now();
    let err = session
        .send(Bytes::from_static(b"{}"))
        .await
        .expect_err("no answer");
    assert!(started.elapsed() < Duration::from_secs(3), "{err}");
    assert!(
        matches!(&err, UpstreamError::Connect { url: u, reason } if u.ends_with("/v1/messages") && reason.contains("within")),
        "{err}"
    );
}
