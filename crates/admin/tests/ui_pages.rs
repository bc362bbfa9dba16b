//! The web UI's pages and changes without sockets: the admin plane built as the binary builds it,
//! around a real `Gateway` whose two servers are small scripted stdio children (their tools read
//! from a file at every `tools/list` by a few lines of the system `python3`, so a test picks every
//! name, description and change), with in-memory stores the test also reaches directly (to write
//! audit records, hold a call, tamper with the log). A browser is played with `oneshot`: sign in,
//! carry the cookie and CSRF token.
//!
//! Covered: the catalogue's filters and search narrow it to exactly the expected tools and its
//! policy column shows each verdict with its rule; the audit page's filters, a record's full
//! view, the JSONL export of a filtered set and "verify chain" (intact, then broken once a record
//! is tampered with); a policy save against a stale version is refused with the "someone else
//! saved first" message and writes nothing; a grant's rotation (the new token shown once, the old
//! one refused by the gateway) and revocation; an approval denied with a note; kill switches per
//! server and per grant engaged and released with a reason. Every change lands in the admin audit
//! stream with the UI actor.

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use toolgate_admin::role::Role;
use toolgate_admin::{Access, AdminAuth, AdminCredential, UiOptions};
use toolgate_gateway::Gateway;
use toolgate_gateway::settings::{ServerSettings, Settings, Transport};
use toolgate_mcp::upstream::stdio::StdioSpec;
use toolgate_policy::{SourceFormat, ToolOutcome};
use toolgate_store::audit::{AuditDecision, AuditRecord};
use toolgate_store::{
    ApprovalBinding, ApprovalMode, ApprovalStatus, ApprovalStore, AuditSink, GrantStore,
    MemoryCounterStore, MemoryStore, NewApproval, Stores,
};
use tower::ServiceExt;

const ADMIN: &str = "admin-secret";
/// The admin token's sessions act as this in the admin audit stream.
const ADMIN_ACTOR: &str = "ui:admin-token";
const APPROVER: &str = "april-secret";
const HOST: &str = "127.0.0.1:8081";

/// A stdio MCP server whose `tools/list` answers the JSON array in the file named by its
/// argument, read afresh each time.
const SCRIPTED_SERVER: &str = r#"
import json, sys
path = sys.argv[1]
while True:
    line = sys.stdin.readline()
    if not line:
        break
    line = line.strip()
    if not line:
        continue
    msg = json.loads(line)
    if "id" not in msg or "method" not in msg:
        continue
    method = msg["method"]
    if method == "initialize":
        version = msg.get("params", {}).get("protocolVersion", "2025-06-18")
        answer = {"result": {"protocolVersion": version, "capabilities": {"tools": {}},
                             "serverInfo": {"name": "scripted", "version": "1"}}}
    elif method == "tools/list":
        with open(path) as f:
            answer = {"result": {"tools": json.load(f)}}
    elif method == "ping":
        answer = {"result": {}}
    else:
        answer = {"error": {"code": -32601, "message": "no such method"}}
    answer.update({"jsonrpc": "2.0", "id": msg["id"]})
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
"#;

/// The `notes` server's policy: one tool per verdict.
const NOTES_POLICY: &str = r#"{"version":"1","default":"allow","hide":["*_secrets"],
"tools":{
  "update_note":{"limits":[{"counter":"note_updates","window":"minute","max":2,"scope":"grant"}]},
  "run_backup":{"action":"require_approval","approval":{"timeout":"10m"}},
  "delete_note":{"action":"deny","reason":"Notes are kept forever."}
}}"#;

/// (name, description) of each server's tools; the names pick the risk class.
const NOTES_TOOLS: [(&str, &str); 5] = [
    ("get_note", "Read one note by its id."),
    ("update_note", "Change the text of one note."),
    ("run_backup", "Run the nightly backup job."),
    ("delete_note", "Delete a note and its history."),
    ("list_secrets", "List the stored credentials."),
];
const SHOP_TOOLS: [(&str, &str); 2] = [
    ("refund_order", "Refund a customer order in full."),
    ("get_price", "Look up the price of a zebra-striped item."),
];

struct Fixture {
    gw: Arc<Gateway>,
    app: Router,
    store: Arc<MemoryStore>,
    dir: tempfile::TempDir,
}

fn tools_json(tools: &[(&str, &str)]) -> String {
    let list: Vec<Value> = tools
        .iter()
        .map(|(name, description)| {
            json!({ "name": name, "description": description, "inputSchema": { "type": "object" } })
        })
        .collect();
    Value::Array(list).to_string()
}

fn scripted(
    dir: &Path,
    name: &str,
    tools: &[(&str, &str)],
    policy: Option<&str>,
) -> ServerSettings {
    let script = dir.join("server.py");
    std::fs::write(&script, SCRIPTED_SERVER).unwrap();
    let list = dir.join(format!("{name}-tools.json"));
    std::fs::write(&list, tools_json(tools)).unwrap();
    let (compiled, policy_path) = match policy {
        Some(text) => {
            let path = dir.join(format!("{name}.json"));
            std::fs::write(&path, text).unwrap();
            let origin = path.display().to_string();
            let compiled = toolgate_policy::compile(text, &origin, SourceFormat::Json).unwrap();
            (compiled, Some(path))
        }
        None => (toolgate_policy::Policy::allow_all(), None),
    };
    let transport = Transport::Stdio(StdioSpec {
        server: name.into(),
        command: "python3".into(),
        args: vec![script.display().to_string(), list.display().to_string()],
        env: Vec::new(),
        inherit_env: Vec::new(),
        cwd: None,
    });
    ServerSettings {
        policy_path,
        ..ServerSettings::new(name, transport, compiled)
    }
}

/// The plane with `notes` (under [`NOTES_POLICY`]) and `shop` (allow-all), both listed; the admin
/// token, and [`APPROVER`] as april, an approver.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        servers: vec![
            scripted(dir.path(), "notes", &NOTES_TOOLS, Some(NOTES_POLICY)),
            scripted(dir.path(), "shop", &SHOP_TOOLS, None),
        ],
        ..Settings::default()
    };
    let store = Arc::new(MemoryStore::new());
    let stores = Stores::from_backend(store.clone(), "memory");
    let gw = Gateway::new(settings, Arc::new(MemoryCounterStore::new()), Some(stores))
        .await
        .unwrap();
    for server in ["notes", "shop"] {
        gw.refresh_catalogue(server).await.unwrap();
    }
    let access = Access::new(AdminAuth::from_token(ADMIN).with([AdminCredential {
        label: "april".into(),
        role: Role::Approver,
        token_sha256: toolgate_store::token::hash(APPROVER),
    }]));
    let app = toolgate_admin::admin_plane(gw.clone(), access.into(), UiOptions::default());
    Fixture {
        gw,
        app,
        store,
        dir,
    }
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map_or("", |l| l.to_str().unwrap())
    }
}

async fn send(app: &Router, req: Request<Body>) -> Answer {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// A signed-in browser: its session cookie and the CSRF token its pages carry.
struct Browser {
    app: Router,
    cookie: String,
    csrf: String,
}

impl Browser {
    async fn sign_in(app: &Router, token: &str) -> Browser {
        let req = Request::post("/ui/login")
            .header(header::HOST, HOST)
            .header(header::ORIGIN, format!("http://{HOST}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("token={token}")))
            .unwrap();
        let answer = send(app, req).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let cookie = answer.headers[header::SET_COOKIE].to_str().unwrap();
        let mut browser = Browser {
            app: app.clone(),
            cookie: cookie.split(';').next().unwrap().to_owned(),
            csrf: String::new(),
        };
        let home = browser.get("/ui").await;
        let at = home.body.find("name=\"csrf-token\" content=\"").unwrap() + 27;
        browser.csrf = home.body[at..].split('"').next().unwrap().to_owned();
        browser
    }

    async fn get(&self, path: &str) -> Answer {
        let req = Request::get(path)
            .header(header::HOST, HOST)
            .header(header::COOKIE, &self.cookie)
            .body(Body::empty())
            .unwrap();
        send(&self.app, req).await
    }

    /// A page that must answer 200: its HTML.
    async fn page(&self, path: &str) -> String {
        let answer = self.get(path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
        answer.body
    }

    /// A form post, as the page's form sends it (its CSRF field first).
    async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let mut body = format!("_csrf={}", encode(&self.csrf));
        for (k, v) in fields {
            body.push_str(&format!("&{k}={}", encode(v)));
        }
        let req = Request::post(path)
            .header(header::HOST, HOST)
            .header(header::ORIGIN, format!("http://{HOST}"))
            .header(header::COOKIE, &self.cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        send(&self.app, req).await
    }

    /// A JSON post, as the page's script sends it (the CSRF token in a header).
    async fn post_json(&self, path: &str, value: Value) -> (StatusCode, Value) {
        let req = Request::post(path)
            .header(header::HOST, HOST)
            .header(header::ORIGIN, format!("http://{HOST}"))
            .header(header::COOKIE, &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(value.to_string()))
            .unwrap();
        let answer = send(&self.app, req).await;
        let v = serde_json::from_str(&answer.body)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", answer.status, answer.body));
        (answer.status, v)
    }
}

/// Form encoding of a value (letters, digits and `-._~` kept).
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET /api/...` with the admin token: the JSON.
async fn api(app: &Router, path: &str) -> Value {
    let req = Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
        .body(Body::empty())
        .unwrap();
    let answer = send(app, req).await;
    assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
    serde_json::from_str(&answer.body).unwrap()
}

/// The admin audit stream, oldest first, without the gateway's own records (its listings' pins):
/// (actor, action, target, details).
async fn admin_events(app: &Router) -> Vec<(String, String, String, Value)> {
    let v = api(app, "/api/audit?stream=admin&order=asc").await;
    v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or("").to_owned();
            (s("actor"), s("action"), s("target"), r["details"].clone())
        })
        .filter(|(actor, ..)| actor != "toolgate")
        .collect()
}

/// The `(server, tool)` of every row of the catalogue table, and each row's HTML.
fn catalogue_rows(html: &str) -> Vec<((String, String), String)> {
    let table = &html[html.find("id=\"tools\"").expect("the tools table")..];
    let table = &table[..table.find("</table>").unwrap()];
    table
        .split("<tr data-search=")
        .skip(1)
        .map(|row| {
            let at = row.find("href=\"/ui/catalogue/").unwrap() + 20;
            let mut path = row[at..].split('"').next().unwrap().split('/');
            let server = path.next().unwrap().to_owned();
            let tool = path.next().unwrap().to_owned();
            ((server, tool), row.to_owned())
        })
        .collect()
}

/// The tools the catalogue shows at `query`.
async fn catalogue(b: &Browser, query: &str) -> BTreeSet<String> {
    let html = b.page(&format!("/ui/catalogue?{query}")).await;
    let rows = catalogue_rows(&html);
    let shown = rows.len();
    assert!(
        html.contains(&format!("<span id=\"tools-shown\">{shown}</span>")),
        "the count says what the table shows: {html}"
    );
    rows.into_iter().map(|((_, tool), _)| tool).collect()
}

fn set(tools: &[&str]) -> BTreeSet<String> {
    tools.iter().map(|t| (*t).to_owned()).collect()
}

/// The names of a server's tools.
fn names(tools: &[(&str, &str)]) -> BTreeSet<String> {
    tools.iter().map(|(name, _)| (*name).to_owned()).collect()
}

#[tokio::test]
async fn the_catalogue_filters_and_searches_to_exactly_the_expected_tools() {
    let f = fixture().await;
    let b = Browser::sign_in(&f.app, ADMIN).await;
    let every = &names(&NOTES_TOOLS) | &names(&SHOP_TOOLS);
    assert_eq!(catalogue(&b, "").await, every);
    // The form's empty fields are no filter.
    assert_eq!(
        catalogue(&b, "q=&server=&class=&decision=&pin=").await,
        every
    );

    // Each filter, alone and combined, and the search by name (any case) and by description.
    // `shop` has no policy, so allows all.
    for (query, tools) in [
        ("server=shop", &["refund_order", "get_price"][..]),
        ("class=read", &["get_note", "list_secrets", "get_price"]),
        ("class=write", &["update_note"]),
        ("class=execute", &["run_backup"]),
        ("class=destructive", &["delete_note"]),
        ("class=financial", &["refund_order"]),
        (
            "decision=allowed",
            &["get_note", "refund_order", "get_price"],
        ),
        ("decision=limited", &["update_note"]),
        ("decision=held", &["run_backup"]),
        ("decision=denied", &["delete_note"]),
        ("decision=hidden", &["list_secrets"]),
        ("server=notes&class=read", &["get_note", "list_secrets"]),
        ("server=shop&decision=denied", &[]),
        ("q=NOTE", &["get_note", "update_note", "delete_note"]),
        ("q=zebra", &["get_price"]),
        ("q=customer%20order", &["refund_order"]),
        ("q=note&decision=denied", &["delete_note"]),
        ("q=nothing-like-this", &[]),
    ] {
        assert_eq!(catalogue(&b, query).await, set(tools), "{query}");
    }

    // The policy column: each tool's verdict and the rule that gives it.
    let html = b.page("/ui/catalogue").await;
    for ((server, tool), row) in catalogue_rows(&html) {
        let (outcome, rule) = match (server.as_str(), tool.as_str()) {
            ("notes", "update_note") => (ToolOutcome::Limited, "/tools/update_note"),
            ("notes", "run_backup") => (ToolOutcome::Held, "/tools/run_backup"),
            ("notes", "delete_note") => (ToolOutcome::Denied, "/tools/delete_note"),
            ("notes", "list_secrets") => (ToolOutcome::Hidden, "/hide/0"),
            _ => (ToolOutcome::Allowed, "/default"),
        };
        let policy_cell = &row[row.rfind("<td>").unwrap()..];
        let badge = format!("<span class=\"badge out-{0}\">{0}</span>", outcome.as_str());
        assert!(policy_cell.contains(&badge), "{tool}: {policy_cell}");
        assert!(
            policy_cell.contains(&format!("<code>{rule}</code>")),
            "{tool}: {policy_cell}"
        );
    }
}

#[tokio::test]
async fn the_catalogue_filters_by_pin_state() {
    let f = fixture().await;
    let b = Browser::sign_in(&f.app, ADMIN).await;
    assert_eq!(catalogue(&b, "pin=pinned").await.len(), 7);
    // `shop` redescribes a tool and lists a new one.
    let list = f.dir.path().join("shop-tools.json");
    std::fs::write(
        &list,
        tools_json(&[
            ("refund_order", "Refund a customer order in full."),
            ("get_price", "Look up the price of any item."),
            ("count_orders", "Count the orders of a day."),
        ]),
    )
    .unwrap();
    f.gw.refresh_catalogue("shop").await.unwrap();
    assert_eq!(catalogue(&b, "pin=changed").await, set(&["get_price"]));
    assert_eq!(catalogue(&b, "pin=new").await, set(&["count_orders"]));
    let mut unchanged = names(&NOTES_TOOLS);
    unchanged.insert("refund_order".into());
    assert_eq!(catalogue(&b, "pin=pinned").await, unchanged);
    assert_eq!(
        catalogue(&b, "pin=pinned&server=shop").await,
        set(&["refund_order"])
    );
}

fn record(
    minutes_ago: u64,
    agent: &str,
    server: &str,
    tool: &str,
    decision: AuditDecision,
) -> AuditRecord {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let denied = decision == AuditDecision::Deny;
    AuditRecord {
        time_ms: now - minutes_ago * 60_000,
        request_id: format!("req-{agent}-{tool}"),
        session: Some("s-1".into()),
        agent: agent.into(),
        grant: Some(format!("{agent}-grant")),
        server: server.into(),
        method: "tools/call".into(),
        tool: Some(tool.into()),
        decision,
        rule: denied.then(|| format!("/tools/{tool}")),
        message: denied.then(|| "Notes are kept forever.".into()),
        policy_version: Some("v1".into()),
        arg_keys: vec!["id".into()],
        args: None,
        upstream_status: (!denied).then(|| "ok".into()),
        gateway_latency_us: 120,
        upstream_latency_us: None,
        phase: None,
    }
}

/// The sequence numbers of the decisions table's rows.
fn audit_rows(html: &str) -> BTreeSet<u64> {
    let table = &html[html
        .find("id=\"audit-requests\"")
        .expect("the decisions table")..];
    let table = &table[..table.find("</table>").unwrap()];
    table
        .split("<tr data-seq=\"")
        .skip(1)
        .map(|r| r.split('"').next().unwrap().parse().unwrap())
        .collect()
}

fn seqs(s: &[u64]) -> BTreeSet<u64> {
    s.iter().copied().collect()
}

#[tokio::test]
async fn the_audit_page_filters_shows_exports_and_verifies() {
    let f = fixture().await;
    f.store
        .append(&[
            record(180, "alice", "notes", "get_note", AuditDecision::Allow),
            record(30, "bob", "notes", "delete_note", AuditDecision::Deny),
            record(
                10,
                "alice",
                "shop",
                "refund_order",
                AuditDecision::ApprovalRequired,
            ),
            record(1, "bob", "shop", "get_price", AuditDecision::Allow),
        ])
        .await
        .unwrap();
    let b = Browser::sign_in(&f.app, ADMIN).await;
    let shown = |q: &'static str| {
        let b = &b;
        async move { audit_rows(&b.page(&format!("/ui/audit?{q}")).await) }
    };
    assert_eq!(shown("").await, seqs(&[1, 2, 3, 4]));
    assert_eq!(
        shown("agent=&server=&tool=&decision=&since=&until=").await,
        seqs(&[1, 2, 3, 4])
    );
    assert_eq!(shown("agent=alice").await, seqs(&[1, 3]));
    assert_eq!(shown("server=shop").await, seqs(&[3, 4]));
    assert_eq!(shown("tool=delete_note").await, seqs(&[2]));
    assert_eq!(shown("decision=allow").await, seqs(&[1, 4]));
    assert_eq!(shown("decision=approval_required").await, seqs(&[3]));
    assert_eq!(shown("since=1h").await, seqs(&[2, 3, 4]));
    assert_eq!(shown("until=2h").await, seqs(&[1]));
    assert_eq!(shown("since=1h&until=5m").await, seqs(&[2, 3]));
    assert_eq!(shown("agent=bob&server=shop").await, seqs(&[4]));
    // The export link carries the filters.
    let html = b.page("/ui/audit?agent=alice&decision=allow").await;
    assert!(
        html.contains("href=\"/ui/audit/export.jsonl?agent=alice&amp;decision=allow\""),
        "{html}"
    );

    // A record's full view.
    let html = b.page("/ui/audit/requests/2").await;
    for field in [
        "&quot;agent&quot;: &quot;bob&quot;",
        "&quot;tool&quot;: &quot;delete_note&quot;",
        "&quot;decision&quot;: &quot;deny&quot;",
        "&quot;rule&quot;: &quot;/tools/delete_note&quot;",
        "&quot;message&quot;: &quot;Notes are kept forever.&quot;",
        "&quot;request_id&quot;: &quot;req-bob-delete_note&quot;",
        "&quot;grant&quot;: &quot;bob-grant&quot;",
        "&quot;seq&quot;: 2",
    ] {
        assert!(html.contains(field), "{field}: {html}");
    }
    assert_eq!(
        b.get("/ui/audit/requests/9").await.status,
        StatusCode::NOT_FOUND
    );

    // The export: exactly the filtered records, one JSON object a line, oldest first.
    for (q, expected) in [
        ("agent=alice", &[1u64, 3][..]),
        ("server=shop&decision=allow", &[4]),
        ("since=1h", &[2, 3, 4]),
        ("", &[1, 2, 3, 4]),
    ] {
        let answer = b.get(&format!("/ui/audit/export.jsonl?{q}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.headers[header::CONTENT_TYPE], "application/jsonl");
        assert!(answer.body.ends_with('\n'), "{:?}", answer.body);
        let lines: Vec<Value> = answer
            .body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let got: Vec<u64> = lines.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
        assert_eq!(got, expected, "{q}: {}", answer.body);
        assert!(
            lines
                .iter()
                .all(|r| r["hash"].is_string() && r["agent"].is_string())
        );
    }

    // Verify: intact, then broken once a record is changed where it is stored.
    let html = b.page("/ui/audit/verify").await;
    assert!(html.contains("Both chains are intact"), "{html}");
    assert!(!html.contains("A chain is broken"), "{html}");
    assert!(
        f.store
            .tamper_with_record(2, |r| r.record.agent = "mallory".into())
    );
    let html = b.page("/ui/audit/verify").await;
    assert!(html.contains("A chain is broken"), "{html}");
    assert!(!html.contains("Both chains are intact"), "{html}");
}

/// The `notes` policy's version the builder page was built from.
fn builder_version(html: &str) -> String {
    let at = html.find("data-version=\"").expect("the builder") + 14;
    html[at..].split('"').next().unwrap().to_owned()
}

/// Saves `text` as the `notes` policy from a builder page built from `version`, as its script does.
async fn save_notes(b: &Browser, text: &str, version: &str) -> (StatusCode, Value) {
    let request = json!({ "text": text, "version": version });
    b.post_json("/ui/policies/notes/save", request).await
}

#[tokio::test]
async fn a_policy_saved_from_a_stale_page_is_refused_and_writes_nothing() {
    let f = fixture().await;
    let path: PathBuf = f.dir.path().join("notes.json");
    let alice = Browser::sign_in(&f.app, ADMIN).await;
    let bob = Browser::sign_in(&f.app, ADMIN).await;
    // Both open the builder on the same version.
    let first = builder_version(&alice.page("/ui/policies/notes").await);
    assert_eq!(
        builder_version(&bob.page("/ui/policies/notes").await),
        first
    );

    // Alice saves first: written, applied, audited with the UI actor.
    let alices = NOTES_POLICY.replace("Notes are kept forever.", "Ask Alice.");
    let (status, done) = save_notes(&alice, &alices, &first).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), alices);
    let second = builder_version(&alice.page("/ui/policies/notes").await);
    assert_ne!(second, first);
    let events = admin_events(&f.app).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (
            events[0].0.as_str(),
            events[0].1.as_str(),
            events[0].2.as_str()
        ),
        (ADMIN_ACTOR, "policy.replace", "notes")
    );

    // Bob saves from the page he opened before: refused, nothing written, applied or audited.
    let bobs = NOTES_POLICY.replace("\"default\":\"allow\"", "\"default\":\"deny\"");
    let (status, refused) = save_notes(&bob, &bobs, &first).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Someone else saved this policy first (it is now version ")
            && message.contains(&second[..12]),
        "{message}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), alices);
    let policy = f.gw.state().servers["notes"].policy.load_full();
    assert_eq!(
        policy.tool_verdict("get_note").outcome,
        ToolOutcome::Allowed,
        "bob's default deny is not in force"
    );
    assert_eq!(
        builder_version(&bob.page("/ui/policies/notes").await),
        second
    );
    assert_eq!(admin_events(&f.app).await.len(), 1);
}

/// The token on a page that shows one once.
fn shown_token(html: &str) -> String {
    let at = html.find("id=\"grant-token\">").expect("a token shown") + 17;
    html[at..].split('<').next().unwrap().to_owned()
}

/// Whether the gateway lets `token` in.
async fn admitted(gw: &Gateway, token: &str) -> bool {
    let header = format!("Bearer {token}");
    gw.state()
        .auth
        .authenticate(Some(header.as_bytes()), now_ms())
        .await
        .is_ok()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test]
async fn a_grant_is_rotated_and_revoked_from_the_grants_page() {
    let f = fixture().await;
    let b = Browser::sign_in(&f.app, ADMIN).await;
    let created = b
        .post_form(
            "/ui/grants",
            &[("label", "ci"), ("agent", "ci-bot"), ("servers", "notes")],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let old = shown_token(&created.body);
    assert!(admitted(&f.gw, &old).await);

    // Unconfirmed, nothing happens.
    let refused = b.post_form("/ui/grants/ci/rotate", &[]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(admitted(&f.gw, &old).await);

    let rotated = b
        .post_form("/ui/grants/ci/rotate", &[("confirm", "yes")])
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert!(
        rotated.body.contains("Grant ci rotated."),
        "{}",
        rotated.body
    );
    let new = shown_token(&rotated.body);
    assert_ne!(new, old);
    assert!(!admitted(&f.gw, &old).await, "the old token is refused");
    assert!(admitted(&f.gw, &new).await);
    let stored = GrantStore::get(&*f.store, "ci").await.unwrap().unwrap();
    assert_eq!(stored.token_sha256, toolgate_store::token::hash(&new));
    // Shown once: the grants page never shows it again.
    let list = b.page("/ui/grants").await;
    assert!(list.contains("ci-bot") && !list.contains(&new), "{list}");

    let revoked = b
        .post_form("/ui/grants/ci/revoke", &[("confirm", "yes")])
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.body);
    assert_eq!(revoked.location(), "/ui/grants?revoked=ci");
    assert!(
        !admitted(&f.gw, &new).await,
        "a revoked grant's token is refused"
    );
    assert!(
        GrantStore::get(&*f.store, "ci")
            .await
            .unwrap()
            .unwrap()
            .revoked_at_ms
            .is_some()
    );

    let events: Vec<(String, String, String)> = admin_events(&f.app)
        .await
        .into_iter()
        .map(|(actor, action, target, _)| (actor, action, target))
        .collect();
    let ui = |action: &str| (ADMIN_ACTOR.to_owned(), action.to_owned(), "ci".to_owned());
    assert_eq!(
        events,
        [ui("grant.create"), ui("grant.rotate"), ui("grant.revoke")]
    );
}

#[tokio::test]
async fn an_approval_denied_from_the_ui_records_who_and_the_note() {
    let f = fixture().await;
    let now = now_ms();
    let held = ApprovalStore::create(
        &*f.store,
        NewApproval {
            mode: ApprovalMode::Hold,
            binding: ApprovalBinding {
                grant: Some("ci".into()),
                agent: "ci-bot".into(),
                server: "notes".into(),
                tool: "run_backup".into(),
                args_digest: toolgate_store::args_digest(&json!({})),
                policy_version: "v1".into(),
            },
            rule: "/tools/run_backup".into(),
            arguments: Some(json!({})),
            created_at_ms: now,
            expires_at_ms: now + 600_000,
        },
    )
    .await
    .unwrap();
    let april = Browser::sign_in(&f.app, APPROVER).await;
    let denied = april
        .post_form(
            &format!("/ui/approvals/{}/deny", held.id),
            &[("note", "Not during office hours.")],
        )
        .await;
    assert_eq!(denied.status, StatusCode::SEE_OTHER, "{}", denied.body);
    assert_eq!(denied.location(), "/ui/approvals?done=deny");

    let stored = ApprovalStore::get(&*f.store, &held.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, ApprovalStatus::Denied);
    assert_eq!(stored.decided_by.as_deref(), Some("ui:april"));
    assert_eq!(stored.note.as_deref(), Some("Not during office hours."));
    // The history says who decided, with the note.
    let html = april.page("/ui/approvals").await;
    let history = &html[html.find(&held.id).expect("the decided call")..];
    assert!(
        history.contains("ui:april") && history.contains("Not during office hours."),
        "{html}"
    );

    let events = admin_events(&f.app).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let (actor, action, target, details) = &events[0];
    assert_eq!(
        (actor.as_str(), action.as_str(), target.as_str()),
        ("ui:april", "approval.deny", held.id.as_str())
    );
    assert_eq!(details["note"], "Not during office hours.");
    assert_eq!(details["tool"], "run_backup");
}

/// The engaged kill switches: (scope, target, reason).
async fn engaged(app: &Router) -> Vec<(String, String, String)> {
    let v = api(app, "/api/kill-switches").await;
    v["kill_switches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let s = |f: &str| k[f].as_str().unwrap_or("").to_owned();
            (s("scope"), s("target"), s("reason"))
        })
        .collect()
}

#[tokio::test]
async fn kill_switches_per_server_and_per_grant_from_the_overview() {
    let f = fixture().await;
    GrantStore::create(
        &*f.store,
        toolgate_store::NewGrant {
            label: "ci".into(),
            agent: "ci-bot".into(),
            token_sha256: toolgate_store::token::hash("tg_ci"),
            servers: vec!["notes".into()],
            policies: Default::default(),
            tags: Vec::new(),
            expires_at_ms: None,
            created_at_ms: now_ms(),
        },
    )
    .await
    .unwrap();
    let b = Browser::sign_in(&f.app, ADMIN).await;
    let kill =
        |action: &'static str, scope: &'static str, target: &'static str, reason: &'static str| {
            let b = &b;
            async move {
                b.post_form(
                    "/ui/kill-switches",
                    &[
                        ("action", action),
                        ("scope", scope),
                        ("target", target),
                        ("reason", reason),
                        ("confirm", "yes"),
                    ],
                )
                .await
            }
        };

    // Unconfirmed, nothing is engaged.
    let refused = b
        .post_form(
            "/ui/kill-switches",
            &[
                ("action", "engage"),
                ("scope", "server"),
                ("target", "notes"),
                ("reason", "x"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(engaged(&f.app).await.is_empty());

    let done = kill("engage", "server", "notes", "Upstream is misbehaving").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), "/ui?done=engaged");
    let done = kill("engage", "grant", "ci", "Token leaked in a log").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let triple = |s: &str, t: &str, r: &str| (s.to_owned(), t.to_owned(), r.to_owned());
    let mut now = engaged(&f.app).await;
    now.sort();
    assert_eq!(
        now,
        [
            triple("grant", "ci", "Token leaked in a log"),
            triple("server", "notes", "Upstream is misbehaving"),
        ]
    );
    let html = b.page("/ui").await;
    for cell in [
        "<td>Upstream is misbehaving</td>",
        "<td>Token leaked in a log</td>",
    ] {
        assert!(html.contains(cell), "{cell}: {html}");
    }

    let done = kill("release", "server", "notes", "").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), "/ui?done=released");
    assert_eq!(
        engaged(&f.app).await,
        [triple("grant", "ci", "Token leaked in a log")]
    );
    let done = kill("release", "grant", "ci", "").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert!(engaged(&f.app).await.is_empty());
    assert!(b.page("/ui").await.contains("None engaged"));

    let events = admin_events(&f.app).await;
    let got: Vec<(&str, &str, &str, &Value)> = events
        .iter()
        .map(|(a, b, c, d)| (a.as_str(), b.as_str(), c.as_str(), &d["reason"]))
        .collect();
    assert_eq!(
        got,
        [
            (
                ADMIN_ACTOR,
                "kill_switch.engage",
                "notes",
                &json!("Upstream is misbehaving")
            ),
            (
                ADMIN_ACTOR,
                "kill_switch.engage",
                "ci",
                &json!("Token leaked in a log")
            ),
            (ADMIN_ACTOR, "kill_switch.release", "notes", &Value::Null),
            (ADMIN_ACTOR, "kill_switch.release", "ci", &Value::Null),
        ]
    );
    assert_eq!(events[0].3["scope"], "server");
    assert_eq!(events[1].3["scope"], "grant");
}
