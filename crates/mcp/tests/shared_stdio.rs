//! A stdio server shared by many sessions, against real child processes: a Python mock that
//! answers out of order (tests/mock_server.py), shell scripts that crash or hang, the Twenty-like
//! server and the third-party server-everything when they are available.

use bytes::Bytes;
use futures_util::StreamExt;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use toolgate_mcp::upstream::shared::{ReplyStream, SessionKey};
use toolgate_mcp::upstream::stdio::StdioSpec;
use toolgate_mcp::upstream::supervisor::{SupervisedStdio, SupervisorOptions, UpstreamStatus};

const MOCK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mock_server.py");

fn spec(server: &str, command: &str, args: &[&str]) -> StdioSpec {
    StdioSpec {
        server: server.into(),
        command: command.into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec![],
        inherit_env: vec![],
        cwd: None,
    }
}

fn mock(server: &str) -> StdioSpec {
    spec(server, "python3", &["-u", MOCK])
}

fn fast() -> SupervisorOptions {
    SupervisorOptions {
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ready_timeout: Duration::from_secs(15),
        stop_grace: Duration::from_millis(500),
        ..SupervisorOptions::default()
    }
}

fn call(id: &str, tool: &str, arguments: Value, token: Option<&str>) -> Bytes {
    let meta = token.map_or(String::new(), |t| {
        format!(r#","_meta":{{"progressToken":{t}}}"#)
    });
    Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments}{meta}}}}}"#
    ))
}

/// Every message of a reply stream, errors as strings.
async fn collect(stream: ReplyStream) -> Vec<Result<Value, String>> {
    tokio::time::timeout(
        Duration::from_secs(30),
        stream
            .map(|m| match m {
                Ok(b) => Ok(serde_json::from_slice(&b).expect("the gateway relays JSON")),
                Err(e) => Err(e.to_string()),
            })
            .collect::<Vec<_>>(),
    )
    .await
    .expect("the reply stream ends")
}

fn text_of(response: &Value) -> &str {
    response["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
}

fn running_pid(up: &SupervisedStdio) -> u32 {
    match up.status() {
        UpstreamStatus::Running { pid, .. } => pid,
        other => panic!("expected running, got {other}"),
    }
}

async fn wait_for_status(up: &SupervisedStdio, want: impl Fn(&UpstreamStatus) -> bool) {
    let mut watch = up.watch();
    tokio::time::timeout(Duration::from_secs(30), watch.wait_for(|s| want(s)))
        .await
        .expect("status reached in time")
        .expect("the supervisor is alive");
}

fn group_is_gone(pgid: u32) -> bool {
    killpg(Pid::from_raw(pgid as i32), None).is_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colliding_ids_from_ten_sessions_get_their_own_answers() {
    let up = Arc::new(SupervisedStdio::new(mock("mock"), fast()));
    let mut calls = Vec::new();
    for s in 0..10 {
        for n in 1..=5 {
            let up = up.clone();
            calls.push(tokio::spawn(async move {
                // Every session uses ids 1..=5, half of them as strings.
                let id = if n % 2 == 0 {
                    format!("\"{n}\"")
                } else {
                    n.to_string()
                };
                let msg = call(&id, "echo", json!({"session": s, "n": n}), None);
                let stream = up.request(SessionKey::from(format!("s{s}")), msg).await?;
                Ok::<_, toolgate_mcp::upstream::UpstreamError>((s, n, id, collect(stream).await))
            }));
        }
    }
    for c in calls {
        let (s, n, id, replies) = c.await.unwrap().unwrap();
        assert_eq!(replies.len(), 1, "one response, nothing else: {replies:?}");
        let reply = replies[0].as_ref().unwrap();
        assert_eq!(
            reply["id"].to_string(),
            id,
            "the client's own id comes back"
        );
        let echoed: Value = serde_json::from_str(text_of(reply)).unwrap();
        assert_eq!(echoed, json!({"session": s, "n": n}));
    }
    up.stop().await;
}

#[tokio::test]
async fn the_response_is_byte_exact_but_for_the_id() {
    let up = SupervisedStdio::new(mock("mock"), fast());
    let msg = Bytes::from_static(
        br#"{"jsonrpc":"2.0","id":"x-1","method":"tools/call","params":{"name":"echo","arguments":{"b":1,"a":"\u00e9"}}}"#,
    );
    let mut stream = up.request("s".into(), msg).await.unwrap();
    let reply = stream.next().await.unwrap().unwrap();
    // The mock writes compact JSON with sorted keys; only the id was put back.
    assert_eq!(
        std::str::from_utf8(&reply).unwrap(),
        r#"{"jsonrpc":"2.0","id":"x-1","result":{"content":[{"type":"text","text":"{\"a\": \"\\u00e9\", \"b\": 1}"}]}}"#
    );
    assert!(
        stream.next().await.is_none(),
        "the stream ends after the response"
    );
    up.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_tokens_are_restored_per_session() {
    let up = Arc::new(SupervisedStdio::new(mock("mock"), fast()));
    let mut calls = Vec::new();
    for s in 0..4 {
        let up = up.clone();
        calls.push(tokio::spawn(async move {
            // Same id and same token in every session.
            let msg = call("1", "progress", json!({}), Some("\"tok\""));
            let stream = up.request(format!("s{s}").into(), msg).await.unwrap();
            collect(stream).await
        }));
    }
    for c in calls {
        let replies = c.await.unwrap();
        assert_eq!(replies.len(), 4, "three progress messages and the response");
        for (i, p) in replies[..3].iter().enumerate() {
            let p = p.as_ref().unwrap();
            assert_eq!(p["method"], "notifications/progress");
            assert_eq!(p["params"]["progressToken"], "tok");
            assert_eq!(p["params"]["progress"], i + 1);
        }
        let last = replies[3].as_ref().unwrap();
        assert_eq!(last["id"], 1);
        assert_eq!(text_of(last), "done");
    }
    up.stop().await;
}

#[tokio::test]
async fn the_gateway_initializes_the_child_once_and_answers_clients_itself() {
    let up = SupervisedStdio::new(mock("mock"), fast());
    let init = Bytes::from_static(
        br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#,
    );
    for s in 0..3 {
        let replies = collect(
            up.request(format!("s{s}").into(), init.clone())
                .await
                .unwrap(),
        )
        .await;
        let reply = replies[0].as_ref().unwrap();
        assert_eq!(reply["id"], 0);
        assert_eq!(reply["result"]["serverInfo"]["name"], "mock");
        // The mock reports the gateway's own initialize params.
        let seen: Value =
            serde_json::from_str(reply["result"]["instructions"].as_str().unwrap()).unwrap();
        assert_eq!(seen["protocolVersion"], "2025-11-25");
        assert_eq!(seen["clientInfo"]["name"], "toolgate");
        // A shared child is told only what every sharer can honour: by default, nothing.
        assert_eq!(seen["capabilities"], json!({}));
        // A client's `initialized` is swallowed.
        up.notify(
            &format!("s{s}").into(),
            Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
        )
        .await
        .unwrap();
    }
    let init_result: Value =
        serde_json::from_slice(&up.initialize_result().await.unwrap()).unwrap();
    assert_eq!(init_result["serverInfo"]["name"], "mock");
    up.stop().await;
}

#[tokio::test]
async fn server_requests_go_to_the_requesting_session_and_answers_come_back() {
    // The gateway declared sampling: every session sharing this child can answer it.
    let options = SupervisorOptions {
        capabilities: json!({"sampling": {}}),
        ..fast()
    };
    let up = SupervisedStdio::new(mock("mock"), options);
    let session = SessionKey::from("s1");
    let mut stream = up
        .request(session.clone(), call("7", "sample", json!({}), None))
        .await
        .unwrap();
    let request: Value = serde_json::from_slice(&stream.next().await.unwrap().unwrap()).unwrap();
    assert_eq!(request["method"], "sampling/createMessage");
    let relay_id = request["id"].as_str().unwrap().to_owned();
    assert!(relay_id.starts_with("toolgate-"), "{relay_id}");
    // Another session cannot answer it.
    let answer = |id: &str| {
        Bytes::from(format!(
            r#"{{"jsonrpc":"2.0","id":"{id}","result":{{"role":"assistant","content":{{"type":"text","text":"hi"}},"model":"m"}}}}"#
        ))
    };
    let err = up
        .respond(&"other".into(), answer(&relay_id))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("mock"), "{err}");
    up.respond(&session, answer(&relay_id)).await.unwrap();
    let reply: Value = serde_json::from_slice(&stream.next().await.unwrap().unwrap()).unwrap();
    assert_eq!(reply["id"], 7);
    let sampled: Value = serde_json::from_str(text_of(&reply)).unwrap();
    assert_eq!(sampled["content"]["text"], "hi");
    up.stop().await;
}

/// A shared child asks for something the gateway did not declare: the child gets an error,
/// no session sees the request.
#[tokio::test]
async fn a_server_request_without_its_capability_is_refused_to_the_child() {
    let up = SupervisedStdio::new(mock("mock"), fast());
    let mut events = up.subscribe();
    let replies = collect(
        up.request("s1".into(), call("7", "sample", json!({}), None))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        replies.len(),
        1,
        "only the answer, no relayed request: {replies:?}"
    );
    let reply = replies[0].as_ref().unwrap();
    let error: Value = serde_json::from_str(text_of(reply)).unwrap();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("no capability for sampling/createMessage"),
        "{error}"
    );
    assert!(events.try_recv().is_err(), "nothing was broadcast");
    up.stop().await;
}

#[tokio::test]
async fn list_changes_go_to_the_broadcast() {
    let up = SupervisedStdio::new(mock("mock"), fast());
    let mut events = up.subscribe();
    let replies = collect(
        up.request("s".into(), call("1", "list_changed", json!({}), None))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        event,
        Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#)
    );
    up.stop().await;
}

#[tokio::test]
async fn a_cancelled_request_ends_its_stream_and_reaches_the_child_renamed() {
    let up = SupervisedStdio::new(mock("mock"), fast());
    let session = SessionKey::from("s");
    let stream = up
        .request(session.clone(), call("\"c1\"", "slow", json!({}), None))
        .await
        .unwrap();
    assert_eq!(up.in_flight(), 1);
    up.notify(
        &session,
        Bytes::from_static(
            br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c1"}}"#,
        ),
    )
    .await
    .unwrap();
    assert!(collect(stream).await.is_empty());
    assert_eq!(up.in_flight(), 0);
    // Unknown ids are dropped, not forwarded.
    up.notify(
        &session,
        Bytes::from_static(
            br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"nope"}}"#,
        ),
    )
    .await
    .unwrap();
    up.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_killed_mid_request_fails_it_at_once_and_the_next_request_succeeds() {
    let up = SupervisedStdio::new(mock("crashy"), fast());
    let stream = up
        .request("s".into(), call("1", "slow", json!({}), None))
        .await
        .unwrap();
    let pid = running_pid(&up);
    let killed = Instant::now();
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    let replies = collect(stream).await;
    assert!(
        killed.elapsed() < Duration::from_secs(2),
        "took {:?}",
        killed.elapsed()
    );
    assert_eq!(replies.len(), 1);
    let err = replies[0].as_ref().unwrap_err();
    assert!(
        err.contains("crashy") && err.contains("signal: 9"),
        "the error names the server and the exit: {err}"
    );

    let replies = collect(
        up.request("s".into(), call("2", "echo", json!({"again": true}), None))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(replies[0].as_ref().unwrap()["id"], 2);
    assert_ne!(running_pid(&up), pid, "a new child answered");
    up.stop().await;
}

#[tokio::test]
async fn a_child_that_exits_at_once_is_parked_with_its_stderr() {
    let options = SupervisorOptions {
        crash_limit: 3,
        eager: true,
        ..fast()
    };
    let up = SupervisedStdio::new(
        spec(
            "broken",
            "sh",
            &["-c", "echo 'cannot open config.yaml' >&2; exit 3"],
        ),
        options,
    );
    wait_for_status(&up, |s| matches!(s, UpstreamStatus::Parked { .. })).await;
    let UpstreamStatus::Parked { reason } = up.status() else {
        unreachable!()
    };
    assert!(reason.contains("exit status: 3"), "{reason}");
    assert!(reason.contains("cannot open config.yaml"), "{reason}");
    assert!(reason.contains("3 crashes"), "{reason}");

    // Parked: requests fail at once, naming the server.
    let started = Instant::now();
    let err = up
        .request("s".into(), call("1", "echo", json!({}), None))
        .await
        .err()
        .expect("the request fails")
        .to_string();
    assert!(started.elapsed() < Duration::from_millis(200));
    assert!(err.contains("broken") && err.contains("parked"), "{err}");

    // restart() tries again (and it is parked again).
    let mut watch = up.watch();
    up.restart();
    tokio::time::timeout(
        Duration::from_secs(10),
        watch.wait_for(|s| *s == UpstreamStatus::Starting),
    )
    .await
    .unwrap()
    .unwrap();
    wait_for_status(&up, |s| matches!(s, UpstreamStatus::Parked { .. })).await;
    up.stop().await;
    assert_eq!(up.status(), UpstreamStatus::Stopped);
}

#[tokio::test]
async fn a_request_while_restarting_waits_then_fails_naming_the_server() {
    let options = SupervisorOptions {
        backoff_initial: Duration::from_secs(30),
        backoff_max: Duration::from_secs(30),
        ready_timeout: Duration::from_millis(300),
        eager: true,
        ..fast()
    };
    let up = SupervisedStdio::new(spec("flaky", "sh", &["-c", "exit 1"]), options);
    wait_for_status(&up, |s| matches!(s, UpstreamStatus::Restarting { .. })).await;
    let started = Instant::now();
    let err = up
        .request("s".into(), call("1", "echo", json!({}), None))
        .await
        .err()
        .expect("the request fails")
        .to_string();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(err.contains("flaky") && err.contains("restarting"), "{err}");
    up.stop().await;
}

#[tokio::test]
async fn a_server_that_never_answers_initialize_is_restarted() {
    let options = SupervisorOptions {
        initialize_timeout: Duration::from_millis(200),
        crash_limit: 2,
        eager: true,
        ..fast()
    };
    let up = SupervisedStdio::new(spec("mute", "sh", &["-c", "exec sleep 300"]), options);
    wait_for_status(&up, |s| matches!(s, UpstreamStatus::Parked { .. })).await;
    let UpstreamStatus::Parked { reason } = up.status() else {
        unreachable!()
    };
    assert!(reason.contains("no answer to initialize"), "{reason}");
    up.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_sessions_share_one_child() {
    let dir = std::env::temp_dir().join(format!("toolgate-shared-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pidfile = dir.join("pids");
    let _ = std::fs::remove_file(&pidfile);
    let mut spec = mock("mock");
    spec.env
        .push(("MOCK_PIDFILE".into(), pidfile.display().to_string()));
    let up = Arc::new(SupervisedStdio::new(spec, fast()));
    let mut calls = Vec::new();
    for s in 0..200 {
        let up = up.clone();
        calls.push(tokio::spawn(async move {
            let session = SessionKey::from(format!("s{s}"));
            let replies = collect(
                up.request(session.clone(), call("1", "echo", json!({"s": s}), None))
                    .await
                    .unwrap(),
            )
            .await;
            up.close_session(&session);
            replies
        }));
    }
    for (s, c) in calls.into_iter().enumerate() {
        let replies = c.await.unwrap();
        let echoed: Value = serde_json::from_str(text_of(replies[0].as_ref().unwrap())).unwrap();
        assert_eq!(echoed["s"], s);
    }
    let pids = std::fs::read_to_string(&pidfile).unwrap();
    assert_eq!(
        pids.lines().count(),
        1,
        "one child for every session: {pids}"
    );
    assert_eq!(
        pids.trim().parse::<u32>().unwrap(),
        running_pid(&up),
        "and it is still the one running"
    );
    up.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn stop_leaves_no_process_of_the_group_and_no_zombie() {
    // A wrapper that leaves a grandchild behind, the way `npx` does.
    let script = format!("sleep 300 & exec python3 -u {MOCK}");
    let up = SupervisedStdio::new(spec("wrapped", "sh", &["-c", &script]), fast());
    let stream = up
        .request("s".into(), call("1", "slow", json!({}), None))
        .await
        .unwrap();
    let pid = running_pid(&up);
    assert!(!group_is_gone(pid));
    up.stop().await;
    // The request in flight was failed, the leader reaped (no /proc entry, not even a zombie),
    // and nothing of its group is left.
    let replies = collect(stream).await;
    assert!(replies[0].as_ref().unwrap_err().contains("wrapped"));
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} remains"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !group_is_gone(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(group_is_gone(pid), "process group {pid} still has members");
    assert_eq!(up.status(), UpstreamStatus::Stopped);
    let err = up
        .request("s".into(), call("2", "echo", json!({}), None))
        .await
        .err()
        .expect("the request fails");
    assert!(err.to_string().contains("wrapped is stopped"), "{err}");
}

#[tokio::test]
async fn a_lazy_server_starts_on_first_use_only() {
    let up = SupervisedStdio::new(mock("lazy"), fast());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(up.status(), UpstreamStatus::Idle);
    let replies = collect(
        up.request("s".into(), call("1", "echo", json!({}), None))
            .await
            .unwrap(),
    )
    .await;
    assert!(replies[0].is_ok());
    assert!(matches!(up.status(), UpstreamStatus::Running { .. }));
    up.stop().await;
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_serves_many_sessions_through_one_child() {
    // Beside this test's own binary (`<target>/debug/deps/…` → `<target>/debug/twenty-mcp`),
    // wherever the target directory is.
    let exe = std::env::current_exe().expect("the test's own path");
    let binary = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary is in <target>/<profile>/deps")
        .join("twenty-mcp");
    assert!(
        binary.exists(),
        "{} is not built: `cargo build -p toolgate-testkit --bin twenty-mcp` (the workspace's test run builds it)",
        binary.display()
    );
    let up = Arc::new(SupervisedStdio::new(
        spec("twenty", &binary.display().to_string(), &["stdio"]),
        fast(),
    ));
    let mut calls = Vec::new();
    for s in 0..10 {
        let up = up.clone();
        calls.push(tokio::spawn(async move {
            let list = Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
            collect(up.request(format!("s{s}").into(), list).await.unwrap()).await
        }));
    }
    for c in calls {
        let replies = c.await.unwrap();
        let reply = replies.last().unwrap().as_ref().unwrap();
        assert_eq!(reply["id"], 1);
        assert!(
            !reply["result"]["tools"].as_array().unwrap().is_empty(),
            "{reply}"
        );
    }
    up.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_everything_multiplexes_ids_and_progress_tokens() {
    let index = repo_root()
        .join(".peers/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(
        index.exists(),
        "{} is missing: install the test peers with `bash peers/setup.sh .peers` (scripts/test.sh does)",
        index.display()
    );
    let up = Arc::new(SupervisedStdio::new(
        spec(
            "everything",
            "node",
            &[&index.display().to_string(), "stdio"],
        ),
        fast(),
    ));
    let mut calls = Vec::new();
    for s in 0..10 {
        for n in 1..=3 {
            let up = up.clone();
            calls.push(tokio::spawn(async move {
                let msg = call(
                    &n.to_string(),
                    "echo",
                    json!({"message": format!("s{s}-n{n}")}),
                    None,
                );
                let replies = collect(up.request(format!("s{s}").into(), msg).await.unwrap()).await;
                (s, n, replies)
            }));
        }
    }
    for c in calls {
        let (s, n, replies) = c.await.unwrap();
        let reply = replies.last().unwrap().as_ref().unwrap();
        assert_eq!(reply["id"], n);
        assert!(text_of(reply).ends_with(&format!("s{s}-n{n}")), "{reply}");
    }
    // Progress from a long-running operation, the same token in two sessions.
    let mut long = Vec::new();
    for s in 0..2 {
        let up = up.clone();
        long.push(tokio::spawn(async move {
            let msg = call(
                "1",
                "trigger-long-running-operation",
                json!({"duration": 0.4, "steps": 2}),
                Some("\"p\""),
            );
            collect(up.request(format!("l{s}").into(), msg).await.unwrap()).await
        }));
    }
    for l in long {
        let replies = l.await.unwrap();
        let progress: Vec<&Value> = replies
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .filter(|m| m["method"] == "notifications/progress")
            .collect();
        assert_eq!(progress.len(), 2, "{replies:?}");
        assert!(progress.iter().all(|p| p["params"]["progressToken"] == "p"));
        assert_eq!(replies.last().unwrap().as_ref().unwrap()["id"], 1);
    }
    up.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_it_kills_the_group_and_the_child_is_reaped() {
    let script = format!("sleep 300 & exec python3 -u {MOCK}");
    let up = SupervisedStdio::new(spec("dropped", "sh", &["-c", &script]), fast());
    let replies = collect(
        up.request("s".into(), call("1", "echo", json!({}), None))
            .await
            .unwrap(),
    )
    .await;
    assert!(replies[0].is_ok());
    let pid = running_pid(&up);
    drop(up);
    let deadline = Instant::now() + Duration::from_secs(5);
    while (!group_is_gone(pid) || Path::new(&format!("/proc/{pid}")).exists())
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(group_is_gone(pid), "process group {pid} still has members");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} was not reaped"
    );
}

/// Regression: server-everything asks a shared child's client for roots right after the
/// handshake, with no request in flight, and every session then saw the first answer. Told no
/// capability, it asks nothing and lists no tool that needs one; told `roots`, its idle
/// `roots/list` is refused to it, never relayed.
#[tokio::test]
async fn a_shared_server_everything_is_asked_for_nothing_and_relays_no_idle_request() {
    let index = repo_root()
        .join(".peers/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(
        index.exists(),
        "{} is missing: run peers/setup.sh",
        index.display()
    );
    let everything = || {
        spec(
            "everything",
            "node",
            &[&index.display().to_string(), "stdio"],
        )
    };
    for declared in [json!({}), json!({"roots": {"listChanged": true}})] {
        let options = SupervisorOptions {
            capabilities: declared.clone(),
            ..fast()
        };
        let up = SupervisedStdio::new(everything(), options);
        let mut events = up.subscribe();
        up.initialize_result().await.unwrap();
        // server-everything asks 350 ms after the handshake; give it time.
        let seen = tokio::time::timeout(Duration::from_millis(1500), async {
            loop {
                let event: Value = serde_json::from_slice(&events.recv().await.unwrap()).unwrap();
                if event["method"] == "roots/list" {
                    return event;
                }
            }
        })
        .await;
        assert!(
            seen.is_err(),
            "{declared}: a server request was broadcast: {seen:?}"
        );
        let list = Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
        let replies = collect(up.request("s".into(), list).await.unwrap()).await;
        let names: Vec<&str> = replies
            .last()
            .and_then(|r| r.as_ref().ok())
            .and_then(|r| r["result"]["tools"].as_array())
            .expect("a tool list")
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert!(names.contains(&"echo"), "{names:?}");
        assert!(
            !names.contains(&"trigger-sampling-request"),
            "{declared}: {names:?}"
        );
        assert_eq!(
            names.contains(&"get-roots-list"),
            declared.get("roots").is_some(),
            "{declared}: {names:?}"
        );
        up.stop().await;
    }
}
