//! End to end: the gateway's own answers to a call of a tool that declares an `outputSchema`
//! (server-everything's `get-structured-content`), over a stdio and a Streamable HTTP upstream,
//! read by every official client: the Python SDK, the TypeScript SDK, the Inspector CLI, and the
//! TypeScript SDK behind mcp-remote. The TypeScript SDK and the Inspector check any
//! `structuredContent` against the tool's `outputSchema`, even on an error result: a denial, a rate
//! limit or an approval to wait for must carry its reason in `content` and its decision in `_meta`
//! (`io.toolgate/decision`), or the agent gets a `-32602` instead of the reason.

mod common;

use common::{Toolgate, gateway_decision, ok, result_text, stdout, toml_array, toml_str};
use serde_json::{Value, json};
use toolgate_testkit::{
    HttpPeer, McpClient, inspector_cli, peers_dir, server_everything_stdio_command,
    spawn_server_everything_http,
};

const TOOL: &str = "get-structured-content";

/// Chicago is denied with a reason; the server may answer one call an hour, so once that is spent
/// every other call is rate-limited.
const DENY_POLICY: &str = r#"{
  "version": "1",
  "default": "allow",
  "tools": {
    "get-structured-content": {
      "deny_if": [ { "conditions": [ { "path": "args.location", "op": "eq", "value": "Chicago" } ],
                     "on_deny": "No weather for Chicago today." } ],
      "limits": [ { "counter": "weather", "window": "hour", "max": 1, "scope": "server" } ]
    }
  }
}"#;

/// Every call asks a person first, answered at once with the approval id (retry mode).
const APPROVAL_POLICY: &str = r#"{
  "version": "1",
  "default": "allow",
  "tools": {
    "get-structured-content": { "action": "require_approval",
                                "approval": { "mode": "retry", "timeout": "10m" } }
  }
}"#;

/// Servers `stdio` and `http` under [`DENY_POLICY`], `stdio_held` and `http_held` under
/// [`APPROVAL_POLICY`].
struct Setup {
    gateway: Toolgate,
    _everything: HttpPeer,
}

fn setup() -> Setup {
    let everything = spawn_server_everything_http();
    let stdio = server_everything_stdio_command();
    let mut config = String::new();
    for (suffix, policy) in [("", "deny.json"), ("_held", "approval.json")] {
        config += &format!(
            "[servers.stdio{suffix}]\ncommand = {}\nargs = {}\npolicy = \"{policy}\"\n\n\
             [servers.http{suffix}]\nurl = {}\npolicy = \"{policy}\"\n\n",
            toml_str(&stdio[0]),
            toml_array(&stdio[1..]),
            toml_str(&everything.url),
        );
    }
    let gateway = Toolgate::start(
        &config,
        &[
            ("deny.json", DENY_POLICY),
            ("approval.json", APPROVAL_POLICY),
        ],
    );
    Setup {
        gateway,
        _everything: everything,
    }
}

/// A real client, run once per call.
#[derive(Clone, Copy, Debug)]
enum Client {
    Python,
    TypeScript,
    Inspector,
    /// The TypeScript SDK over stdio, through `mcp-remote` to the gateway's HTTP endpoint.
    McpRemote,
}

/// What a client got for one call.
#[derive(Debug)]
enum Answer {
    /// A `CallToolResult`.
    Result(Value),
    /// A JSON-RPC error, or the client's own exception about the result.
    Failed(String),
}

impl Client {
    /// Lists the tools (so that the client knows the output schema) and calls `TOOL` once.
    fn call(self, gw: &Toolgate, server: &str, arguments: Value) -> Answer {
        let url = gw.url(server);
        let sdk = match self {
            Client::Python => McpClient::python_http(&url),
            Client::TypeScript => McpClient::ts_http(&url),
            Client::McpRemote => {
                let proxy = peers_dir().join("node_modules/mcp-remote/dist/proxy.js");
                let command = [
                    "node".to_owned(),
                    proxy.display().to_string(),
                    url.clone(),
                    "--transport".to_owned(),
                    "http-only".to_owned(),
                ];
                let auth_dir = gw.path("mcp-remote");
                McpClient::ts_stdio(&command)
                    .env("MCP_REMOTE_CONFIG_DIR", auth_dir.to_str().unwrap())
            }
            Client::Inspector => {
                // The Inspector replaces a path that does not end in `/mcp`: use the alias.
                let url = format!("{}/servers/{server}/mcp", gw.base);
                let mut args = vec![
                    url,
                    "--transport".into(),
                    "http".into(),
                    "--method".into(),
                    "tools/call".into(),
                    "--tool-name".into(),
                    TOOL.into(),
                ];
                for (k, v) in arguments.as_object().unwrap() {
                    args.push("--tool-arg".into());
                    args.push(format!("{k}={}", v.as_str().unwrap()));
                }
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let out = inspector_cli(&args).run();
                return match serde_json::from_str::<Value>(&out.stdout) {
                    Ok(result) if out.success() => Answer::Result(result),
                    _ => Answer::Failed(format!("{}\n{}", out.stdout, out.stderr)),
                };
            }
        };
        let out = sdk.call(TOOL, arguments).run();
        if let Some(result) = out.events_named("result").first() {
            return Answer::Result(result["result"].clone());
        }
        Answer::Failed(format!("{:?}\n{}", out.events(), out.stderr))
    }
}

/// The `CallToolResult` a client read, or a panic saying what it got instead.
fn result_of(answer: Answer, who: &str) -> Value {
    match answer {
        Answer::Result(r) => r,
        Answer::Failed(why) => panic!("{who}: no tool result; the client got:\n{why}"),
    }
}

/// A response-shaped wrapper, for the shared helpers that read `response.result`.
fn response(result: &Value) -> Value {
    json!({ "result": result })
}

/// Asserts that `result` is the gateway's own error result: `text` for the model, `decision` in
/// `_meta`, and no `structuredContent`.
fn assert_gateway_result(result: &Value, who: &str) -> Value {
    assert_eq!(result["isError"], true, "{who}: {result}");
    assert!(
        result.get("structuredContent").is_none(),
        "{who}: the gateway's answer carries structuredContent: {result}"
    );
    let decision = gateway_decision(&response(result)).clone();
    assert!(
        decision.is_object(),
        "{who}: no decision in _meta: {result}"
    );
    decision
}

/// One client against one transport: the allowed call (the server's own `structuredContent`,
/// checked against the schema by the strict clients; it spends the hour's quota), the denial, the
/// rate limit, and approval in retry mode up to the approved retry.
fn every_answer(gw: &Toolgate, client: Client, transport: &str) {
    let who = format!("{client:?} on {transport}");
    let r = result_of(
        client.call(gw, transport, json!({"location": "New York"})),
        &who,
    );
    assert_server_result(&r, 33, &who);

    let r = result_of(
        client.call(gw, transport, json!({"location": "Chicago"})),
        &who,
    );
    let decision = assert_gateway_result(&r, &who);
    assert_eq!(
        result_text(&response(&r)),
        "[POLICY DENIED] No weather for Chicago today.",
        "{who}"
    );
    assert_eq!(decision["decision"], "deny", "{who}");
    assert_eq!(
        decision["rule"], "/tools/get-structured-content/deny_if/0",
        "{who}"
    );
    assert!(decision.get("retry_after_s").is_none(), "{who}: {decision}");

    let r = result_of(
        client.call(gw, transport, json!({"location": "New York"})),
        &who,
    );
    let decision = assert_gateway_result(&r, &who);
    let text = result_text(&response(&r)).to_owned();
    assert!(
        text.starts_with("[POLICY DENIED] rate limit reached for get-structured-content"),
        "{who}: {text}"
    );
    assert_eq!(
        decision["rule"], "/tools/get-structured-content/limits/0",
        "{who}"
    );
    let retry = decision["retry_after_s"].as_u64().unwrap_or_default();
    assert!((1..=3600).contains(&retry), "{who}: {decision}");
    assert!(
        text.ends_with(&format!("retry in {retry}s")),
        "{who}: {text}"
    );

    let held = format!("{transport}_held");
    let arguments = json!({"location": "Los Angeles"});
    let r = result_of(client.call(gw, &held, arguments.clone()), &who);
    let decision = assert_gateway_result(&r, &who);
    assert_eq!(decision["decision"], "approval_required", "{who}");
    assert_eq!(
        decision["rule"], "/tools/get-structured-content/action",
        "{who}"
    );
    let id = decision["approval_id"].as_str().unwrap().to_owned();
    let text = result_text(&response(&r)).to_owned();
    assert!(
        text.starts_with("[APPROVAL REQUIRED]") && text.contains(&id),
        "{who}: {text}"
    );
    ok(gw.cli(&["approvals", "approve", &id]));
    let r = result_of(client.call(gw, &held, arguments), &who);
    assert_server_result(&r, 73, &who);
}

/// The server's own result went through, with its `structuredContent` (the weather it reports for
/// the city: `temperature`).
fn assert_server_result(result: &Value, temperature: u64, who: &str) {
    assert_ne!(result["isError"], true, "{who}: {result}");
    assert_eq!(
        result["structuredContent"]["temperature"], temperature,
        "{who}: {result}"
    );
}

fn every_answer_on_both_transports(client: Client) {
    let s = setup();
    for transport in ["stdio", "http"] {
        every_answer(&s.gateway, client, transport);
    }
    // Each answer is in the request log with the decision the client read.
    let records = stdout(&ok(s.gateway.cli(&["audit", "export"])));
    let denials = records
        .lines()
        .filter(|l| l.contains("/tools/get-structured-content/deny_if/0"))
        .count();
    assert_eq!(denials, 2, "{records}");
}

#[test]
fn python_sdk_reads_every_gateway_answer() {
    every_answer_on_both_transports(Client::Python);
}

#[test]
fn typescript_sdk_reads_every_gateway_answer() {
    every_answer_on_both_transports(Client::TypeScript);
}

#[test]
fn inspector_cli_reads_every_gateway_answer() {
    every_answer_on_both_transports(Client::Inspector);
}

#[test]
fn mcp_remote_reads_every_gateway_answer() {
    every_answer_on_both_transports(Client::McpRemote);
}
