//! twenty-mcp driven by the official TypeScript SDK client, over stdio and Streamable HTTP.

use serde_json::json;
use toolgate_testkit::{McpClient, spawn_twenty_http, twenty_stdio_command};

#[test]
fn stdio_lists_219_tools_and_calls_one() {
    let args = json!({"id": "42"});
    let out = McpClient::ts_stdio(&twenty_stdio_command())
        .call("findOneOpportunity", args.clone())
        .run();
    out.assert_success();
    assert_eq!(out.events_named("tools")[0]["count"], 219, "{out}");
    let result = &out.events_named("result")[0]["result"];
    assert_eq!(
        result["structuredContent"],
        json!({"tool": "findOneOpportunity", "arguments": args}),
        "{out}"
    );
}

#[test]
fn http_lists_219_tools_calls_one_and_reports_invalid_params() {
    let twenty = spawn_twenty_http(Some(64));
    let out = McpClient::ts_http(&twenty.url)
        .call("deleteOneCompany", json!({"id": "7"}))
        .run();
    out.assert_success();
    assert_eq!(
        out.events_named("tools")[0],
        json!({"event": "tools", "count": 219, "pages": 4}),
        "{out}"
    );
    assert_eq!(
        out.events_named("initialized")[0]["protocolVersion"],
        "2025-11-25",
        "{out}"
    );
    assert_eq!(
        out.events_named("result")[0]["result"]["content"][0]["text"],
        "deleteOneCompany ok",
        "{out}"
    );

    let out = McpClient::ts_http(&twenty.url)
        .no_list()
        .call("findOneCompany", json!({}))
        .run();
    out.assert_exit(3);
    assert_eq!(out.events_named("error")[0]["code"], -32602, "{out}");
}
