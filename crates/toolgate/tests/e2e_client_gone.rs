//! A call whose client hangs up before the answer is still audited, once: on `/mcp/<server>` and
//! `/mcp`, in front of server-everything over stdio and over Streamable HTTP, a client that
//! gives up on `trigger-long-running-operation` (3 s) after 300 ms leaves exactly one request
//! record, allowed, with the upstream status `abandoned`.

mod common;

use common::{RawSession, Toolgate, ok, stdout, toml_array, toml_str};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use toolgate_testkit::{server_everything_stdio_command, spawn_server_everything_http};

const TOOL: &str = "trigger-long-running-operation";

/// The tool-call records of `tool` in the audit log, once there are `n` of them (or 10 s passed).
fn records_of(gw: &Toolgate, tool: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let records: Vec<Value> = stdout(&ok(gw.cli(&["audit", "export"])))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|r: &Value| r["method"] == "tools/call" && r["tool"] == tool)
            .collect();
        if records.len() >= n || Instant::now() > deadline {
            return records;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Starts the call and hangs up after 300 ms, long before its answer.
async fn hang_up(session: &RawSession, id: u64, tool: &str) {
    let body = json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
        "params":{"name":tool,"arguments":{"duration":3,"steps":3}}});
    let sent = session
        .http
        .post(&session.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session.id)
        .timeout(Duration::from_millis(300))
        .body(body.to_string())
        .send()
        .await;
    assert!(
        sent.is_err(),
        "the call must still be running when the client leaves"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_whose_client_hangs_up_is_audited_once() {
    let http = spawn_server_everything_http();
    let stdio = server_everything_stdio_command();
    let config = format!(
        "[servers.stdio]\ncommand = {}\nargs = {}\n\n[servers.http]\nurl = {}\n",
        toml_str(&stdio[0]),
        toml_array(&stdio[1..]),
        toml_str(&http.url),
    );
    let gw = Toolgate::start(&config, &[]);
    let mut expected = 0;
    for server in ["stdio", "http"] {
        let one = RawSession::open(&gw.url(server), None)
            .await
            .expect("session");
        hang_up(&one, 1, TOOL).await;
        expected += 1;
        let all = RawSession::open(&format!("{}/mcp", gw.base), None)
            .await
            .expect("session");
        // The aggregate endpoint's name for the tool; its record names the server's own.
        hang_up(&all, 2, &format!("{server}__{TOOL}")).await;
        expected += 1;
    }
    let records = records_of(&gw, TOOL, expected);
    assert_eq!(records.len(), expected, "one record per call: {records:#?}");
    for r in &records {
        assert_eq!(r["decision"], "allow", "{r}");
        assert_eq!(r["upstream_status"], "abandoned", "{r}");
    }
    let servers: Vec<&str> = records
        .iter()
        .map(|r| r["server"].as_str().unwrap())
        .collect();
    assert_eq!(
        servers.iter().filter(|s| **s == "stdio").count(),
        2,
        "{servers:?}"
    );
    // Nothing else is recorded for them later (the upstream's late answer finds no request).
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(records_of(&gw, TOOL, expected + 1).len(), expected);
}
