//! The peer clients' modes that gateway tests depend on, proven against real third-party servers with no
//! gateway in between: repeated calls in one session, progress notifications, isError exit codes, pagination,
//! bearer tokens, answers to sampling, elicitation and roots requests, log notifications, and the Inspector CLI.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;
use toolgate_testkit::{
    McpClient, fastmcp_stdio_command, inspector_cli, server_everything_stdio_command,
    spawn_fastmcp_http, spawn_server_everything_http, spawn_twenty_http,
};

#[test]
fn python_client_reports_each_progress_notification() {
    let everything = spawn_server_everything_http();
    let out = McpClient::python_http(&everything.url)
        .no_list()
        .call(
            "trigger-long-running-operation",
            json!({"duration": 1, "steps": 4}),
        )
        .progress()
        .run();
    out.assert_success();
    let progress: Vec<_> = out
        .events_named("progress")
        .iter()
        .map(|p| p["progress"].as_f64().unwrap())
        .collect();
    assert_eq!(progress, [1.0, 2.0, 3.0, 4.0], "{out}");
    assert!(
        out.events_named("progress")
            .iter()
            .all(|p| p["total"] == 4.0),
        "{out}"
    );
}

#[test]
fn python_client_reads_resources_and_prompts() {
    let everything = spawn_server_everything_http();
    let out = McpClient::python_http(&everything.url)
        .no_list()
        .read_resource("demo://resource/static/document/features.md")
        .get_prompt("args-prompt", json!({"city": "Lyon"}))
        .run();
    out.assert_success();
    let resource = &out.events_named("resource")[0];
    assert_eq!(
        resource["result"]["contents"][0]["uri"], "demo://resource/static/document/features.md",
        "{out}"
    );
    let prompt = out.events_named("prompt")[0]["result"].to_string();
    assert!(prompt.contains("Lyon"), "{out}");

    let out = McpClient::python_http(&everything.url)
        .no_list()
        .read_resource("demo://nope")
        .run();
    out.assert_exit(3);
    assert!(out.events_named("error")[0]["code"].is_i64(), "{out}");
}

/// Both SDK clients, over stdio, answer server-everything's sampling, elicitation and roots requests as told
/// and print its log notifications.
#[test]
fn clients_answer_server_requests_and_print_logs() {
    let server = server_everything_stdio_command();
    for (sdk, client) in [
        ("python", McpClient::python_stdio(&server)),
        ("typescript", McpClient::ts_stdio(&server)),
    ] {
        let out = client
            .clone()
            .no_list()
            .sampling("sampled text")
            .call("trigger-sampling-request", json!({"prompt": "p"}))
            .run();
        out.assert_exit(0);
        assert_eq!(
            out.events_named("sampling")[0]["request"]["maxTokens"],
            100,
            "{sdk}"
        );
        let text = out.events_named("result")[0]["result"]["content"][0]["text"].to_string();
        assert!(text.contains("sampled text"), "{sdk}: {text}");

        let out = client
            .clone()
            .no_list()
            .elicit(json!({"name": "Grace"}))
            .call("trigger-elicitation-request", json!({}))
            .run();
        out.assert_exit(0);
        assert_eq!(out.events_named("elicitation").len(), 1, "{sdk}");
        let text = out.events_named("result")[0]["result"]["content"][1]["text"].to_string();
        assert!(text.contains("- Name: Grace"), "{sdk}: {text}");

        let out = client
            .no_list()
            .roots("file:///tmp/r")
            .log_level("info")
            .call("get-roots-list", json!({}))
            .run();
        out.assert_exit(0);
        assert_eq!(out.events_named("roots").len(), 1, "{sdk}");
        assert_eq!(
            out.events_named("log")[0]["data"],
            "Roots updated: 1 root(s) received from client",
            "{sdk}"
        );
        let text = out.events_named("result")[0]["result"]["content"][0]["text"].to_string();
        assert!(text.contains("file:///tmp/r"), "{sdk}: {text}");
    }
}

#[test]
fn typescript_client_reports_progress_over_stdio() {
    let out = McpClient::ts_stdio(&server_everything_stdio_command())
        .no_list()
        .call(
            "trigger-long-running-operation",
            json!({"duration": 1, "steps": 2}),
        )
        .progress()
        .run();
    out.assert_success();
    assert_eq!(out.events_named("progress").len(), 2, "{out}");
}

#[test]
fn python_stdio_client_lists_server_everything() {
    let out = McpClient::python_stdio(&server_everything_stdio_command())
        .call("echo", json!({"message": "hi"}))
        .run();
    out.assert_success();
    assert!(out.tool_names().iter().any(|n| n == "get-sum"), "{out}");
    assert_eq!(
        out.events_named("result")[0]["result"]["content"][0]["text"],
        "Echo: hi",
        "{out}"
    );
}

#[test]
fn fastmcp_error_results_exit_2_and_pagination_is_followed() {
    let fastmcp = spawn_fastmcp_http(Some(1));
    let out = McpClient::python_http(&fastmcp.url)
        .call("fail", json!({"msg": "nope"}))
        .repeat(2)
        .run();
    out.assert_exit(2);
    assert_eq!(
        out.events_named("tools")[0],
        json!({"event": "tools", "count": 5, "pages": 5}),
        "{out}"
    );
    let results = out.events_named("result");
    assert_eq!(results.len(), 2, "{out}");
    assert!(results.iter().all(|r| r["isError"] == true), "{out}");

    let out = McpClient::python_stdio(&fastmcp_stdio_command())
        .no_list()
        .call("add", json!({"a": 2, "b": 40}))
        .run();
    out.assert_success();
    assert_eq!(
        out.events_named("result")[0]["result"]["structuredContent"]["result"],
        42,
        "{out}"
    );
}

/// A one-shot HTTP server that records the Authorization header of the first request and answers 401.
fn capture_authorization() -> (String, mpsc::Receiver<Option<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut authorization = None;
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("authorization")
            {
                authorization = Some(v.trim().to_owned());
            }
            line.clear();
        }
        let _ = tx.send(authorization);
        let _ = stream.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    });
    (url, rx)
}

#[test]
fn clients_send_the_token_as_a_bearer_header() {
    for client in [McpClient::python_http, McpClient::ts_http] {
        let (url, seen) = capture_authorization();
        let out = client(&url)
            .token("tg_secret")
            .timeout(Duration::from_secs(30))
            .run();
        out.assert_exit(1);
        assert_eq!(out.events_named("fatal").len(), 1, "{out}");
        let header = seen
            .recv_timeout(Duration::from_secs(5))
            .expect("the client made a request");
        assert_eq!(header.as_deref(), Some("Bearer tg_secret"), "{out}");
    }
}

#[test]
fn inspector_cli_lists_twenty_tools() {
    let twenty = spawn_twenty_http(None);
    let out = inspector_cli(&[&twenty.url, "--transport", "http", "--method", "tools/list"]).run();
    out.assert_success();
    let listed: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(listed["tools"].as_array().map(Vec::len), Some(219), "{out}");
}
