//! End to end: `notifications/tools/list_changed` through the gateway. The FastMCP peer adds
//! tools at run time (`register_tool`) and says so; the Python SDK client, behind the gateway,
//! must hear it and, listing again, see the new tool — but never one the policy hides. Over an
//! HTTP and a stdio upstream, through `/mcp/<server>` and through `/mcp`, and through the
//! `toolgate connect` stdio bridge.

mod common;

use common::{TOOLGATE, Toolgate, toml_array, toml_str};
use serde_json::json;
use toolgate_testkit::{
    HttpPeer, McpClient, PeerOutput, fastmcp_stdio_command, spawn_fastmcp_http,
};

const POLICY: &str = r#"{"version":"1","default":"allow","hide":["secret_*"]}"#;

struct Setup {
    gateway: Toolgate,
    _fast: HttpPeer,
}

/// The FastMCP peer twice behind one gateway: `http` (Streamable HTTP) and `stdio`, both under a
/// policy that hides `secret_*`. Each test gets its own HTTP peer: tools registered there stay.
fn setup() -> Setup {
    let fast = spawn_fastmcp_http(None);
    let stdio = fastmcp_stdio_command();
    // Tools registered at run time are new on pinned servers, quarantined by default; here they
    // must pass (pinning has its own tests, e2e_pinning).
    let config = format!(
        "new_tools = \"allow\"\n\n[servers.http]\nurl = {}\npolicy = \"p.json\"\n\n\
         [servers.stdio]\ncommand = {}\nargs = {}\npolicy = \"p.json\"\n",
        toml_str(&fast.url),
        toml_str(&stdio[0]),
        toml_array(&stdio[1..]),
    );
    Setup {
        gateway: Toolgate::start(&config, &[("p.json", POLICY)]),
        _fast: fast,
    }
}

/// Registers `secret_x` then `visible_y` in one session, waits for list_changed, lists again.
/// `prefix` is how tool names look on the endpoint (`""` or `"<server>__"`).
fn register_and_relist(url: &str, prefix: &str) -> PeerOutput {
    relist(McpClient::python_http(url), prefix)
}

fn relist(client: McpClient, prefix: &str) -> PeerOutput {
    client
        .call(
            &format!("{prefix}register_tool"),
            json!({"name": "secret_x"}),
        )
        .also_call(
            &format!("{prefix}register_tool"),
            json!({"name": "visible_y"}),
        )
        .call_then_list()
        .run()
}

fn check(out: &PeerOutput, prefix: &str, what: &str) {
    out.assert_exit(0);
    let results = out.events_named("result");
    assert_eq!(results.len(), 2, "{what}: {out}");
    assert_eq!(
        results[0]["result"]["content"][0]["text"], "registered secret_x",
        "{what}"
    );
    assert_eq!(
        results[1]["result"]["content"][0]["text"], "registered visible_y",
        "{what}"
    );
    let before = out.tool_names();
    assert!(
        before.contains(&format!("{prefix}register_tool")),
        "{what}: {before:?}"
    );
    assert!(
        !before.contains(&format!("{prefix}visible_y")),
        "{what}: listed before it was registered: {before:?}"
    );
    assert!(
        !out.events_named("list_changed").is_empty(),
        "{what}: no list_changed reached the client\n{out}"
    );
    let after = out.events_named("tools_after");
    let names: Vec<&str> = after
        .first()
        .unwrap_or_else(|| panic!("{what}: no second listing\n{out}"))["names"]
        .as_array()
        .expect("names")
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    assert!(
        names.contains(&format!("{prefix}visible_y").as_str()),
        "{what}: the new tool is missing from {names:?}"
    );
    assert!(
        names.contains(&format!("{prefix}add").as_str()),
        "{what}: {names:?}"
    );
    assert!(
        !names.iter().any(|n| n.contains("secret_x")),
        "{what}: the hidden tool is listed: {names:?}"
    );
}

#[test]
fn per_server_endpoint_over_an_http_upstream() {
    let s = setup();
    let out = register_and_relist(&s.gateway.url("http"), "");
    check(&out, "", "/mcp/http");
}

#[test]
fn per_server_endpoint_over_a_stdio_upstream() {
    let s = setup();
    let out = register_and_relist(&s.gateway.url("stdio"), "");
    check(&out, "", "/mcp/stdio");
}

#[test]
fn aggregate_endpoint_over_an_http_upstream() {
    let s = setup();
    let out = register_and_relist(&format!("{}/mcp", s.gateway.base), "http__");
    check(&out, "http__", "/mcp (http__)");
}

#[test]
fn aggregate_endpoint_over_a_stdio_upstream() {
    let s = setup();
    let out = register_and_relist(&format!("{}/mcp", s.gateway.base), "stdio__");
    check(&out, "stdio__", "/mcp (stdio__)");
}

#[test]
fn through_the_stdio_bridge() {
    let s = setup();
    for (url, prefix) in [
        (s.gateway.url("stdio"), ""),
        (format!("{}/mcp", s.gateway.base), "http__"),
    ] {
        let bridge = [TOOLGATE, "connect", &url].map(str::to_owned).to_vec();
        let out = relist(McpClient::python_stdio(&bridge), prefix);
        check(&out, prefix, &format!("connect {url}"));
    }
}
