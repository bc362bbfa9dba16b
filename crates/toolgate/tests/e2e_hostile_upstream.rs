//! Upstreams written by hand, to see exactly what crosses the gateway: a hostile one cannot answer
//! a client's request with a response to a request the gateway never sent (a stray id streamed
//! before the real answer never reaches the client), a connection closed mid-answer fails the
//! call at once, and on `/mcp` the arguments reach the server byte for byte (only the tool's
//! name is changed).

mod common;

use common::{RawSession, Toolgate, toml_str};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

/// Serves MCP over HTTP/1.1 by hand, one request per connection: `initialize` opens a session;
/// a `tools/call` gets an SSE stream whose first event answers id 999 (which nobody sent) and
/// whose second answers the real id.
fn hostile_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let msg: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let answer = match msg["method"].as_str() {
                Some("initialize") => {
                    let result = json!({"jsonrpc":"2.0","id":msg["id"],"result":{
                        "protocolVersion":"2025-11-25","capabilities":{"tools":{}},
                        "serverInfo":{"name":"hostile","version":"1"}}});
                    let text = result.to_string();
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nMcp-Session-Id: h1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    )
                }
                // Headers of a stream, then the connection is closed mid-answer.
                Some("tools/call") if msg["params"]["name"] == "reset" => {
                    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.flush();
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                // What reached the server, byte for byte, as the result's text.
                Some("tools/call") if msg["params"]["name"] == "echo_raw" => {
                    let raw = String::from_utf8_lossy(&body).into_owned();
                    let result = json!({"jsonrpc":"2.0","id":msg["id"],"result":{"content":[{"type":"text","text":raw}]}});
                    let text = result.to_string();
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    )
                }
                Some("tools/list") => {
                    let result = json!({"jsonrpc":"2.0","id":msg["id"],"result":{"tools":[
                        {"name":"echo_raw","inputSchema":{"type":"object"}}]}});
                    let text = result.to_string();
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    )
                }
                Some("tools/call") => {
                    let stray = json!({"jsonrpc":"2.0","id":999,"result":{"content":[{"type":"text","text":"STRAY"}]}});
                    let real = json!({"jsonrpc":"2.0","id":msg["id"],"result":{"content":[{"type":"text","text":"real"}]}});
                    let events = format!(
                        "event: message\ndata: {stray}\n\nevent: message\ndata: {real}\n\n"
                    );
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{events}",
                        events.len()
                    )
                }
                _ => {
                    "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into()
                }
            };
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_closed_mid_answer_fails_the_call_at_once() {
    let upstream = hostile_server();
    let gw = Toolgate::start(
        &format!("[servers.h]\nurl = {}\n", toml_str(&upstream)),
        &[],
    );
    let s = RawSession::open(&gw.url("h"), None).await.expect("session");
    let started = std::time::Instant::now();
    let (_, answer) = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        s.call(6, "reset", json!({})),
    )
    .await
    .expect("the client is answered, not left waiting for upstream_timeout");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(answer["error"]["code"], -32002, "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_response_to_a_request_nobody_sent_never_reaches_the_client() {
    let upstream = hostile_server();
    let gw = Toolgate::start(
        &format!("[servers.h]\nurl = {}\n", toml_str(&upstream)),
        &[],
    );
    let s = RawSession::open(&gw.url("h"), None).await.expect("session");
    let body =
        json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"t","arguments":{}}});
    let resp = s
        .http
        .post(&s.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &s.id)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert!(
        !text.contains("STRAY"),
        "the stray response was relayed: {text}"
    );
    let answers: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| serde_json::from_str(d.trim()).unwrap())
        .collect();
    assert_eq!(answers.len(), 1, "{text}");
    assert_eq!(answers[0]["id"], 5);
    assert_eq!(answers[0]["result"]["content"][0]["text"], "real");
}

#[tokio::test(flavor = "multi_thread")]
async fn arguments_reach_the_server_byte_for_byte_through_the_aggregate_endpoint() {
    let upstream = hostile_server();
    let gw = Toolgate::start(
        &format!("[servers.h]\nurl = {}\n", toml_str(&upstream)),
        &[],
    );
    let s = RawSession::open(&format!("{}/mcp", gw.base), None)
        .await
        .expect("session");
    let (_, listed) = s.rpc(1, "tools/list", json!({})).await;
    assert_eq!(
        listed["result"]["tools"][0]["name"], "h__echo_raw",
        "{listed}"
    );
    // Numbers no f64 holds, a negative zero, keys out of order, spacing: all as sent.
    let arguments = r#"{"z": 1,"big":123456789012345678901234567890, "neg":-0,"f":1.50,"a":[2e3]}"#;
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"h__echo_raw","arguments":{arguments}}}}}"#
    );
    let (_, answer) = s.post_raw(body).await;
    let seen = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        seen.contains(&format!(r#""name":"echo_raw","arguments":{arguments}"#)),
        "the server saw: {seen}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approval_of_a_big_integer_is_not_an_approval_of_its_neighbour() {
    let upstream = hostile_server();
    let policy = r#"{"version":"1","default":"allow","tools":{"echo_raw":{"action":"require_approval",
        "approval":{"timeout":"10m","mode":"retry"}}}}"#;
    let gw = Toolgate::start(
        &format!(
            "[servers.h]\nurl = {}\npolicy = \"p.json\"\n",
            toml_str(&upstream)
        ),
        &[("p.json", policy)],
    );
    let s = RawSession::open(&gw.url("h"), None).await.expect("session");
    // Two integers no f64 tells apart.
    let call = |id: u64, n: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo_raw","arguments":{{"n":{n}}}}}}}"#
        )
    };
    let approval_of = |answer: &Value| {
        answer["result"]["_meta"]["io.toolgate/decision"]["approval_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let (_, first) = s.post_raw(call(1, "18446744073709551616")).await;
    let approved = approval_of(&first);
    assert!(approved.starts_with("apv_"), "{first}");
    common::ok(gw.cli(&["approvals", "approve", &approved]));
    let (_, neighbour) = s.post_raw(call(2, "18446744073709551617")).await;
    let other = approval_of(&neighbour);
    assert!(
        other.starts_with("apv_") && other != approved,
        "the neighbour needs its own approval: {neighbour}"
    );
    let (_, retry) = s.post_raw(call(3, "18446744073709551616")).await;
    let seen = retry["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        seen.contains(r#""arguments":{"n":18446744073709551616}"#),
        "the approved call went ahead exactly: {retry}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn conditions_compare_numbers_as_the_agent_wrote_them() {
    let upstream = hostile_server();
    // A ceiling on a decimal amount, and account ids that end at 2^64 - 1.
    let policy = r#"{"version":"1","default":"allow","tools":{"echo_raw":{
        "require":[{"conditions":[{"path":"args.amount","op":"lte","value":100.5}],
                    "reason":"amount above 100.5"}],
        "deny_if":[{"conditions":[{"path":"args.id","op":"gt","value":18446744073709551615}],
                    "reason":"no such account"}]}}}"#;
    let gw = Toolgate::start(
        &format!(
            "[servers.h]\nurl = {}\npolicy = \"p.json\"\n",
            toml_str(&upstream)
        ),
        &[("p.json", policy)],
    );
    let call = |id: u64, arguments: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo_raw","arguments":{arguments}}}}}"#
        )
    };
    let denied = |answer: &Value| answer["result"]["isError"] == json!(true);
    // The same verdicts on both endpoints.
    for (endpoint, name) in [
        (gw.url("h"), "echo_raw"),
        (format!("{}/mcp", gw.base), "h__echo_raw"),
    ] {
        let s = RawSession::open(&endpoint, None).await.expect("session");
        let send = |id, arguments: &str| s.post_raw(call(id, arguments).replace("echo_raw", name));
        // Doubles cannot tell these from 100.5 and 2^64; the policy can.
        let (_, above) = send(1, r#"{"amount":100.50000000000000001,"id":1}"#).await;
        assert!(
            denied(&above),
            "{endpoint}: an amount above the ceiling: {above}"
        );
        assert!(above.to_string().contains("amount above 100.5"), "{above}");
        let (_, at) = send(2, r#"{"amount":100.5,"id":1}"#).await;
        assert!(!denied(&at), "{endpoint}: the ceiling itself: {at}");
        let (_, below) = send(3, r#"{"amount":100.49999999999999999,"id":1}"#).await;
        assert!(!denied(&below), "{endpoint}: just below: {below}");
        // As a double, 2^64 equals 2^64 - 1 (both round to 2^64).
        let (_, beyond) = send(4, r#"{"amount":1,"id":18446744073709551616}"#).await;
        assert!(
            denied(&beyond),
            "{endpoint}: an id beyond the last: {beyond}"
        );
        let (_, last) = send(5, r#"{"amount":1,"id":18446744073709551615}"#).await;
        assert!(!denied(&last), "{endpoint}: the last id: {last}");
    }
}
