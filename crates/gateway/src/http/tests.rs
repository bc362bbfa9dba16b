//! The data plane's router in process (`tower::ServiceExt::oneshot`, no socket), in front of a
//! server scripted in memory: every decision path on `/mcp/<server>` and on `/mcp` — allowed,
//! denied, hidden, limited, held, unreadable, unknown method, list, ping — with the answer the
//! client gets, what reached the server (or that nothing did), and the one audit record each
//! leaves, the same on both endpoints.

use crate::Gateway;
use crate::settings::{ServerSettings, Settings, Transport};
use crate::upstream::scripted::{Scripted, ScriptedLink};
use axum::body::Body;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::sync::Arc;
use toolgate_mcp::jsonrpc::Message;
use toolgate_policy::SourceFormat;
use toolgate_store::audit::{AuditDecision, AuditQuery, AuditRecord};
use toolgate_store::{MemoryCounterStore, Stores};
use tower::ServiceExt;

const POLICY: &str = r#"{
  "version": "1",
  "default": "allow",
  "hide": ["secret_*"],
  "tools": {
    "drop_table": {"action": "deny", "reason": "Not from an agent."},
    "send_mail": {"limits": [{"counter": "mail", "window": "minute", "max": 1, "scope": "session"}]},
    "pay": {"action": "require_approval", "approval": {"mode": "retry", "timeout": "10m"}}
  }
}"#;

/// The scripted server: a handshake, a tool list, and "done" for every call.
fn server(request: &[u8]) -> Scripted {
    let msg = Message::parse(request).expect("the gateway sends JSON-RPC");
    let id = msg.id.expect("a request").get().to_owned();
    let result = match msg.method() {
        "initialize" => json!({
            "protocolVersion": "2025-11-25",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "scripted", "version": "1"}
        }),
        "tools/list" => {
            let tools: Vec<Value> = ["lookup", "drop_table", "send_mail", "pay", "secret_keys"]
                .iter()
                .map(|name| json!({"name": name, "inputSchema": {"type": "object"}}))
                .collect();
            json!({ "tools": tools })
        }
        "tools/call" => json!({"content": [{"type": "text", "text": "done"}]}),
        _ => json!({}),
    };
    let answer = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#);
    Scripted::Messages(vec![Bytes::from(answer)])
}

async fn gateway() -> (Arc<Gateway>, Stores, ScriptedLink) {
    let policy = toolgate_policy::compile(POLICY, "p.json", SourceFormat::Json).unwrap();
    let server_settings = ServerSettings::new(
        "s",
        // Replaced by the scripted server below; never dialled.
        Transport::Http {
            url: "http://127.0.0.1:9/mcp".into(),
            headers: Default::default(),
        },
        policy,
    );
    let settings = Settings {
        servers: vec![server_settings],
        ..Settings::default()
    };
    let stores = Stores::memory();
    let gw = Gateway::new(
        settings,
        Arc::new(MemoryCounterStore::new()),
        Some(stores.clone()),
    )
    .await
    .unwrap();
    let link = ScriptedLink::new(server);
    gw.script_server("s", link.clone());
    // The catalogue lists (and pins) the server before a client's list is relayed, as in `serve`.
    tokio::spawn(crate::catalogue::refresh::run(gw.clone()));
    (gw, stores, link)
}

/// A client session on one endpoint, through the router.
struct Client {
    gw: Arc<Gateway>,
    path: &'static str,
    session: String,
}

impl Client {
    async fn open(gw: &Arc<Gateway>, path: &'static str) -> Client {
        let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
        let response = gw
            .router()
            .oneshot(request(path, init, None))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}: initialize");
        let session = response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let client = Client {
            gw: gw.clone(),
            path,
            session,
        };
        let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        client.post(initialized).await;
        client
    }

    async fn post(&self, body: &str) -> (StatusCode, Value) {
        let response = self
            .gw
            .router()
            .oneshot(request(self.path, body, Some(&self.session)))
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// A `tools/call` of `tool`, named as this endpoint names it.
    async fn call(&self, id: u64, tool: &str, params: &str) -> Value {
        let name = if self.path == "/mcp" {
            format!("s__{tool}")
        } else {
            tool.to_owned()
        };
        let params = params.replace("TOOL", &name);
        let body =
            format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{params}}}"#);
        self.post(&body).await.1
    }
}

fn request(path: &str, body: &str, session: Option<&str>) -> Request<Body> {
    let mut builder = Request::post(path)
        .header("host", "127.0.0.1:8080")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(session) = session {
        builder = builder
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25");
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

/// The records of one session, oldest first.
async fn records_of(stores: &Stores, session: &str) -> Vec<AuditRecord> {
    let mut records: Vec<_> = stores
        .audit
        .query(&AuditQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.record)
        .filter(|r| r.session.as_deref() == Some(session))
        .collect();
    records.sort_by_key(|r| r.time_ms);
    records
}

/// One row of what an audit record says about a request (the endpoint aside).
type Row = (String, Option<String>, AuditDecision, Option<String>);

fn row(r: &AuditRecord) -> Row {
    (r.method.clone(), r.tool.clone(), r.decision, r.rule.clone())
}

async fn run_script(client: &Client) {
    let path = client.path;
    let (_, listed) = client
        .post(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{path}: {listed}"))
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with("lookup")) && !names.iter().any(|n| n.contains("secret")),
        "{path}: the hidden tool is not listed: {names:?}"
    );

    let allowed = client
        .call(2, "lookup", r#"{"name":"TOOL","arguments":{"q":1}}"#)
        .await;
    assert_eq!(
        allowed["result"]["content"][0]["text"], "done",
        "{path}: {allowed}"
    );

    let denied = client
        .call(3, "drop_table", r#"{"name":"TOOL","arguments":{}}"#)
        .await;
    assert_eq!(denied["result"]["isError"], true, "{path}: {denied}");
    assert!(
        denied.to_string().contains("Not from an agent."),
        "{path}: {denied}"
    );

    let hidden = client
        .call(4, "secret_keys", r#"{"name":"TOOL","arguments":{}}"#)
        .await;
    assert_eq!(hidden["error"]["code"], -32602, "{path}: {hidden}");

    let first = client
        .call(5, "send_mail", r#"{"name":"TOOL","arguments":{}}"#)
        .await;
    assert_eq!(
        first["result"]["content"][0]["text"], "done",
        "{path}: {first}"
    );
    let limited = client
        .call(6, "send_mail", r#"{"name":"TOOL","arguments":{}}"#)
        .await;
    assert_eq!(limited["result"]["isError"], true, "{path}: {limited}");

    let held = client
        .call(7, "pay", r#"{"name":"TOOL","arguments":{"n":1}}"#)
        .await;
    let approval = &held["result"]["_meta"]["io.toolgate/decision"]["approval_id"];
    assert!(
        approval.as_str().is_some_and(|a| a.starts_with("apv_")),
        "{path}: the call waits for approval: {held}"
    );

    let unreadable = client.call(8, "lookup", r#"{"name":5}"#).await;
    assert_eq!(unreadable["error"]["code"], -32602, "{path}: {unreadable}");

    let (_, unknown) = client
        .post(r#"{"jsonrpc":"2.0","id":9,"method":"tools/run","params":{}}"#)
        .await;
    assert_eq!(unknown["error"]["code"], -32601, "{path}: {unknown}");

    let (_, pong) = client
        .post(r#"{"jsonrpc":"2.0","id":10,"method":"ping"}"#)
        .await;
    assert_eq!(pong["result"], json!({}), "{path}: {pong}");
}

#[tokio::test]
async fn every_decision_path_leaves_the_same_answer_and_record_on_both_endpoints() {
    let (gw, stores, link) = gateway().await;
    let mut sessions = Vec::new();
    for path in ["/mcp/s", "/mcp"] {
        let client = Client::open(&gw, path).await;
        run_script(&client).await;
        sessions.push((path, client.session));
    }
    // Written out once (this closes the audit writer), then read back per session.
    gw.pipeline.telemetry.flush().await;
    let mut trails = Vec::new();
    for (path, session) in sessions {
        trails.push((path, records_of(&stores, &session).await));
    }

    // What reached the server: the allowed calls (twice each), never a refused one.
    let calls: Vec<Value> = link
        .sent()
        .iter()
        .filter_map(|m| serde_json::from_slice::<Value>(m).ok())
        .filter(|m| m["method"] == "tools/call")
        .collect();
    let called: Vec<&str> = calls
        .iter()
        .filter_map(|m| m["params"]["name"].as_str())
        .collect();
    assert_eq!(
        called,
        vec!["lookup", "send_mail", "lookup", "send_mail"],
        "{calls:?}"
    );

    let expected: Vec<Row> = [
        ("tools/list", None, AuditDecision::Allow, None),
        ("tools/call", Some("lookup"), AuditDecision::Allow, None),
        (
            "tools/call",
            Some("drop_table"),
            AuditDecision::Deny,
            Some("/tools/drop_table/action"),
        ),
        (
            "tools/call",
            Some("secret_keys"),
            AuditDecision::Hidden,
            Some("/hide/0"),
        ),
        (
            "tools/call",
            Some("send_mail"),
            AuditDecision::Allow,
            Some("/tools/send_mail"),
        ),
        (
            "tools/call",
            Some("send_mail"),
            AuditDecision::RateLimited,
            Some("/tools/send_mail/limits/0"),
        ),
        (
            "tools/call",
            Some("pay"),
            AuditDecision::ApprovalRequired,
            Some("/tools/pay/action"),
        ),
        ("tools/call", None, AuditDecision::Error, None),
        ("tools/run", None, AuditDecision::Error, None),
        ("ping", None, AuditDecision::Allow, None),
    ]
    .into_iter()
    .map(|(method, tool, decision, rule)| {
        (
            method.to_owned(),
            tool.map(str::to_owned),
            decision,
            rule.map(str::to_owned),
        )
    })
    .collect();
    for (path, records) in &trails {
        // The handshake first (on `/mcp`, the member's), then one record per request.
        let rows: Vec<Row> = records
            .iter()
            .filter(|r| r.method != "initialize")
            .map(row)
            .collect();
        assert_eq!(rows, expected, "{path}");
        let servers: Vec<&str> = records
            .iter()
            .filter(|r| r.method != "ping" && r.method != "tools/run")
            .map(|r| r.server.as_str())
            .collect();
        assert!(servers.iter().all(|s| *s == "s"), "{path}: {servers:?}");
        assert!(
            records.iter().any(|r| r.method == "initialize"),
            "{path}: the handshake is recorded: {records:#?}"
        );
    }
}
