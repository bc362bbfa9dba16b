//! Fault suite, lifecycle: SIGTERM while clients hold the gateway — the real binary in front of
//! server-everything, on loopback, each test printing its figures.
//!
//! - with a GET stream and an admin live view open, two calls held for approval (Python SDK, one with progress), a slow
//!   call streaming progress and a burst of calls in flight, SIGTERM drains: the streams get the
//!   gateway's farewell and end, the held calls are answered "[GATEWAY RESTARTING] … retry" (their
//!   approvals stay pending for the retry), the slow call finishes, new connections are refused,
//!   and the process exits 0 well within `shutdown_grace` — with a record for every call a client
//!   was answered, and none more;
//! - a second SIGTERM during the drain stops the gateway at once, its audit log written out;
//! - a call longer than the grace is cut when the grace ends, and still recorded.

mod common;

use common::{RawSession, Toolgate, ok, stdout, toml_array, toml_str};
use futures_util::StreamExt;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use toolgate_testkit::{McpClient, server_everything_stdio_command};

const TOKEN: &str = "faults-shutdown-token";

/// The gateway in front of server-everything over stdio; `echo` is held for approval.
fn start(grace: &str) -> Toolgate {
    let cmd = server_everything_stdio_command();
    let policy = json!({"version": "1", "default": "allow", "tools": {
        "echo": {"action": "require_approval", "approval": {"timeout": "10m"}}}})
    .to_string();
    let config = format!(
        "shutdown_grace = \"{grace}\"\n\n[servers.everything]\ncommand = {}\nargs = {}\npolicy = \"p.json\"\n\n\
         [grants.ci]\nagent = \"ci-bot\"\ntoken_sha256 = \"{}\"\n",
        toml_str(&cmd[0]),
        toml_array(&cmd[1..]),
        toolgate_store::token::hash(TOKEN).to_hex()
    );
    // `shutdown_grace` belongs to [gateway], which Toolgate::start writes first.
    Toolgate::start(&config, &[("p.json", &policy)])
}

/// Sends SIGTERM to the gateway itself (as an orchestrator does), not to its group.
fn sigterm(gw: &Toolgate) {
    kill(Pid::from_raw(gw.guard.id() as i32), Signal::SIGTERM).unwrap();
}

/// Waits for the gateway to exit, at most `limit`; how long it took and its exit code.
async fn exited(gw: &mut Toolgate, since: Instant, limit: Duration) -> (Duration, Option<i32>) {
    loop {
        if let Some(status) = gw.guard.try_status() {
            return (since.elapsed(), status.code());
        }
        assert!(
            since.elapsed() < limit,
            "still running {limit:?} after SIGTERM; log:\n{}",
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every request record of `tool` in the store (read after the gateway exited).
fn records_of(gw: &Toolgate, tool: &str) -> Vec<Value> {
    let o = ok(gw.cli(&["audit", "query", "--tool", tool, "--limit", "0", "--json"]));
    stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The approvals in the store.
fn approvals(gw: &Toolgate) -> Vec<Value> {
    serde_json::from_str(&stdout(&ok(gw.cli(&["approvals", "list", "--json"])))).unwrap()
}

/// A `tools/call` of `tool` on `session` with a progress token, answered as SSE: the response
/// once its first progress notification has arrived.
async fn slow_call(session: &RawSession, tool: &str, arguments: Value) -> reqwest::Response {
    let body = json!({"jsonrpc": "2.0", "id": 900, "method": "tools/call", "params": {
        "name": tool, "arguments": arguments, "_meta": {"progressToken": "slow"}}});
    session
        .http
        .post(&session.url)
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session.id)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// Reads an SSE body until its first progress notification; returns what is left of it.
async fn until_progress(
    response: reqwest::Response,
) -> impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin {
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("notifications/progress") {
        let chunk = tokio::time::timeout(Duration::from_secs(20), body.next())
            .await
            .expect("progress in time")
            .expect("the stream goes on")
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    body
}

/// The rest of a body as text (until it ends or fails).
async fn rest_of(
    mut body: impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
) -> String {
    let mut text = String::new();
    while let Some(Ok(chunk)) = body.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_streams_held_and_in_flight_calls_and_loses_no_record() {
    let mut gw = start("10s");
    let url = gw.url("everything");

    // Two held calls from the Python SDK (one asks for progress, so it is held on a stream).
    let held: Vec<_> = [false, true]
        .into_iter()
        .map(|progress| {
            let mut client = McpClient::python_http(&url)
                .token(TOKEN)
                .no_list()
                .call(
                    "echo",
                    json!({"message": format!("held, progress {progress}")}),
                )
                .timeout(Duration::from_secs(60));
            if progress {
                client = client.progress();
            }
            tokio::spawn(async move { client.run_async().await })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while approvals(&gw).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the calls were not held:\n{}",
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A GET stream, a slow call in flight (its first progress seen) and a burst of calls.
    let session = RawSession::open(&url, Some(TOKEN)).await.unwrap();
    let stream = session
        .http
        .get(&url)
        .bearer_auth(TOKEN)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session.id)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    // And an operator's live view of approvals on the admin plane.
    let live_view = reqwest::Client::new()
        .get(format!("{}/api/approvals/stream", gw.admin))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(live_view.status(), 200);
    let slow = until_progress(
        slow_call(
            &session,
            "trigger-long-running-operation",
            json!({"duration": 4, "steps": 4}),
        )
        .await,
    )
    .await;
    let answered = Arc::new(AtomicUsize::new(0));
    let burst: Vec<_> = (0..4)
        .map(|worker| {
            let (url, answered) = (url.clone(), answered.clone());
            tokio::spawn(async move {
                let s = RawSession::open(&url, Some(TOKEN)).await.unwrap();
                for i in 0u64.. {
                    let body = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                        "params": {"name": "get-sum", "arguments": {"a": worker, "b": i}}});
                    let sent = s
                        .http
                        .post(&s.url)
                        .bearer_auth(TOKEN)
                        .header("content-type", "application/json")
                        .header("accept", "application/json, text/event-stream")
                        .header("mcp-session-id", &s.id)
                        .body(body.to_string())
                        .send()
                        .await;
                    let Ok(resp) = sent else { break };
                    match resp.text().await {
                        Ok(text) if text.contains("\"result\"") => {
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => break,
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let signalled = Instant::now();
    sigterm(&gw);
    let stream_text = tokio::spawn(rest_of(stream.bytes_stream()));
    let live_view_text = tokio::spawn(rest_of(live_view.bytes_stream()));
    let slow_text = tokio::spawn(rest_of(slow));
    let (took, code) = exited(&mut gw, signalled, Duration::from_secs(13)).await;

    let stream_text = stream_text.await.unwrap();
    assert!(
        stream_text.contains(": toolgate is shutting down") && stream_text.contains("retry: 5000"),
        "{stream_text:?}"
    );
    let live_view_text = live_view_text.await.unwrap();
    assert!(
        live_view_text.contains(": toolgate is shutting down"),
        "{live_view_text:?}"
    );
    let slow_text = slow_text.await.unwrap();
    assert!(
        slow_text.contains("Long running operation completed"),
        "the slow call did not finish: {slow_text:?}"
    );
    for b in burst {
        b.await.unwrap();
    }
    let burst_answered = answered.load(Ordering::Relaxed);
    let mut held_texts = Vec::new();
    for h in held {
        let out = h.await.unwrap();
        let result = out.events_named("result");
        assert_eq!(result.len(), 1, "{out}");
        let text = result[0]["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            text.starts_with("[GATEWAY RESTARTING]") && text.contains("Retry this identical call"),
            "{text}"
        );
        held_texts.push(text);
    }
    assert_eq!(code, Some(0), "log:\n{}", gw.log());
    assert!(
        took < Duration::from_secs(10),
        "took {took:?}, longer than the grace"
    );

    // Every answered call has its record, and there is none for a call no client saw answered.
    let sums = records_of(&gw, "get-sum");
    let echoes = records_of(&gw, "echo");
    let slows = records_of(&gw, "trigger-long-running-operation");
    assert_eq!(sums.len(), burst_answered, "{sums:#?}");
    assert_eq!(slows.len(), 1, "{slows:#?}");
    assert_eq!(slows[0]["upstream_status"], "ok", "{slows:#?}");
    let restarting: Vec<&Value> = echoes
        .iter()
        .filter(|r| {
            r["message"]
                .as_str()
                .is_some_and(|m| m.contains("the gateway stopped while approval"))
        })
        .collect();
    assert_eq!(restarting.len(), 2, "{echoes:#?}");
    // The approvals wait for the retries.
    let pending: Vec<Value> = approvals(&gw)
        .into_iter()
        .filter(|a| a["status"] == "pending")
        .collect();
    assert_eq!(pending.len(), 2, "{pending:#?}");
    println!(
        "FIGURES SIGTERM drain (grace 10 s): exited 0 after {:.2} s with 1 GET stream and 1 admin live view (told and ended), \
         2 held calls (answered \"restarting, retry\", approvals still pending), 1 slow call (finished) and 4 \
         clients bursting ({burst_answered} calls answered); records: {} get-sum, {} echo, {} slow — 0 lost, 0 extra\n  held: {}",
        took.as_secs_f64(),
        sums.len(),
        echoes.len(),
        slows.len(),
        held_texts[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_at_once_and_a_call_past_the_grace_is_cut_and_recorded() {
    // A second SIGTERM during a long drain: out at once.
    let mut gw = start("60s");
    let url = gw.url("everything");
    let session = RawSession::open(&url, Some(TOKEN)).await.unwrap();
    for i in 0..20 {
        let (_, v) = session.call(i, "get-sum", json!({"a": i, "b": 1})).await;
        assert!(v["result"].is_object(), "{v}");
    }
    let slow = until_progress(
        slow_call(
            &session,
            "trigger-long-running-operation",
            json!({"duration": 120, "steps": 120}),
        )
        .await,
    )
    .await;
    let signalled = Instant::now();
    sigterm(&gw);
    tokio::time::sleep(Duration::from_secs(1)).await;
    sigterm(&gw);
    let (took_second, code) = exited(&mut gw, signalled, Duration::from_secs(8)).await;
    drop(slow);
    assert_eq!(code, Some(0), "log:\n{}", gw.log());
    assert!(gw.log().contains("second signal: stopping at once"));
    let sums = records_of(&gw, "get-sum").len();
    let cut = records_of(&gw, "trigger-long-running-operation").len();
    assert_eq!(sums, 20);
    assert_eq!(cut, 1, "the cut call has no record:\n{}", gw.log());

    // A call longer than the grace: cut when it ends.
    let mut gw = start("3s");
    let url = gw.url("everything");
    let session = RawSession::open(&url, Some(TOKEN)).await.unwrap();
    let slow = until_progress(
        slow_call(
            &session,
            "trigger-long-running-operation",
            json!({"duration": 120, "steps": 120}),
        )
        .await,
    )
    .await;
    let signalled = Instant::now();
    sigterm(&gw);
    let (took_grace, code) = exited(&mut gw, signalled, Duration::from_secs(9)).await;
    let rest = rest_of(slow).await;
    assert!(!rest.contains("completed"), "{rest}");
    assert_eq!(code, Some(0), "log:\n{}", gw.log());
    assert!(
        took_grace >= Duration::from_secs(3),
        "exited before the grace: {took_grace:?}"
    );
    let cut_at_grace = records_of(&gw, "trigger-long-running-operation").len();
    assert_eq!(cut_at_grace, 1, "the cut call has no record:\n{}", gw.log());
    println!(
        "FIGURES second signal: exited 0 {:.2} s after the first SIGTERM (grace 60 s, a 120 s call in flight, \
         second SIGTERM at 1 s), 20 + 1 records of 20 answered calls and the cut one; grace 3 s: exited 0 after \
         {:.2} s with a 120 s call cut, {cut_at_grace} record of it",
        took_second.as_secs_f64(),
        took_grace.as_secs_f64()
    );
}
