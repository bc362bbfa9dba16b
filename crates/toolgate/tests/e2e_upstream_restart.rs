//! An HTTP upstream that restarts forgets its sessions. The gateway notices (404, or 400 as
//! server-everything answers), opens a new upstream session with the client's own `initialize`,
//! and retries: the client's existing session keeps working.

mod common;

use common::{RawSession, Toolgate, toml_str};
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

/// A call on a client session held across the restart; the HTTP exchange itself must succeed.
async fn call(client: &RawSession, id: u64, tool: &str, args: Value) -> Value {
    let (status, response) = client.call(id, tool, args).await;
    assert!(status.is_success(), "{status}");
    response
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
        let client = RawSession::open(&url, None).await.expect("a session");
        let tool = if url.ends_with("/mcp") {
            "crm__findManyPeople"
        } else {
            "findManyPeople"
        };
        let before = call(&client, 1, tool, json!({})).await;
        assert_eq!(
            before["result"]["content"][0]["text"], "findManyPeople ok",
            "{before}"
        );

        twenty.guard.kill();
        twenty = twenty_on(port);
        let after = call(&client, 2, tool, json!({})).await;
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
    let client = RawSession::open(&gateway.url("everything"), None)
        .await
        .expect("a session");
    let before = call(&client, 1, "echo", json!({"message": "before"})).await;
    assert_eq!(before["result"]["content"][0]["text"], "Echo: before");

    everything.kill();
    // The port is free again once the old process is gone.
    let mut tries = 0;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() && tries < 50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        tries += 1;
    }
    let _everything = everything_on(port);
    let after = call(&client, 2, "echo", json!({"message": "after"})).await;
    assert_eq!(
        after["result"]["content"][0]["text"], "Echo: after",
        "{after}"
    );
}
