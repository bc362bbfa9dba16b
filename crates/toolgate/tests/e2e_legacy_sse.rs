//! A legacy HTTP+SSE upstream (protocol 2024-11-05 transport, `transport = "sse"`): server-everything
//! in its `sse` mode behind the gateway, driven by the Python SDK over Streamable HTTP; a session
//! whose server restarts connects again on its next request.

mod common;

use common::{RawSession, Toolgate, error_message, result_text, toml_str};
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use toolgate_testkit::{ChildGuard, McpClient, free_port, peers_dir, wait_for_port};

/// server-everything in its legacy `sse` mode on `port`, once it listens.
fn sse_server(port: u16) -> ChildGuard {
    let peers = peers_dir();
    let mut cmd = Command::new("node");
    cmd.arg(peers.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js"))
        .arg("sse")
        .current_dir(&peers)
        .env("PORT", port.to_string())
        .env(
            "NODE_OPTIONS",
            format!("--require {}", peers.join("force-loopback.cjs").display()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let server = ChildGuard::spawn("server-everything sse", &mut cmd).unwrap();
    assert!(wait_for_port(port, Duration::from_secs(30)));
    server
}

#[test]
fn a_legacy_sse_server_behind_the_gateway() {
    let port = free_port();
    let _server = sse_server(port);
    let url = format!("http://127.0.0.1:{port}/sse");
    let policy = r#"{"version":"1","default":"allow","tools":{"get-sum":{"action":"deny","reason":"No sums."}}}"#;
    let gateway = Toolgate::start(
        &format!(
            "[servers.old]\nurl = {}\ntransport = \"sse\"\npolicy = \"p.json\"\n",
            toml_str(&url)
        ),
        &[("p.json", policy)],
    );
    let out = McpClient::python_http(&gateway.url("old"))
        .call(
            "trigger-long-running-operation",
            json!({"duration": 1, "steps": 2}),
        )
        .progress()
        .run();
    out.assert_exit(0);
    assert!(out.tool_names().contains(&"echo".to_owned()));
    assert_eq!(out.events_named("progress").len(), 2, "{:?}", out.events());

    let out = McpClient::python_http(&gateway.url("old"))
        .no_list()
        .call("get-sum", json!({"a": 1, "b": 2}))
        .run();
    out.assert_exit(2);
    let out = McpClient::python_http(&format!("{}/mcp", gateway.base))
        .no_list()
        .call("old__echo", json!({"message": "via /mcp"}))
        .run();
    out.assert_exit(0);
    assert_eq!(
        out.events_named("result")[0]["result"]["content"][0]["text"],
        "Echo: via /mcp"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_connects_again_after_its_legacy_sse_server_restarts() {
    let port = free_port();
    let mut server = sse_server(port);
    let url = format!("http://127.0.0.1:{port}/sse");
    let gateway = Toolgate::start(
        &format!(
            "[servers.old]\nurl = {}\ntransport = \"sse\"\n",
            toml_str(&url)
        ),
        &[],
    );
    let session = RawSession::open(&gateway.url("old"), None)
        .await
        .expect("session");
    let (_, first) = session.call(1, "echo", json!({"message": "one"})).await;
    assert_eq!(result_text(&first), "Echo: one", "{first}");

    // The server goes away: the session's next call fails at once, with a clear error.
    server.kill();
    let started = Instant::now();
    let (_, down) = session.call(2, "echo", json!({"message": "two"})).await;
    assert!(
        !error_message(&down).is_empty() && started.elapsed() < Duration::from_secs(10),
        "a clear error at once, got {down} after {:?}",
        started.elapsed()
    );

    // It comes back on the same address: the same session is served again, on a connection
    // initialized with the session's own initialize.
    let _server = sse_server(port);
    let (_, back) = session.call(3, "echo", json!({"message": "three"})).await;
    assert_eq!(result_text(&back), "Echo: three", "{back}");
    let (_, again) = session.call(4, "echo", json!({"message": "four"})).await;
    assert_eq!(result_text(&again), "Echo: four", "{again}");
    assert!(
        gateway.log().contains("a new one took its place"),
        "{}",
        gateway.log()
    );
}
