//! An HTTP upstream that restarts forgets its sessions. The gateway notices (404, or 400 as
//! server-everything answers), opens a new upstream session with the client's own `initialize`,
//! and retries: the client's existing session keeps working.

mod common;

use common::{Toolgate, toml_str};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::Duration;
use toolgate_testkit::{
    ChildGuard, free_port, peers_dir, spawn_announced, twenty_mcp_bin, wait_for_port,
};

fn twenty_on(port: u16) -> toolgate_testkit::HttpPeer {
    let mut cmd = Command::new(twenty_mcp_bin());
    cmd.args(["http", "--listen", &format!("127.0.0.1:{port}")]);
    spawn_announced("twenty-mcp", &mut cmd)
}

fn everything_on(port: u16) -> ChildGuard {
    let peers = peers_dir();
    let mut cmd = Command::new("node");
    cmd.arg(peers.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js"))
        .arg("streamableHttp")
        .current_dir(&peers)
        .env("PORT", port.to_string())
        .env(
            "NODE_OPTIONS",
            format!("--require {}", peers.join("force-loopback.cjs").display()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let guard = ChildGuard::spawn("server-everything", &mut cmd).unwrap();
    assert!(
        wait_for_port(port, Duration::from_secs(30)),
        "server-everything did not start"
    );
    guard
}

/// A client session held across the restart, speaking raw Streamable HTTP.
struct Client {
    http: reqwest::Client,
    url: String,
    session: String,
}

impl Client {
    async fn open(url: String) -> Client {
        let http = reqwest::Client::new();
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"restart-test","version":"1"}}});
        let resp = http
            .post(&url)
            .header("accept", "application/json, text/event-stream")
            .json(&init)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let session = resp.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let c = Client { http, url, session };
        c.post(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
            .await;
        c
    }

    async fn post(&self, body: Value) -> Value {
        let resp = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &self.session)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        let text = resp.text().await.unwrap();
        // JSON, or the data of the SSE event that carries the answer.
        serde_json::from_str(&text).unwrap_or_else(|_| {
            text.lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .filter_map(|d| serde_json::from_str::<Value>(d).ok())
                .find(|v| v.get("id").is_some())
                .unwrap_or(Value::Null)
        })
    }

    async fn call(&self, id: u64, tool: &str, args: Value) -> Value {
        self.post(json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":args}})).await
    }
}

#[tokio::test]
async fn a_restarted_upstream_answering_404_is_reinitialized_transparently() {
    let port = free_port();
    let mut twenty = twenty_on(port);
    let gateway = Toolgate::start(
        &format!("[servers.crm]\nurl = {}\n", toml_str(&twenty.url)),
        &[],
    );
    for url in [gateway.url("crm"), format!("{}/mcp", gateway.base)] {
        let client = Client::open(url.clone()).await;
        let tool = if url.ends_with("/mcp") {
            "crm__findManyPeople"
        } else {
            "findManyPeople"
        };
        let before = client.call(1, tool, json!({})).await;
        assert_eq!(
            before["result"]["content"][0]["text"], "findManyPeople ok",
            "{before}"
        );

        twenty.guard.kill();
        twenty = twenty_on(port);
        let after = client.call(2, tool, json!({})).await;
        assert_eq!(after["id"], 2);
        assert_eq!(
            after["result"]["content"][0]["text"], "findManyPeople ok",
            "after the restart: {after}"
        );
    }
    assert!(
        gateway.log().contains("upstream session expired"),
        "{}",
        gateway.log()
    );
}

#[tokio::test]
async fn a_restarted_upstream_answering_400_is_reinitialized_transparently() {
    let port = free_port();
    let mut everything = everything_on(port);
    let url = format!("http://127.0.0.1:{port}/mcp");
    let gateway = Toolgate::start(
        &format!("[servers.everything]\nurl = {}\n", toml_str(&url)),
        &[],
    );
    let client = Client::open(gateway.url("everything")).await;
    let before = client.call(1, "echo", json!({"message": "before"})).await;
    assert_eq!(before["result"]["content"][0]["text"], "Echo: before");

    everything.kill();
    // The port is free again once the old process is gone.
    let mut tries = 0;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() && tries < 50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        tries += 1;
    }
    let _everything = everything_on(port);
    let after = client.call(2, "echo", json!({"message": "after"})).await;
    assert_eq!(
        after["result"]["content"][0]["text"], "Echo: after",
        "{after}"
    );
}
