//! Hot reload: editing a policy changes the next decision of an open session; an invalid edit
//! changes nothing and logs its errors; a config edit adds a server without touching the others.

mod common;

use common::{Toolgate, toml_array, toml_str};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use toolgate_testkit::twenty_stdio_command;

const ALLOW: &str = r#"{"version":"1","default":"allow"}"#;
const DENY: &str = r#"{"version":"1","default":"allow","tools":{"findManyPeople":{"action":"deny","reason":"Changed by reload."}}}"#;
const BROKEN: &str = r#"{"version":"1","default":"allow","tools":{"findManyPeople":{"deny_if":[{"conditions":[{"path":"args.x","op":"greater","value":1}]}]}}}"#;

struct Session {
    http: reqwest::Client,
    url: String,
    id: String,
}

impl Session {
    async fn open(url: String) -> Session {
        let http = reqwest::Client::new();
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"reload-test","version":"1"}}});
        let resp = http
            .post(&url)
            .header("accept", "application/json, text/event-stream")
            .json(&init)
            .send()
            .await
            .unwrap();
        let id = resp.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        Session { http, url, id }
    }

    async fn call(&self, tool: &str) -> Value {
        let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":tool,"arguments":{}}});
        let resp = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &self.id)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "the session survives reloads");
        resp.json().await.unwrap()
    }

    async fn denied(&self, tool: &str) -> bool {
        self.call(tool).await["result"]["isError"] == true
    }
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_edits_apply_to_open_sessions_and_invalid_edits_change_nothing() {
    let gw = Toolgate::start(&servers(""), &[("p.json", ALLOW)]);
    let s = Session::open(gw.url("crm")).await;
    assert!(!s.denied("findManyPeople").await);

    std::fs::write(gw.path("p.json"), DENY).unwrap();
    eventually("the new policy denies", async || {
        s.denied("findManyPeople").await
    })
    .await;
    let r = s.call("findManyPeople").await;
    assert_eq!(
        r["result"]["content"][0]["text"],
        "[POLICY DENIED] Changed by reload."
    );

    std::fs::write(gw.path("p.json"), BROKEN).unwrap();
    eventually("the rejection is logged", async || {
        gw.log().contains("configuration change rejected")
    })
    .await;
    let log = gw.log();
    assert!(
        log.contains("unknown op \"greater\""),
        "the log has the errors:\n{log}"
    );
    assert!(
        s.denied("findManyPeople").await,
        "the last valid policy stays in force"
    );

    std::fs::write(gw.path("p.json"), ALLOW).unwrap();
    eventually("the fixed policy allows again", async || {
        !s.denied("findManyPeople").await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn config_edits_add_servers_without_restarting_the_others() {
    let gw = Toolgate::start(&servers(""), &[("p.json", ALLOW)]);
    let s = Session::open(gw.url("crm")).await;
    assert!(!s.denied("findManyPeople").await);
    let state = async || -> Value {
        reqwest::get(format!("{}/readyz", gw.base))
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["servers"]
            .clone()
    };
    let before = state().await["crm"]["state"].clone();
    assert!(
        before.as_str().unwrap().starts_with("running as pid"),
        "{before}"
    );

    // Keep the port the gateway bound: the listen address only changes on restart.
    let port = gw.base.rsplit(':').next().unwrap().to_owned();
    let twenty = twenty_stdio_command();
    let added = format!(
        "\n[servers.crm2]\ncommand = {}\nargs = {}\n",
        toml_str(&twenty[0]),
        toml_array(&twenty[1..])
    );
    let text = format!(
        "[gateway]\nlisten = \"127.0.0.1:{port}\"\n\n{}",
        servers(&added)
    );
    std::fs::write(gw.path("toolgate.toml"), text).unwrap();
    eventually("the new server is served", async || {
        state().await.get("crm2").is_some()
    })
    .await;

    let s2 = Session::open(gw.url("crm2")).await;
    assert_eq!(
        s2.call("findManyPeople").await["result"]["content"][0]["text"],
        "findManyPeople ok"
    );
    // The unchanged server kept its child and its session.
    assert!(!s.denied("findManyPeople").await);
    assert_eq!(state().await["crm"]["state"], before, "the same child");
    assert!(gw.log().contains("configuration reloaded"));
}

/// The `crm` server on the Twenty-like stdio server with policy `p.json`, then `extra`.
fn servers(extra: &str) -> String {
    let twenty = twenty_stdio_command();
    format!(
        "[servers.crm]\ncommand = {}\nargs = {}\npolicy = \"p.json\"\n{extra}",
        toml_str(&twenty[0]),
        toml_array(&twenty[1..]),
    )
}
