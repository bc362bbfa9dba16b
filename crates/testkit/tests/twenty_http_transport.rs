//! The Streamable HTTP rules of `twenty-mcp http`, checked on the wire with raw HTTP/1.1: sessions issued by
//! initialize and required afterwards, 202 for notifications, 404 for ended sessions, 405 for GET, DNS-rebinding
//! protection. Gateway tests rely on the upstream behaving exactly like this.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};
use toolgate_testkit::{
    HttpPeer, conformance, spawn_twenty_http, spawn_twenty_http_echoing_headers,
};

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn send(peer: &HttpPeer, method: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", peer.port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!(
        "{method} /mcp HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n",
        peer.port,
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .expect("a complete HTTP response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn initialize(peer: &HttpPeer) -> String {
    let reply = send(
        peer,
        "POST",
        &[],
        &json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}).to_string(),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.json()["result"]["protocolVersion"], "2025-03-26");
    reply
        .header("mcp-session-id")
        .expect("initialize issues a session")
        .to_owned()
}

#[test]
fn sessions_are_issued_required_and_ended() {
    let twenty = spawn_twenty_http(None);
    let session = initialize(&twenty);
    let ping = json!({"jsonrpc":"2.0","id":2,"method":"ping"}).to_string();

    let reply = send(&twenty, "POST", &[("Mcp-Session-Id", &session)], &ping);
    assert_eq!(
        (reply.status, reply.json()["result"].clone()),
        (200, json!({}))
    );

    let initialized = json!({"jsonrpc":"2.0","method":"notifications/initialized"}).to_string();
    let reply = send(
        &twenty,
        "POST",
        &[("Mcp-Session-Id", &session)],
        &initialized,
    );
    assert_eq!((reply.status, reply.body.as_str()), (202, ""));

    assert_eq!(
        send(&twenty, "POST", &[], &ping).status,
        400,
        "no session id"
    );
    assert_eq!(
        send(&twenty, "POST", &[("Mcp-Session-Id", "forged")], &ping).status,
        404
    );

    assert_eq!(
        send(&twenty, "DELETE", &[("Mcp-Session-Id", &session)], "").status,
        200
    );
    assert_eq!(
        send(&twenty, "POST", &[("Mcp-Session-Id", &session)], &ping).status,
        404,
        "ended session"
    );
}

#[test]
fn get_is_not_allowed_and_foreign_hosts_are_refused() {
    let twenty = spawn_twenty_http(None);
    let reply = send(&twenty, "GET", &[], "");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST, DELETE"));

    let session = initialize(&twenty);
    let ping = json!({"jsonrpc":"2.0","id":3,"method":"ping"}).to_string();
    let evil = send(
        &twenty,
        "POST",
        &[
            ("Mcp-Session-Id", &session),
            ("Origin", "http://evil.example"),
        ],
        &ping,
    );
    assert_eq!(evil.status, 403);
    let local = send(
        &twenty,
        "POST",
        &[
            ("Mcp-Session-Id", &session),
            ("Origin", "http://localhost:3000"),
        ],
        &ping,
    );
    assert_eq!(local.status, 200);
}

#[test]
fn errors_keep_the_request_id() {
    let twenty = spawn_twenty_http(None);
    let session = initialize(&twenty);
    let h = [("Mcp-Session-Id", session.as_str())];
    let unknown = send(
        &twenty,
        "POST",
        &h,
        r#"{"jsonrpc":"2.0","id":"a-1","method":"resources/list"}"#,
    );
    assert_eq!(unknown.json()["id"], "a-1");
    assert_eq!(unknown.json()["error"]["code"], -32601);
    let garbage = send(&twenty, "POST", &h, "{oops");
    assert_eq!(garbage.status, 400);
    assert_eq!(garbage.json()["error"]["code"], -32700);
}

#[test]
fn echoes_request_headers_in_tool_results_when_asked() {
    let call = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"findOneCompany","arguments":{"id":"1"}}}"#;
    let twenty = spawn_twenty_http_echoing_headers();
    let session = initialize(&twenty);
    let reply = send(
        &twenty,
        "POST",
        &[("Mcp-Session-Id", &session), ("X-Api-Key", "k-1")],
        call,
    );
    let structured = &reply.json()["result"]["structuredContent"];
    assert_eq!(structured["tool"], "findOneCompany");
    assert_eq!(structured["arguments"], json!({"id": "1"}));
    assert_eq!(structured["headers"]["x-api-key"], "k-1");
    assert_eq!(structured["headers"]["mcp-session-id"], session.as_str());
    // Other answers are left alone.
    let ping = send(
        &twenty,
        "POST",
        &[("Mcp-Session-Id", &session)],
        r#"{"jsonrpc":"2.0","id":8,"method":"ping"}"#,
    );
    assert_eq!(ping.json()["result"], json!({}));

    // Without the variable, results carry no headers.
    let plain = spawn_twenty_http(None);
    let session = initialize(&plain);
    let reply = send(&plain, "POST", &[("Mcp-Session-Id", &session)], call);
    let structured = &reply.json()["result"]["structuredContent"];
    assert_eq!(structured["tool"], "findOneCompany");
    assert!(structured.get("headers").is_none(), "{structured}");
}

#[test]
fn passes_the_official_conformance_scenarios_it_can() {
    let twenty = spawn_twenty_http(None);
    for scenario in [
        "server-initialize",
        "ping",
        "tools-list",
        "dns-rebinding-protection",
    ] {
        let out = conformance(&["server", "--url", &twenty.url, "--scenario", scenario]).run();
        out.assert_success();
        assert!(out.stdout.contains(" 0 failed"), "{scenario}: {out}");
    }
}
