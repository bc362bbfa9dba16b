//! End to end: the real `toolgate` binary in front of the reference server-everything, over a
//! stdio upstream and a Streamable HTTP upstream, driven by the Python SDK, the TypeScript SDK
//! and the Inspector CLI; and the same policy through `toolgate wrap`.

mod common;

use common::{TOOLGATE, Toolgate, gateway_decision, toml_array, toml_str};
use serde_json::{Value, json};
use toolgate_testkit::{
    McpClient, inspector_cli, server_everything_stdio_command, spawn_server_everything_http,
};

const POLICY: &str = r#"{
  "version": "1",
  "default": "allow",
  "hide": ["get-env"],
  "tools": {
    "get-sum": {
      "deny_if": [ { "conditions": [ { "path": "args.a", "op": "gt", "value": 100 } ],
                     "on_deny": "Sums over 100 are not for agents." } ]
    },
    "echo": { "limits": [ { "counter": "echoes", "window": "minute", "max": 3, "scope": "session" } ] }
  }
}"#;

struct Setup {
    gateway: Toolgate,
    _everything: toolgate_testkit::HttpPeer,
}

fn setup() -> Setup {
    let everything = spawn_server_everything_http();
    let stdio = server_everything_stdio_command();
    let config = format!(
        "[servers.stdio]\ncommand = {}\nargs = {}\npolicy = \"p.json\"\n\n\
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

fn first_result(out: &toolgate_testkit::PeerOutput) -> Value {
    out.events_named("result")
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("no result in {:?}", out.events()))
}

#[test]
fn python_sdk_allowed_denied_hidden() {
    let s = setup();
    for server in ["stdio", "http"] {
        let url = s.gateway.url(server);
        let out = McpClient::python_http(&url)
            .call("get-sum", json!({"a": 2, "b": 3}))
            .run();
        out.assert_exit(0);
        let names = out.tool_names();
        assert!(names.contains(&"echo".to_owned()), "{server}: {names:?}");
        assert!(
            !names.contains(&"get-env".to_owned()),
            "{server}: hidden tool listed"
        );
        assert_eq!(
            first_result(&out)["result"]["content"][0]["text"],
            "The sum of 2 and 3 is 5."
        );

        let out = McpClient::python_http(&url)
            .no_list()
            .call("get-sum", json!({"a": 200, "b": 3}))
            .run();
        out.assert_exit(2);
        assert_eq!(
            first_result(&out)["result"]["content"][0]["text"],
            "[POLICY DENIED] Sums over 100 are not for agents."
        );

        let out = McpClient::python_http(&url)
            .no_list()
            .call("get-env", json!({}))
            .run();
        out.assert_exit(3);
        assert_eq!(out.events_named("error")[0]["code"], -32602);
    }
}

#[test]
fn session_limit_counts_per_session() {
    let s = setup();
    for server in ["stdio", "http"] {
        let url = s.gateway.url(server);
        for _ in 0..2 {
            // A fresh session gets a fresh `session`-scoped quota: 3 pass, the 4th is refused.
            let out = McpClient::python_http(&url)
                .no_list()
                .call("echo", json!({"message": "hi"}))
                .repeat(4)
                .run();
            let r = out.events_named("result");
            assert_eq!(r.len(), 4, "{server}");
            assert!(r[..3].iter().all(|r| r["isError"] == false));
            assert_eq!(r[3]["isError"], true);
            assert_eq!(gateway_decision(&r[3])["rule"], "/tools/echo/limits/0");
        }
    }
}

#[test]
fn progress_notifications_reach_the_client() {
    let s = setup();
    for server in ["stdio", "http"] {
        let out = McpClient::python_http(&s.gateway.url(server))
            .no_list()
            .call(
                "trigger-long-running-operation",
                json!({"duration": 1, "steps": 4}),
            )
            .progress()
            .run();
        out.assert_exit(0);
        let progress = out.events_named("progress");
        assert_eq!(progress.len(), 4, "{server}: {:?}", out.events());
        assert_eq!(progress[3]["progress"], 4.0);
        assert!(
            first_result(&out)["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("completed")
        );
    }
}

#[test]
fn typescript_sdk_with_progress() {
    let s = setup();
    for server in ["stdio", "http"] {
        let url = s.gateway.url(server);
        let out = McpClient::ts_http(&url)
            .call(
                "trigger-long-running-operation",
                json!({"duration": 1, "steps": 2}),
            )
            .progress()
            .run();
        out.assert_exit(0);
        assert_eq!(
            out.events_named("progress").len(),
            2,
            "{server}: {:?}",
            out.events()
        );
        assert!(!out.tool_names().contains(&"get-env".to_owned()));
        let out = McpClient::ts_http(&url)
            .no_list()
            .call("get-sum", json!({"a": 101, "b": 1}))
            .run();
        out.assert_exit(2);
    }
}

#[test]
fn inspector_cli_lists_and_calls_through_the_gateway() {
    let s = setup();
    for server in ["stdio", "http"] {
        // The Inspector rewrites any URL whose path does not end in `/mcp`: use the alias.
        let url = format!("{}/servers/{server}/mcp", s.gateway.base);
        let out = inspector_cli(&[&url, "--transport", "http", "--method", "tools/list"]).run();
        assert!(out.success(), "{server}: {}", out.stderr);
        let list: Value = serde_json::from_str(&out.stdout).expect("inspector prints JSON");
        let names: Vec<&str> = list["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert!(
            names.contains(&"echo") && !names.contains(&"get-env"),
            "{names:?}"
        );

        let out = inspector_cli(&[
            &url,
            "--transport",
            "http",
            "--method",
            "tools/call",
            "--tool-name",
            "get-sum",
            "--tool-arg",
            "a=150",
            "b=2",
        ])
        .run();
        let result: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|_| panic!("{}\n{}", out.stdout, out.stderr));
        assert_eq!(result["isError"], true);
        assert_eq!(
            result["content"][0]["text"],
            "[POLICY DENIED] Sums over 100 are not for agents."
        );
    }
}

#[test]
fn wrap_puts_a_stdio_server_behind_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.json");
    std::fs::write(&policy, POLICY).unwrap();
    let mut wrapped = vec![
        TOOLGATE.to_owned(),
        "wrap".into(),
        "--policy".into(),
        policy.display().to_string(),
        "--".into(),
    ];
    wrapped.extend(server_everything_stdio_command());

    let out = McpClient::python_stdio(&wrapped)
        .call(
            "trigger-long-running-operation",
            json!({"duration": 1, "steps": 3}),
        )
        .progress()
        .run();
    out.assert_exit(0);
    assert_eq!(out.events_named("progress").len(), 3);
    assert!(!out.tool_names().contains(&"get-env".to_owned()));

    let out = McpClient::python_stdio(&wrapped)
        .no_list()
        .call("get-sum", json!({"a": 500, "b": 1}))
        .run();
    out.assert_exit(2);
    assert_eq!(
        first_result(&out)["result"]["content"][0]["text"],
        "[POLICY DENIED] Sums over 100 are not for agents."
    );

    let out = McpClient::python_stdio(&wrapped)
        .no_list()
        .call("echo", json!({"message": "x"}))
        .repeat(4)
        .run();
    let r = out.events_named("result");
    assert_eq!(r[3]["isError"], true);

    let out = McpClient::ts_stdio(&wrapped)
        .no_list()
        .call("get-env", json!({}))
        .run();
    out.assert_exit(3);

    // A name longer than the gateway takes is refused before anything reads it, as on HTTP.
    let out = McpClient::python_stdio(&wrapped)
        .no_list()
        .call(&"n".repeat(4096), json!({}))
        .run();
    let errors = out.events_named("error");
    let message = errors
        .first()
        .and_then(|e| e["message"].as_str())
        .unwrap_or_default();
    assert!(
        message.contains("4096 bytes long; this gateway takes at most 256"),
        "{:?}",
        out.events()
    );
}

#[test]
fn wrap_passes_the_exit_code_through() {
    let status = std::process::Command::new(TOOLGATE)
        .args(["wrap", "--", "sh", "-c", "exit 7"])
        .stdin(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(7));
    let status = std::process::Command::new(TOOLGATE)
        .args(["wrap", "--", "/nonexistent/server"])
        .stdin(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(127));
}

#[test]
fn wrap_forwards_signals_to_the_server() {
    use std::time::{Duration, Instant};
    // The server exits 42 on SIGTERM; `wrap` must pass the signal on and return that code.
    let script = "trap 'exit 42' TERM; while :; do sleep 0.05; done";
    let mut child = std::process::Command::new(TOOLGATE)
        .args(["wrap", "--", "sh", "-c", script])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "wrap did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(42));
}
