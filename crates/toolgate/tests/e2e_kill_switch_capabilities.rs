//! End to end: the kill switch stops every request that reaches a server, not only tool calls.
//! The real binary in front of server-everything over stdio and Streamable HTTP; `toolgate kill`
//! from the command line; the Python SDK reads a resource and gets a prompt on `/mcp/<server>` and
//! on `/mcp`, and a hand-driven session asks for completions, subscriptions and lists. While a
//! switch is engaged, reads, prompts, completions and subscriptions get a `-32001` JSON-RPC error
//! naming the switch (and are audited), lists are answered empty, other servers are untouched;
//! released, everything works again.

mod common;

use common::{RawSession, Toolgate, gateway_decision, ok, stdout, toml_array, toml_str};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use toolgate_testkit::{
    HttpPeer, McpClient, PeerOutput, server_everything_stdio_command, spawn_server_everything_http,
};

/// How long after a `kill on|off` returns the next request must see it (the gateway's poll is 1 s).
const BOUND: Duration = Duration::from_millis(1200);

const RESOURCE: &str = "demo://resource/static/document/architecture.md";
const PROMPT: &str = "simple-prompt";
const ALLOW_ALL: &str = r#"{"version":"1","default":"allow"}"#;

struct Setup {
    gateway: Toolgate,
    _everything: HttpPeer,
}

fn setup() -> Setup {
    let everything = spawn_server_everything_http();
    let stdio = server_everything_stdio_command();
    let config = format!(
        "[servers.stdio]\ncommand = {}\nargs = {}\npolicy = \"allow.json\"\n\n\
         [servers.http]\nurl = {}\npolicy = \"allow.json\"\n",
        toml_str(&stdio[0]),
        toml_array(&stdio[1..]),
        toml_str(&everything.url),
    );
    Setup {
        gateway: Toolgate::start(&config, &[("allow.json", ALLOW_ALL)]),
        _everything: everything,
    }
}

/// The Python SDK lists the tools, reads `resource` and gets `prompt` in one session at `url`.
async fn read_and_prompt(
    url: &str,
    token: Option<&str>,
    resource: &str,
    prompt: &str,
) -> PeerOutput {
    let mut client = McpClient::python_http(url)
        .read_resource(resource)
        .get_prompt(prompt, json!({}));
    if let Some(t) = token {
        client = client.token(t);
    }
    client.run_async().await
}

/// The resource and the prompt came back.
fn assert_served(out: &PeerOutput, who: &str) {
    out.assert_exit(0);
    let resource = &out.events_named("resource")[0]["result"]["contents"][0];
    assert!(
        resource["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{who}: {resource}"
    );
    let prompt = &out.events_named("prompt")[0]["result"]["messages"];
    assert!(
        prompt.as_array().is_some_and(|m| !m.is_empty()),
        "{who}: {prompt}"
    );
    assert!(!out.tool_names().is_empty(), "{who}: no tools listed");
}

/// Both requests were refused with the switch's error, and nothing was listed.
fn assert_stopped(out: &PeerOutput, scope: &str, why: &str, who: &str) {
    out.assert_exit(3);
    let errors = out.events_named("error");
    assert_eq!(errors.len(), 2, "{who}: {:?}", out.events());
    for (error, method) in errors.iter().zip(["resources/read", "prompts/get"]) {
        assert_eq!(error["code"], -32001, "{who}: {error}");
        assert_eq!(
            error["message"],
            format!("[POLICY DENIED] {method} is stopped by the {scope} kill switch{why}"),
            "{who}"
        );
        assert_eq!(
            error["data"]["io.toolgate/decision"]["rule"],
            format!("/kill_switch/{scope}"),
            "{who}: {error}"
        );
    }
}

/// The request records of `method` that the switch of `scope` refused, once there are `n` of
/// them (records are written in batches, off the request path; at most 10 s).
async fn refused_records(gw: &Toolgate, method: &str, scope: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let records: Vec<Value> = stdout(&ok(gw.cli(&["audit", "export"])))
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|r| r["method"] == method && r["rule"] == format!("/kill_switch/{scope}"))
            .collect();
        if records.len() >= n || Instant::now() > deadline {
            assert_eq!(records.len(), n, "{method}: {records:#?}");
            return records;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_switch_stops_reads_prompts_completions_and_subscriptions() {
    let s = setup();
    let gw = &s.gateway;
    let aggregate = format!("{}/mcp", gw.base);
    let aggregated = |server: &str| {
        (
            format!("{server}+{RESOURCE}"),
            format!("{server}__{PROMPT}"),
        )
    };

    // Before: everything is served, on both endpoints.
    for server in ["stdio", "http"] {
        assert_served(
            &read_and_prompt(&gw.url(server), None, RESOURCE, PROMPT).await,
            server,
        );
        let (resource, prompt) = aggregated(server);
        let out = read_and_prompt(&aggregate, None, &resource, &prompt).await;
        assert_served(&out, &format!("/mcp for {server}"));
    }

    ok(gw.cli(&["kill", "on", "--server", "http", "--reason", "incident 7"]));
    tokio::time::sleep(BOUND).await;

    // `/mcp/http`: refused, and the tool list is empty.
    let why = ": incident 7";
    let out = read_and_prompt(&gw.url("http"), None, RESOURCE, PROMPT).await;
    assert_stopped(&out, "server", why, "/mcp/http");
    assert_eq!(out.tool_names(), Vec::<String>::new());
    // `/mcp`: the stopped server's resource and prompt are refused, its tools are gone, and the
    // other server's are served.
    let (resource, prompt) = aggregated("http");
    let out = read_and_prompt(&aggregate, None, &resource, &prompt).await;
    assert_stopped(&out, "server", why, "/mcp for http");
    let names = out.tool_names();
    assert!(names.iter().all(|n| !n.starts_with("http__")), "{names:?}");
    assert!(names.contains(&"stdio__echo".to_owned()), "{names:?}");
    let (resource, prompt) = aggregated("stdio");
    let out = read_and_prompt(&aggregate, None, &resource, &prompt).await;
    assert_served(&out, "/mcp for stdio");
    let out = read_and_prompt(&gw.url("stdio"), None, RESOURCE, PROMPT).await;
    assert_served(&out, "/mcp/stdio");

    // Completions, subscriptions and lists, request by request, on both endpoints.
    let completion = |name: String| json!({"ref": {"type": "ref/prompt", "name": name}, "argument": {"name": "department", "value": "E"}});
    let direct = RawSession::open(&gw.url("http"), None).await.unwrap();
    let merged = RawSession::open(&aggregate, None).await.unwrap();
    let refused = [
        (
            &direct,
            "completion/complete",
            completion("completable-prompt".into()),
        ),
        (&direct, "resources/subscribe", json!({"uri": RESOURCE})),
        (&direct, "resources/unsubscribe", json!({"uri": RESOURCE})),
        (
            &merged,
            "completion/complete",
            completion("http__completable-prompt".into()),
        ),
        (
            &merged,
            "resources/subscribe",
            json!({"uri": format!("http+{RESOURCE}")}),
        ),
    ];
    for (n, (session, method, params)) in refused.into_iter().enumerate() {
        let (status, answer) = session.rpc(n as u64 + 1, method, params).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{method}: {answer}");
        assert_eq!(answer["error"]["code"], -32001, "{method}: {answer}");
        assert_eq!(
            answer["error"]["message"],
            format!("[POLICY DENIED] {method} is stopped by the server kill switch{why}"),
        );
    }
    for (n, (method, key)) in [
        ("tools/list", "tools"),
        ("prompts/list", "prompts"),
        ("resources/list", "resources"),
        ("resources/templates/list", "resourceTemplates"),
    ]
    .into_iter()
    .enumerate()
    {
        let (_, answer) = direct.rpc(100 + n as u64, method, json!({})).await;
        assert_eq!(answer["result"][key], json!([]), "{method}: {answer}");
        assert_eq!(
            gateway_decision(&answer)["rule"],
            "/kill_switch/server",
            "{answer}"
        );
        let (_, answer) = merged.rpc(200 + n as u64, method, json!({})).await;
        let items = answer["result"][key].as_array().expect("a list").clone();
        assert!(
            items.iter().all(|i| {
                let name = i["name"].as_str().unwrap_or_default();
                let uri = i["uri"]
                    .as_str()
                    .or(i["uriTemplate"].as_str())
                    .unwrap_or_default();
                !name.starts_with("http__") && !uri.starts_with("http+")
            }),
            "{method}: {answer}"
        );
    }
    // The session itself goes on.
    let (_, pong) = direct.rpc(300, "ping", json!({})).await;
    assert_eq!(pong["result"], json!({}), "{pong}");

    // Every refusal is in the request log. A merged tool list on `/mcp` records each server it
    // asks: the stopped one's part as denied (three merged lists here, two on `/mcp/http`).
    for (method, n) in [
        ("resources/read", 2),
        ("prompts/get", 2),
        ("completion/complete", 2),
        ("resources/subscribe", 2),
        ("tools/list", 5),
    ] {
        let records = refused_records(gw, method, "server", n).await;
        assert!(
            records
                .iter()
                .all(|r| r["decision"] == "deny" && r["server"] == "http")
        );
    }

    // Released: served again, on both endpoints.
    ok(gw.cli(&["kill", "off", "--server", "http"]));
    tokio::time::sleep(BOUND).await;
    assert_served(
        &read_and_prompt(&gw.url("http"), None, RESOURCE, PROMPT).await,
        "/mcp/http",
    );
    let (resource, prompt) = aggregated("http");
    assert_served(
        &read_and_prompt(&aggregate, None, &resource, &prompt).await,
        "/mcp for http",
    );
    let (_, answer) = direct
        .rpc(
            400,
            "completion/complete",
            completion("completable-prompt".into()),
        )
        .await;
    assert_eq!(
        answer["result"]["completion"]["values"],
        json!(["Engineering"]),
        "{answer}"
    );
}

/// Whether `initialize` without a token is refused with 401.
async fn asks_for_a_token(url: &str) -> bool {
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}});
    let status = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(init.to_string())
        .send()
        .await
        .expect("initialize")
        .status();
    status == reqwest::StatusCode::UNAUTHORIZED
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_and_global_switches_stop_reads_and_prompts() {
    let s = setup();
    let gw = &s.gateway;
    let policy = gw.path("allow.json");
    let grant = |agent: &str, label: &str| {
        let out = ok(gw.cli(&[
            "grant",
            "create",
            "--agent",
            agent,
            "--label",
            label,
            "--policy",
            policy.to_str().unwrap(),
            "--server",
            "stdio",
            "--server",
            "http",
        ]));
        stdout(&out).trim().to_owned()
    };
    let alice = grant("alice", "alice-laptop");
    let bob = grant("bob", "bob-ci");
    // Grants made after the start are seen within the gateway's one-second poll: until then it
    // is open, and a session would belong to the anonymous caller.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !asks_for_a_token(&gw.url("stdio")).await {
        assert!(
            Instant::now() < deadline,
            "the gateway never asked for a token"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let aggregate = format!("{}/mcp", gw.base);

    ok(gw.cli(&["kill", "on", "--grant", "bob-ci"]));
    tokio::time::sleep(BOUND).await;
    let out = read_and_prompt(&gw.url("stdio"), Some(&bob), RESOURCE, PROMPT).await;
    assert_stopped(&out, "grant", "", "bob on /mcp/stdio");
    let out = read_and_prompt(
        &aggregate,
        Some(&bob),
        &format!("http+{RESOURCE}"),
        &format!("http__{PROMPT}"),
    )
    .await;
    assert_stopped(&out, "grant", "", "bob on /mcp");
    let out = read_and_prompt(&gw.url("stdio"), Some(&alice), RESOURCE, PROMPT).await;
    assert_served(&out, "alice on /mcp/stdio");
    ok(gw.cli(&["kill", "off", "--grant", "bob-ci"]));

    ok(gw.cli(&["kill", "on", "--global", "--reason", "all stop"]));
    tokio::time::sleep(BOUND).await;
    for (token, who) in [(&alice, "alice"), (&bob, "bob")] {
        let out = read_and_prompt(&gw.url("http"), Some(token), RESOURCE, PROMPT).await;
        assert_stopped(&out, "global", ": all stop", who);
        let out = read_and_prompt(
            &aggregate,
            Some(token),
            &format!("stdio+{RESOURCE}"),
            &format!("stdio__{PROMPT}"),
        )
        .await;
        assert_stopped(&out, "global", ": all stop", who);
        assert_eq!(
            out.tool_names(),
            Vec::<String>::new(),
            "{who}: nothing is listed on /mcp"
        );
    }
    refused_records(gw, "resources/read", "global", 4).await;

    ok(gw.cli(&["kill", "off", "--global"]));
    tokio::time::sleep(BOUND).await;
    let out = read_and_prompt(&gw.url("http"), Some(&bob), RESOURCE, PROMPT).await;
    assert_served(&out, "bob after the release");
}
