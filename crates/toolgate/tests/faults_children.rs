//! Fault suite, children of one session: a `share = "session"` stdio server whose child crashes
//! (by itself, or killed while a call runs) must not leave its session broken for good nor a
//! zombie behind. The call in flight gets an error that says the child exited and how; the child
//! is reaped at once, before anyone calls again; the session's next call gets a new child,
//! initialized with the session's own `initialize`; a GET stream of the dead child ends. Counted
//! in /proc, with figures printed.

mod common;

use common::{RawSession, Toolgate, children_of, error_message, result_text, toml_str};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;
use std::time::{Duration, Instant};

fn gateway() -> Toolgate {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hog.py");
    Toolgate::start(
        &format!(
            "[servers.own]\ncommand = \"python3\"\nargs = [{}]\nshare = \"session\"\n",
            toml_str(script)
        ),
        &[],
    )
}

async fn child_pid(session: &RawSession, id: u64) -> u32 {
    let (_, v) = tokio::time::timeout(Duration::from_secs(20), session.call(id, "pid", json!({})))
        .await
        .expect("the call hung");
    result_text(&v)
        .parse()
        .unwrap_or_else(|_| panic!("no pid: {v}"))
}

/// How long until `pid` is no process at all (not even a zombie); panics after 5 s.
async fn reaped(pid: u32) -> Duration {
    let started = Instant::now();
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "child {pid} was not reaped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

fn zombies(gateway: u32) -> usize {
    children_of(gateway)
        .iter()
        .filter(|(_, state)| *state == 'Z')
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_session_child_errs_clearly_is_reaped_and_is_replaced_on_the_next_call() {
    let gw = gateway();
    let gateway_pid = gw.guard.id();
    let session = RawSession::open(&gw.url("own"), None).await.unwrap();
    let first = child_pid(&session, 1).await;

    // A GET stream on the child, which ends with it.
    let stream = session
        .http
        .get(&session.url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session.id)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);

    // It crashes while answering: the call says so, and what comes next.
    let (_, v) = session.call(2, "crash", json!({})).await;
    assert_eq!(v["error"]["code"], -32002, "{v}");
    assert!(
        error_message(&v).contains(
            "server own exited (exit status: 3) before answering; the session's next request starts a new child"
        ),
        "{v}"
    );
    let reaped_in = reaped(first).await;
    let stream_end = tokio::time::timeout(Duration::from_secs(5), stream.bytes()).await;
    assert!(
        stream_end.is_ok(),
        "the dead child's GET stream is still open"
    );

    // The next call gets a new child, initialized for this session.
    let started = Instant::now();
    let second = child_pid(&session, 3).await;
    let respawn_ms = started.elapsed().as_millis();
    assert_ne!(second, first);
    let (_, v) = session.call(4, "echo", json!({"after": "restart"})).await;
    assert_eq!(result_text(&v), r#"{"after": "restart"}"#, "{v}");

    // Killed while a call runs: the call says how it died.
    let sleeping = {
        let s = session.clone();
        tokio::spawn(async move { s.call(5, "sleep", json!({"s": 30})).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    kill(Pid::from_raw(second as i32), Signal::SIGKILL).unwrap();
    let (_, v) = tokio::time::timeout(Duration::from_secs(10), sleeping)
        .await
        .expect("the call in flight hung")
        .unwrap();
    assert!(
        error_message(&v).contains("server own exited (signal: 9 (SIGKILL)) before answering"),
        "{v}"
    );
    reaped(second).await;

    // Twenty more crashes: each answered, each child reaped, each followed by a working child.
    let mut most_children = 0;
    let mut seen_zombies = 0;
    for i in 0..20u64 {
        let (_, v) = session.call(100 + 2 * i, "crash", json!({})).await;
        assert!(error_message(&v).contains("exit status: 3"), "{v}");
        child_pid(&session, 101 + 2 * i).await;
        let children = children_of(gateway_pid);
        most_children = most_children.max(children.len());
        seen_zombies += zombies(gateway_pid);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    seen_zombies += zombies(gateway_pid);
    println!(
        "FIGURES session child crashes: 22 children died (21 exited with status 3, 1 killed mid-call); the first reaped in {} ms \
         with no further call; next call on a new child in {respawn_ms} ms; at most {most_children} children of the gateway; \
         {seen_zombies} zombies seen",
        reaped_in.as_millis()
    );
    assert_eq!(seen_zombies, 0);
    assert!(most_children <= 3, "{most_children} children");

    // Closing the session stops its child.
    let last = child_pid(&session, 200).await;
    let resp = session
        .http
        .delete(&session.url)
        .header("mcp-session-id", &session.id)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    reaped(last).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_crashes_at_once_gives_each_call_an_error_and_leaves_nothing_behind() {
    // Every child the session gets dies on the call it is given.
    let gw = gateway();
    let gateway_pid = gw.guard.id();
    let session = RawSession::open(&gw.url("own"), None).await.unwrap();
    let started = Instant::now();
    for i in 0..10u64 {
        let (_, v) =
            tokio::time::timeout(Duration::from_secs(20), session.call(i, "crash", json!({})))
                .await
                .expect("the call hung");
        assert!(error_message(&v).contains("exit status: 3"), "{v}");
    }
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let left = children_of(gateway_pid);
    println!(
        "FIGURES crash loop: 10 calls, each on a new child that crashed, answered in {} ms in all; {} children left, {} zombies",
        took.as_millis(),
        left.len(),
        left.iter().filter(|(_, s)| *s == 'Z').count()
    );
    assert!(left.iter().all(|(_, s)| *s != 'Z'), "{left:?}");
    assert!(left.len() <= 1, "{left:?}");
}
