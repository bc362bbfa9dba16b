//! twenty-mcp driven by the official Python SDK client, over stdio and Streamable HTTP: the mock upstream
//! must be something a real client accepts before gateway tests can trust it.

use serde_json::json;
use toolgate_testkit::{McpClient, PeerOutput, spawn_twenty_http, twenty_stdio_command};

fn assert_lists_all_tools(out: &PeerOutput) {
    out.assert_success();
    let init = &out.events_named("initialized")[0];
    assert_eq!(init["serverInfo"]["name"], "twenty-like", "{out}");
    assert_eq!(init["protocolVersion"], "2025-11-25", "{out}");
    assert_eq!(out.events_named("tools")[0]["count"], 219, "{out}");
    let names = out.tool_names();
    assert!(names.iter().any(|n| n == "createOneWorkflowRun"), "{out}");
    assert!(names.iter().any(|n| n == "GetOpenApiSchema"), "{out}");
}

fn assert_structured_result(out: &PeerOutput, tool: &str, arguments: serde_json::Value) {
    out.assert_success();
    let result = &out.events_named("result")[0]["result"];
    assert_eq!(result["content"][0]["text"], format!("{tool} ok"), "{out}");
    assert_eq!(
        result["structuredContent"],
        json!({"tool": tool, "arguments": arguments}),
        "{out}"
    );
}

fn assert_invalid_params(out: &PeerOutput) {
    out.assert_exit(3);
    let error = &out.events_named("error")[0];
    assert_eq!(error["code"], -32602, "{out}");
    assert_eq!(error["message"], "Invalid params", "{out}");
    assert_eq!(error["data"]["missing"], json!(["id"]), "{out}");
}

#[test]
fn stdio_lists_219_tools_and_calls_one() {
    let args = json!({"id": "20202020-0000-4000-8000-000000000001", "depth": 1});
    let out = McpClient::python_stdio(&twenty_stdio_command())
        .call("findOneCompany", args.clone())
        .run();
    assert_lists_all_tools(&out);
    assert_structured_result(&out, "findOneCompany", args);
}

#[test]
fn stdio_find_one_without_id_is_invalid_params() {
    let out = McpClient::python_stdio(&twenty_stdio_command())
        .no_list()
        .call("findOneCompany", json!({"depth": 0}))
        .run();
    assert_invalid_params(&out);
}

#[test]
fn stdio_follows_pagination() {
    let out = McpClient::python_stdio(&twenty_stdio_command())
        .env("PAGE_SIZE", "50")
        .run();
    out.assert_success();
    assert_eq!(
        out.events_named("tools")[0],
        json!({"event": "tools", "count": 219, "pages": 5}),
        "{out}"
    );
}

#[test]
fn http_lists_219_tools_and_calls_one() {
    let twenty = spawn_twenty_http(None);
    let args = json!({"requestBody": {"name": "Acme"}});
    let out = McpClient::python_http(&twenty.url)
        .call("createOneCompany", args.clone())
        .run();
    assert_lists_all_tools(&out);
    assert_structured_result(&out, "createOneCompany", args);
    assert_eq!(
        out.events_named("session").len(),
        1,
        "the server issues a session id: {out}"
    );
}

#[test]
fn http_find_one_without_id_is_invalid_params() {
    let twenty = spawn_twenty_http(None);
    let out = McpClient::python_http(&twenty.url)
        .no_list()
        .call("findOnePerson", json!({}))
        .run();
    assert_invalid_params(&out);
}

#[test]
fn http_unknown_tool_is_a_json_rpc_error() {
    let twenty = spawn_twenty_http(None);
    let out = McpClient::python_http(&twenty.url)
        .no_list()
        .call("launchMissiles", json!({}))
        .run();
    out.assert_exit(3);
    assert_eq!(out.events_named("error")[0]["code"], -32602, "{out}");
}

#[test]
fn http_repeats_calls_in_one_session_and_follows_pagination() {
    let twenty = spawn_twenty_http(Some(100));
    let out = McpClient::python_http(&twenty.url)
        .call("findManyCompanies", json!({"limit": 1}))
        .repeat(5)
        .run();
    out.assert_success();
    assert_eq!(out.events_named("tools")[0]["pages"], 3, "{out}");
    let calls: Vec<_> = out
        .events_named("result")
        .iter()
        .map(|r| r["call"].clone())
        .collect();
    assert_eq!(calls, [1, 2, 3, 4, 5].map(|n| json!(n)), "{out}");
    assert_eq!(
        out.events_named("session").len(),
        1,
        "one session for all calls: {out}"
    );
}
