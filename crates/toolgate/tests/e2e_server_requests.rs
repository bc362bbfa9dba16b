//! End to end: requests and notifications that flow from the server to the client through the
//! real `toolgate` binary. server-everything (behind a stdio upstream and a Streamable HTTP
//! upstream) asks the real Python and TypeScript SDK clients for sampling, elicitation and roots,
//! and sends them log messages; and the Twenty-like server, echoing the headers it receives,
//! shows what the gateway passes upstream of a client's credentials.

mod common;

use common::{Toolgate, sha256_hex, toml_array, toml_str};
use serde_json::{Value, json};
use std::time::Duration;
use toolgate_testkit::{
    HttpPeer, McpClient, PeerOutput, server_everything_stdio_command, spawn_server_everything_http,
    spawn_twenty_http_echoing_headers,
};

const POLICY: &str = r#"{ "version": "1", "default": "allow" }"#;

struct Setup {
    gateway: Toolgate,
    _everything: HttpPeer,
}

/// server-everything behind the gateway twice: `stdio` (a child per session) and `http`.
fn setup() -> Setup {
    let everything = spawn_server_everything_http();
    let stdio = server_everything_stdio_command();
    // server-everything keeps per-client state (its tool list follows the client's capabilities,
    // its roots are the client's), so each session gets its own child: `per_session = true`.
    let config = format!(
        "[servers.stdio]\ncommand = {}\nargs = {}\nper_session = true\npolicy = \"p.json\"\n\n\
         [servers.http]\nurl = {}\npolicy = \"p.json\"\n",
        toml_str(&stdio[0]),
        toml_array(&stdio[1..]),
        toml_str(&everything.url),
    );
    Setup {
        gateway: Toolgate::start(&config, &[("p.json", POLICY)]),
        _everything: everything,
    }
}

/// Every (upstream, SDK) pair: the Python and the TypeScript client on each server.
fn clients(s: &Setup) -> Vec<(String, McpClient)> {
    let mut all = Vec::new();
    for server in ["stdio", "http"] {
        let url = s.gateway.url(server);
        all.push((format!("{server}/python"), McpClient::python_http(&url)));
        all.push((format!("{server}/typescript"), McpClient::ts_http(&url)));
    }
    all
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

fn log_texts(out: &PeerOutput) -> Vec<String> {
    out.events_named("log")
        .iter()
        .map(|l| match &l["data"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

#[test]
fn sampling_round_trip() {
    let s = setup();
    for (who, client) in clients(&s) {
        // The tool exists only for clients that declare sampling: the capability reached upstream.
        let plain = client.clone().run();
        plain.assert_exit(0);
        assert!(
            !plain
                .tool_names()
                .contains(&"trigger-sampling-request".to_owned()),
            "{who}: listed without the sampling capability"
        );

        let out = client
            .sampling("Sampled through toolgate.")
            .call(
                "trigger-sampling-request",
                json!({"prompt": "say hi", "maxTokens": 12}),
            )
            .run();
        out.assert_exit(0);
        assert!(
            out.tool_names()
                .contains(&"trigger-sampling-request".to_owned()),
            "{who}: {:?}",
            out.tool_names()
        );
        let requests = out.events_named("sampling");
        assert_eq!(requests.len(), 1, "{who}: {:?}", out.events());
        assert_eq!(requests[0]["request"]["maxTokens"], 12, "{who}");
        assert_eq!(
            requests[0]["request"]["messages"][0]["content"]["text"],
            "Resource trigger-sampling-request context: say hi",
            "{who}"
        );
        let text = result_text(&out);
        assert!(
            text.starts_with("LLM sampling result:") && text.contains("Sampled through toolgate."),
            "{who}: {text}"
        );
    }
}

#[test]
fn elicitation_round_trip() {
    let s = setup();
    for (who, client) in clients(&s) {
        let out = client
            .no_list()
            .elicit(json!({"name": "Ada Lovelace", "check": true, "integer": 7}))
            .call("trigger-elicitation-request", json!({}))
            .run();
        out.assert_exit(0);
        let requests = out.events_named("elicitation");
        assert_eq!(requests.len(), 1, "{who}: {:?}", out.events());
        assert_eq!(
            requests[0]["request"]["requestedSchema"]["required"],
            json!(["name"]),
            "{who}"
        );
        let text = result_text(&out);
        for line in [
            "User provided the requested information!",
            "- Name: Ada Lovelace",
            "- Agreed to terms: true",
            "- Favorite Integer: 7",
        ] {
            assert!(text.contains(line), "{who}: {line:?} missing from {text}");
        }
    }
}

/// `roots/list` from server-everything has no related request: over HTTP it travels on the
/// standalone (GET) stream, so this also proves that stream is relayed, both ways.
#[test]
fn roots_round_trip_and_logging() {
    let s = setup();
    for (who, client) in clients(&s) {
        let out = client
            .clone()
            .no_list()
            .roots("file:///srv/peer-root")
            .log_level("debug")
            .call("get-roots-list", json!({}))
            .run();
        out.assert_exit(0);
        // server-everything asks for the roots 350 ms after the handshake and again in the tool
        // when it has none yet, so the client may be asked once or twice.
        assert!(
            !out.events_named("roots").is_empty(),
            "{who}: {:?}",
            out.events()
        );
        let text = result_text(&out);
        assert!(
            text.contains("Current MCP Roots (1 total)") && text.contains("file:///srv/peer-root"),
            "{who}: {text}"
        );
        // server-everything logs (at info) that it got the roots; debug lets it through.
        let logs = log_texts(&out);
        assert!(
            logs.iter()
                .any(|l| l == "Roots updated: 1 root(s) received from client"),
            "{who}: {:?}",
            out.events()
        );

        // At `emergency`, the same info message is held back upstream: setLevel reached it.
        let out = client
            .clone()
            .no_list()
            .roots("file:///srv/peer-root")
            .log_level("emergency")
            .call("get-roots-list", json!({}))
            .run();
        out.assert_exit(0);
        assert!(result_text(&out).contains("file:///srv/peer-root"), "{who}");
        assert!(
            !log_texts(&out)
                .iter()
                .any(|l| l.starts_with("Roots updated")),
            "{who}: {:?}",
            out.events()
        );

        // A tool that logs: toggle-simulated-logging sends one message at once (a random level,
        // all let through at debug); the second call stops it.
        let out = client
            .no_list()
            .log_level("debug")
            .call("toggle-simulated-logging", json!({}))
            .repeat(2)
            .linger(Duration::from_secs(1))
            .run();
        out.assert_exit(0);
        assert!(
            result_text(&out).starts_with("Started simulated"),
            "{who}: {:?}",
            out.events()
        );
        let logs = log_texts(&out);
        assert!(
            logs.iter().any(|l| l.contains("message")),
            "{who}: no log notification in {:?}",
            out.events()
        );
    }
}

const TOKEN: &str = "tg-agent-a-0123456789abcdef";

/// The upstream sees the operator's static header (with `${TWENTY_KEY}` expanded from the
/// gateway's environment) and none of the client's credentials.
#[test]
fn upstream_gets_static_headers_and_never_client_credentials() {
    let twenty = spawn_twenty_http_echoing_headers();
    let config = format!(
        "[servers.twenty]\nurl = {}\nheaders = {{ \"X-Api-Key\" = \"key-${{TWENTY_KEY}}\" }}\n\n\
         [grants.g]\nagent = \"a\"\ntoken_sha256 = \"{}\"\nservers = [\"twenty\"]\n",
        toml_str(&twenty.url),
        sha256_hex(TOKEN),
    );
    let gateway = Toolgate::start_with_env(&config, &[], &[("TWENTY_KEY", "s3cret-upstream")]);
    let url = gateway.url("twenty");

    let python = McpClient::python_http(&url)
        .token(TOKEN)
        .header("Cookie", "session=client-cookie")
        .header("X-Forwarded-For", "203.0.113.9");
    let typescript = McpClient::ts_http(&url).token(TOKEN);
    for (who, client) in [("python", python), ("typescript", typescript)] {
        let out = client
            .no_list()
            .call("findOneCompany", json!({"id": "c-1"}))
            .run();
        out.assert_exit(0);
        let results = out.events_named("result");
        let structured = &results[0]["result"]["structuredContent"];
        assert_eq!(structured["tool"], "findOneCompany", "{who}");
        assert_eq!(structured["arguments"], json!({"id": "c-1"}), "{who}");
        let headers = structured["headers"]
            .as_object()
            .unwrap_or_else(|| panic!("{who}: no headers echoed in {structured}"));
        assert_eq!(
            headers.get("x-api-key"),
            Some(&json!("key-s3cret-upstream")),
            "{who}: {headers:?}"
        );
        for secret in ["authorization", "cookie"] {
            assert!(
                !headers.contains_key(secret),
                "{who}: the client's {secret} header reached the upstream: {headers:?}"
            );
        }
        let upstream_text = structured.to_string();
        assert!(
            !upstream_text.contains(TOKEN) && !upstream_text.contains("client-cookie"),
            "{who}: a client credential reached the upstream: {upstream_text}"
        );
        // The upstream session is the gateway's own, not the client's.
        let client_session = out.events_named("session");
        if let Some(s) = client_session.first() {
            assert_ne!(headers.get("mcp-session-id"), Some(&s["id"]), "{who}");
        }
    }

    // Without the token, nothing reaches the upstream at all.
    let out = McpClient::python_http(&url)
        .no_list()
        .call("findOneCompany", json!({"id": "c-1"}))
        .run();
    out.assert_exit(1);
    assert!(out.events_named("result").is_empty());
}
