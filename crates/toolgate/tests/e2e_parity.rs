//! The same requests through `/mcp/<server>` and through `/mcp` leave the same audit trail: both
//! fronts hand every message to the one pipeline. One script — initialize, a tool list, ping,
//! an allowed call, a denied one, a hidden one, an unknown tool, unreadable params, a limited
//! call, a held one, a body that is not JSON, a client that hangs up mid-call, and a list stopped
//! by the kill switch — is run against the real binary in front of server-everything (stdio),
//! once per endpoint, and the two exports are compared record by record: method, server, tool,
//! decision, rule and what the server answered.
//!
//! The one difference is the endpoint itself: `ping` on `/mcp` concerns the session the gateway
//! holds and reaches no server, and a body that cannot be read names no server on `/mcp`; those
//! two records are compared without their server and upstream status.

mod common;

use common::{RawSession, Toolgate, ok, stdout, toml_array, toml_str};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use toolgate_testkit::server_everything_stdio_command;

const POLICY: &str = r#"{
  "version": "1",
  "default": "allow",
  "hide": ["get-tiny-image"],
  "tools": {
    "get-env": {"action": "deny", "reason": "The environment is not for agents."},
    "get-sum": {"limits": [{"counter": "parity_sum", "window": "minute", "max": 1, "scope": "session"}]},
    "get-annotated-message": {"action": "require_approval", "approval": {"timeout": "10m", "mode": "retry"}}
  }
}"#;

/// Every record in the audit log, in order.
fn export(gw: &Toolgate) -> Vec<Value> {
    stdout(&ok(gw.cli(&["audit", "export"])))
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect()
}

/// The log once it has stopped growing (records are written in batches).
fn settled(gw: &Toolgate, at_least: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = export(gw);
    loop {
        std::thread::sleep(Duration::from_millis(700));
        let now = export(gw);
        if (now.len() == last.len() && now.len() >= at_least) || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

/// The part of a record both endpoints must agree on.
fn essence(r: &Value) -> Value {
    json!({
        "method": r["method"],
        "server": r["server"],
        "tool": r["tool"],
        "decision": r["decision"],
        "rule": r["rule"],
        "upstream_status": r["upstream_status"],
    })
}

/// The script, on a session at `url`.
async fn script(gw: &Toolgate, url: &str) {
    let s = RawSession::open(url, None).await.expect("initialize");
    let (status, list) = s.rpc(1, "tools/list", json!({})).await;
    assert_eq!(status, 200, "{list}");
    assert!(
        list["result"]["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{list}"
    );
    let (_, pong) = s.rpc(2, "ping", json!({})).await;
    assert_eq!(pong["result"], json!({}), "{pong}");
    // Names without a server prefix: `/mcp` with one server routes them to it.
    let (_, echo) = s.call(3, "echo", json!({"message": "hi"})).await;
    assert!(
        echo["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or("")
            .contains("hi"),
        "{echo}"
    );
    let (_, denied) = s.call(4, "get-env", json!({})).await;
    assert_eq!(denied["result"]["isError"], true, "{denied}");
    let (_, hidden) = s.call(5, "get-tiny-image", json!({})).await;
    assert_eq!(hidden["error"]["code"], -32602, "{hidden}");
    let (_, unknown) = s.call(6, "no-such-tool", json!({})).await;
    assert!(
        unknown.get("error").is_some() || unknown["result"]["isError"] == true,
        "{unknown}"
    );
    let (_, unreadable) = s.rpc(7, "tools/call", json!({"name": 5})).await;
    assert_eq!(unreadable["error"]["code"], -32602, "{unreadable}");
    let (_, first) = s.call(8, "get-sum", json!({"a": 1, "b": 2})).await;
    assert!(first["result"]["isError"] != true, "{first}");
    let (_, limited) = s.call(9, "get-sum", json!({"a": 1, "b": 2})).await;
    assert_eq!(limited["result"]["isError"], true, "{limited}");
    let (_, held) = s
        .call(10, "get-annotated-message", json!({"messageType": "error"}))
        .await;
    assert_eq!(held["result"]["isError"], true, "{held}");
    let not_json = s
        .http
        .post(&s.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &s.id)
        .body("this is not json")
        .send()
        .await
        .expect("send");
    assert_eq!(not_json.status(), 400);
    // The client gives up on a 3-second operation after 300 ms.
    let body = json!({"jsonrpc":"2.0","id":11,"method":"tools/call",
        "params":{"name":"trigger-long-running-operation","arguments":{"duration":3,"steps":3}}});
    let gone = s
        .http
        .post(&s.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &s.id)
        .timeout(Duration::from_millis(300))
        .body(body.to_string())
        .send()
        .await;
    assert!(
        gone.is_err(),
        "the call must still run when its client leaves"
    );
    // A list the kill switch stops.
    ok(gw.cli(&["kill", "on", "--server", "ev", "--reason", "parity"]));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, prompts) = s.rpc(12, "prompts/list", json!({})).await;
        if prompts["result"]["_meta"].is_object() || Instant::now() > deadline {
            assert_eq!(prompts["result"]["prompts"], json!([]), "{prompts}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ok(gw.cli(&["kill", "off", "--server", "ev"]));
    // Served again before the next script starts (the switch is polled once a second).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, prompts) = s.rpc(13, "prompts/list", json!({})).await;
        if !prompts["result"]["_meta"].is_object() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the switch never came off: {prompts}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn both_endpoints_leave_the_same_audit_trail() {
    let ev = server_everything_stdio_command();
    // Listed by the catalogue at start, so that both endpoints meet the same pins.
    let config = format!(
        "[servers.ev]\ncommand = {}\nargs = {}\npolicy = \"p.json\"\nstart = \"eager\"\n",
        toml_str(&ev[0]),
        toml_array(&ev[1..]),
    );
    let gw = Toolgate::start(&config, &[("p.json", POLICY)]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stdout(&ok(gw.cli(&["pins", "list"]))).contains("echo") {
        assert!(Instant::now() < deadline, "the catalogue never listed ev");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    script(&gw, &gw.url("ev")).await;
    let one = settled(&gw, 14);
    script(&gw, &format!("{}/mcp", gw.base)).await;
    let all = settled(&gw, one.len() * 2);
    let (one, all) = (&all[..one.len()], &all[one.len()..]);
    // The kill switch's list may have been asked more than once while the switch took hold, and
    // again until it came off: the served ones are left out.
    let keep = |records: &[Value]| -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        for r in records.iter().map(essence) {
            let repeat = r["method"] == "prompts/list" && out.last() == Some(&r);
            let before_switch = r["method"] == "prompts/list" && r["decision"] != "deny";
            if !repeat && !before_switch {
                out.push(r);
            }
        }
        out
    };
    let (mut one, mut all) = (keep(one), keep(all));
    for r in one.iter_mut().chain(all.iter_mut()) {
        // What concerns the endpoint and not a server: its name is the endpoint's.
        if r["method"] == "ping" || r["method"] == "" {
            r["server"] = Value::Null;
            r["upstream_status"] = Value::Null;
        }
    }
    // The record of the call whose client left may come before or after the ones that follow.
    let by_content = |a: &Value, b: &Value| a.to_string().cmp(&b.to_string());
    one.sort_by(by_content);
    all.sort_by(by_content);
    let methods: Vec<&Value> = one.iter().map(|r| &r["method"]).collect();
    for expected in [
        "initialize",
        "tools/list",
        "ping",
        "tools/call",
        "",
        "prompts/list",
    ] {
        assert!(
            methods.iter().any(|m| *m == expected),
            "no {expected:?} record in {one:#?}"
        );
    }
    let decisions: Vec<&str> = one.iter().filter_map(|r| r["decision"].as_str()).collect();
    for expected in [
        "allow",
        "deny",
        "hidden",
        "error",
        "rate_limited",
        "approval_required",
    ] {
        assert!(
            decisions.contains(&expected),
            "no {expected} record in {one:#?}"
        );
    }
    assert!(
        one.iter().any(|r| r["upstream_status"] == "abandoned"),
        "the call whose client left is recorded: {one:#?}"
    );
    assert_eq!(
        one, all,
        "/mcp/ev and /mcp recorded the same script differently"
    );
}
