//! End to end: approvals as real clients meet them, with the real binary in front of the
//! Twenty-like stdio server.
//!
//! - the approver sees the call's arguments as the audit log keeps them — under
//!   `[audit] arguments = "values"` with a secret under a redacted key, or matching a redacted
//!   pattern, replaced; under `"keys"` their names only — in `toolgate approvals show`, the admin
//!   API, the approval stream and the webhook;
//! - a hold longer than `[approvals] hold_max` answers the TypeScript SDK with the approval to
//!   wait for and to retry, before the SDK's own timeout; the identical retry waits for the same
//!   approval again; approved after its caller left, the next identical retry (a new client) gets
//!   the server's real result, once, and `approvals list` shows each state on the way;
//! - a held call whose client goes away (the Python SDK giving up, with and without progress)
//!   leaves exactly one request record, `held` / `abandoned`, and its approval can still be used
//!   by the identical retry.

mod common;

use common::{Toolgate, gateway_decision, ok, result_text, stdout, toml_array, toml_str};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use toolgate_testkit::{McpClient, PeerOutput, twenty_stdio_command};

const ADMIN_TOKEN: &str = "e2e-approval-clients-admin-token";

/// `deleteOneCompany` is held (5 minutes); `deleteOnePerson` asks for a retry and notifies
/// `webhook`.
fn policy(webhook: &str) -> String {
    json!({
        "version": "1",
        "default": "allow",
        "tools": {
            "deleteOneCompany": {"action": "require_approval", "approval": {"timeout": "5m"}},
            "deleteOnePerson": {"action": "require_approval", "approval": {
                "timeout": "5m", "mode": "retry", "notify": {"webhook": webhook}}}
        }
    })
    .to_string()
}

/// The gateway in front of the Twenty-like server; `extra` is more config (`[approvals]`, `[audit]`).
fn start(extra: &str, webhook: &str) -> Toolgate {
    let twenty = twenty_stdio_command();
    let config = format!(
        "[admin]\ntoken_sha256 = \"{}\"\n\n[servers.crm]\ncommand = {}\nargs = {}\npolicy = \"p.json\"\n\n{extra}",
        toolgate_store::token::hash(ADMIN_TOKEN).to_hex(),
        toml_str(&twenty[0]),
        toml_array(&twenty[1..]),
    );
    Toolgate::start(&config, &[("p.json", &policy(webhook))])
}

/// `toolgate approvals list --json`.
fn list(gw: &Toolgate) -> Vec<Value> {
    serde_json::from_str(&stdout(&ok(gw.cli(&["approvals", "list", "--json"])))).unwrap()
}

/// The approval `id` as `approvals show --json` prints it.
fn show(gw: &Toolgate, id: &str) -> Value {
    serde_json::from_str(&stdout(&ok(gw.cli(&["approvals", "show", id, "--json"])))).unwrap()
}

/// Polls until approval `id` is in `state` (as `approvals show` says); returns it.
fn wait_state(gw: &Toolgate, id: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let a = show(gw, id);
        if a["state"] == state {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "approval {id} never got to {state:?}: {a:#}\nlog:\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls until exactly one approval of `tool` exists; returns its id.
fn only_approval(gw: &Toolgate, tool: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let of_tool: Vec<Value> = list(gw)
            .into_iter()
            .filter(|a| a["binding"]["tool"] == tool)
            .collect();
        if !of_tool.is_empty() {
            assert_eq!(of_tool.len(), 1, "{of_tool:#?}");
            return of_tool[0]["id"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no approval of {tool}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The request records of `tool`, oldest first, once there are at least `n` (and a moment later,
/// so that a record too many would show).
fn request_records(gw: &Toolgate, tool: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let query = || -> Vec<Value> {
        let o = ok(gw.cli(&["audit", "query", "--tool", tool, "--limit", "0", "--json"]));
        stdout(&o)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    loop {
        if query().len() >= n {
            std::thread::sleep(Duration::from_millis(1500));
            return query();
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {n} records of {tool}: {:#?}\nlog:\n{}",
            query(),
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The one `result` event of a client run.
fn result(out: &PeerOutput) -> Value {
    let results = out.events_named("result");
    assert_eq!(results.len(), 1, "{:?}", out.events());
    results[0].clone()
}

/// An HTTP receiver that answers 200 to every POST and keeps the bodies.
struct Webhook {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Webhook {
    fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = bodies.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_ok() {
                    if let Ok(v) = serde_json::from_slice(&body) {
                        seen.lock().unwrap().push(v);
                    }
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        Webhook { url, bodies }
    }

    fn first(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(b) = self.bodies.lock().unwrap().first() {
                return b.clone();
            }
            assert!(Instant::now() < deadline, "no webhook delivery");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `GET` on the admin API with the admin token.
async fn admin_get(gw: &Toolgate, path: &str) -> reqwest::Response {
    let resp = reqwest::Client::new()
        .get(gw.api_url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    resp
}

#[tokio::test(flavor = "multi_thread")]
async fn approvers_see_the_argument_values_with_secrets_redacted_when_the_audit_keeps_values() {
    approvers_see_the_arguments_as_the_audit_keeps_them("values").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn approvers_see_only_the_argument_names_when_the_audit_keeps_names() {
    approvers_see_the_arguments_as_the_audit_keeps_them("keys").await;
}

/// A call held for approval under `[audit] arguments = kept` (with redaction rules): the
/// approver sees, everywhere, what the audit log keeps — the values redacted, or the names.
async fn approvers_see_the_arguments_as_the_audit_keeps_them(kept: &str) {
    let hook = Webhook::start();
    let gw = Arc::new(start(
        &format!(
            "[audit]\narguments = \"{kept}\"\nredact_keys = [\"password\"]\nredact_patterns = [\"^sk-[a-z0-9]+$\"]\n"
        ),
        &hook.url,
    ));
    let mut stream = admin_get(&gw, "/approvals/stream").await;
    let arguments = json!({
        "id": "p-7",
        "reason": "duplicate record",
        "login": {"user": "ops", "password": "hunter2"},
        "keys": ["sk-abc123", "public"]
    });
    let names = json!(["id", "keys", "login", "reason"]);
    let redacted = if kept == "values" {
        json!({
            "id": "p-7",
            "reason": "duplicate record",
            "login": {"user": "ops", "password": "[REDACTED]"},
            "keys": ["[REDACTED]", "public"]
        })
    } else {
        names.clone()
    };
    let url = gw.url("crm");
    let call_args = arguments.clone();
    let out = tokio::task::spawn_blocking(move || {
        McpClient::python_http(&url)
            .no_list()
            .call("deleteOnePerson", call_args)
            .run()
    })
    .await
    .unwrap();
    let r = result(&out);
    let id = gateway_decision(&r)["approval_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The CLI: text and JSON.
    let g = gw.clone();
    let (text, shown) = tokio::task::spawn_blocking({
        let id = id.clone();
        move || {
            let text = stdout(&ok(g.cli(&["approvals", "show", &id])));
            (text, show(&g, &id))
        }
    })
    .await
    .unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("arguments:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        line.contains("duplicate record") && line.contains("[REDACTED]"),
        kept == "values",
        "{text}"
    );
    assert!(line.contains("reason"), "{text}");
    assert!(
        !text.contains("hunter2") && !text.contains("sk-abc123"),
        "{text}"
    );
    assert_eq!(shown["arguments"], redacted);
    assert_eq!(shown["state"], "pending (caller left)");

    // The admin API: one approval, and the list.
    let one: Value = admin_get(&gw, &format!("/approvals/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["arguments"], redacted);
    let all: Value = admin_get(&gw, "/approvals").await.json().await.unwrap();
    assert_eq!(all["approvals"][0]["id"], id.as_str());
    assert_eq!(all["approvals"][0]["arguments"], redacted);
    assert_eq!(all["approvals"][0]["state"], "pending (caller left)");

    // The approval stream.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut text = String::new();
    let streamed = loop {
        if let Some(data) = text
            .split("\n\n")
            .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data:")))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|a| a["id"] == id.as_str())
        {
            break data;
        }
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("an approval event in time")
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    };
    assert_eq!(streamed["arguments"], redacted);
    assert_eq!(streamed["state"], "pending (caller left)");

    // The webhook.
    let delivered = tokio::task::spawn_blocking(move || hook.first())
        .await
        .unwrap();
    assert_eq!(delivered["approval"]["id"], id.as_str());
    assert_eq!(delivered["call"]["arguments"], redacted);
    assert!(!delivered.to_string().contains("hunter2"), "{delivered}");
    assert_eq!(
        delivered.to_string().contains("duplicate record"),
        kept == "values",
        "{delivered}"
    );

    // The audit log itself kept the same, as configured.
    let g = gw.clone();
    let records = tokio::task::spawn_blocking(move || request_records(&g, "deleteOnePerson", 1))
        .await
        .unwrap();
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["arg_keys"], names);
    if kept == "values" {
        assert_eq!(records[0]["args"], redacted, "{records:#?}");
    } else {
        assert!(records[0].get("args").is_none(), "{records:#?}");
    }
}

#[test]
fn a_hold_longer_than_hold_max_asks_the_typescript_client_to_retry() {
    let gw = start(
        "[approvals]\nhold_max = \"2s\"\n",
        "http://127.0.0.1:9/unused",
    );
    let args = json!({"id": "c-hold"});
    let ts_call = || {
        McpClient::ts_http(&gw.url("crm"))
            .no_list()
            .call("deleteOneCompany", args.clone())
            .timeout(Duration::from_secs(60))
    };
    let asked_to_retry = |out: &PeerOutput| -> String {
        out.assert_exit(2);
        let r = result(out);
        let text = result_text(&r);
        assert!(text.starts_with("[APPROVAL REQUIRED]"), "{r}");
        assert!(text.contains("Retry this identical call"), "{text}");
        let decision = gateway_decision(&r);
        assert_eq!(decision["decision"], "approval_required", "{r}");
        let id = decision["approval_id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("apv_") && text.contains(&id), "{text}");
        id
    };

    // Held for hold_max, then told which approval it waits for: long before the SDK gives up.
    let started = Instant::now();
    let first = ts_call().run();
    let waited = started.elapsed();
    let id = asked_to_retry(&first);
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(30),
        "{waited:?}"
    );
    let listed = list(&gw);
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["state"], "pending (caller left)");
    assert_eq!(listed[0]["status"], "pending");
    let table = stdout(&ok(gw.cli(&["approvals", "list"])));
    assert!(table.contains("pending (caller left)"), "{table}");

    // The identical retry waits for the same approval again (no second approval), then is told
    // the same.
    let retry = std::thread::spawn({
        let client = ts_call();
        move || client.run()
    });
    wait_state(&gw, &id, "pending");
    assert_eq!(asked_to_retry(&retry.join().unwrap()), id);
    assert_eq!(list(&gw).len(), 1);
    wait_state(&gw, &id, "pending (caller left)");

    // Approved now, with no one waiting: the next identical call, from a new client, gets the
    // server's own result.
    ok(gw.cli(&["approvals", "approve", &id]));
    wait_state(&gw, &id, "approved (waiting for retry)");
    let table = stdout(&ok(gw.cli(&["approvals", "list"])));
    assert!(table.contains("approved (waiting for retry)"), "{table}");
    let passed = ts_call().run();
    passed.assert_success();
    let r = result(&passed);
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(
        r["result"]["content"][0]["text"], "deleteOneCompany ok",
        "{r}"
    );
    assert_eq!(
        r["result"]["structuredContent"]["arguments"]["id"],
        "c-hold"
    );
    wait_state(&gw, &id, "used");

    // Once: the next identical call is held again, under a new approval.
    let again = ts_call().run();
    let second = asked_to_retry(&again);
    assert_ne!(second, id);

    // The request log: asked to retry twice, allowed once, asked again.
    let records = request_records(&gw, "deleteOneCompany", 4);
    let decisions: Vec<&str> = records
        .iter()
        .map(|r| r["decision"].as_str().unwrap())
        .collect();
    assert_eq!(
        decisions,
        [
            "approval_required",
            "approval_required",
            "allow",
            "approval_required"
        ],
        "{records:#?}"
    );
    assert!(
        records[0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("approval {id} still pending")),
        "{records:#?}"
    );
    assert_eq!(
        records[2]["message"],
        format!("approved retry {id}").as_str()
    );
}

/// A held call whose Python SDK client gives up on it after four seconds (its request timeout)
/// and goes away.
fn abandoned_call(gw: &Toolgate, id: &str, progress: bool) {
    let mut client = McpClient::python_http(&gw.url("crm"))
        .no_list()
        .call("deleteOneCompany", json!({"id": id}))
        .timeout(Duration::from_secs(4));
    if progress {
        client = client.progress();
    }
    // The run itself may take longer than the request (starting Python is slow on a busy machine).
    let out = client.command().timeout(Duration::from_secs(60)).run();
    assert!(
        out.events_named("result").is_empty() && !out.timed_out,
        "the client gives up on the call, which never went ahead: {:?}\n{}",
        out.events(),
        out.stderr
    );
}

#[test]
fn a_held_call_whose_client_leaves_is_audited_once_as_held_and_abandoned() {
    let gw = start(
        "[approvals]\nhold_max = \"40s\"\n",
        "http://127.0.0.1:9/unused",
    );

    // A plain JSON answer was pending.
    abandoned_call(&gw, "c-gone", false);
    let id = only_approval(&gw, "deleteOneCompany");
    let records = request_records(&gw, "deleteOneCompany", 1);
    assert_eq!(records.len(), 1, "exactly one record: {records:#?}");
    assert_eq!(records[0]["decision"], "held", "{records:#?}");
    assert_eq!(records[0]["upstream_status"], "abandoned", "{records:#?}");
    assert_eq!(records[0]["rule"], "/tools/deleteOneCompany/action");
    assert!(
        records[0]["message"].as_str().unwrap().contains(&id),
        "{records:#?}"
    );
    // The approval knows no one waits for it; approved, the identical retry passes, once.
    wait_state(&gw, &id, "pending (caller left)");
    ok(gw.cli(&["approvals", "approve", &id]));
    let out = McpClient::python_http(&gw.url("crm"))
        .no_list()
        .call("deleteOneCompany", json!({"id": "c-gone"}))
        .run();
    out.assert_success();
    assert_eq!(result_text(&result(&out)), "deleteOneCompany ok");
    wait_state(&gw, &id, "used");

    // A progress stream was open.
    abandoned_call(&gw, "c-gone-streaming", true);
    let records = request_records(&gw, "deleteOneCompany", 3);
    assert_eq!(records.len(), 3, "{records:#?}");
    assert_eq!(records[1]["decision"], "allow");
    assert_eq!(records[2]["decision"], "held", "{records:#?}");
    assert_eq!(records[2]["upstream_status"], "abandoned");
    ok(gw.cli(&["audit", "verify"]));
}
