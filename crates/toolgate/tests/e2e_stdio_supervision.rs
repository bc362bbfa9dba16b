//! stdio servers under supervision: one shared child for every session (or one per session when
//! the server keeps client state), restarted after a crash, parked after a crash loop, and never
//! a leaked or zombie process — counted in /proc.

mod common;

use common::{Toolgate, children_of, toml_array, toml_str};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use toolgate_testkit::twenty_stdio_command;

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    fn new(url: String) -> Client {
        Client {
            http: reqwest::Client::new(),
            url,
        }
    }

    async fn post(&self, session: Option<&str>, body: Value) -> (Option<String>, Value) {
        let mut rb = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(s) = session {
            rb = rb.header("mcp-session-id", s);
        }
        let resp = rb.send().await.unwrap();
        let sid = resp
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = resp.text().await.unwrap();
        (
            sid,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn open(&self) -> String {
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"supervision-test","version":"1"}}});
        let (sid, v) = self.post(None, init).await;
        assert!(v.get("result").is_some(), "initialize failed: {v}");
        sid.unwrap()
    }

    async fn call(&self, session: &str, id: u64) -> Value {
        let body = json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"findManyPeople","arguments":{}}});
        tokio::time::timeout(Duration::from_secs(20), self.post(Some(session), body))
            .await
            .expect("the call hung")
            .1
    }

    async fn close(&self, session: &str) {
        let resp = self
            .http
            .delete(&self.url)
            .header("mcp-session-id", session)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
}

fn gateway() -> Toolgate {
    let twenty = twenty_stdio_command();
    let config = format!(
        "[servers.shared]\ncommand = {c}\nargs = {a}\n\n[servers.own]\ncommand = {c}\nargs = {a}\nper_session = true\n\n\
         [servers.crashy]\ncommand = \"sh\"\nargs = [\"-c\", \"echo boom-on-start with GITHUB_TOKEN=ghp_0123456789abcdefABCDEF0123456789abcd >&2; exit 3\"]\n",
        c = toml_str(&twenty[0]),
        a = toml_array(&twenty[1..]),
    );
    Toolgate::start(&config, &[])
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_sessions_leave_a_bounded_number_of_children_and_no_zombie() {
    let gw = gateway();
    let pid = gw.guard.id();
    for server in ["shared", "own"] {
        let client = Client::new(gw.url(server));
        for i in 0..200u64 {
            let sid = client.open().await;
            let r = client.call(&sid, i).await;
            assert_eq!(
                r["result"]["content"][0]["text"], "findManyPeople ok",
                "{server} session {i}: {r}"
            );
            client.close(&sid).await;
            let alive = children_of(pid).len();
            assert!(alive <= 3, "{server}: {alive} children after {i} sessions");
        }
    }
    // The shared child stays (one); per-session children are gone; nothing is a zombie.
    wait_until(
        "per-session children are reaped",
        Duration::from_secs(10),
        || {
            let c = children_of(pid);
            c.len() <= 1 && c.iter().all(|(_, state)| *state != 'Z')
        },
    );
    let c = children_of(pid);
    assert_eq!(c.len(), 1, "only the shared child remains: {c:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_child_is_restarted_and_calls_never_hang() {
    let gw = gateway();
    let pid = gw.guard.id();
    let client = Client::new(gw.url("shared"));
    let sid = client.open().await;
    assert_eq!(
        client.call(&sid, 1).await["result"]["content"][0]["text"],
        "findManyPeople ok"
    );
    let children = children_of(pid);
    assert_eq!(children.len(), 1, "{children:?}");
    kill(Pid::from_raw(children[0].0 as i32), Signal::SIGKILL).unwrap();

    // The next call errors clearly or succeeds on the restarted child; it never hangs.
    let next = client.call(&sid, 2).await;
    if next.get("error").is_some() {
        assert!(
            next["error"]["message"]
                .as_str()
                .unwrap()
                .contains("shared"),
            "{next}"
        );
    } else {
        assert_eq!(next["result"]["content"][0]["text"], "findManyPeople ok");
    }
    let mut ok = false;
    for id in 3..40 {
        if client.call(&sid, id).await["result"]["content"][0]["text"] == "findManyPeople ok" {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ok, "the session works again after the restart");
    let after = children_of(pid);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after[0].0, children[0].0, "a new child");
    assert!(after.iter().all(|(_, s)| *s != 'Z'));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_loop_parks_the_server_with_its_reason() {
    let gw = gateway();
    let client = Client::new(gw.url("crashy"));
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    let started = Instant::now();
    let mut last = Value::Null;
    let mut parked = false;
    while started.elapsed() < Duration::from_secs(60) {
        last = tokio::time::timeout(Duration::from_secs(20), client.post(None, init.clone()))
            .await
            .expect("hang")
            .1;
        assert!(last.get("error").is_some(), "{last}");
        if last["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("parked")
        {
            parked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(parked, "the client is told the server is parked: {last}");
    assert!(
        !last.to_string().contains("boom-on-start"),
        "a server's stderr is for operators, not agents: {last}"
    );
    // The public probe says not ready and which server, nothing more.
    let ready = reqwest::get(format!("{}/readyz", gw.base)).await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body, json!({"ready": false, "parked": ["crashy"]}));
    // Why is for the admin plane.
    let detail: Value = reqwest::get(gw.api_url("/servers/crashy"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["status"]["state"], "parked");
    assert!(
        detail["status"]["reason"]
            .as_str()
            .unwrap()
            .contains("boom-on-start"),
        "{detail}"
    );
    assert!(
        !detail["status"]["reason"]
            .to_string()
            .contains("ghp_0123456789"),
        "token-like strings are scrubbed: {detail}"
    );
    let log = gw.log();
    assert!(log.contains("boom-on-start"), "the log says why");
    let leaks: Vec<&str> = log.lines().filter(|l| l.contains("ghp_0123")).collect();
    assert!(leaks.is_empty(), "the log scrubs the token: {leaks:#?}");
    // The other servers keep serving.
    let ok = Client::new(gw.url("shared"));
    let sid = ok.open().await;
    assert_eq!(
        ok.call(&sid, 1).await["result"]["content"][0]["text"],
        "findManyPeople ok"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_the_gateway_reaps_every_child() {
    let mut gw = gateway();
    let pid = gw.guard.id();
    let shared = Client::new(gw.url("shared"));
    let own = Client::new(gw.url("own"));
    let a = shared.open().await;
    let b = own.open().await;
    shared.call(&a, 1).await;
    own.call(&b, 1).await;
    let kids: Vec<u32> = children_of(pid).into_iter().map(|(p, _)| p).collect();
    assert_eq!(kids.len(), 2, "{kids:?}");
    // SIGTERM only the gateway: it must stop its children itself.
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM).unwrap();
    wait_until("the gateway exits", Duration::from_secs(15), || {
        gw.guard.try_status().is_some()
    });
    for k in kids {
        wait_until("the child is gone", Duration::from_secs(5), || {
            !std::path::Path::new(&format!("/proc/{k}")).exists()
                || std::fs::read_to_string(format!("/proc/{k}/stat"))
                    .is_ok_and(|s| s.contains(") Z"))
        });
    }
}
