//! End to end: `toolgate connect`, the stdio bridge, between real SDK stdio clients (Python and
//! TypeScript) and the real gateway (with a grant) in front of server-everything: tools listed
//! through the policy, calls allowed and denied, progress relayed, and a wrong token refused
//! with a clear error instead of a hang.

mod common;

use common::{TOOLGATE, Toolgate, sha256_hex, toml_array, toml_str};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use toolgate_testkit::{McpClient, PeerOutput, server_everything_stdio_command};

const TOKEN: &str = "tg-connect-0123456789abcdef";

const POLICY: &str = r#"{
  "version": "1",
  "default": "allow",
  "hide": ["get-env"],
  "tools": {
    "get-sum": {
      "deny_if": [ { "conditions": [ { "path": "args.a", "op": "gt", "value": 100 } ],
                     "on_deny": "Sums over 100 are not for agents." } ]
    }
  }
}"#;

fn gateway() -> Toolgate {
    let everything = server_everything_stdio_command();
    let config = format!(
        "[servers.everything]\ncommand = {}\nargs = {}\npolicy = \"p.json\"\n\n\
         [grants.laptop]\nagent = \"alice\"\ntoken_sha256 = \"{}\"\nservers = [\"everything\"]\n",
        toml_str(&everything[0]),
        toml_array(&everything[1..]),
        sha256_hex(TOKEN),
    );
    Toolgate::start(&config, &[("p.json", POLICY)])
}

/// `toolgate connect URL --token TOKEN`, as a client's stdio server command.
fn connect(url: &str, token: &str) -> Vec<String> {
    [TOOLGATE, "connect", url, "--token", token]
        .map(str::to_owned)
        .to_vec()
}

fn python(url: &str, token: &str) -> McpClient {
    McpClient::python_stdio(&connect(url, token))
}

fn typescript(url: &str, token: &str) -> McpClient {
    McpClient::ts_stdio(&connect(url, token))
}

fn first_result(out: &PeerOutput) -> Value {
    out.events_named("result")
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("no result in {:?}", out.events()))
}

fn text(out: &PeerOutput) -> String {
    first_result(out)["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn sdk_clients_list_and_call_through_the_bridge() {
    let gw = gateway();
    let url = gw.url("everything");
    for (who, client) in [
        ("python", python(&url, TOKEN)),
        ("typescript", typescript(&url, TOKEN)),
    ] {
        let out = client.call("get-sum", json!({"a": 2, "b": 3})).run();
        out.assert_exit(0);
        let names = out.tool_names();
        assert!(names.contains(&"echo".to_owned()), "{who}: {names:?}");
        assert!(
            !names.contains(&"get-env".to_owned()),
            "{who}: hidden tool listed: {names:?}"
        );
        assert_eq!(text(&out), "The sum of 2 and 3 is 5.", "{who}");
    }
    let out = python(&url, TOKEN)
        .no_list()
        .call("get-sum", json!({"a": 200, "b": 3}))
        .run();
    out.assert_exit(2);
    assert_eq!(
        text(&out),
        "[POLICY DENIED] Sums over 100 are not for agents."
    );
    let out = typescript(&url, TOKEN)
        .no_list()
        .call("get-sum", json!({"a": 101, "b": 1}))
        .run();
    out.assert_exit(2);
    assert_eq!(
        text(&out),
        "[POLICY DENIED] Sums over 100 are not for agents."
    );
    // A hidden tool cannot be called either.
    let out = python(&url, TOKEN)
        .no_list()
        .call("get-env", json!({}))
        .run();
    out.assert_exit(3);
    assert_eq!(out.events_named("error")[0]["code"], -32602);
}

#[test]
fn progress_notifications_cross_the_bridge() {
    let gw = gateway();
    let url = gw.url("everything");
    for (who, client, steps) in [
        ("python", python(&url, TOKEN), 4),
        ("typescript", typescript(&url, TOKEN), 3),
    ] {
        let out = client
            .no_list()
            .call(
                "trigger-long-running-operation",
                json!({"duration": 1, "steps": steps}),
            )
            .progress()
            .run();
        out.assert_exit(0);
        let progress = out.events_named("progress");
        assert_eq!(progress.len(), steps, "{who}: {:?}", out.events());
        assert_eq!(progress[steps - 1]["progress"], steps as f64, "{who}");
        assert!(text(&out).contains("completed"), "{who}: {}", text(&out));
    }
}

/// The token may come from `TOOLGATE_TOKEN`, and `/mcp` (every server the grant reaches) works
/// through the bridge as well, names namespaced.
#[test]
fn token_from_the_environment_and_the_aggregate_endpoint() {
    let gw = gateway();
    let url = format!("{}/mcp", gw.base);
    let command = [TOOLGATE, "connect", &url].map(str::to_owned).to_vec();
    let out = McpClient::python_stdio(&command)
        .env("TOOLGATE_TOKEN", TOKEN)
        .call("everything__echo", json!({"message": "bridged"}))
        .run();
    out.assert_exit(0);
    let names = out.tool_names();
    assert!(
        names.contains(&"everything__get-sum".to_owned()),
        "{names:?}"
    );
    assert!(!names.contains(&"everything__get-env".to_owned()));
    assert_eq!(text(&out), "Echo: bridged");
}

#[test]
fn a_wrong_token_is_a_clear_error_not_a_hang() {
    let gw = gateway();
    let url = gw.url("everything");
    let deadline = Duration::from_secs(40);
    for (who, client) in [
        ("python", python(&url, "not-the-token")),
        ("typescript", typescript(&url, "not-the-token")),
    ] {
        let started = Instant::now();
        let out = client.timeout(deadline).run();
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{who}: took {:?}",
            started.elapsed()
        );
        out.assert_exit(1);
        let fatal = out.events_named("fatal");
        let error = fatal
            .first()
            .and_then(|f| f["error"].as_str())
            .unwrap_or_else(|| panic!("{who}: no fatal event in {:?}", out.events()));
        assert!(
            error.contains("invalid bearer token") && error.contains("refused initialize"),
            "{who}: {error}"
        );
        assert!(out.tool_names().is_empty(), "{who}");
    }
}
