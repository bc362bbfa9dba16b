//! Fault suite, bounded buffers: the real binary between peers that do not keep up — a client
//! that never reads its answers, a stdio server that stops reading its input, servers that send
//! a 100 MB line, a 100 MB notification or a 100 MB HTTP body, a flood of progress for a client
//! that does not read its stream. Each peer is cut off with an error naming the limit it met,
//! nothing is held without end, and the gateway's resident memory comes back to where it was
//! (unbounded, these were +441 MiB, +162 MiB and +121 MiB). Each test prints its figures.
//!
//! The misbehaving stdio server is `fixtures/hog.py` (plain Python, no SDK); the HTTP one is
//! written by hand below.

mod common;

use common::{RawSession, Toolgate, error_message, result_text, rss_kib, toml_str};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// `[servers.<name>]` running the hog over stdio, with `extra` keys.
fn hog(name: &str, extra: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hog.py");
    format!(
        "[servers.{name}]\ncommand = \"python3\"\nargs = [{}]\n{extra}\n",
        toml_str(script)
    )
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A `tools/call` of `tool` posted on a connection of its own, never read: the stream, kept
/// open by the caller.
fn post_unread(gw: &Toolgate, server: &str, session: &str, body: &Value) -> TcpStream {
    let addr = gw.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    let body = body.to_string();
    let head = format!(
        "POST /mcp/{server} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\nmcp-session-id: {session}\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    stream
}

/// Reads what the gateway left on a connection until it ends: the bytes read, and whether the
/// gateway closed it (rather than the read timing out with the connection still open).
fn drain(mut stream: TcpStream) -> (usize, bool) {
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut total = 0;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (total, true),
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (total, true),
            Err(_) => return (total, false),
        }
    }
}

/// Samples the gateway's memory every 100 ms for `period`: the highest figure, KiB.
async fn peak_over(pid: u32, period: Duration) -> u64 {
    let until = Instant::now() + period;
    let mut peak = 0;
    while Instant::now() < until {
        peak = peak.max(rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    peak
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_answers_is_cut_off_and_the_memory_comes_back() {
    let gw = Toolgate::start(
        &format!("[limits]\nwrite_timeout = \"2s\"\n\n{}", hog("hog", "")),
        &[],
    );
    let pid = gw.guard.id();
    let session = RawSession::open(&gw.url("hog"), None).await.unwrap();
    // One large answer read as it should be: the shared child is up, the path warm.
    let (_, v) = session.call(1, "big", json!({"mib": 10})).await;
    assert_eq!(result_text(&v).len(), 10 << 20);
    let rss0 = rss_kib(pid);

    // Twenty calls for 10 MiB answers, each on a connection that is never read.
    let started = Instant::now();
    let unread: Vec<TcpStream> = (0..20)
        .map(|i| {
            let body = json!({"jsonrpc": "2.0", "id": 100 + i, "method": "tools/call",
                "params": {"name": "big", "arguments": {"mib": 10}}});
            post_unread(&gw, "hog", &session.id, &body)
        })
        .collect();
    // Meanwhile a client that reads is served. The child answers in order, so once this call
    // is answered, every answer above has reached the gateway.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, v) = tokio::time::timeout(Duration::from_secs(60), session.call(2, "pid", json!({})))
        .await
        .expect("answered");
    assert!(result_text(&v).parse::<u32>().is_ok(), "{v}");
    let peak = peak_over(pid, Duration::from_secs(5)).await;
    let rss1 = rss_kib(pid);

    let drained: Vec<(usize, bool)> = unread
        .into_iter()
        .map(|s| std::thread::spawn(move || drain(s)))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let closed = drained.iter().filter(|(_, closed)| *closed).count();
    let most_read = drained.iter().map(|(n, _)| *n).max().unwrap_or(0);
    let growth = mib(rss1.saturating_sub(rss0));
    println!(
        "FIGURES unread answers: 20 calls for 10 MiB answers never read; {closed} of 20 connections cut off \
         (the most a client got: {:.1} MiB) within {:.1} s; RSS {:.0} -> peak {:.0} -> {:.0} MiB after (+{growth:.1})",
        most_read as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64(),
        mib(rss0),
        mib(peak),
        mib(rss1),
    );
    assert_eq!(closed, 20, "connections still open: {drained:?}");
    assert!(
        most_read < 10 << 20,
        "an unread client got its whole answer"
    );
    assert!(growth < 32.0, "RSS grew by {growth:.1} MiB and stayed");
    // The session still works.
    let (_, v) = session.call(3, "big", json!({"mib": 1})).await;
    assert_eq!(result_text(&v).len(), 1 << 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_reading_its_input_is_refused_then_cut_off_and_restarted() {
    let gw = Toolgate::start(
        &format!("[limits]\nwrite_timeout = \"2s\"\n\n{}", hog("hog", "")),
        &[],
    );
    let pid = gw.guard.id();
    let session = RawSession::open(&gw.url("hog"), None).await.unwrap();
    let (_, v) = session.call(1, "pid", json!({})).await;
    let deaf_pid: u32 = result_text(&v).parse().unwrap();
    let (_, v) = session.call(2, "deaf", json!({})).await;
    assert_eq!(result_text(&v), "deaf from now on");
    let rss0 = rss_kib(pid);

    // Fifty calls with 3 MiB of arguments each, 20 ms apart, to a server that reads nothing:
    // unbounded, each would wait in the gateway with its arguments until the server read them.
    let started = Instant::now();
    let mut calls = Vec::new();
    for i in 0..50u64 {
        let s = session.clone();
        calls.push(tokio::spawn(async move {
            let args = json!({"pad": "a".repeat(3 << 20)});
            let (_, v) = s.call(10 + i, "echo", args).await;
            (v, started.elapsed())
        }));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut refused = 0;
    let mut cut_off = 0;
    // Sent while the deaf child was being cut off: they wait for the next child and run there.
    let mut rerun = 0;
    let mut slowest = Duration::ZERO;
    for call in calls {
        let (v, took) = tokio::time::timeout(Duration::from_secs(30), call)
            .await
            .expect("a call hung")
            .unwrap();
        slowest = slowest.max(took);
        let message = error_message(&v);
        if message.contains("server hog is not reading its input")
            && message.contains("the limit is 16777216")
        {
            refused += 1;
        } else if message.contains("cut off by the gateway: it stopped reading its input")
            && message.contains("[limits] write_timeout")
        {
            cut_off += 1;
        } else if result_text(&v).starts_with("{\"pad\": \"aaa") {
            rerun += 1;
        } else {
            panic!(
                "unexpected answer: {}",
                &v.to_string()[..v.to_string().len().min(400)]
            );
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss1 = rss_kib(pid);
    let growth = mib(rss1.saturating_sub(rss0));

    // A new child took its place; the deaf one is gone, not a zombie.
    let (_, v) = session.call(100, "pid", json!({})).await;
    let new_pid: u32 = result_text(&v).parse().unwrap_or_else(|_| panic!("{v}"));
    assert_ne!(new_pid, deaf_pid);
    assert!(
        !std::path::Path::new(&format!("/proc/{deaf_pid}")).exists(),
        "the deaf child {deaf_pid} is still a process"
    );
    println!(
        "FIGURES deaf server: 50 calls of 3 MiB; {refused} refused at once (input queue full), {cut_off} failed when it was \
         cut off, {rerun} ran on its successor; slowest answer after {:.1} s; RSS {:.0} -> {:.0} MiB (+{growth:.1}); \
         restarted as pid {new_pid}",
        slowest.as_secs_f64(),
        mib(rss0),
        mib(rss1),
    );
    assert_eq!(refused + cut_off + rerun, 50);
    assert!(
        refused > 0 && cut_off > 0,
        "{refused} refused, {cut_off} cut off"
    );
    assert!(slowest < Duration::from_secs(15), "{slowest:?}");
    assert!(growth < 48.0, "RSS grew by {growth:.1} MiB and stayed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_line_or_notification_from_a_child_is_dropped_without_being_held() {
    let gw = Toolgate::start(
        &format!(
            "{}\n{}",
            hog("shared", ""),
            hog("own", "share = \"session\"")
        ),
        &[],
    );
    let pid = gw.guard.id();
    for server in ["shared", "own"] {
        let session = RawSession::open(&gw.url(server), None).await.unwrap();
        let (_, v) = session.call(1, "pid", json!({})).await;
        let child = result_text(&v).to_owned();
        let rss0 = rss_kib(pid);
        let started = Instant::now();
        // A response of 100 MB (its id last): its request gets an error naming the limit.
        let (_, v) = tokio::time::timeout(
            Duration::from_secs(30),
            session.call(2, "line", json!({"mb": 100})),
        )
        .await
        .expect("answered");
        let line_s = started.elapsed().as_secs_f64();
        assert_eq!(v["id"], 2, "{v}");
        assert_eq!(v["error"]["code"], -32002, "{v}");
        assert!(
            error_message(&v).contains(&format!(
                "server {server} sent a message of 100000073 bytes; this gateway takes at most 16777216 ([limits] max_upstream_message_bytes)"
            )),
            "{v}"
        );
        // A notification of 100 MB is dropped; the answer after it arrives.
        let (_, v) = session.call(3, "notify", json!({"mb": 100})).await;
        assert_eq!(result_text(&v), "after the notification", "{v}");
        let rss1 = rss_kib(pid);
        // The same child goes on.
        let (_, v) = session.call(4, "pid", json!({})).await;
        assert_eq!(result_text(&v), child, "the child was not restarted");
        let growth = mib(rss1.saturating_sub(rss0));
        println!(
            "FIGURES {server} child: a 100 MB answer refused in {line_s:.1} s, a 100 MB notification dropped; \
             RSS {:.0} -> {:.0} MiB (+{growth:.1}); same child afterwards",
            mib(rss0),
            mib(rss1)
        );
        assert!(growth < 24.0, "RSS grew by {growth:.1} MiB");
    }
}

/// A Streamable HTTP server by hand: `initialize` opens a session; `tools/call` of `json` answers
/// with a 100 MB JSON body without a length (read until the connection closes), of `sse` with
/// an SSE event of 100 MB; anything else is accepted.
fn huge_http_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || serve_huge(stream));
        }
    });
    url
}

fn serve_huge(mut stream: TcpStream) {
    let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
    let mut length = 0;
    loop {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut reader, &mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let msg: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = msg["id"].to_string();
    let huge = |w: &mut TcpStream, prefix: &str, suffix: &str| {
        let _ = w.write_all(prefix.as_bytes());
        let chunk = vec![b'h'; 1 << 20];
        for _ in 0..100 {
            if w.write_all(&chunk).is_err() {
                return;
            }
        }
        let _ = w.write_all(suffix.as_bytes());
    };
    match (msg["method"].as_str(), msg["params"]["name"].as_str()) {
        (Some("initialize"), _) => {
            let text =
                json!({"jsonrpc":"2.0","id":msg["id"],"result":{"protocolVersion":"2025-11-25",
                "capabilities":{"tools":{}},"serverInfo":{"name":"huge","version":"1"}}})
                .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nMcp-Session-Id: h1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
        (Some("tools/call"), Some("json")) => huge(
            &mut stream,
            &format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{\"content\":[{{\"type\":\"text\",\"text\":\""
            ),
            "\"}]}}",
        ),
        (Some("tools/call"), Some("sse")) => huge(
            &mut stream,
            &format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\nevent: message\ndata: {{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{\"content\":[{{\"type\":\"text\",\"text\":\""
            ),
            "\"}]}}\n\n",
        ),
        (Some("tools/call"), _) => {
            let text = json!({"jsonrpc":"2.0","id":msg["id"],"result":{"content":[{"type":"text","text":"small"}]}}).to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
        _ => {
            let _ = stream.write_all(
                b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_http_body_or_sse_event_is_refused_without_being_held() {
    let upstream = huge_http_server();
    let gw = Toolgate::start(
        &format!("[servers.h]\nurl = {}\n", toml_str(&upstream)),
        &[],
    );
    let pid = gw.guard.id();
    let session = RawSession::open(&gw.url("h"), None).await.unwrap();
    let (_, v) = session.call(1, "small", json!({})).await;
    assert_eq!(result_text(&v), "small", "{v}");
    let rss0 = rss_kib(pid);
    let mut figures = Vec::new();
    for (i, tool) in ["json", "sse"].into_iter().enumerate() {
        let started = Instant::now();
        let (_, v) = tokio::time::timeout(
            Duration::from_secs(30),
            session.call(2 + i as u64, tool, json!({})),
        )
        .await
        .expect("answered");
        figures.push(format!(
            "{tool} in {:.1} s",
            started.elapsed().as_secs_f64()
        ));
        assert_eq!(v["error"]["code"], -32002, "{v}");
        assert!(
            error_message(&v).contains(&format!(
                "server {upstream} sent a message of more than 16777216 bytes; this gateway takes at most 16777216 ([limits] max_upstream_message_bytes)"
            )),
            "{tool}: {v}"
        );
    }
    let rss1 = rss_kib(pid);
    let growth = mib(rss1.saturating_sub(rss0));
    println!(
        "FIGURES HTTP server: a 100 MB JSON body and a 100 MB SSE event refused ({}); RSS {:.0} -> {:.0} MiB (+{growth:.1})",
        figures.join(", "),
        mib(rss0),
        mib(rss1)
    );
    assert!(growth < 24.0, "RSS grew by {growth:.1} MiB");
    let (_, v) = session.call(9, "small", json!({})).await;
    assert_eq!(result_text(&v), "small", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_its_stream_is_cut_off_while_the_server_floods_it() {
    let gw = Toolgate::start(
        &format!(
            "[limits]\nwrite_timeout = \"2s\"\nmax_upstream_message_bytes = 4194304\n\n{}",
            hog("hog", "")
        ),
        &[],
    );
    let pid = gw.guard.id();
    let session = RawSession::open(&gw.url("hog"), None).await.unwrap();
    let (_, v) = session.call(1, "pid", json!({})).await;
    let child = result_text(&v).to_owned();
    let rss0 = rss_kib(pid);

    // 64 MB of progress for a call whose client takes a stream and never reads it.
    let started = Instant::now();
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "flood", "arguments": {"mb": 64}, "_meta": {"progressToken": "p"}}});
    let unread = post_unread(&gw, "hog", &session.id, &body);
    let peak = peak_over(pid, Duration::from_secs(8)).await;
    let (read, closed) = drain(unread);
    let rss1 = rss_kib(pid);
    let growth = mib(rss1.saturating_sub(rss0));
    // The shared child was never blocked: it answers the next call at once.
    let (_, v) = tokio::time::timeout(Duration::from_secs(10), session.call(3, "pid", json!({})))
        .await
        .expect("the child is not held up by a slow client");
    assert_eq!(result_text(&v), child, "{v}");
    println!(
        "FIGURES progress flood: 64 MB of progress for an unread stream; the client got {:.1} MiB before it was cut off \
         ({closed}); RSS {:.0} -> peak {:.0} -> {:.0} MiB (+{growth:.1}) in {:.1} s",
        read as f64 / (1 << 20) as f64,
        mib(rss0),
        mib(peak),
        mib(rss1),
        started.elapsed().as_secs_f64()
    );
    assert!(
        closed,
        "the connection of the client that did not read is still open"
    );
    assert!(read < 16 << 20, "it got {read} bytes");
    let peak_growth = mib(peak.saturating_sub(rss0));
    assert!(
        peak_growth < 64.0,
        "RSS peaked {peak_growth:.1} MiB above the start"
    );
    assert!(growth < 24.0, "RSS grew by {growth:.1} MiB and stayed");
}
