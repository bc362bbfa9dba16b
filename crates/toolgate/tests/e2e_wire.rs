//! The gateway's Streamable HTTP surface byte by byte, with a plain HTTP client: credentials,
//! origins, sizes, sessions, and messages it must refuse rather than forward. The upstreams are
//! the Twenty-like server over stdio and HTTP.

mod common;

use common::{Toolgate, sha256_hex, toml_array, toml_str};
use reqwest::StatusCode;
use serde_json::{Value, json};
use toolgate_testkit::{McpClient, spawn_twenty_http, twenty_stdio_command};

const ALICE: &str = "alice-token-0123456789";
const BOB: &str = "bob-token-9876543210";

struct Setup {
    gateway: Toolgate,
    _twenty: toolgate_testkit::HttpPeer,
    http: reqwest::Client,
}

fn setup(with_grants: bool) -> Setup {
    let twenty = spawn_twenty_http(None);
    let stdio = twenty_stdio_command();
    let mut config = format!(
        "max_body_bytes = 65536\n\n\
         [servers.stdio]\ncommand = {}\nargs = {}\npolicy = \"p.json\"\n\n\
         [servers.http]\nurl = {}\npolicy = \"p.json\"\n",
        toml_str(&stdio[0]),
        toml_array(&stdio[1..]),
        toml_str(&twenty.url),
    );
    if with_grants {
        config.push_str(&format!(
            "\n[grants.alice-laptop]\nagent = \"alice\"\ntoken_sha256 = \"{}\"\nservers = [\"stdio\", \"http\"]\n\n\
             [grants.bob-ci]\nagent = \"bob\"\ntoken_sha256 = \"{}\"\nservers = [\"http\"]\n",
            sha256_hex(ALICE),
            sha256_hex(BOB)
        ));
    }
    // `max_body_bytes` belongs to [gateway], which Toolgate::start writes first.
    let policy = r#"{"version":"1","default":"allow","hide":["GetOpenApiSchema"],
      "tools":{"createOneConnectedAccount":{"action":"deny","reason":"Credentials are managed by IT."}}}"#;
    Setup {
        gateway: Toolgate::start(&config, &[("p.json", policy)]),
        _twenty: twenty,
        http: reqwest::Client::new(),
    }
}

fn init_body() -> Value {
    json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"wire-test","version":"1"}}})
}

impl Setup {
    fn post(&self, server: &str, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
        self.http
            .post(self.gateway.url(server))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body)
    }

    /// Initializes a session and returns its id.
    async fn session(&self, server: &str, token: Option<&str>) -> String {
        let mut rb = self.post(server, init_body().to_string());
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        let resp = rb.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let id = resp.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["result"]["serverInfo"]["name"], "twenty-like");
        let note = json!({"jsonrpc":"2.0","method":"notifications/initialized"}).to_string();
        let mut rb = self.post(server, note).header("mcp-session-id", &id);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        assert_eq!(rb.send().await.unwrap().status(), StatusCode::ACCEPTED);
        id
    }

    async fn call(&self, server: &str, session: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .post(server, body.to_string())
            .header("mcp-session-id", session)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

#[tokio::test]
async fn credentials_are_required_once_grants_exist() {
    let s = setup(true);
    let resp = s
        .post("http", init_body().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let resp = s
        .post("http", init_body().to_string())
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // bob's grant does not reach the stdio server.
    let resp = s
        .post("stdio", init_body().to_string())
        .bearer_auth(BOB)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // A session belongs to the grant that opened it.
    let sid = s.session("http", Some(ALICE)).await;
    let list = json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}).to_string();
    let resp = s
        .post("http", list.clone())
        .header("mcp-session-id", &sid)
        .bearer_auth(BOB)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = s
        .post("http", list)
        .header("mcp-session-id", &sid)
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // A real SDK client with the token works; without it, it fails.
    McpClient::python_http(&s.gateway.url("http"))
        .token(ALICE)
        .call("findManyPeople", json!({}))
        .run()
        .assert_exit(0);
    McpClient::python_http(&s.gateway.url("http"))
        .no_list()
        .run()
        .assert_exit(1);
    assert!(!s.gateway.log().contains("no grants configured"));
}

#[tokio::test]
async fn an_open_gateway_says_so_at_startup() {
    let s = setup(false);
    assert!(
        s.gateway.log().contains("no grants configured"),
        "{}",
        s.gateway.log()
    );
}

#[tokio::test]
async fn foreign_origins_and_oversized_bodies_are_refused() {
    let s = setup(false);
    let resp = s
        .post("http", init_body().to_string())
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = s
        .post("http", init_body().to_string())
        .header("origin", "http://localhost:6274")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let sid = s.session("stdio", None).await;
    let big = json!({"jsonrpc":"2.0","id":3,"method":"tools/call",
        "params":{"name":"findManyPeople","arguments":{"filter":"x".repeat(70_000)}}});
    let (status, _) = s.call("stdio", &sid, big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let resp = s
        .http
        .post(s.gateway.url("http"))
        .header("content-type", "text/plain")
        .body(init_body().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn unreadable_messages_are_refused_not_forwarded() {
    let s = setup(false);
    for server in ["stdio", "http"] {
        let sid = s.session(server, None).await;
        let (status, v) = s
            .call(
                server,
                &sid,
                json!([{"jsonrpc":"2.0","id":1,"method":"ping"}]),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(v["error"]["code"], -32600);

        let resp = s
            .post(server, "{\"jsonrpc\":\"2.0\",")
            .header("mcp-session-id", &sid)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], -32700);

        // Two `name`s: the policy could read one and the server the other.
        let body = r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"findManyPeople","name":"createOneConnectedAccount","arguments":{}}}"#;
        let resp = s
            .post(server, body)
            .header("mcp-session-id", &sid)
            .send()
            .await
            .unwrap();
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["id"], 5);
        assert_eq!(v["error"]["code"], -32602, "{v}");

        // Duplicate keys deep in the arguments, too.
        let body = r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"findManyPeople","arguments":{"a":{"b":1,"b":2}}}}"#;
        let v: Value = s
            .post(server, body)
            .header("mcp-session-id", &sid)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["error"]["code"], -32602, "{v}");

        // A denied call is answered by the gateway with the same id.
        let (status, v) = s
            .call(server, &sid, json!({"jsonrpc":"2.0","id":"x-7","method":"tools/call","params":{"name":"createOneConnectedAccount","arguments":{}}}))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(v["id"], "x-7");
        assert_eq!(v["result"]["isError"], true);
    }
}

#[tokio::test]
async fn sessions_start_with_initialize_and_end_with_delete() {
    let s = setup(false);
    // server/discover (protocol 2026-07-28 probe) is answered at once, without a session.
    let resp = s
        .post(
            "http",
            json!({"jsonrpc":"2.0","id":1,"method":"server/discover"}).to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], -32601);

    let resp = s
        .post(
            "http",
            json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}).to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let (status, _) = s
        .call(
            "http",
            "no-such-session",
            json!({"jsonrpc":"2.0","id":1,"method":"ping"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    for server in ["stdio", "http"] {
        let sid = s.session(server, None).await;
        let (status, v) = s
            .call(
                server,
                &sid,
                json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            v["result"]["tools"].as_array().unwrap().len(),
            218,
            "GetOpenApiSchema is hidden"
        );
        let resp = s
            .http
            .delete(s.gateway.url(server))
            .header("mcp-session-id", &sid)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let (status, _) = s
            .call(
                server,
                &sid,
                json!({"jsonrpc":"2.0","id":3,"method":"ping"}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn get_opens_the_servers_stream_where_there_is_one() {
    let s = setup(false);
    // twenty-mcp over HTTP offers no standalone stream: the gateway says so.
    let sid = s.session("http", None).await;
    let resp = s
        .http
        .get(s.gateway.url("http"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    // A stdio server's unsolicited messages go to the GET stream.
    let sid = s.session("stdio", None).await;
    let resp = s
        .http
        .get(s.gateway.url("stdio"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_clear_error() {
    let config = "[servers.gone]\nurl = \"http://127.0.0.1:9/mcp\"\n\n[servers.broken]\ncommand = \"/nonexistent/mcp-server\"\n";
    let gateway = Toolgate::start(config, &[]);
    let http = reqwest::Client::new();
    for server in ["gone", "broken"] {
        let resp = http
            .post(gateway.url(server))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(init_body().to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["id"], 1);
        assert_eq!(v["error"]["code"], -32002);
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains(&format!("server {server} is unavailable")),
            "{msg}"
        );
    }
    // The gateway itself keeps serving.
    assert_eq!(
        http.get(format!("{}/healthz", gateway.base))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn metrics_count_calls_by_decision_and_rule() {
    let s = setup(false);
    let sid = s.session("http", None).await;
    // Tools get a label of their own once their server has listed them (the first listing waits
    // for the catalogue's).
    let list = json!({"jsonrpc":"2.0","id":9,"method":"tools/list"});
    assert_eq!(s.call("http", &sid, list).await.0, StatusCode::OK);
    for (i, tool) in [
        "findManyPeople",
        "findManyPeople",
        "createOneConnectedAccount",
    ]
    .iter()
    .enumerate()
    {
        let body = json!({"jsonrpc":"2.0","id":i + 10,"method":"tools/call","params":{"name":tool,"arguments":{}}});
        assert_eq!(s.call("http", &sid, body).await.0, StatusCode::OK);
    }
    let text = s
        .http
        .get(format!("{}/metrics", s.gateway.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let has = |needle: &str| text.lines().any(|l| l == needle);
    assert!(
        has(r#"toolgate_tool_calls_total{server="http",tool="findManyPeople",decision="allow"} 2"#),
        "{text}"
    );
    assert!(
        has(
            r#"toolgate_tool_calls_total{server="http",tool="createOneConnectedAccount",decision="deny"} 1"#
        ),
        "{text}"
    );
    assert!(
        has(
            r#"toolgate_rule_hits_total{server="http",rule="/tools/createOneConnectedAccount/action"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"toolgate_upstream_latency_seconds_count{server="http"} "#),
        "{text}"
    );
    assert!(
        text.contains(r#"toolgate_gateway_overhead_seconds_bucket{"#),
        "{text}"
    );
    assert!(has(r#"toolgate_upstream_up{server="stdio"} 1"#), "{text}");
}
