//! End to end: grants made, revoked, rotated and given an expiry with `toolgate grant` while the
//! real gateway runs in front of the Twenty-like server, called by the official Python SDK client
//! (and plain HTTP where the exact status matters). The gateway is never restarted: every change
//! is seen on the next request.

mod common;

use common::{RawSession, Toolgate, ok, result_text, stderr, stdout, toml_array, toml_str};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use toolgate_testkit::{McpClient, twenty_stdio_command};

const DENY_CREATE: &str = r#"{"version":"1","default":"allow",
  "tools":{"createOneCompany":{"action":"deny","reason":"Support may not create companies."}}}"#;
const ALLOW_ALL: &str = r#"{"version":"1","default":"allow"}"#;
const AGENT_LIMIT: &str = r#"{"version":"1","default":"allow",
  "all_tools":{"limits":[{"counter":"agent_calls","window":"minute","max":3,"scope":"agent"}]}}"#;
const INVALID: &str = "{\"version\":\"1\",\n \"default\":\"maybe\"}";

fn start() -> Toolgate {
    let twenty = twenty_stdio_command();
    let config = format!(
        "[servers.crm]\ncommand = {}\nargs = {}\n",
        toml_str(&twenty[0]),
        toml_array(&twenty[1..]),
    );
    Toolgate::start(
        &config,
        &[
            ("deny-create.json", DENY_CREATE),
            ("allow.json", ALLOW_ALL),
            ("agent-limit.json", AGENT_LIMIT),
            ("invalid.json", INVALID),
        ],
    )
}

/// `grant create …` → the token, printed alone on stdout.
fn create(gw: &Toolgate, args: &[&str]) -> String {
    let mut all = vec!["grant", "create"];
    all.extend_from_slice(args);
    let o = ok(gw.cli(&all));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "stdout is the token alone: {out:?}");
    assert!(lines[0].starts_with("tg_"), "{out:?}");
    lines[0].to_owned()
}

/// `grant create` of a grant on `crm` whose policy allows everything → its token.
fn create_allowed(gw: &Toolgate, agent: &str, label: &str) -> String {
    let allow = gw.path("allow.json");
    create(
        gw,
        &[
            "--agent",
            agent,
            "--label",
            label,
            "--server",
            "crm",
            "--policy",
            allow.to_str().unwrap(),
        ],
    )
}

/// How a new session with `token` is refused (`None`: it opens).
fn refusal(
    rt: &tokio::runtime::Runtime,
    gw: &Toolgate,
    token: &str,
) -> Option<reqwest::StatusCode> {
    rt.block_on(RawSession::open(&gw.url("crm"), Some(token)))
        .err()
}

/// A session with `token` whose first call (id 1) is served.
fn served_session(rt: &tokio::runtime::Runtime, gw: &Toolgate, token: &str) -> RawSession {
    let session = rt
        .block_on(RawSession::open(&gw.url("crm"), Some(token)))
        .expect("session");
    let (status, answer) = rt.block_on(session.call(1, "findManyCompanies", json!({"limit": 1})));
    assert_eq!(status, reqwest::StatusCode::OK, "{answer}");
    session
}

/// Waits until the gateway has noticed the store's grants (it checks every second): a request
/// without a token is then refused.
fn wait_for_auth(gw: &Toolgate) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let rt = runtime();
    loop {
        // A bare initialize: a whole session could see the grants appear between its two
        // requests (initialize accepted, initialized refused) and fail instead of reporting 401.
        let init = serde_json::json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}});
        let status = rt.block_on(async {
            reqwest::Client::new()
                .post(gw.url("crm"))
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(init.to_string())
                .send()
                .await
                .map(|r| r.status())
        });
        match status {
            Ok(s) if s == reqwest::StatusCode::UNAUTHORIZED => return,
            _ if Instant::now() > deadline => panic!("the gateway never asked for a token"),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn call(gw: &Toolgate, token: &str, tool: &str) -> toolgate_testkit::PeerOutput {
    let args = if tool.starts_with("create") {
        json!({"requestBody": {"name": "Acme"}})
    } else {
        json!({"limit": 1})
    };
    McpClient::python_http(&gw.url("crm"))
        .token(token)
        .no_list()
        .call(tool, args)
        .run()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn results(out: &toolgate_testkit::PeerOutput) -> Vec<Value> {
    out.events_named("result")
}

#[test]
fn grants_with_different_policies_on_one_server_decide_differently() {
    let gw = start();

    // An invalid policy file: exit 78, located errors, no grant.
    let o = gw.cli(&[
        "grant",
        "create",
        "--agent",
        "eve",
        "--label",
        "eve",
        "--server",
        "crm",
        "--policy",
        gw.path("invalid.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(78), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "no token for an invalid grant");
    assert!(stderr(&o).contains("invalid.json:2:"), "{}", stderr(&o));

    let support = create(
        &gw,
        &[
            "--agent",
            "alice",
            "--label",
            "alice-support",
            "--server",
            "crm",
            "--policy",
            gw.path("deny-create.json").to_str().unwrap(),
            "--tag",
            "support",
            "--expires",
            "30d",
        ],
    );
    let sales = create(
        &gw,
        &[
            "--agent",
            "bob",
            "--label",
            "bob-sales",
            "--server",
            "crm",
            "--policy",
            &format!("crm={}", gw.path("allow.json").display()),
        ],
    );
    assert_ne!(support, sales);
    wait_for_auth(&gw);

    let out = call(&gw, &support, "createOneCompany");
    out.assert_exit(2);
    assert_eq!(
        result_text(&results(&out)[0]),
        "[POLICY DENIED] Support may not create companies."
    );
    let out = call(&gw, &sales, "createOneCompany");
    out.assert_exit(0);
    assert_eq!(results(&out)[0]["isError"], false);

    // `grant list --json`: every grant, never token material.
    let o = ok(gw.cli(&["grant", "list", "--json"]));
    let text = stdout(&o);
    for secret in [&support, &sales] {
        assert!(!text.contains(secret.as_str()), "token leaked: {text}");
        let hash = toolgate_store::token::hash(secret).to_hex();
        assert!(!text.contains(&hash), "token hash leaked: {text}");
    }
    let list: Value = serde_json::from_str(&text).unwrap();
    let labels: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["alice-support", "bob-sales"]);
    assert_eq!(list[0]["agent"], "alice");
    assert_eq!(list[0]["servers"], json!(["crm"]));
    assert_eq!(list[0]["tags"], json!(["support"]));
    assert!(list[0]["expires"].is_string() && list[1]["expires"].is_null());
    assert!(list[0]["revoked"].is_null());
    let table = stdout(&ok(gw.cli(&["grant", "list"])));
    assert!(table.contains("alice-support") && !table.contains(support.as_str()));

    // A label is never reused.
    let o = gw.cli(&[
        "grant",
        "create",
        "--agent",
        "x",
        "--label",
        "bob-sales",
        "--server",
        "crm",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());

    // Every change is in the admin stream, with actor `cli`, without the token.
    let o = ok(gw.cli(&["audit", "export", "--stream", "admin"]));
    let events: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let creates: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "grant.create")
        .collect();
    assert_eq!(creates.len(), 2, "{events:?}");
    assert!(creates.iter().all(|e| e["actor"] == "cli"));
    assert_eq!(creates[0]["target"], "alice-support");
    assert!(!stdout(&o).contains(support.as_str()));
}

#[test]
fn a_revoked_grant_gets_401_on_its_next_request() {
    let gw = start();
    let token = create_allowed(&gw, "carol", "carol-ci");
    wait_for_auth(&gw);
    call(&gw, &token, "findManyCompanies").assert_exit(0);

    let rt = runtime();
    let session = served_session(&rt, &gw, &token);

    let o = ok(gw.cli(&["grant", "revoke", "carol-ci"]));
    assert!(stderr(&o).contains("revoked"), "{}", stderr(&o));
    // The very next request on the open session, and a new session, are refused.
    let (status, _) = rt.block_on(session.call(2, "findManyCompanies", json!({"limit": 1})));
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(
        refusal(&rt, &gw, &token),
        Some(reqwest::StatusCode::UNAUTHORIZED)
    );
    assert_ne!(call(&gw, &token, "findManyCompanies").status, Some(0));

    let list: Value =
        serde_json::from_str(&stdout(&ok(gw.cli(&["grant", "list", "--json"])))).unwrap();
    assert!(list[0]["revoked"].is_string(), "{list}");
    assert_eq!(list[0]["active"], false);
    // Revoking again is harmless; an unknown label is an error.
    ok(gw.cli(&["grant", "revoke", "carol-ci"]));
    assert_eq!(
        gw.cli(&["grant", "revoke", "nobody"]).status.code(),
        Some(1)
    );
    // A revoked grant cannot be rotated back to life.
    let o = gw.cli(&["grant", "rotate", "carol-ci"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).is_empty());
}

#[test]
fn an_agent_scoped_limit_is_shared_by_the_agents_grants() {
    let gw = start();
    let policy = gw.path("agent-limit.json");
    let policy = policy.to_str().unwrap();
    let grant = |agent: &str, label: &str| {
        create(
            &gw,
            &[
                "--agent", agent, "--label", label, "--server", "crm", "--policy", policy,
            ],
        )
    };
    let laptop = grant("dave", "dave-laptop");
    let phone = grant("dave", "dave-phone");
    let other = grant("erin", "erin-laptop");
    wait_for_auth(&gw);

    let out = McpClient::python_http(&gw.url("crm"))
        .token(&laptop)
        .no_list()
        .call("findManyCompanies", json!({"limit": 1}))
        .repeat(3)
        .run();
    out.assert_exit(0);
    assert_eq!(results(&out).len(), 3);

    // Dave's fourth call, made with his other grant, is refused: the counter is the agent's.
    let out = call(&gw, &phone, "findManyCompanies");
    out.assert_exit(2);
    let text = result_text(&results(&out)[0]).to_owned();
    assert!(
        text.starts_with("[POLICY DENIED] rate limit reached"),
        "{text}"
    );
    assert!(text.contains("agent_calls"), "{text}");
    // Another agent has a counter of its own.
    call(&gw, &other, "findManyCompanies").assert_exit(0);
}

#[test]
fn a_rotated_grant_takes_the_new_token_only() {
    let gw = start();
    let old = create_allowed(&gw, "frank", "frank-laptop");
    wait_for_auth(&gw);
    call(&gw, &old, "findManyCompanies").assert_exit(0);

    let o = ok(gw.cli(&["grant", "rotate", "frank-laptop"]));
    let new = stdout(&o).trim().to_owned();
    assert!(new.starts_with("tg_") && new != old, "{new:?}");
    assert_eq!(stdout(&o).lines().count(), 1);

    let rt = runtime();
    assert_eq!(
        refusal(&rt, &gw, &old),
        Some(reqwest::StatusCode::UNAUTHORIZED)
    );
    let out = call(&gw, &new, "findManyCompanies");
    out.assert_exit(0);
    assert_eq!(results(&out)[0]["isError"], false);

    let list: Value =
        serde_json::from_str(&stdout(&ok(gw.cli(&["grant", "list", "--json"])))).unwrap();
    assert!(list[0]["rotated"].is_string(), "{list}");
    let text = list.to_string();
    assert!(!text.contains(&old) && !text.contains(&new));
    let admin = stdout(&ok(gw.cli(&["audit", "export", "--stream", "admin"])));
    assert!(admin.contains("\"action\":\"grant.rotate\""), "{admin}");
    assert!(!admin.contains(&new) && !admin.contains(&old));
}

#[test]
fn a_grant_given_an_expiry_stops_and_works_again_on_its_next_request() {
    let gw = start();
    let token = create_allowed(&gw, "gina", "gina-ci");
    wait_for_auth(&gw);
    let rt = runtime();
    let session = served_session(&rt, &gw, &token);
    let listed = || -> Value {
        let list: Value =
            serde_json::from_str(&stdout(&ok(gw.cli(&["grant", "list", "--json"])))).unwrap();
        list[0].clone()
    };
    assert!(listed()["expires"].is_null());

    // Now: the open session's next request and a new session are refused.
    let o = ok(gw.cli(&["grant", "expiry", "gina-ci", "--expires", "0s"]));
    assert!(stderr(&o).contains("refused"), "{}", stderr(&o));
    let (status, _) = rt.block_on(session.call(2, "findManyCompanies", json!({"limit": 1})));
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(
        refusal(&rt, &gw, &token),
        Some(reqwest::StatusCode::UNAUTHORIZED)
    );
    assert_eq!(listed()["active"], false);

    // A week on: the same token works again, for the Python SDK too.
    let before = now_ms();
    let o = ok(gw.cli(&["grant", "expiry", "gina-ci", "--expires", "7d"]));
    assert!(stderr(&o).contains("now expires"), "{}", stderr(&o));
    let (status, answer) = rt.block_on(session.call(3, "findManyCompanies", json!({"limit": 1})));
    assert_eq!(status, reqwest::StatusCode::OK, "{answer}");
    call(&gw, &token, "findManyCompanies").assert_exit(0);
    assert_eq!(listed()["active"], true);
    assert!(listed()["expires"].is_string());

    // Never; then an RFC 3339 time already past stops it again.
    ok(gw.cli(&["grant", "expiry", "gina-ci", "--never"]));
    assert!(listed()["expires"].is_null());
    assert_eq!(listed()["active"], true);
    ok(gw.cli(&[
        "grant",
        "expiry",
        "gina-ci",
        "--expires",
        "2020-01-01T00:00:00Z",
    ]));
    assert_eq!(
        refusal(&rt, &gw, &token),
        Some(reqwest::StatusCode::UNAUTHORIZED)
    );

    // Each change is in the admin stream, by the command line, with the expiry before and after.
    let admin = stdout(&ok(gw.cli(&["audit", "export", "--stream", "admin"])));
    let changes: Vec<Value> = admin
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["action"] == "grant.expiry")
        .collect();
    assert_eq!(changes.len(), 4, "{admin}");
    assert!(
        changes
            .iter()
            .all(|e| e["actor"] == "cli" && e["target"] == "gina-ci")
    );
    let at = |i: usize, key: &str| changes[i]["details"][key].as_u64();
    assert_eq!(at(0, "previous_expires_at_ms"), None);
    let week = at(1, "expires_at_ms").unwrap();
    assert!(week >= before + 7 * 86_400_000, "{admin}");
    assert!(week < now_ms() + 7 * 86_400_000, "{admin}");
    assert_eq!(at(2, "previous_expires_at_ms"), Some(week));
    assert_eq!(at(2, "expires_at_ms"), None);
    assert_eq!(at(3, "expires_at_ms"), Some(1_577_836_800_000));

    // Exactly one of --expires and --never; an unknown or revoked grant is an error.
    let usage = gw.cli(&["grant", "expiry", "gina-ci"]);
    assert_eq!(usage.status.code(), Some(2), "{}", stderr(&usage));
    let both = gw.cli(&["grant", "expiry", "gina-ci", "--never", "--expires", "1d"]);
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));
    let bad = gw.cli(&["grant", "expiry", "gina-ci", "--expires", "soon"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    let unknown = gw.cli(&["grant", "expiry", "nobody", "--never"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("no grant labelled"),
        "{}",
        stderr(&unknown)
    );
    ok(gw.cli(&["grant", "revoke", "gina-ci"]));
    let revoked = gw.cli(&["grant", "expiry", "gina-ci", "--never"]);
    assert_eq!(revoked.status.code(), Some(1));
    assert!(stderr(&revoked).contains("revoked"), "{}", stderr(&revoked));
    assert_eq!(
        refusal(&rt, &gw, &token),
        Some(reqwest::StatusCode::UNAUTHORIZED),
        "a revoked grant given no expiry works again"
    );
}
