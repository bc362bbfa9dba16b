//! End to end: `toolgate kill` against the real gateway in front of two Twenty-like servers. A
//! switch thrown from the command line stops calls within the gateway's poll of the store (tested
//! bound: the first call made 1.2 s after `kill on` returns is refused; the poll runs every
//! second), survives a restart, and lets calls through again 1.2 s after `kill off`. Global,
//! per-server and per-grant scopes; every change is in the admin audit stream.

mod common;

use common::{RawSession, Toolgate, gateway_decision, result_text, toml_array, toml_str};
use serde_json::{Value, json};
use std::process::Output;
use std::time::{Duration, Instant};
use toolgate_testkit::{McpClient, twenty_stdio_command};

/// How long after a `kill on|off` returns the next call must see it (the gateway's poll is 1 s).
const BOUND: Duration = Duration::from_millis(1200);

const ALLOW_ALL: &str = r#"{"version":"1","default":"allow"}"#;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn start() -> Toolgate {
    let twenty = twenty_stdio_command();
    let server = |name: &str| {
        format!(
            "[servers.{name}]\ncommand = {}\nargs = {}\n\n",
            toml_str(&twenty[0]),
            toml_array(&twenty[1..]),
        )
    };
    Toolgate::start(
        &format!("{}{}", server("crm"), server("hr")),
        &[("allow.json", ALLOW_ALL)],
    )
}

fn grant(gw: &Toolgate, agent: &str, label: &str, servers: &[&str]) -> String {
    let policy = gw.path("allow.json");
    let mut args = vec![
        "grant",
        "create",
        "--agent",
        agent,
        "--label",
        label,
        "--policy",
        policy.to_str().unwrap(),
    ];
    for s in servers {
        args.extend(["--server", s]);
    }
    stdout(&ok(gw.cli(&args))).trim().to_owned()
}

struct Caller {
    sessions: Vec<(String, RawSession)>,
    next_id: u64,
}

impl Caller {
    async fn open(gw: &Toolgate, token: &str, servers: &[&str]) -> Caller {
        // Grants made after the gateway started are seen within its one-second poll: until
        // then it is open, and a session would belong to the anonymous caller.
        let deadline = Instant::now() + Duration::from_secs(5);
        while RawSession::open(&gw.url(servers[0]), None).await.is_ok() {
            assert!(
                Instant::now() < deadline,
                "the gateway never asked for a token"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut sessions = Vec::new();
        for s in servers {
            let session = RawSession::open(&gw.url(s), Some(token))
                .await
                .unwrap_or_else(|status| panic!("{s}: {status}"));
            sessions.push((s.to_string(), session));
        }
        Caller {
            sessions,
            next_id: 0,
        }
    }

    /// Calls a tool on `server`: `Ok(())` when it ran, `Err(text)` with the denial's text.
    async fn call(&mut self, server: &str) -> Result<(), String> {
        self.next_id += 1;
        let session = &self
            .sessions
            .iter()
            .find(|(s, _)| s == server)
            .expect("a session")
            .1;
        let (status, answer) = session
            .call(self.next_id, "findManyCompanies", json!({"limit": 1}))
            .await;
        assert_eq!(status, reqwest::StatusCode::OK, "{answer}");
        if answer["result"]["isError"] == true {
            Err(result_text(&answer).to_owned())
        } else {
            Ok(())
        }
    }
}

fn kill_list(gw: &Toolgate) -> Vec<Value> {
    serde_json::from_str(&stdout(&ok(gw.cli(&["kill", "list", "--json"])))).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_switch_stops_calls_survives_a_restart_and_is_released() {
    let gw = start();
    let alice = grant(&gw, "alice", "alice-laptop", &["crm", "hr"]);
    let mut a = Caller::open(&gw, &alice, &["crm", "hr"]).await;
    assert_eq!(a.call("crm").await, Ok(()));

    ok(gw.cli(&["kill", "on", "--server", "crm", "--reason", "incident 42"]));
    tokio::time::sleep(BOUND).await;
    let denied = "[POLICY DENIED] calls are stopped by the server kill switch: incident 42";
    assert_eq!(a.call("crm").await, Err(denied.to_owned()));
    assert_eq!(a.call("hr").await, Ok(()), "other servers are not stopped");
    // The Python SDK sees the same refusal, as a tool error the model can read.
    let out = McpClient::python_http(&gw.url("crm"))
        .token(&alice)
        .no_list()
        .call("findManyCompanies", json!({"limit": 1}))
        .run();
    out.assert_exit(2);
    let result = &out.events_named("result")[0];
    assert_eq!(result_text(result), denied);
    assert_eq!(gateway_decision(result)["rule"], "/kill_switch/server");
    let list = kill_list(&gw);
    assert_eq!(list.len(), 1);
    assert_eq!(
        (&list[0]["scope"], &list[0]["target"], &list[0]["reason"]),
        (&json!("server"), &json!("crm"), &json!("incident 42"))
    );

    // A restarted gateway reads the switch before serving its first call.
    let gw = gw.restart();
    let mut a = Caller::open(&gw, &alice, &["crm", "hr"]).await;
    assert_eq!(a.call("crm").await, Err(denied.to_owned()));
    assert_eq!(a.call("hr").await, Ok(()));

    ok(gw.cli(&["kill", "off", "--server", "crm"]));
    tokio::time::sleep(BOUND).await;
    assert_eq!(a.call("crm").await, Ok(()));
    assert!(kill_list(&gw).is_empty());
    // Releasing a switch that is not engaged is harmless and not audited.
    ok(gw.cli(&["kill", "off", "--server", "crm"]));

    let admin = stdout(&ok(gw.cli(&["audit", "export", "--stream", "admin"])));
    let events: Vec<Value> = admin
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &Value| e["action"].as_str().unwrap().starts_with("kill_switch."))
        .collect();
    assert_eq!(events.len(), 2, "{admin}");
    assert_eq!(events[0]["action"], "kill_switch.engage");
    assert_eq!(events[0]["target"], "crm");
    assert_eq!(events[0]["details"]["scope"], "server");
    assert_eq!(events[0]["details"]["reason"], "incident 42");
    assert_eq!(events[1]["action"], "kill_switch.release");
    assert_eq!(events[1]["target"], "crm");
    assert!(events.iter().all(|e| e["actor"] == "cli"));
    ok(gw.cli(&["audit", "verify", "--stream", "admin"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_and_grant_switches() {
    let gw = start();
    let alice = grant(&gw, "alice", "alice-laptop", &["crm", "hr"]);
    let bob = grant(&gw, "bob", "bob-ci", &["crm"]);
    let mut a = Caller::open(&gw, &alice, &["crm", "hr"]).await;
    let mut b = Caller::open(&gw, &bob, &["crm"]).await;

    // A grant's switch stops that grant only.
    ok(gw.cli(&["kill", "on", "--grant", "bob-ci"]));
    tokio::time::sleep(BOUND).await;
    assert_eq!(
        b.call("crm").await,
        Err("[POLICY DENIED] calls are stopped by the grant kill switch".to_owned())
    );
    assert_eq!(a.call("crm").await, Ok(()));

    // The global switch stops everyone, everywhere.
    ok(gw.cli(&["kill", "on", "--global", "--reason", "maintenance"]));
    tokio::time::sleep(BOUND).await;
    let global = "[POLICY DENIED] calls are stopped by the global kill switch: maintenance";
    assert_eq!(a.call("crm").await, Err(global.to_owned()));
    assert_eq!(a.call("hr").await, Err(global.to_owned()));
    assert_eq!(b.call("crm").await, Err(global.to_owned()), "global first");
    let scopes: Vec<Value> = kill_list(&gw).iter().map(|s| s["scope"].clone()).collect();
    assert_eq!(scopes, [json!("global"), json!("grant")]);
    let table = stdout(&ok(gw.cli(&["kill", "list"])));
    assert!(
        table.contains("maintenance") && table.contains("bob-ci"),
        "{table}"
    );

    ok(gw.cli(&["kill", "off", "--global"]));
    tokio::time::sleep(BOUND).await;
    assert_eq!(a.call("hr").await, Ok(()));
    assert!(b.call("crm").await.is_err(), "bob's own switch still holds");
    ok(gw.cli(&["kill", "off", "--grant", "bob-ci"]));
    tokio::time::sleep(BOUND).await;
    assert_eq!(b.call("crm").await, Ok(()));

    // Exactly one scope is required.
    assert_eq!(gw.cli(&["kill", "on"]).status.code(), Some(2));
    assert_eq!(
        gw.cli(&["kill", "on", "--global", "--server", "crm"])
            .status
            .code(),
        Some(2)
    );

    let admin = stdout(&ok(gw.cli(&["audit", "export", "--stream", "admin"])));
    let kills: Vec<(String, String)> = admin
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["action"].as_str().unwrap().starts_with("kill_switch."))
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("kill_switch.engage", "bob-ci"),
        ("kill_switch.engage", "*"),
        ("kill_switch.release", "*"),
        ("kill_switch.release", "bob-ci"),
    ]
    .map(|(a, t)| (a.to_owned(), t.to_owned()));
    assert_eq!(kills, want);
}
