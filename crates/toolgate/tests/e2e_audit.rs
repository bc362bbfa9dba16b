//! End to end: the audit log the real gateway writes (one record per request, into the default
//! SQLite store beside its config), read back with `toolgate audit`: 10,000 calls verify intact and
//! each kind of tampering is named by its record; a graceful shutdown loses no record; `query`
//! filters, `export` writes every record, `tail -f` follows and stops on Ctrl-C; the admin API's
//! live stream, opened after a list, starts with what was written in between.

mod common;

use common::{RawSession, Toolgate, ok, result_text, stderr, stdout, toml_array, toml_str};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use toolgate_testkit::{ChildGuard, McpClient, twenty_stdio_command};

const POLICY: &str = r#"{"version":"1","default":"allow",
  "tools":{"createOneConnectedAccount":{"action":"deny","reason":"Credentials are managed by IT."}}}"#;

const ADMIN_TOKEN: &str = "e2e-audit-admin-token";

fn start() -> Toolgate {
    start_with("")
}

/// The gateway with its admin API behind [`ADMIN_TOKEN`].
fn start_with_admin_token() -> Toolgate {
    start_with(&format!(
        "[admin]\ntoken_sha256 = \"{}\"\n\n",
        toolgate_store::token::hash(ADMIN_TOKEN).to_hex()
    ))
}

/// The gateway with `admin` (config lines) before its server.
fn start_with(admin: &str) -> Toolgate {
    let twenty = twenty_stdio_command();
    let config = format!(
        "{admin}[servers.crm]\ncommand = {}\nargs = {}\npolicy = \"crm.json\"\n",
        toml_str(&twenty[0]),
        toml_array(&twenty[1..]),
    );
    Toolgate::start(&config, &[("crm.json", POLICY)])
}

/// Stops the gateway with SIGTERM and waits for it: the audit queue is flushed on the way out.
fn stop(gw: &mut Toolgate) {
    gw.guard.signal(nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = gw.guard.try_status() {
            break s;
        }
        assert!(Instant::now() < deadline, "the gateway did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}\n{}", gw.log());
}

/// `N` out of `…: intact: N records`.
fn intact_count(out: &str, stream: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("{stream}: intact: ")))
        .unwrap_or_else(|| panic!("no intact line for {stream}: {out}"));
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

fn sqlite(db: &Path, sql: &str) {
    let o = Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("sqlite3");
    assert!(o.status.success(), "sqlite3 {sql}: {}", stderr(&o));
}

fn verify_copy(gw: &Toolgate, db: &Path) -> Output {
    gw.cli(&[
        "audit",
        "verify",
        "--stream",
        "requests",
        "--store",
        &format!("sqlite://{}", db.display()),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_records_verify_and_tampering_is_named() {
    const CALLS: u64 = 10_000;
    const WORKERS: u64 = 8;
    let mut gw = start();
    let session = RawSession::open(&gw.url("crm"), None)
        .await
        .expect("session");
    let started = Instant::now();
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let s = session.clone();
            tokio::spawn(async move {
                for i in (w..CALLS).step_by(WORKERS as usize) {
                    let (status, answer) = s
                        .call(i + 1, "findManyCompanies", json!({"limit": 1}))
                        .await;
                    assert_eq!(status, reqwest::StatusCode::OK, "{answer}");
                    assert_eq!(result_text(&answer), "findManyCompanies ok", "{answer}");
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    eprintln!("{CALLS} calls in {:?}", started.elapsed());
    stop(&mut gw);

    let o = ok(gw.cli(&["audit", "verify"]));
    let out = stdout(&o);
    let requests = intact_count(&out, "requests");
    assert!(requests > CALLS, "{out}");
    intact_count(&out, "admin");
    let o = ok(gw.cli(&["audit", "verify", "--stream", "requests"]));
    assert_eq!(
        stdout(&o).trim(),
        format!("requests: intact: {requests} records")
    );
    let calls = stdout(&ok(gw.cli(&[
        "audit",
        "query",
        "--tool",
        "findManyCompanies",
        "--limit",
        "0",
        "--json",
    ])));
    assert_eq!(calls.lines().count() as u64, CALLS);

    // Each kind of tampering, on its own copy of the database.
    let db = gw.path("toolgate.db");
    let copy = |name: &str| {
        let to = gw.path(name);
        sqlite(&db, &format!(".backup '{}'", to.display()));
        to
    };
    let edited = copy("edited.db");
    sqlite(
        &edited,
        "UPDATE audit_records SET tool = 'deleteManyCompanies' WHERE seq = 5000",
    );
    let deleted = copy("deleted.db");
    sqlite(&deleted, "DELETE FROM audit_records WHERE seq = 6000");
    let swapped = copy("swapped.db");
    sqlite(
        &swapped,
        "UPDATE audit_records SET seq = -1 WHERE seq = 7000; \
         UPDATE audit_records SET seq = 7000 WHERE seq = 7001; \
         UPDATE audit_records SET seq = 7001 WHERE seq = -1;",
    );
    for (db, seq, what) in [
        (&edited, 5000, "record 5000 was edited"),
        (&deleted, 6000, "record 6000 is missing"),
        (&swapped, 7000, "record 7000 does not follow record 6999"),
    ] {
        let o = verify_copy(&gw, db);
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
        assert!(
            out.starts_with(&format!("requests: BROKEN at record {seq}: {what}")),
            "{out}"
        );
        assert!(
            out.contains(&format!("({} records before it verified)", seq - 1)),
            "{out}"
        );
    }
    // The original is untouched.
    ok(verify_copy(&gw, &db));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_record_is_lost_on_sigterm_and_queries_filter() {
    let mut gw = start();
    let session = RawSession::open(&gw.url("crm"), None)
        .await
        .expect("session");
    let counts = [
        ("findManyCompanies", 120u64),
        ("findManyPeople", 45),
        ("findOneCompany", 17),
        ("createOneConnectedAccount", 5),
    ];
    let mut tasks = Vec::new();
    let mut id = 0;
    for (tool, n) in counts {
        for _ in 0..n {
            id += 1;
            let s = session.clone();
            tasks.push(tokio::spawn(async move {
                s.call(id, tool, json!({"id": "c1", "limit": 1})).await
            }));
        }
    }
    for t in tasks {
        let (status, answer) = t.await.unwrap();
        assert_eq!(status, reqwest::StatusCode::OK, "{answer}");
    }
    // And one call through the Python SDK, denied.
    let out = McpClient::python_http(&gw.url("crm"))
        .no_list()
        .call("createOneConnectedAccount", json!({}))
        .run();
    out.assert_exit(2);
    assert_eq!(
        result_text(&out.events_named("result")[0]),
        "[POLICY DENIED] Credentials are managed by IT."
    );
    // Stop at once: whatever the writer had not written yet must be flushed on the way out.
    stop(&mut gw);

    for (tool, n) in counts {
        let want = if tool == "createOneConnectedAccount" {
            n + 1
        } else {
            n
        };
        let o = ok(gw.cli(&["audit", "query", "--tool", tool, "--limit", "0", "--json"]));
        let records: Vec<Value> = stdout(&o)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len() as u64, want, "{tool}");
        let mut ids: Vec<&str> = records
            .iter()
            .map(|r| r["request_id"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len() as u64, want, "one record per call: {tool}");
        assert!(
            records
                .iter()
                .all(|r| r["server"] == "crm" && r["method"] == "tools/call")
        );
    }

    // --decision deny: only the denied calls, with their rule and message.
    let o = ok(gw.cli(&[
        "audit",
        "query",
        "--decision",
        "deny",
        "--limit",
        "0",
        "--json",
    ]));
    let denied: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(denied.len(), 6);
    for r in &denied {
        assert_eq!(r["decision"], "deny");
        assert_eq!(r["tool"], "createOneConnectedAccount");
        assert_eq!(r["rule"], "/tools/createOneConnectedAccount/action");
    }
    // Filters combine; a bad decision is a usage error; --since/--until take durations and times.
    let o = ok(gw.cli(&[
        "audit",
        "query",
        "--decision",
        "allow",
        "--tool",
        "findOneCompany",
        "--limit",
        "0",
        "--json",
        "--since",
        "1h",
    ]));
    assert_eq!(stdout(&o).lines().count(), 17);
    let o = ok(gw.cli(&[
        "audit",
        "query",
        "--json",
        "--until",
        "2000-01-01T00:00:00Z",
    ]));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        gw.cli(&["audit", "query", "--decision", "maybe"])
            .status
            .code(),
        Some(2)
    );
    // --limit keeps the latest records; the table has a header and one line per record.
    let o = ok(gw.cli(&["audit", "query", "--decision", "deny", "--limit", "2"]));
    let table = stdout(&o);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("SEQ") && lines[0].contains("DECISION"));
    assert!(lines[2].contains("createOneConnectedAccount") && lines[2].contains("deny"));
    assert_eq!(
        lines[2].split_whitespace().next(),
        denied.last().unwrap()["seq"]
            .as_u64()
            .map(|s| s.to_string())
            .as_deref()
    );

    // export: one line per record of the stream, in order, each carrying its chain links.
    let out = stdout(&ok(gw.cli(&["audit", "verify", "--stream", "requests"])));
    let total = intact_count(&out, "requests");
    let file = gw.path("export.jsonl");
    let o = ok(gw.cli(&["audit", "export", "-o", file.to_str().unwrap()]));
    assert!(
        stderr(&o).contains(&format!("exported {total} records")),
        "{}",
        stderr(&o)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count() as u64, total);
    for (i, line) in text.lines().enumerate() {
        let r: Value = serde_json::from_str(line).unwrap();
        assert_eq!(r["seq"], i as u64 + 1);
        assert!(r["hash"].as_str().unwrap().len() == 64);
    }
    assert_eq!(stdout(&ok(gw.cli(&["audit", "export"]))), text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follows_new_records_and_stops_on_ctrl_c() {
    let gw = start();
    let session = RawSession::open(&gw.url("crm"), None)
        .await
        .expect("session");
    session.call(1, "findManyPeople", json!({})).await;
    // Wait until that record is written, so that `tail -f -n 0` starts after it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while stdout(&gw.cli(&["audit", "query", "--tool", "findManyPeople", "--json"])).is_empty() {
        assert!(Instant::now() < deadline, "the record was never written");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut cmd = Command::new(common::TOOLGATE);
    cmd.args(["audit", "tail", "-f", "-n", "0", "--json", "-c"])
        .arg(gw.path("toolgate.toml"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut tail = ChildGuard::spawn("toolgate audit tail", &mut cmd).unwrap();
    let stdout = tail.child_mut().stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Give tail a moment to find where the stream ends now, then make new records.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for i in 0..3 {
        session
            .call(10 + i, "findOneCompany", json!({"id": "c1"}))
            .await;
    }
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < 3 && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            let r: Value = serde_json::from_str(&line).unwrap();
            seen.push(r);
        }
    }
    assert_eq!(seen.len(), 3, "tail printed {seen:?}");
    assert!(
        seen.iter().all(|r| r["tool"] == "findOneCompany"),
        "{seen:?}"
    );
    assert!(
        seen.windows(2)
            .all(|w| w[0]["seq"].as_u64() < w[1]["seq"].as_u64())
    );

    // Ctrl-C ends it promptly, with success.
    let interrupted = Instant::now();
    tail.signal(nix::sys::signal::Signal::SIGINT);
    let status = loop {
        if let Some(s) = tail.try_status() {
            break s;
        }
        assert!(
            interrupted.elapsed() < Duration::from_secs(2),
            "tail did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");

    // Without -f: the latest N records, then exit.
    let o = ok(gw.cli(&["audit", "tail", "-n", "2", "--json"]));
    let last: Vec<Value> = stdout_lines(&o);
    assert_eq!(last.len(), 2);
    assert_eq!(last[1]["tool"], "findOneCompany");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_opened_after_a_list_gets_the_records_written_in_between() {
    let gw = start_with_admin_token();
    let session = RawSession::open(&gw.url("crm"), None)
        .await
        .expect("session");
    let (status, _) = session.call(1, "findOneCompany", json!({"id": "c1"})).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    // What the audit page is drawn from: the newest decisions under its filter, and the admin
    // changes, each as of its `last_seq`.
    let listed = newest_after(&gw, "/audit?tool=findOneCompany", 0).await;
    let since = listed["last_seq"].as_u64().expect("last_seq");
    assert!(
        since >= listed["records"][0]["seq"].as_u64().unwrap(),
        "{listed}"
    );
    let admin_listed = api_get(&gw, "/audit?stream=admin&order=desc&limit=50").await;
    let admin_since = admin_listed["last_seq"].as_u64().expect("last_seq");

    // Written before the page's streams are open: a call the filter leaves out, one it keeps,
    // and an admin change. A stream that starts at the newest record would show none of them.
    session.call(2, "findManyPeople", json!({})).await;
    session.call(3, "findOneCompany", json!({"id": "c2"})).await;
    let resp = reqwest::Client::new()
        .post(gw.api_url("/kill-switches"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"scope": "server", "target": "crm", "reason": "gap test"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let kept = newest_after(&gw, "/audit?tool=findOneCompany", since).await["records"][0].clone();
    let kept_seq = kept["seq"].as_u64().unwrap();
    let change = newest_after(&gw, "/audit?stream=admin", admin_since).await["records"][0].clone();
    assert_eq!(change["action"], "kill_switch.engage", "{change}");

    // Started after the list's `last_seq`, the stream's first event is the record it kept (not
    // the one its filter leaves out), with the record's number as the event's id.
    let first = |path: String, last_event_id: Option<u64>| {
        let gw = &gw;
        async move {
            let mut resp = admin_get(gw, &path, last_event_id).await;
            next_event(&mut resp, &mut String::new()).await
        }
    };
    let (event, id, record) = first(
        format!("/audit/stream?tool=findOneCompany&after={since}"),
        None,
    )
    .await;
    assert_eq!(event, "record");
    assert_eq!(record, kept);
    assert_eq!(id, Some(kept_seq));
    // A browser reconnecting sends the last id it had (`Last-Event-ID`), which wins over `after`.
    let (_, id, record) = first("/audit/stream?tool=findOneCompany".into(), Some(since)).await;
    assert_eq!((id, &record), (Some(kept_seq), &kept));
    let (_, id, _) = first(
        format!("/audit/stream?tool=findOneCompany&after={kept_seq}"),
        Some(since),
    )
    .await;
    assert_eq!(id, Some(kept_seq));
    // The admin stream beside it: its first event is the change.
    let (event, id, record) = first(
        format!("/audit/stream?stream=admin&after={admin_since}"),
        None,
    )
    .await;
    assert_eq!(event, "record");
    assert_eq!(record, change);
    assert_eq!(id, change["seq"].as_u64());
    let (_, _, record) = first("/audit/stream?stream=admin".into(), Some(admin_since)).await;
    assert_eq!(record, change);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_resumed_after_a_large_gap_sends_the_newest_and_names_the_rest() {
    let gw = start_with_admin_token();
    let session = RawSession::open(&gw.url("crm"), None)
        .await
        .expect("session");
    let mut tasks = Vec::new();
    for id in 0..260u64 {
        let s = session.clone();
        tasks.push(tokio::spawn(async move {
            s.call(id, "findManyCompanies", json!({"limit": 1})).await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().0, reqwest::StatusCode::OK);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let listed = loop {
        let l = api_get(&gw, "/audit?tool=findManyCompanies&order=desc&limit=1000").await;
        if l["count"] == 260 {
            break l;
        }
        assert!(Instant::now() < deadline, "{l}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let seqs: Vec<u64> = listed["records"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    // A stream resumed from the start: one bounded read, the newest 200 oldest first, after a
    // `skipped` event naming what it left out.
    let mut resp = admin_get(&gw, "/audit/stream?tool=findManyCompanies&after=0", None).await;
    let mut text = String::new();
    let (event, _, gap) = next_event(&mut resp, &mut text).await;
    assert_eq!(event, "skipped");
    let sent = &seqs[seqs.len() - 200..];
    assert_eq!(gap, json!({"after": 0, "before": sent[0], "replay": true}));
    for want in sent {
        let (event, id, record) = next_event(&mut resp, &mut text).await;
        assert_eq!((event.as_str(), id), ("record", Some(*want)), "{record}");
    }
}

/// `GET /api{path}` with the admin token: the JSON answer.
async fn api_get(gw: &Toolgate, path: &str) -> Value {
    admin_get(gw, path, None).await.json().await.unwrap()
}

/// `GET /api{path}` with the admin token (and `Last-Event-ID`, as a reconnecting browser sends
/// it), answered 200.
async fn admin_get(gw: &Toolgate, path: &str, last_event_id: Option<u64>) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .get(gw.api_url(path))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id.to_string());
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    resp
}

/// `path` (a query of `GET /api/audit`) newest first, once its newest record is after `seq`.
async fn newest_after(gw: &Toolgate, path: &str, seq: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = api_get(gw, &format!("{path}&order=desc&limit=100")).await;
        if page["records"][0]["seq"].as_u64().is_some_and(|s| s > seq) {
            return page;
        }
        assert!(Instant::now() < deadline, "no record after {seq}: {page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The next event on an audit stream: its name, its id and its data.
async fn next_event(
    resp: &mut reqwest::Response,
    text: &mut String,
) -> (String, Option<u64>, Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        while let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            let field = |name: &str| {
                event
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_owned())
            };
            if let (Some(name), Some(data)) = (field("event:"), field("data:")) {
                let id = field("id:").and_then(|i| i.parse().ok());
                return (name, id, serde_json::from_str(&data).unwrap());
            }
        }
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .expect("no event within 10 s")
            .unwrap()
            .expect("the stream ended");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}

fn stdout_lines(o: &Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
