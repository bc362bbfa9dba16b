//! End to end: which client sessions share a stdio child. One client's state never reaches
//! another: three Python SDK sessions one after another, with different roots and one with none,
//! each see only their own roots through server-everything's `get-roots-list`; two grants never
//! share a child; a server's children are bounded, with a clear error at the limit; an unused
//! shared child is stopped. Children are counted in /proc.

mod common;

use common::{Toolgate, sha256_hex, toml_array, toml_str};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use toolgate_testkit::{
    McpClient, PeerOutput, server_everything_stdio_command, twenty_stdio_command,
};

/// Pids of the processes whose parent is `parent`, zombies left out.
fn children_of(parent: u32) -> Vec<u32> {
    let mut out: Vec<u32> = common::children_of(parent)
        .into_iter()
        .filter(|(_, state)| *state != 'Z')
        .map(|(pid, _)| pid)
        .collect();
    out.sort_unstable();
    out
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// All the text of the first tool result.
fn result_text(out: &PeerOutput) -> String {
    let results = out.events_named("result");
    let Some(first) = results.first() else {
        panic!("no result in {:?}", out.events());
    };
    first["result"]["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Regression: a shared child answered every session with the roots of the client it met first,
/// including a session that never declared roots.
#[test]
fn sessions_one_after_another_see_only_their_own_roots() {
    let everything = server_everything_stdio_command();
    let gateway = Toolgate::start(
        &format!(
            "[servers.everything]\ncommand = {}\nargs = {}\n",
            toml_str(&everything[0]),
            toml_array(&everything[1..]),
        ),
        &[],
    );
    let url = gateway.url("everything");
    let all_roots = ["file:///srv/alice", "file:///srv/bob"];
    for root in all_roots {
        let out = McpClient::python_http(&url)
            .no_list()
            .roots(root)
            .call("get-roots-list", json!({}))
            .run();
        out.assert_exit(0);
        assert!(
            !out.events_named("roots").is_empty(),
            "{root}: its own server asked it: {:?}",
            out.events()
        );
        let text = result_text(&out);
        assert!(
            text.contains("Current MCP Roots (1 total)") && text.contains(root),
            "{root}: {text}"
        );
        for other in all_roots.iter().filter(|r| **r != root) {
            assert!(!text.contains(other), "{root} saw {other}: {text}");
        }
    }
    // A client that declares no roots is never asked for them, and its server (the shared one,
    // told no capability) does not even list the tool.
    let out = McpClient::python_http(&url)
        .call("get-roots-list", json!({}))
        .run();
    assert!(
        !out.tool_names().is_empty() && !out.tool_names().contains(&"get-roots-list".to_owned()),
        "{:?}",
        out.tool_names()
    );
    assert!(
        !out.tool_names()
            .contains(&"trigger-sampling-request".to_owned())
    );
    assert!(out.events_named("roots").is_empty(), "{:?}", out.events());
    assert!(!out.success(), "calling it fails: {out}");
    let everything_said = format!("{:?}", out.events());
    for root in all_roots {
        assert!(!everything_said.contains(root), "{root}: {everything_said}");
    }
}

/// A hand-driven session: initialize with the given client capabilities, call, close.
struct Session {
    http: reqwest::Client,
    url: String,
    token: String,
    id: String,
}

impl Session {
    /// Opens a session; `Err` with the JSON-RPC error when the gateway refuses it.
    async fn open(url: &str, token: &str, capabilities: Value) -> Result<Session, Value> {
        let http = reqwest::Client::new();
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-11-25","capabilities":capabilities,
            "clientInfo":{"name":"sharing-test","version":"1"}}});
        let resp = http
            .post(url)
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .json(&init)
            .send()
            .await
            .expect("initialize");
        let id = resp
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().expect("ascii").to_owned());
        let body: Value = serde_json::from_str(&resp.text().await.expect("body")).expect("JSON");
        let Some(id) = id else {
            return Err(body);
        };
        Ok(Session {
            http,
            url: url.to_owned(),
            token: token.to_owned(),
            id,
        })
    }

    async fn call(&self, id: u64) -> Value {
        let body = json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
            "params":{"name":"findManyPeople","arguments":{}}});
        let resp = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &self.id)
            .json(&body)
            .send();
        let resp = tokio::time::timeout(Duration::from_secs(20), resp)
            .await
            .expect("the call hung")
            .expect("send");
        serde_json::from_str(&resp.text().await.expect("body")).expect("JSON")
    }

    async fn close(self) {
        let resp = self
            .http
            .delete(&self.url)
            .bearer_auth(&self.token)
            .header("mcp-session-id", &self.id)
            .send()
            .await
            .expect("delete");
        assert!(resp.status().is_success(), "{}", resp.status());
    }
}

const TOKEN_A: &str = "tg-grant-a-0123456789abcdef";
const TOKEN_B: &str = "tg-grant-b-0123456789abcdef";

/// The Twenty-like server three times: shared per grant (the default), a child per session with
/// at most two, and shared per grant with a short idle timeout; two grants.
fn twenty_gateway() -> Toolgate {
    let twenty = twenty_stdio_command();
    let (c, a) = (toml_str(&twenty[0]), toml_array(&twenty[1..]));
    Toolgate::start(
        &format!(
            "[servers.crm]\ncommand = {c}\nargs = {a}\n\n\
             [servers.bounded]\ncommand = {c}\nargs = {a}\nshare = \"session\"\nmax_children = 2\n\n\
             [servers.brief]\ncommand = {c}\nargs = {a}\nchild_idle_timeout = \"1s\"\n\n\
             [grants.a]\nagent = \"alice\"\ntoken_sha256 = \"{}\"\n\n\
             [grants.b]\nagent = \"bob\"\ntoken_sha256 = \"{}\"\n",
            sha256_hex(TOKEN_A),
            sha256_hex(TOKEN_B),
        ),
        &[],
    )
}

fn ok(reply: &Value) {
    assert_eq!(
        reply["result"]["content"][0]["text"], "findManyPeople ok",
        "{reply}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn grants_never_share_a_child_and_capable_clients_get_their_own() {
    let gw = twenty_gateway();
    let pid = gw.guard.id();
    let url = gw.url("crm");
    let a1 = Session::open(&url, TOKEN_A, json!({})).await.unwrap();
    ok(&a1.call(1).await);
    let first = children_of(pid);
    assert_eq!(first.len(), 1, "{first:?}");
    // Another session of the same grant, its client declaring nothing: the same child.
    let a2 = Session::open(&url, TOKEN_A, json!({})).await.unwrap();
    ok(&a2.call(1).await);
    assert_eq!(children_of(pid), first);
    // Grant b: a child of its own.
    let b1 = Session::open(&url, TOKEN_B, json!({})).await.unwrap();
    ok(&b1.call(1).await);
    let two = children_of(pid);
    assert_eq!(two.len(), 2, "{two:?}");
    // A client of grant a that declares roots: a child of its own too.
    let a3 = Session::open(&url, TOKEN_A, json!({"roots": {"listChanged": true}}))
        .await
        .unwrap();
    ok(&a3.call(1).await);
    assert_eq!(children_of(pid).len(), 3);
    // Its child ends with its session; the grants' shared children stay while in use.
    a3.close().await;
    wait_until(
        "the per-session child is reaped",
        Duration::from_secs(10),
        || children_of(pid) == two,
    );
    for s in [a1, a2, b1] {
        s.close().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn children_are_bounded_with_a_clear_error_and_unused_ones_are_stopped() {
    let gw = twenty_gateway();
    let pid = gw.guard.id();
    let url = gw.url("bounded");
    let s1 = Session::open(&url, TOKEN_A, json!({})).await.unwrap();
    let s2 = Session::open(&url, TOKEN_B, json!({})).await.unwrap();
    ok(&s1.call(1).await);
    ok(&s2.call(1).await);
    assert_eq!(children_of(pid).len(), 2);
    let refused = Session::open(&url, TOKEN_A, json!({}))
        .await
        .err()
        .expect("refused");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(
            "server bounded already runs 2 stdio children, its limit (servers.bounded.max_children)"
        ),
        "{refused}"
    );
    // A session that ends gives its place back.
    s1.close().await;
    let s3 = Session::open(&url, TOKEN_A, json!({})).await.unwrap();
    ok(&s3.call(1).await);
    s2.close().await;
    s3.close().await;
    wait_until(
        "per-session children are reaped",
        Duration::from_secs(10),
        || children_of(pid).is_empty(),
    );

    // A shared child nobody uses any more is stopped after `child_idle_timeout`.
    let brief = Session::open(&gw.url("brief"), TOKEN_A, json!({}))
        .await
        .unwrap();
    ok(&brief.call(1).await);
    assert_eq!(children_of(pid).len(), 1);
    brief.close().await;
    wait_until(
        "the unused shared child is stopped",
        Duration::from_secs(10),
        || children_of(pid).is_empty(),
    );
}

/// `toolgate init` says who shares a stdio server's children and what a child costs.
#[test]
fn init_says_what_sharing_costs() {
    let gw = twenty_gateway();
    let out = gw.cli(&["init", "crm"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let said = common::stderr(&out);
    for expected in [
        "crm: share = \"grant\": the sessions of one grant whose clients declare no capability share one child",
        "crm: each child costs the server's memory and start-up time",
        "at most 64 at once (max_children), an unused shared child stops after 300s (child_idle_timeout)",
    ] {
        assert!(said.contains(expected), "{expected}\n---\n{said}");
    }
    let out = gw.cli(&["init", "bounded"]);
    let said = common::stderr(&out);
    assert!(
        said.contains(
            "bounded: share = \"session\": every client session gets a child of its own."
        ) && said.contains("at most 2 at once"),
        "{said}"
    );
}
