//! A legacy HTTP+SSE upstream (protocol 2024-11-05 transport, `transport = "sse"`): server-everything
//! in its `sse` mode behind the gateway, driven by the Python SDK over Streamable HTTP.

mod common;

use common::{Toolgate, toml_str};
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::Duration;
use toolgate_testkit::{ChildGuard, McpClient, free_port, peers_dir, wait_for_port};

#[test]
fn a_legacy_sse_server_behind_the_gateway() {
    let peers = peers_dir();
    let port = free_port();
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
    let _server = ChildGuard::spawn("server-everything sse", &mut cmd).unwrap();
    assert!(wait_for_port(port, Duration::from_secs(30)));
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
