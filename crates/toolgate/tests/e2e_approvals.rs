//! End to end: calls held for a person's approval, with the real binary in front of the
//! Twenty-like stdio server and the real Python SDK client (run on a thread, so that the test can
//! decide while the client waits). Decisions are made with `toolgate approvals` on the store (and
//! through the admin API), which the gateway polls.
//!
//! - hold mode: the call blocks until approved (the client gets the server's real result), denied
//!   (`[POLICY DENIED] … denied by … : <note>`) or timed out ("not approved in time");
//! - retry mode: the first call answers `[APPROVAL REQUIRED]` with the approval id; once approved
//!   the identical retry passes once, a second retry needs a new approval, and a retry with other
//!   arguments never matches;
//! - every decision is in the admin audit stream, the request log has `approval_required` then
//!   `allow`; ten concurrent held calls approved in random order each get their own result.

mod common;

use common::{Toolgate, gateway_decision, ok, result_text, stderr, stdout, toml_array, toml_str};
use serde_json::{Value, json};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use toolgate_testkit::{McpClient, PeerOutput, twenty_stdio_command};

const ADMIN_TOKEN: &str = "e2e-approvals-admin-token";

/// `deleteOneCompany` is held (30 s), `deleteOnePerson` asks for a retry (30 s),
/// `deleteOneOpportunity` is held for 2 s only.
const POLICY: &str = r#"{
  "version": "1",
  "default": "allow",
  "tools": {
    "deleteOneCompany": {"action": "require_approval", "approval": {"timeout": "30s"}},
    "deleteOnePerson": {"action": "require_approval", "approval": {"timeout": "30s", "mode": "retry"}},
    "deleteOneOpportunity": {"action": "require_approval", "approval": {"timeout": "2s"}}
  }
}"#;

fn start() -> Toolgate {
    start_with("")
}

/// The gateway with `more` configuration after the server's.
fn start_with(more: &str) -> Toolgate {
    let twenty = twenty_stdio_command();
    let config = format!(
        "[admin]\ntoken_sha256 = \"{}\"\n\n[servers.crm]\ncommand = {}\nargs = {}\npolicy = \"p.json\"\n{more}",
        toolgate_store::token::hash(ADMIN_TOKEN).to_hex(),
        toml_str(&twenty[0]),
        toml_array(&twenty[1..]),
    );
    Toolgate::start(&config, &[("p.json", POLICY)])
}

/// `toolgate approvals list --json [--status S]`.
fn list(gw: &Toolgate, status: Option<&str>) -> Vec<Value> {
    let mut args = vec!["approvals", "list", "--json"];
    if let Some(s) = status {
        args.extend(["--status", s]);
    }
    serde_json::from_str(&stdout(&ok(gw.cli(&args)))).expect("a JSON array")
}

/// Polls `approvals list --status pending --json` until `n` approvals of `tool` are pending.
fn wait_pending(gw: &Toolgate, tool: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending: Vec<Value> = list(gw, Some("pending"))
            .into_iter()
            .filter(|a| a["binding"]["tool"] == tool)
            .collect();
        if pending.len() >= n {
            assert_eq!(pending.len(), n, "{pending:#?}");
            return pending;
        }
        assert!(
            Instant::now() < deadline,
            "{n} pending approvals of {tool} never appeared ({} did); log:\n{}",
            pending.len(),
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The Python SDK client calls `tool` once, on its own thread.
fn call_on_thread(gw: &Toolgate, tool: &str, arguments: Value) -> JoinHandle<PeerOutput> {
    let client = McpClient::python_http(&gw.url("crm"))
        .no_list()
        .call(tool, arguments)
        .timeout(Duration::from_secs(90));
    std::thread::spawn(move || client.run())
}

/// The one `result` event of a client run.
fn result(out: &PeerOutput) -> Value {
    let results = out.events_named("result");
    assert_eq!(results.len(), 1, "{:?}", out.events());
    results[0].clone()
}

/// A call that is answered at once (retry mode, or an approved retry).
fn call(gw: &Toolgate, tool: &str, arguments: Value) -> Value {
    let out = McpClient::python_http(&gw.url("crm"))
        .no_list()
        .call(tool, arguments)
        .run();
    result(&out)
}

fn admin_events(gw: &Toolgate) -> Vec<Value> {
    stdout(&ok(gw.cli(&["audit", "export", "--stream", "admin"])))
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["action"].as_str().unwrap().starts_with("approval."))
        .collect()
}

/// The decisions among the approval events (the gateway's own steps — requested, notified,
/// timed out — are left out).
fn decisions(gw: &Toolgate) -> Vec<Value> {
    admin_events(gw)
        .into_iter()
        .filter(|e| {
            matches!(
                e["action"].as_str(),
                Some("approval.approve" | "approval.deny")
            )
        })
        .collect()
}

/// The request records of `tool`, oldest first, once there are at least `n`.
fn request_records(gw: &Toolgate, tool: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = ok(gw.cli(&["audit", "query", "--tool", tool, "--limit", "0", "--json"]));
        let records: Vec<Value> = stdout(&o)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if records.len() >= n || Instant::now() > deadline {
            return records;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn admin_http(
    gw: &Toolgate,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = gw.api_url(path);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut r = reqwest::Client::new()
            .request(method, url)
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    })
}

#[test]
fn held_calls_are_approved_denied_or_time_out() {
    let gw = start();

    // Approved: the client waits, then gets the server's own result.
    let client = call_on_thread(&gw, "deleteOneCompany", json!({"id": "c-1"}));
    let pending = wait_pending(&gw, "deleteOneCompany", 1);
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("apv_"), "{id}");
    assert_eq!(pending[0]["mode"], "hold");
    assert_eq!(pending[0]["binding"]["server"], "crm");
    assert_eq!(pending[0]["rule"], "/tools/deleteOneCompany/action");
    let shown: Value =
        serde_json::from_str(&stdout(&ok(gw.cli(&["approvals", "show", &id, "--json"])))).unwrap();
    assert_eq!(shown["id"], id);
    assert_eq!(shown["status"], "pending");
    let text = stdout(&ok(gw.cli(&["approvals", "show", &id])));
    assert!(
        text.contains("deleteOneCompany") && text.contains("pending"),
        "{text}"
    );
    assert!(!client.is_finished(), "the call is held until decided");
    ok(gw.cli(&["approvals", "approve", &id, "--note", "checked with sales"]));
    let out = client.join().unwrap();
    out.assert_success();
    let r = result(&out);
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(result_text(&r), "deleteOneCompany ok");
    assert_eq!(r["result"]["structuredContent"]["arguments"]["id"], "c-1");
    let used: Value =
        serde_json::from_str(&stdout(&ok(gw.cli(&["approvals", "show", &id, "--json"])))).unwrap();
    assert_eq!(used["status"], "used");
    assert!(
        used["decided_by"].as_str().unwrap().starts_with("cli"),
        "{used}"
    );
    assert_eq!(used["note"], "checked with sales");
    // Deciding it again is refused, plainly.
    let again = gw.cli(&["approvals", "deny", &id]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("used already"),
        "{}",
        stderr(&again)
    );
    let missing = gw.cli(&["approvals", "approve", "apv_doesnotexist0000"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("no approval"),
        "{}",
        stderr(&missing)
    );

    // Denied with a note: the agent reads who denied it and why.
    let client = call_on_thread(&gw, "deleteOneCompany", json!({"id": "c-2"}));
    let pending = wait_pending(&gw, "deleteOneCompany", 1);
    let denied_id = pending[0]["id"].as_str().unwrap().to_owned();
    assert_ne!(denied_id, id);
    ok(gw.cli(&[
        "approvals",
        "deny",
        &denied_id,
        "--note",
        "keep this customer",
    ]));
    let out = client.join().unwrap();
    out.assert_exit(2);
    let r = result(&out);
    let text = result_text(&r);
    assert!(
        text.starts_with("[POLICY DENIED] deleteOneCompany was denied by cli"),
        "{text}"
    );
    assert!(text.ends_with(": keep this customer"), "{text}");
    assert_eq!(gateway_decision(&r)["decision"], "deny");
    assert_eq!(
        gateway_decision(&r)["rule"],
        "/tools/deleteOneCompany/action"
    );

    // No decision in time: a denial that says so; deciding it afterwards is refused.
    let started = Instant::now();
    let client = call_on_thread(&gw, "deleteOneOpportunity", json!({"id": "o-1"}));
    let pending = wait_pending(&gw, "deleteOneOpportunity", 1);
    let expired_id = pending[0]["id"].as_str().unwrap().to_owned();
    let out = client.join().unwrap();
    out.assert_exit(2);
    let r = result(&out);
    let text = result_text(&r);
    assert!(text.starts_with("[POLICY DENIED]"), "{text}");
    assert!(text.contains("not approved in time"), "{text}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    let late = gw.cli(&["approvals", "approve", &expired_id]);
    assert_eq!(late.status.code(), Some(1), "{}", stderr(&late));
    assert!(stderr(&late).contains("expired"), "{}", stderr(&late));
    let expired = list(&gw, Some("expired"));
    assert!(
        expired.iter().any(|a| a["id"] == expired_id),
        "{expired:#?}"
    );
    assert!(list(&gw, Some("pending")).is_empty());

    // Status filters; the whole list is newest first.
    let all = list(&gw, None);
    let ids: Vec<&str> = all.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [expired_id.as_str(), denied_id.as_str(), id.as_str()]);
    assert_eq!(list(&gw, Some("used")).len(), 1);
    assert_eq!(list(&gw, Some("denied"))[0]["id"], denied_id);

    // Every decision is in the admin audit stream (the expiry is no one's decision).
    let events = decisions(&gw);
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(events[0]["action"], "approval.approve");
    assert_eq!(events[0]["target"], id);
    assert_eq!(events[0]["details"]["server"], "crm");
    assert_eq!(events[0]["details"]["tool"], "deleteOneCompany");
    assert_eq!(events[0]["details"]["note"], "checked with sales");
    assert_eq!(events[1]["action"], "approval.deny");
    assert_eq!(events[1]["target"], denied_id);
    assert_eq!(events[1]["details"]["note"], "keep this customer");
    assert!(
        events
            .iter()
            .all(|e| e["actor"].as_str().unwrap().starts_with("cli"))
    );
    ok(gw.cli(&["audit", "verify", "--stream", "admin"]));

    // The request log: the approved call went ahead, the denied and timed-out ones did not.
    let companies = request_records(&gw, "deleteOneCompany", 2);
    let decisions: Vec<&str> = companies
        .iter()
        .map(|r| r["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["allow", "deny"], "{companies:#?}");
    let opportunities = request_records(&gw, "deleteOneOpportunity", 1);
    assert_eq!(opportunities[0]["decision"], "deny", "{opportunities:#?}");
}

#[test]
fn retry_mode_passes_the_identical_retry_once() {
    let gw = start();
    let first_args = json!({"id": "p-1"});

    // The first call is answered at once with the approval id.
    let r = call(&gw, "deleteOnePerson", first_args.clone());
    assert_eq!(r["isError"], true, "{r}");
    assert!(result_text(&r).starts_with("[APPROVAL REQUIRED]"), "{r}");
    assert!(r["result"].get("structuredContent").is_none(), "{r}");
    let decision = gateway_decision(&r);
    assert_eq!(decision["decision"], "approval_required");
    assert_eq!(decision["rule"], "/tools/deleteOnePerson/action");
    let id = decision["approval_id"].as_str().unwrap().to_owned();
    assert!(result_text(&r).contains(&id));
    // Asking again before the decision does not pile up approvals.
    let r = call(&gw, "deleteOnePerson", first_args.clone());
    assert_eq!(gateway_decision(&r)["approval_id"], id.as_str());
    let pending = wait_pending(&gw, "deleteOnePerson", 1);
    assert_eq!(pending[0]["id"], id);
    assert_eq!(pending[0]["mode"], "retry");

    ok(gw.cli(&["approvals", "approve", &id]));
    assert_eq!(list(&gw, Some("approved"))[0]["id"], id);
    // The identical retry passes, once, with the server's real result.
    let r = call(&gw, "deleteOnePerson", first_args.clone());
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(result_text(&r), "deleteOnePerson ok");
    assert_eq!(r["result"]["structuredContent"]["arguments"]["id"], "p-1");
    assert_eq!(list(&gw, Some("used"))[0]["id"], id);
    // A second identical retry needs a new approval.
    let r = call(&gw, "deleteOnePerson", first_args.clone());
    assert_eq!(r["isError"], true, "{r}");
    assert!(result_text(&r).starts_with("[APPROVAL REQUIRED]"), "{r}");
    let second = gateway_decision(&r)["approval_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(second, id);

    // Approved through the admin API this time: the decider is the admin actor.
    let (status, listed) = admin_http(&gw, reqwest::Method::GET, "/approvals?status=pending", None);
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["approvals"][0]["id"], second.as_str());
    let (status, decided) = admin_http(
        &gw,
        reqwest::Method::POST,
        &format!("/approvals/{second}/approve"),
        Some(json!({"note": "via the API"})),
    );
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["status"], "approved");
    let by = decided["decided_by"].as_str().unwrap().to_owned();
    assert!(by.starts_with("admin-token"), "{by}");
    let (status, again) = admin_http(
        &gw,
        reqwest::Method::POST,
        &format!("/approvals/{second}/deny"),
        None,
    );
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["error"]["code"], "conflict");
    let (status, missing) = admin_http(&gw, reqwest::Method::GET, "/approvals/apv_nope", None);
    assert_eq!(status, 404, "{missing}");

    // A retry with other arguments does not match the approved call.
    let r = call(&gw, "deleteOnePerson", json!({"id": "p-2"}));
    assert_eq!(r["isError"], true, "{r}");
    assert!(result_text(&r).starts_with("[APPROVAL REQUIRED]"), "{r}");
    let other = gateway_decision(&r)["approval_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(other, second);
    assert_ne!(other, id);
    let (status, shown) = admin_http(
        &gw,
        reqwest::Method::GET,
        &format!("/approvals/{second}"),
        None,
    );
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        shown["status"], "approved",
        "still waiting for its own call"
    );
    // Its own call passes.
    let r = call(&gw, "deleteOnePerson", first_args);
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(r["result"]["structuredContent"]["arguments"]["id"], "p-1");

    // The admin stream has both decisions, by their deciders.
    let events = decisions(&gw);
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(events[0]["action"], "approval.approve");
    assert_eq!(events[0]["target"], id);
    assert!(events[0]["actor"].as_str().unwrap().starts_with("cli"));
    assert_eq!(events[0]["details"]["tool"], "deleteOnePerson");
    assert_eq!(events[1]["action"], "approval.approve");
    assert_eq!(events[1]["target"], second);
    assert_eq!(events[1]["actor"], by.as_str());
    assert_eq!(events[1]["details"]["note"], "via the API");

    // The request log: approval_required, then allow for the approved retry.
    let records = request_records(&gw, "deleteOnePerson", 7);
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
            "approval_required",
            "approval_required",
            "allow"
        ][..],
        "{records:#?}"
    );
    ok(gw.cli(&["audit", "verify"]));
}

/// Approvers see a call's arguments as the audit settings keep them: under
/// `[audit] arguments = "keys"` (the default) only the names — in the admin API, the CLI and the
/// store — and under `"values"` the values, redacted as the audit log redacts them. Either way
/// the identical retry matches its approval by the arguments' exact digest.
#[test]
fn approvals_show_argument_values_only_as_the_audit_settings_allow() {
    let args = json!({"id": "p-secret-7", "api_key": "k-very-secret"});
    for (more, shown) in [
        ("", json!(["api_key", "id"])),
        (
            "\n[audit]\narguments = \"values\"\n",
            json!({"id": "p-secret-7", "api_key": "[REDACTED]"}),
        ),
    ] {
        let gw = start_with(more);
        let r = call(&gw, "deleteOnePerson", args.clone());
        let id = gateway_decision(&r)["approval_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{r}"))
            .to_owned();
        let (status, one) =
            admin_http(&gw, reqwest::Method::GET, &format!("/approvals/{id}"), None);
        assert_eq!(status, 200, "{one}");
        assert_eq!(one["arguments"], shown, "{more}: {one}");
        let (_, listed) = admin_http(&gw, reqwest::Method::GET, "/approvals?status=pending", None);
        assert_eq!(
            listed["approvals"][0]["arguments"], shown,
            "{more}: {listed}"
        );
        let cli = stdout(&ok(gw.cli(&["approvals", "show", &id, "--json"])));
        assert!(!cli.contains("k-very-secret"), "{cli}");
        assert_eq!(
            cli.contains("p-secret-7"),
            !more.is_empty(),
            "{more}: the value is kept only under \"values\": {cli}"
        );
        let (status, decided) = admin_http(
            &gw,
            reqwest::Method::POST,
            &format!("/approvals/{id}/approve"),
            None,
        );
        assert_eq!(status, 200, "{decided}");
        assert_eq!(decided["arguments"], shown, "{more}: {decided}");
        // The identical retry still matches, and reaches the server with its real arguments.
        let r = call(&gw, "deleteOnePerson", args.clone());
        assert_eq!(r["isError"], false, "{more}: {r}");
        assert_eq!(
            r["result"]["structuredContent"]["arguments"]["api_key"],
            "k-very-secret"
        );
    }
}

#[test]
fn ten_concurrent_held_calls_each_get_their_own_result() {
    let gw = start();
    let clients: Vec<(String, JoinHandle<PeerOutput>)> = (0..10)
        .map(|k| {
            let id = format!("c-{k}");
            let h = call_on_thread(&gw, "deleteOneCompany", json!({"id": id}));
            (id, h)
        })
        .collect();
    let pending = wait_pending(&gw, "deleteOneCompany", 10);
    let mut digests: Vec<&str> = pending
        .iter()
        .map(|a| a["binding"]["args_digest"].as_str().unwrap())
        .collect();
    digests.sort_unstable();
    digests.dedup();
    assert_eq!(digests.len(), 10, "each call has its own approval");
    let mut ids: Vec<String> = pending
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    // A random order (xorshift seeded from the clock; the seed is printed to replay a failure).
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("approval order seed: {seed}");
    for i in (1..ids.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        ids.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    for id in &ids {
        ok(gw.cli(&["approvals", "approve", id]));
    }
    for (arg, client) in clients {
        let out = client.join().unwrap();
        out.assert_success();
        let r = result(&out);
        assert_eq!(result_text(&r), "deleteOneCompany ok", "{r}");
        assert_eq!(
            r["result"]["structuredContent"]["arguments"]["id"],
            arg.as_str()
        );
    }
    assert_eq!(list(&gw, Some("used")).len(), 10);
    let records = request_records(&gw, "deleteOneCompany", 10);
    assert_eq!(records.len(), 10);
    assert!(
        records.iter().all(|r| r["decision"] == "allow"),
        "{records:#?}"
    );
}

#[test]
fn a_held_call_hears_progress_while_it_waits() {
    let gw = start();
    let url = gw.url("crm");
    let client = std::thread::spawn(move || {
        McpClient::python_http(&url)
            .no_list()
            .progress()
            .call("deleteOneCompany", json!({"id": "c-progress"}))
            .run()
    });
    let pending = wait_pending(&gw, "deleteOneCompany", 1);
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    // Long enough for at least two progress notifications (one every two seconds).
    std::thread::sleep(Duration::from_millis(4500));
    ok(gw.cli(&["approvals", "approve", &id]));
    let out = client.join().unwrap();
    out.assert_exit(0);
    let progress = out.events_named("progress");
    assert!(
        progress.len() >= 2,
        "progress while waiting: {:?}",
        out.events()
    );
    assert!(
        progress.iter().all(|p| p["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("waiting for approval, id {id}"))),
        "{progress:?}"
    );
    let answer = result(&out);
    let text = result_text(&answer);
    assert!(text.contains("deleteOneCompany ok"), "{text}");
}

#[test]
fn retry_approvals_survive_a_restart_and_a_held_client_gets_a_clear_error() {
    let gw = start();
    // A retry-mode approval requested before the restart…
    let first = call(&gw, "deleteOnePerson", json!({"id": "p-restart"}));
    let id = gateway_decision(&first)["approval_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // …and a held call, which the stopping gateway answers: restarting, retry.
    let held = call_on_thread(&gw, "deleteOneCompany", json!({"id": "c-restart"}));
    wait_pending(&gw, "deleteOneCompany", 1);
    let gw = gw.restart();
    let out = held.join().unwrap();
    let results = out.events_named("result");
    assert_eq!(results.len(), 1, "{:?}", out.events());
    assert_eq!(results[0]["isError"], true, "the call never went ahead");
    let text = results[0]["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("[GATEWAY RESTARTING]") && text.contains("Retry this identical call"),
        "{text}"
    );

    // The decision made after the restart still lets the identical retry through, once.
    ok(gw.cli(&["approvals", "approve", &id]));
    let retried = call(&gw, "deleteOnePerson", json!({"id": "p-restart"}));
    assert_eq!(retried["isError"], false, "{retried}");
    let again = call(&gw, "deleteOnePerson", json!({"id": "p-restart"}));
    assert_eq!(
        gateway_decision(&again)["decision"],
        "approval_required",
        "{again}"
    );
}

#[test]
fn a_held_call_through_the_aggregate_endpoint_hears_progress_too() {
    let gw = start();
    let url = format!("{}/mcp", gw.base);
    let client = std::thread::spawn(move || {
        McpClient::python_http(&url)
            .no_list()
            .progress()
            .call("crm__deleteOneCompany", json!({"id": "c-aggregate"}))
            .run()
    });
    let pending = wait_pending(&gw, "deleteOneCompany", 1);
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(2500));
    ok(gw.cli(&["approvals", "approve", &id]));
    let out = client.join().unwrap();
    out.assert_exit(0);
    assert!(
        !out.events_named("progress").is_empty(),
        "{:?}",
        out.events()
    );
    let answer = result(&out);
    assert!(
        result_text(&answer).contains("deleteOneCompany ok"),
        "{answer}"
    );
}

#[test]
fn every_approval_step_is_in_the_admin_audit_stream() {
    let gw = start();
    // Requested, then timed out (2 s).
    let held = call_on_thread(&gw, "deleteOneOpportunity", json!({"id": "o-steps"}));
    let id = wait_pending(&gw, "deleteOneOpportunity", 1)[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    held.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = admin_events(&gw);
        let actions: Vec<&str> = events
            .iter()
            .filter(|e| e["target"] == id.as_str())
            .filter_map(|e| e["action"].as_str())
            .collect();
        if actions.contains(&"approval.request") && actions.contains(&"approval.timeout") {
            assert!(
                events
                    .iter()
                    .any(|e| e["target"] == id.as_str() && e["actor"] == "gateway")
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "steps of {id} in the admin stream: {actions:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_approval_stream_shows_requests_and_decisions_as_they_happen() {
    let gw = std::sync::Arc::new(start());
    let mut resp = reqwest::Client::new()
        .get(gw.api_url("/approvals/stream"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );

    // A retry-mode call asks for approval: the stream shows it pending. Only then is it
    // approved, and the stream shows that too. (Two changes within one poll of the store reach
    // the stream as one event with the latest state, so the test waits between them.)
    let id = ask_for_retry_approval(&gw, "p-stream").await;
    let mut text = String::new();
    assert_eq!(next_status(&mut resp, &mut text, &id).await, "pending");
    let g = gw.clone();
    let approve_id = id.clone();
    tokio::task::spawn_blocking(move || ok(g.cli(&["approvals", "approve", &approve_id])))
        .await
        .unwrap();
    assert_eq!(next_status(&mut resp, &mut text, &id).await, "approved");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_opened_after_a_list_gets_what_changed_in_between() {
    let gw = std::sync::Arc::new(start());
    let id = ask_for_retry_approval(&gw, "p-gap").await;
    // What a page is drawn from: the pending approvals as of `last_seq`.
    let client = reqwest::Client::new();
    let listed: Value = client
        .get(gw.api_url("/approvals?status=pending"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["approvals"][0]["id"], id.as_str(), "{listed}");
    let since = listed["last_seq"].as_u64().expect("last_seq");
    // Decided before the page's stream is open: no longer pending, so a stream that starts with
    // the pending approvals would never mention it.
    let g = gw.clone();
    let approve_id = id.clone();
    tokio::task::spawn_blocking(move || ok(g.cli(&["approvals", "approve", &approve_id])))
        .await
        .unwrap();
    let open = |request: reqwest::RequestBuilder| async move {
        let resp = request.bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        resp
    };
    // Started after the list's `last_seq`, the stream's first news of it is the decision, with
    // the change's number as the event's id.
    let mut resp = open(client.get(gw.api_url(&format!("/approvals/stream?after={since}")))).await;
    let mut text = String::new();
    let (seq, approval) = next_event(&mut resp, &mut text, &id).await;
    assert_eq!(approval["status"], "approved", "{approval}");
    assert_eq!(seq, approval["seq"].as_u64(), "{approval}");
    assert!(seq.unwrap() > since);
    // A browser reconnecting sends the last id it had (`Last-Event-ID`): it gets the same.
    let mut resp = open(
        client
            .get(gw.api_url("/approvals/stream"))
            .header("last-event-id", since.to_string()),
    )
    .await;
    let mut text = String::new();
    assert_eq!(next_status(&mut resp, &mut text, &id).await, "approved");
}

/// A retry-mode call (`deleteOnePerson` of `person`), answered at once: the approval it asked for.
async fn ask_for_retry_approval(gw: &std::sync::Arc<Toolgate>, person: &str) -> String {
    let g = gw.clone();
    let person = person.to_owned();
    let first =
        tokio::task::spawn_blocking(move || call(&g, "deleteOnePerson", json!({"id": person})))
            .await
            .unwrap();
    gateway_decision(&first)["approval_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The status in the next `approval` event about approval `id` on an approval stream.
async fn next_status(resp: &mut reqwest::Response, text: &mut String, id: &str) -> String {
    let (_, approval) = next_event(resp, text, id).await;
    approval["status"].as_str().unwrap().to_owned()
}

/// The next `approval` event about approval `id` on an approval stream: its id and the approval.
async fn next_event(
    resp: &mut reqwest::Response,
    text: &mut String,
    id: &str,
) -> (Option<u64>, Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        while let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data:")) {
                let a: Value = serde_json::from_str(data.trim()).unwrap();
                if a["id"] == id {
                    let seq = event
                        .lines()
                        .find_map(|l| l.strip_prefix("id:"))
                        .and_then(|s| s.trim().parse().ok());
                    return (seq, a);
                }
            }
        }
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .expect("events in time")
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_held_calls_approved_in_random_order_get_their_own_results() {
    let gw = std::sync::Arc::new(start());
    let url = gw.url("crm");
    let calls: Vec<_> = (0..50)
        .map(|k| {
            let url = url.clone();
            tokio::spawn(async move {
                let session = common::RawSession::open(&url, None).await.expect("session");
                let (status, answer) = session
                    .call(1, "deleteOneCompany", json!({"id": format!("c50-{k}")}))
                    .await;
                (k, status, answer)
            })
        })
        .collect();
    let g = gw.clone();
    let pending = tokio::task::spawn_blocking(move || wait_pending(&g, "deleteOneCompany", 50))
        .await
        .unwrap();
    let mut ids: Vec<String> = pending
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("approval order seed: {seed}");
    for i in (1..ids.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        ids.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    for id in ids {
        let g = gw.clone();
        tokio::task::spawn_blocking(move || ok(g.cli(&["approvals", "approve", &id])))
            .await
            .unwrap();
    }
    for call in calls {
        let (k, status, answer) = tokio::time::timeout(Duration::from_secs(60), call)
            .await
            .expect("answered")
            .unwrap();
        assert_eq!(status, 200);
        assert_eq!(result_text(&answer), "deleteOneCompany ok", "{answer}");
        assert_eq!(
            answer["result"]["structuredContent"]["arguments"]["id"],
            format!("c50-{k}"),
            "no mix-ups"
        );
    }
}
