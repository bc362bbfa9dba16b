//! Hot reload: editing a policy changes the next decision of an open session; an invalid edit
//! changes nothing and logs its errors; a config edit adds a server without touching the others.

mod common;

use common::{RawSession, Toolgate, toml_array, toml_str};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use toolgate_testkit::twenty_stdio_command;

const ALLOW: &str = r#"{"version":"1","default":"allow"}"#;
const DENY: &str = r#"{"version":"1","default":"allow","tools":{"findManyPeople":{"action":"deny","reason":"Changed by reload."}}}"#;
const BROKEN: &str = r#"{"version":"1","default":"allow","tools":{"findManyPeople":{"deny_if":[{"conditions":[{"path":"args.x","op":"greater","value":1}]}]}}}"#;

/// A call on an open session, which must survive every reload.
async fn call(s: &RawSession, tool: &str) -> Value {
    let (status, response) = s.call(1, tool, json!({})).await;
    assert_eq!(status, 200, "the session survives reloads");
    response
}

async fn denied(s: &RawSession, tool: &str) -> bool {
    call(s, tool).await["result"]["isError"] == true
}

async fn open(url: String) -> RawSession {
    RawSession::open(&url, None).await.expect("a session")
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
    let s = open(gw.url("crm")).await;
    assert!(!denied(&s, "findManyPeople").await);

    std::fs::write(gw.path("p.json"), DENY).unwrap();
    eventually("the new policy denies", async || {
        denied(&s, "findManyPeople").await
    })
    .await;
    let r = call(&s, "findManyPeople").await;
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
        denied(&s, "findManyPeople").await,
        "the last valid policy stays in force"
    );

    std::fs::write(gw.path("p.json"), ALLOW).unwrap();
    eventually("the fixed policy allows again", async || {
        !denied(&s, "findManyPeople").await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn config_edits_add_servers_without_restarting_the_others() {
    let gw = Toolgate::start(&servers(""), &[("p.json", ALLOW)]);
    let s = open(gw.url("crm")).await;
    assert!(!denied(&s, "findManyPeople").await);
    // Each server's status by name, from the admin API.
    let state = async || -> Value {
        let listed = reqwest::get(gw.api_url("/servers"))
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        let by_name = listed["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["name"].as_str().unwrap().to_owned(), s["status"].clone()));
        Value::Object(by_name.collect())
    };
    let before = state().await["crm"]["pid"].clone();
    assert_eq!(state().await["crm"]["state"], "running", "{before}");

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

    let s2 = open(gw.url("crm2")).await;
    assert_eq!(
        call(&s2, "findManyPeople").await["result"]["content"][0]["text"],
        "findManyPeople ok"
    );
    // The unchanged server kept its child and its session.
    assert!(!denied(&s, "findManyPeople").await);
    assert_eq!(state().await["crm"]["pid"], before, "the same child");
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
