//! The gateway forwards only the MCP methods it knows, matched byte for byte: a tool call in a
//! shape a lenient server might still take (`Tools/Call`, an escaped `tools\/call`, a trailing
//! space) is refused by the gateway with `-32601` and audited, a request method sent as a
//! notification is refused, an unknown notification is dropped, and an operator's
//! `extra_methods` reach the server — on `/mcp/<server>` and `/mcp`, in front of the reference
//! server-everything over stdio.

mod common;

use common::{RawSession, Toolgate, ok, stdout, toml_array, toml_str};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use toolgate_testkit::server_everything_stdio_command;

const POLICY: &str = r#"{"version":"1","default":"allow","tools":{"get-env":{"action":"deny","reason":"No environment for agents."}}}"#;

fn gateway() -> Toolgate {
    let everything = server_everything_stdio_command();
    let config = format!(
        "[servers.everything]\ncommand = {}\nargs = {}\npolicy = \"p.json\"\nextra_methods = [\"x/search\"]\n",
        toml_str(&everything[0]),
        toml_array(&everything[1..]),
    );
    Toolgate::start(&config, &[("p.json", POLICY)])
}

/// The request records of the audit log whose method is `method`, waiting up to 5 s for them.
fn audited(gw: &Toolgate, method: &str, at_least: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let records: Vec<Value> = stdout(&ok(gw.cli(&["audit", "export"])))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|r: &Value| r["method"] == method)
            .collect();
        if records.len() >= at_least || Instant::now() > deadline {
            return records;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Shapes of `tools/call` (for the denied `get-env`) that are not, byte for byte, `tools/call`.
const DISGUISED: [&str; 4] = [
    r#""Tools/Call""#,
    r#""tools\/call""#,
    r#""tools\u002fcall""#,
    r#""tools/call ""#,
];

async fn refused_everywhere(s: &RawSession, endpoint: &str) {
    for (i, method) in DISGUISED.iter().enumerate() {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{},"method":{method},"params":{{"name":"get-env","arguments":{{}}}}}}"#,
            100 + i
        );
        let (status, answer) = s.post_raw(body).await;
        assert_eq!(status, StatusCode::OK, "{endpoint} {method}: {answer}");
        assert_eq!(
            answer["error"]["code"], -32601,
            "{endpoint} {method}: {answer}"
        );
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("is not an MCP method this gateway forwards"),
            "{endpoint} {method}: the gateway refused it, not the server: {answer}"
        );
        assert!(
            answer.get("result").is_none(),
            "{endpoint} {method}: nothing ran: {answer}"
        );
    }
    // A request method without an id: refused.
    let (status, answer) = s
        .post_raw(
            r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"get-env","arguments":{}}}"#
                .into(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{endpoint}: {answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tools/call is a request"),
        "{endpoint}: {answer}"
    );
    // An unknown notification: accepted and dropped.
    let (status, _) = s
        .post_raw(r#"{"jsonrpc":"2.0","method":"notifications/x-unknown"}"#.into())
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{endpoint}");
    // The session still works, and the real tool call is still decided by policy.
    let (_, answer) = s.call(200, "get-env", json!({})).await;
    assert_eq!(answer["result"]["isError"], true, "{endpoint}: {answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_methods_are_refused_and_audited_on_both_endpoints() {
    let gw = gateway();
    let one = RawSession::open(&gw.url("everything"), None)
        .await
        .expect("session");
    refused_everywhere(&one, "/mcp/everything").await;
    let all = RawSession::open(&format!("{}/mcp", gw.base), None)
        .await
        .expect("session");
    refused_everywhere(&all, "/mcp").await;

    // Every refusal of a request is in the audit log, with the reason; none was decided allowed.
    for method in ["Tools/Call", "tools/call "] {
        let records = audited(&gw, method, 2);
        assert_eq!(records.len(), 2, "{method}: one per endpoint: {records:?}");
        for r in &records {
            assert_eq!(r["decision"], "error", "{r}");
            assert!(
                r["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("not an MCP method"),
                "{r}"
            );
        }
    }
    // The escaped shapes are recorded under the name they decode to, as refused.
    let refused: Vec<Value> = audited(&gw, "tools/call", 6)
        .into_iter()
        .filter(|r| r["decision"] == "error")
        .collect();
    let without_id = refused
        .iter()
        .filter(|r| r["message"] == "tools/call is a request: send it with an id")
        .count();
    assert_eq!(without_id, 2, "one per endpoint: {refused:?}");
    assert_eq!(
        refused.len() - without_id,
        4,
        "two escaped shapes per endpoint"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operators_extra_methods_reach_the_server() {
    let gw = gateway();
    let s = RawSession::open(&gw.url("everything"), None)
        .await
        .expect("session");
    let (_, answer) = s.rpc(1, "x/search", json!({})).await;
    // server-everything does not know it either: its own error, not the gateway's.
    assert!(answer.get("error").is_some(), "{answer}");
    assert!(
        !answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("this gateway forwards"),
        "forwarded to the server: {answer}"
    );
    let (_, answer) = s.rpc(2, "x/other", json!({})).await;
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("this gateway forwards"),
        "{answer}"
    );
    let records = audited(&gw, "x/search", 1);
    assert_eq!(records.len(), 1, "still audited: {records:?}");
}

/// One HTTP/1.1 exchange written by hand (so that headers can repeat or be missing): the status
/// and the body.
fn raw_http(base: &str, head: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "{head}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

#[test]
fn headers_security_rests_on_are_read_strictly() {
    let gw = gateway();
    let host = gw.base.trim_start_matches("http://").to_owned();
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
    for path in ["/mcp/everything", "/mcp"] {
        let cases = [
            (
                format!(
                    "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b"
                ),
                400,
                "Authorization header appears more than once",
            ),
            (
                format!(
                    "POST {path} HTTP/1.1\r\nHost: {host}\r\nMcp-Session-Id: a\r\nMcp-Session-Id: b"
                ),
                400,
                "Mcp-Session-Id header appears more than once",
            ),
            (
                format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nHost: localhost"),
                400,
                "Host header appears more than once",
            ),
            (format!("POST {path} HTTP/1.1"), 400, "needs a Host header"),
            (
                format!("POST {path} HTTP/1.1\r\nHost: evil.example:80"),
                403,
                "\\\"evil.example:80\\\" is not this gateway's",
            ),
            (
                format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nMCP-Protocol-Version: 1999-01-01"),
                400,
                "MCP-Protocol-Version \\\"1999-01-01\\\" is not supported",
            ),
        ];
        for (head, status, says) in cases {
            let (got, body) = raw_http(&gw.base, &head, init);
            assert_eq!(got, status, "{path}: {head:?}: {body}");
            assert!(body.contains(says), "{path}: {head:?}: {body}");
            assert!(body.contains("\"error\""), "a JSON-RPC error body: {body}");
        }
        // The same request, well formed, opens a session.
        let (got, body) = raw_http(
            &gw.base,
            &format!("POST {path} HTTP/1.1\r\nHost: {host}"),
            init,
        );
        assert_eq!(got, 200, "{path}: {body}");
    }
}
