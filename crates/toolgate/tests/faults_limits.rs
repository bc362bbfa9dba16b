//! Fault suite, bounded everything: the real binary in front of server-everything, attacked on
//! loopback, each test printing its figures.
//!
//! - attacker-chosen names: a hundred calls with megabyte tool names, a hundred made-up tool
//!   names, oversized ids, methods and progress tokens — each refused at once with the limit it
//!   met, audited in a few hundred bytes, and none of them a metric series; the gateway's
//!   memory, `/metrics` and database stay about where they were;
//! - per-grant caps: sessions per grant, GET streams per session, pending approvals per grant and
//!   children per server — each refusal a clear error naming its key (the Python SDK shows it),
//!   each audited with its rule, each slot given back when what held it ends;
//! - slowloris: a thousand connections that send headers a byte at a time, from one address,
//!   under a 1,024 open-file limit — the excess refused with a 503 naming the cap, the rest closed
//!   by the header timeout, slow bodies answered 408, while a real client from another address,
//!   the admin plane and a config reload go on working.

mod common;

use common::{
    RawSession, Toolgate, gateway_decision, ok, result_text, rss_kib, stdout, toml_array, toml_str,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use toolgate_testkit::{McpClient, server_everything_stdio_command};

const TOKEN: &str = "faults-limits-token";

/// `[grants.ci]` for [`TOKEN`], reaching every server.
fn grant() -> String {
    format!(
        "[grants.ci]\nagent = \"ci-bot\"\ntoken_sha256 = \"{}\"\n",
        toolgate_store::token::hash(TOKEN).to_hex()
    )
}

/// `[servers.<name>]` running server-everything over stdio, with `extra` keys.
fn everything(name: &str, extra: &str) -> String {
    let cmd = server_everything_stdio_command();
    format!(
        "[servers.{name}]\ncommand = {}\nargs = {}\n{extra}\n",
        toml_str(&cmd[0]),
        toml_array(&cmd[1..])
    )
}

/// The store's size on disk (database and its write-ahead log), bytes.
fn db_bytes(gw: &Toolgate) -> u64 {
    ["toolgate.db", "toolgate.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(gw.path(f)).ok())
        .map(|m| m.len())
        .sum()
}

async fn metrics(gw: &Toolgate) -> String {
    reqwest::get(format!("{}/metrics", gw.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Every request record, once at least `n` have `rule` or `message` matching `pick`.
fn records_where(gw: &Toolgate, n: usize, pick: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let o = ok(gw.cli(&["audit", "query", "--limit", "0", "--json"]));
        let picked: Vec<Value> = stdout(&o)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|r| pick(r))
            .collect();
        if picked.len() >= n {
            return picked;
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {n} records: {picked:#?}\nlog:\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn rule_is(r: &Value, rule: &str) -> bool {
    r["rule"].as_str() == Some(rule)
}

/// A raw JSON-RPC POST on `session`; the status and the JSON body.
async fn post(session: &RawSession, body: String) -> (reqwest::StatusCode, Value) {
    let resp = session
        .http
        .post(&session.url)
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session.id)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let json = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("data:"))
        .unwrap_or(&text);
    (
        status,
        serde_json::from_str(json.trim()).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_names_are_refused_first_and_leave_memory_metrics_and_audit_bounded() {
    let policy = json!({"version": "1", "default": "deny", "tools": {"echo": {}}}).to_string();
    let config = format!(
        "{}policy = \"p.json\"\n\n{}",
        everything("everything", ""),
        grant()
    );
    let gw = Toolgate::start(&config, &[("p.json", &policy)]);
    let url = gw.url("everything");

    // A real client lists (so the catalogue knows the server's tools) and calls a listed tool.
    let out = McpClient::python_http(&url)
        .token(TOKEN)
        .call("echo", json!({"message": "before"}))
        .run_async()
        .await;
    out.assert_exit(0);

    let session = RawSession::open(&url, Some(TOKEN)).await.unwrap();
    let (rss0, metrics0, db0) = (rss_kib(gw.guard.id()), metrics(&gw).await, db_bytes(&gw));

    // 100 calls, each naming a 1 MiB tool.
    let huge = "n".repeat(1 << 20);
    let started = Instant::now();
    for i in 0..100u64 {
        let body = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
            "params": {"name": format!("{i}{huge}"), "arguments": {}}});
        let (status, v) = post(&session, body.to_string()).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["id"], i);
        assert_eq!(v["error"]["code"], -32602, "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("tool or prompt name is 10485")
                && message.contains("bytes long; this gateway takes at most 256"),
            "{message}"
        );
    }
    let huge_ms = started.elapsed().as_millis();

    // 100 made-up tools: denied by the policy, counted under one label.
    for i in 0..100u64 {
        let (_, v) = session
            .call(
                1000 + i,
                &format!("made-up-tool-{i}-{}", "x".repeat(180)),
                json!({}),
            )
            .await;
        assert!(result_text(&v).starts_with("[POLICY DENIED]"), "{v}");
    }

    // An oversized id, method and progress token.
    let (status, v) = post(
        &session,
        json!({"jsonrpc": "2.0", "id": "i".repeat(300), "method": "ping"}).to_string(),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["id"], Value::Null, "an oversized id is not echoed: {v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("request id is 302 bytes")
    );
    let (status, v) = post(
        &session,
        json!({"jsonrpc": "2.0", "id": 7, "method": "m".repeat(1000)}).to_string(),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("method name is 1000 bytes")
    );
    let (status, v) = post(
        &session,
        json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "echo",
            "arguments": {"message": "x"}, "_meta": {"progressToken": "t".repeat(500)}}})
        .to_string(),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["id"].clone(), v["error"]["code"].clone()),
        (json!(8), json!(-32602))
    );

    // Every refusal is audited, in a few hundred bytes.
    let refused = records_where(&gw, 103, |r| {
        r["message"]
            .as_str()
            .is_some_and(|m| m.contains("bytes long; this gateway takes at most"))
    });
    let largest = refused.iter().map(|r| r.to_string().len()).max().unwrap();
    assert!(largest < 2048, "a record of {largest} bytes");
    assert!(
        refused
            .iter()
            .all(|r| r["decision"] == "error" && r["grant"] == "ci")
    );
    records_where(&gw, 100, |r| {
        r["tool"]
            .as_str()
            .is_some_and(|t| t.starts_with("made-up-tool-"))
    });

    let (rss1, metrics1, db1) = (rss_kib(gw.guard.id()), metrics(&gw).await, db_bytes(&gw));
    assert!(
        !metrics1.contains("made-up-tool"),
        "a made-up tool became a series"
    );
    assert!(!metrics1.contains("nnnnnnnn") && !metrics1.contains("mmmmmmmm"));
    assert!(
        metrics1.contains(r#"tool="(unlisted)""#) && metrics1.contains(r#"tool="echo""#),
        "{metrics1}"
    );
    let rss_growth_mib = rss1.saturating_sub(rss0) as f64 / 1024.0;
    let metrics_growth = metrics1.len().saturating_sub(metrics0.len());
    let db_growth = db1.saturating_sub(db0);
    println!(
        "FIGURES long names: 100 calls with 1 MiB names refused in {huge_ms} ms total; 100 made-up tools denied; \
         3 oversized id/method/token refused; {} records, largest {largest} B; RSS {} -> {} MiB (+{rss_growth_mib:.1}); \
         /metrics {} -> {} B (+{metrics_growth}); store {} -> {} KiB (+{} KiB)",
        refused.len(),
        rss0 / 1024,
        rss1 / 1024,
        metrics0.len(),
        metrics1.len(),
        db0 / 1024,
        db1 / 1024,
        db_growth / 1024
    );
    assert!(rss_growth_mib < 64.0, "RSS grew by {rss_growth_mib:.1} MiB");
    assert!(
        metrics_growth < 16 * 1024,
        "/metrics grew by {metrics_growth} B"
    );
    assert!(db_growth < 4 << 20, "the store grew by {db_growth} B");

    // The real client is still served.
    McpClient::python_http(&url)
        .token(TOKEN)
        .call("echo", json!({"message": "after"}))
        .run_async()
        .await
        .assert_exit(0);
}

/// A GET stream on `session`; the response (kept open) or the refusal.
async fn open_stream(session: &RawSession) -> reqwest::Response {
    session
        .http
        .get(&session.url)
        .bearer_auth(TOKEN)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session.id)
        .send()
        .await
        .unwrap()
}

async fn delete(session: &RawSession) {
    let resp = session
        .http
        .delete(&session.url)
        .bearer_auth(TOKEN)
        .header("mcp-session-id", &session.id)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_on_sessions_streams_approvals_and_children_refuse_clearly_and_are_audited() {
    let policy = json!({"version": "1", "default": "allow", "tools": {
        "echo": {"action": "require_approval", "approval": {"timeout": "5m", "mode": "retry"}}}})
    .to_string();
    let config = format!(
        "[limits]\nsessions_per_grant = 4\nstreams_per_session = 2\npending_approvals_per_grant = 3\n\n\
         {}policy = \"p.json\"\n\n{}\n{}",
        everything("everything", ""),
        everything("kids", "share = \"session\"\nmax_children = 2\n"),
        grant()
    );
    let gw = Toolgate::start(&config, &[("p.json", &policy)]);
    let url = gw.url("everything");

    // Children per server: sessions of a server with a child per session, until the cap (the
    // catalogue's own listing may hold one of the children).
    let mut kids = Vec::new();
    let children_refusal = loop {
        let resp = reqwest::Client::new()
            .post(gw.url("kids"))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
                "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}})
            .to_string())
            .send()
            .await
            .unwrap();
        match resp.headers().get("mcp-session-id") {
            Some(id) => kids.push(RawSession {
                http: reqwest::Client::new(),
                url: gw.url("kids"),
                token: Some(TOKEN.into()),
                id: id.to_str().unwrap().to_owned(),
            }),
            None => {
                let v: Value = resp.json().await.unwrap();
                break v["error"]["message"].as_str().unwrap().to_owned();
            }
        }
        assert!(kids.len() <= 2, "more sessions than children allowed");
    };
    assert!(
        children_refusal.contains("already runs 2 stdio children")
            && children_refusal.contains("servers.kids.max_children"),
        "{children_refusal}"
    );
    for s in &kids {
        delete(s).await;
    }

    // Sessions per grant: four open, the fifth refused (raw and by the Python SDK), one ended
    // makes room again.
    let mut sessions = Vec::new();
    for _ in 0..4 {
        sessions.push(RawSession::open(&url, Some(TOKEN)).await.unwrap());
    }
    let refused = RawSession::open(&url, Some(TOKEN)).await.err();
    assert_eq!(refused, Some(reqwest::StatusCode::TOO_MANY_REQUESTS));
    let sdk = McpClient::python_http(&url)
        .token(TOKEN)
        .no_list()
        .run_async()
        .await;
    assert_ne!(sdk.status, Some(0), "{}", sdk.stdout);
    let sdk_says = format!("{}{}", sdk.stdout, sdk.stderr);
    assert!(
        sdk_says.contains("sessions_per_grant"),
        "the SDK does not show the limit: {sdk_says}"
    );
    delete(&sessions.pop().unwrap()).await;
    sessions.push(RawSession::open(&url, Some(TOKEN)).await.unwrap());

    // GET streams per session: two open, the third refused; one closed makes room again.
    let s = &sessions[0];
    let first = open_stream(s).await;
    let second = open_stream(s).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = open_stream(s).await;
    assert_eq!(third.status(), 429);
    let v: Value = third.json().await.unwrap();
    let stream_refusal = v["error"]["message"].as_str().unwrap().to_owned();
    assert!(stream_refusal.contains("streams_per_session"), "{v}");
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    let reopened = loop {
        let r = open_stream(s).await;
        if r.status() == 200 {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "the closed stream's slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop((second, reopened));
    for other in sessions.drain(1..) {
        delete(&other).await;
    }
    let s = &sessions[0];

    // Pending approvals per grant: three calls wait, the fourth (new arguments) is refused, the
    // identical retry of a waiting one is not; one decided makes room.
    let mut approval_ids = Vec::new();
    for i in 0..3 {
        let (_, v) = s
            .call(10 + i, "echo", json!({"message": format!("m{i}")}))
            .await;
        assert_eq!(gateway_decision(&v)["decision"], "approval_required", "{v}");
        approval_ids.push(
            gateway_decision(&v)["approval_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let (_, v) = s.call(20, "echo", json!({"message": "m3"})).await;
    let approval_refusal = result_text(&v).to_owned();
    assert!(
        approval_refusal.contains("3 approvals waiting")
            && approval_refusal.contains("pending_approvals_per_grant"),
        "{v}"
    );
    assert_eq!(
        gateway_decision(&v)["rule"],
        "/limits/pending_approvals_per_grant"
    );
    let (_, v) = s.call(21, "echo", json!({"message": "m0"})).await;
    assert_eq!(
        gateway_decision(&v)["approval_id"],
        approval_ids[0].as_str(),
        "{v}"
    );
    let sdk = McpClient::python_http(&url)
        .token(TOKEN)
        .no_list()
        .call("echo", json!({"message": "from the SDK"}))
        .run_async()
        .await;
    assert!(
        sdk.stdout.contains("pending_approvals_per_grant"),
        "{}",
        sdk.stdout
    );
    ok(gw.cli(&["approvals", "deny", &approval_ids[1]]));
    let (_, v) = s.call(22, "echo", json!({"message": "m4"})).await;
    assert_eq!(gateway_decision(&v)["decision"], "approval_required", "{v}");

    // Each refusal is audited with its rule.
    let by_rule = |rule: &str, n: usize| records_where(&gw, n, |r| rule_is(r, rule)).len();
    let sessions_refused = by_rule("/limits/sessions_per_grant", 2);
    let streams_refused = by_rule("/limits/streams_per_session", 1);
    let approvals_refused = by_rule("/limits/pending_approvals_per_grant", 2);
    let children_refused = by_rule("/servers/kids/max_children", 1);
    let all = records_where(&gw, 1, |r| {
        r["rule"].as_str().is_some_and(|rule| {
            rule.starts_with("/limits/") || rule == "/servers/kids/max_children"
        })
    });
    assert!(
        all.iter()
            .all(|r| r["decision"] == "rate_limited" && r["grant"] == "ci"),
        "{all:#?}"
    );
    println!(
        "FIGURES caps: refused and audited — sessions_per_grant {sessions_refused} (limit 4), \
         streams_per_session {streams_refused} (limit 2), pending_approvals_per_grant {approvals_refused} (limit 3), \
         max_children {children_refused} (limit 2); each slot came back when its holder ended\n  \
         children: {children_refusal}\n  streams: {stream_refusal}\n  approvals: {approval_refusal}"
    );
}

/// How one attacking connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Answered with this status, then closed.
    Answered(u16),
    /// Closed by the gateway without an answer, this long after it was opened.
    Closed(Duration),
    /// Still open when the attack ended.
    Open,
}

/// A connection from `from` to `to` that sends `head`, then one byte of `trickle` every 500 ms
/// for at most `for_at_most`; how it ended.
async fn slow_client(
    from: std::net::IpAddr,
    to: std::net::SocketAddr,
    head: &'static [u8],
    trickle: &'static [u8],
    for_at_most: Duration,
) -> Fate {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::new(from, 0)).unwrap();
    let opened = Instant::now();
    let Ok(stream) = socket.connect(to).await else {
        return Fate::Closed(Duration::ZERO);
    };
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = write.write_all(head).await;
        if trickle.is_empty() {
            // Keep the connection open, sending nothing more.
            tokio::time::sleep(for_at_most).await;
        }
        for b in trickle.iter().cycle() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if write.write_all(std::slice::from_ref(b)).await.is_err() {
                break;
            }
        }
    });
    let mut answer = Vec::new();
    let fate = tokio::time::timeout(for_at_most, async {
        let mut buf = [0u8; 1024];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    writer.abort();
    match (fate, answer.get(9..12)) {
        (Err(_), _) => Fate::Open,
        (Ok(()), Some(code)) => Fate::Answered(std::str::from_utf8(code).unwrap().parse().unwrap()),
        (Ok(()), None) => Fate::Closed(opened.elapsed()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_under_a_low_file_limit_leaves_room_for_a_real_client_the_admin_plane_and_reload()
{
    // This process opens a thousand connections of its own, as far as its own limit allows (and
    // always far more than the cap of one address).
    let own_limit = toolgate_gateway::conn::fd_limit::raise().unwrap();
    let attack_size = usize::try_from(own_limit.saturating_sub(200))
        .unwrap_or(usize::MAX)
        .min(1100);
    assert!(
        attack_size >= 500,
        "this process may open {own_limit} files"
    );
    let policy = json!({"version": "1", "default": "deny", "tools": {"echo": {}}}).to_string();
    let config = format!(
        "[limits]\nheader_read_timeout = \"2s\"\nbody_read_timeout = \"3s\"\n\n{}policy = \"p.json\"\n\n{}",
        everything("everything", ""),
        grant()
    );
    let gw = Toolgate::start_with_open_files(&config, &[("p.json", &policy)], 1024);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gw
        .log()
        .contains("the open-file limit lowers [limits] max_connections")
    {
        assert!(Instant::now() < deadline, "no warning:\n{}", gw.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let to: std::net::SocketAddr = gw.base.trim_start_matches("http://").parse().unwrap();
    let attacker: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    // The same client before the attack, for comparison (it also starts the server's child).
    let baseline_started = Instant::now();
    McpClient::python_http(&gw.url("everything"))
        .token(TOKEN)
        .call("echo", json!({"message": "before the attack"}))
        .run_async()
        .await
        .assert_exit(0);
    let baseline_s = baseline_started.elapsed().as_secs_f64();

    // 1,100 connections from one address, each sending its headers a byte every 500 ms.
    let started = Instant::now();
    let attack: Vec<_> = (0..attack_size)
        .map(|_| {
            tokio::spawn(slow_client(
                attacker,
                to,
                b"POST /mcp/everything HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                Duration::from_secs(20),
            ))
        })
        .collect();
    // And 20 that send their headers but never all of their body, from another address.
    let slow_bodies: Vec<_> = (0..20)
        .map(|_| {
            tokio::spawn(slow_client(
                "127.0.0.3".parse().unwrap(),
                to,
                b"POST /mcp/everything HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
                b"",
                Duration::from_secs(20),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Meanwhile: a real client from another address (127.0.0.1) is served, the admin plane
    // answers, and a config reload goes through.
    let client_started = Instant::now();
    McpClient::python_http(&gw.url("everything"))
        .token(TOKEN)
        .call("echo", json!({"message": "served during the attack"}))
        .run_async()
        .await
        .assert_exit(0);
    let client_s = client_started.elapsed().as_secs_f64();
    let admin_started = Instant::now();
    let metrics_text = metrics(&gw).await;
    assert!(
        metrics_text.contains("toolgate_requests"),
        "{metrics_text:.300}"
    );
    let admin_ms = admin_started.elapsed().as_millis();
    let reloaded = json!({"version": "1", "default": "deny", "tools": {"echo": {}, "get-sum": {}}});
    std::fs::write(gw.path("p.json"), reloaded.to_string()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !gw.log().contains("configuration reloaded") {
        assert!(Instant::now() < deadline, "no reload:\n{}", gw.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reload_s = started.elapsed().as_secs_f64();

    let mut fates = Vec::new();
    for t in attack {
        fates.push(t.await.unwrap());
    }
    let refused = fates.iter().filter(|f| **f == Fate::Answered(503)).count();
    let closed: Vec<Duration> = fates
        .iter()
        .filter_map(|f| match f {
            Fate::Closed(d) => Some(*d),
            _ => None,
        })
        .collect();
    let still_open = fates.iter().filter(|f| **f == Fate::Open).count();
    let held_longest = closed.iter().max().copied().unwrap_or_default();
    let by_timeout = closed
        .iter()
        .filter(|d| **d >= Duration::from_millis(1500))
        .count();
    let mut bodies = Vec::new();
    for t in slow_bodies {
        bodies.push(t.await.unwrap());
    }
    let timed_out_bodies = bodies.iter().filter(|f| **f == Fate::Answered(408)).count();
    // Operators see the refusals on /metrics, by plane and limit.
    let after = metrics(&gw).await;
    let refused_metric = after
        .lines()
        .find(|l| {
            l.starts_with("toolgate_connections_refused_total{")
                && l.contains(r#"plane="data""#)
                && l.contains(r#"limit="max_connections_per_address""#)
        })
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no refusal counted:\n{after}"));
    assert!(refused_metric as usize >= refused, "{refused_metric}");
    println!(
        "FIGURES slowloris (open-file limit 1024): {attack_size} slow-header connections from one address: \
         {refused} refused with 503 at once ({refused_metric} counted on /metrics), {} closed without an answer ({by_timeout} by the 2 s header timeout, \
         the longest held {:.1} s), {still_open} still open after 20 s; 20 slow bodies: {timed_out_bodies} answered 408; \
         meanwhile a Python SDK client was served in {client_s:.1} s ({baseline_s:.1} s before the attack), /metrics answered in {admin_ms} ms, \
         the config reloaded {reload_s:.1} s into the attack",
        closed.len(),
        held_longest.as_secs_f64()
    );
    assert_eq!(still_open, 0, "{fates:?}");
    assert!(refused > 0 && by_timeout > 0, "{fates:?}");
    assert!(
        held_longest < Duration::from_secs(5),
        "a slow connection was held {held_longest:?}"
    );
    assert_eq!(timed_out_bodies, 20, "{bodies:?}");
}
