//! The admin API without sockets: the router is built around a real `Gateway` (in-memory store,
//! the Twenty-like server as a lazy stdio child) and driven with `oneshot`. Every endpoint's happy
//! path and its errors, each with its stable code; a policy replacement decides the next call and
//! an invalid one changes nothing.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use toolgate_admin::{AdminAuth, ErrorCode};
use toolgate_gateway::Gateway;
use toolgate_gateway::settings::{ServerSettings, Settings, Transport};
use toolgate_mcp::upstream::stdio::StdioSpec;
use toolgate_policy::{Call, Decision, Identity, NoCounterState, SourceFormat};
use toolgate_store::{MemoryCounterStore, Stores};
use tower::ServiceExt;

const TOKEN: &str = "admin-secret";
const ALLOW: &str = r#"{"version":"1","default":"allow","hide":["deleteOne*"]}"#;
const DENY_PEOPLE: &str = r#"{"version":"1","default":"allow","tools":{"findManyPeople":{"action":"deny","reason":"Not today."}}}"#;
const BROKEN: &str = "{\"version\":\"1\",\"default\":\"allow\",\n\"tools\":{\"findManyPeople\":{\"deny_if\":[{\"conditions\":[{\"path\":\"args.x\",\"op\":\"greater\",\"value\":1}]}]}}}";

struct Fixture {
    gw: Arc<Gateway>,
    app: Router,
    dir: tempfile::TempDir,
}

fn twenty(name: &str, policy: Option<PathBuf>) -> ServerSettings {
    let cmd = toolgate_testkit::twenty_stdio_command();
    let compiled = match &policy {
        Some(p) => {
            let text = std::fs::read_to_string(p).unwrap();
            toolgate_policy::compile(&text, &p.display().to_string(), SourceFormat::Json).unwrap()
        }
        None => toolgate_policy::Policy::allow_all(),
    };
    let transport = Transport::Stdio(StdioSpec {
        server: name.into(),
        command: cmd[0].clone(),
        args: cmd[1..].to_vec(),
        env: Vec::new(),
        inherit_env: Vec::new(),
        cwd: None,
    });
    ServerSettings {
        policy_path: policy,
        ..ServerSettings::new(name, transport, compiled)
    }
}

async fn fixture_with(stores: Option<Stores>, auth: AdminAuth) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crm.json");
    std::fs::write(&path, ALLOW).unwrap();
    let settings = Settings {
        servers: vec![twenty("crm", Some(path)), twenty("open", None)],
        ..Settings::default()
    };
    let gw = Gateway::new(settings, Arc::new(MemoryCounterStore::new()), stores)
        .await
        .unwrap();
    let app = toolgate_admin::api(gw.clone(), auth);
    Fixture { gw, app, dir }
}

async fn fixture() -> Fixture {
    fixture_with(Some(Stores::memory()), AdminAuth::from_token(TOKEN)).await
}

/// One request: `body` is JSON unless `content_type` says otherwise.
struct Req<'a> {
    method: &'a str,
    uri: &'a str,
    token: Option<&'a str>,
    body: Option<(&'a str, String)>,
    peer: Option<SocketAddr>,
    headers: Vec<(&'a str, &'a str)>,
}

fn req<'a>(method: &'a str, uri: &'a str) -> Req<'a> {
    Req {
        method,
        uri,
        token: Some(TOKEN),
        body: None,
        peer: None,
        headers: Vec::new(),
    }
}

impl<'a> Req<'a> {
    fn json(mut self, v: Value) -> Self {
        self.body = Some(("application/json", v.to_string()));
        self
    }
    fn text(mut self, content_type: &'a str, text: &str) -> Self {
        self.body = Some((content_type, text.to_owned()));
        self
    }
    fn token(mut self, t: Option<&'a str>) -> Self {
        self.token = t;
        self
    }
    fn peer(mut self, p: &str) -> Self {
        self.peer = Some(p.parse().unwrap());
        self
    }
    fn header(mut self, k: &'a str, v: &'a str) -> Self {
        self.headers.push((k, v));
        self
    }

    async fn send(self, app: &Router) -> (StatusCode, Value) {
        let mut b = Request::builder().method(self.method).uri(self.uri);
        if let Some(t) = self.token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in &self.headers {
            b = b.header(*k, *v);
        }
        let body = match self.body {
            Some((ct, text)) => {
                b = b.header("content-type", ct);
                Body::from(text)
            }
            None => Body::empty(),
        };
        let mut request = b.body(body).unwrap();
        if let Some(p) = self.peer {
            request.extensions_mut().insert(ConnectInfo(p));
        }
        let resp = app.clone().oneshot(request).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes)));
        (status, value)
    }
}

#[track_caller]
fn assert_error(got: &(StatusCode, Value), code: ErrorCode) {
    assert_eq!(got.0, code.status(), "{}", got.1);
    assert_eq!(got.1["error"]["code"], code.as_str(), "{}", got.1);
    assert!(
        got.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

fn decide_people(gw: &Gateway) -> bool {
    let state = gw.state();
    let policy = state.servers["crm"].policy.load_full();
    let identity = Identity {
        agent: "a".into(),
        grant: "g".into(),
        tags: vec![],
    };
    let args = json!({});
    let call = Call {
        server: "crm",
        tool: "findManyPeople",
        args: &args,
        args_text: None,
        identity: &identity,
        session: "s",
    };
    matches!(policy.decide(&call, &NoCounterState), Decision::Deny { .. })
}

async fn admin_events(f: &Fixture) -> Vec<Value> {
    let (s, v) = req("GET", "/api/audit?stream=admin").send(&f.app).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["records"].as_array().unwrap().clone()
}

#[tokio::test]
async fn every_route_needs_the_admin_token() {
    let f = fixture().await;
    for (method, path) in toolgate_admin::route_table() {
        let uri = format!("/api{}", path.replace('{', "x").replace('}', ""));
        let none = req(method, &uri).token(None).send(&f.app).await;
        assert_error(&none, ErrorCode::Unauthorized);
        let wrong = req(method, &uri).token(Some("nope")).send(&f.app).await;
        assert_error(&wrong, ErrorCode::Unauthorized);
    }
    // Unknown routes too: nothing is said before authentication.
    assert_error(
        &req("GET", "/api/nothing").token(None).send(&f.app).await,
        ErrorCode::Unauthorized,
    );
    let ok = req("GET", "/api/servers").send(&f.app).await;
    assert_eq!(ok.0, StatusCode::OK);
}

#[tokio::test]
async fn without_a_token_only_loopback_clients_are_served() {
    let f = fixture_with(Some(Stores::memory()), AdminAuth::LoopbackOnly).await;
    let ok = req("GET", "/api/servers")
        .token(None)
        .peer("127.0.0.1:5000")
        .header("host", "127.0.0.1:8080")
        .send(&f.app)
        .await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
    let v6 = req("GET", "/api/servers")
        .token(None)
        .peer("[::1]:5000")
        .header("host", "localhost:8080")
        .send(&f.app)
        .await;
    assert_eq!(v6.0, StatusCode::OK, "{}", v6.1);
    for got in [
        req("GET", "/api/servers")
            .token(None)
            .peer("10.1.2.3:5000")
            .send(&f.app)
            .await,
        // No peer address known: refused, not assumed local.
        req("GET", "/api/servers").token(None).send(&f.app).await,
        // DNS rebinding: a loopback peer asking for a foreign host name.
        req("GET", "/api/servers")
            .token(None)
            .peer("127.0.0.1:5000")
            .header("host", "evil.example:8080")
            .send(&f.app)
            .await,
        req("POST", "/api/kill-switches")
            .token(None)
            .peer("127.0.0.1:5000")
            .header("origin", "http://evil.example")
            .json(json!({"scope":"global"}))
            .send(&f.app)
            .await,
    ] {
        assert_error(&got, ErrorCode::Forbidden);
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_errors() {
    let f = fixture().await;
    assert_error(
        &req("GET", "/api/nothing").send(&f.app).await,
        ErrorCode::NotFound,
    );
    assert_error(
        &req("PATCH", "/api/servers").send(&f.app).await,
        ErrorCode::MethodNotAllowed,
    );
}

#[tokio::test]
async fn servers_are_listed_with_policy_and_status() {
    let f = fixture().await;
    let (s, v) = req("GET", "/api/servers").send(&f.app).await;
    assert_eq!(s, StatusCode::OK);
    let crm = &v["servers"][0];
    assert_eq!(crm["name"], "crm");
    assert_eq!(crm["transport"]["type"], "stdio");
    assert_eq!(
        crm["policy"]["version"],
        f.gw.state().servers["crm"].policy.load().version_hash()
    );
    assert_eq!(crm["policy"]["allow_all"], false);
    assert_eq!(crm["status"]["state"], "idle");
    assert_eq!(v["servers"][1]["policy"]["allow_all"], true);

    let (s, one) = req("GET", "/api/servers/open").send(&f.app).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one["name"], "open");
    assert_error(
        &req("GET", "/api/servers/nope").send(&f.app).await,
        ErrorCode::NotFound,
    );
}

#[tokio::test]
async fn tools_are_listed_over_a_short_lived_session() {
    let f = fixture().await;
    let (s, v) = req("GET", "/api/servers/crm/tools").send(&f.app).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["count"], 219);
    let tools = v["tools"].as_array().unwrap();
    let delete = tools
        .iter()
        .find(|t| t["name"].as_str().unwrap().starts_with("deleteOne"))
        .unwrap();
    assert_eq!(delete["hidden"], true);
    assert_eq!(delete["rule"], "/hide/0");
    let find = tools
        .iter()
        .find(|t| t["name"] == "findManyPeople")
        .unwrap();
    assert_eq!(find["hidden"], false);
    assert!(find["definition"]["inputSchema"].is_object());
    assert_error(
        &req("GET", "/api/servers/nope/tools").send(&f.app).await,
        ErrorCode::NotFound,
    );
    for s in f.gw.state().servers.values() {
        s.stop().await;
    }
}

#[tokio::test]
async fn policies_are_read_and_validated_with_every_diagnostic() {
    let f = fixture().await;
    let (s, v) = req("GET", "/api/policies/crm").send(&f.app).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["source"], ALLOW);
    assert_eq!(v["format"], "json");
    assert_eq!(v["in_force"], true);
    assert_eq!(v["version"], v["source_version"]);
    let (_, open) = req("GET", "/api/policies/open").send(&f.app).await;
    assert_eq!(open["allow_all"], true);
    assert_error(
        &req("GET", "/api/policies/nope").send(&f.app).await,
        ErrorCode::NotFound,
    );

    let (s, v) = req("POST", "/api/policies/crm/validate")
        .text("application/json", DENY_PEOPLE)
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["valid"], true);

    let yaml = "version: \"1\"\ndefault: deny\ntools:\n  findMany*: {}\n";
    let (s, v) = req("POST", "/api/policies/crm/validate")
        .text("application/yaml", yaml)
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["format"], "yaml");
    let (s, _) = req("POST", "/api/policies/crm/validate?format=yaml")
        .text("text/plain", yaml)
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::OK);

    let bad = req("POST", "/api/policies/crm/validate")
        .text("application/json", BROKEN)
        .send(&f.app)
        .await;
    assert_error(&bad, ErrorCode::InvalidPolicy);
    let d = &bad.1["error"]["diagnostics"][0];
    assert_eq!(d["line"], 2, "{d}");
    assert!(d["col"].as_u64().unwrap() > 1);
    assert_eq!(
        d["pointer"],
        "/tools/findManyPeople/deny_if/0/conditions/0/op"
    );
    assert!(d["message"].as_str().unwrap().contains("greater"), "{d}");
    assert!(d["origin"].as_str().unwrap().ends_with("crm.json"));
    assert!(d.get("help").is_some());

    assert_error(
        &req("POST", "/api/policies/crm/validate?format=toml")
            .text("text/plain", "x")
            .send(&f.app)
            .await,
        ErrorCode::InvalidRequest,
    );
    assert_error(
        &req("POST", "/api/policies/crm/validate")
            .text("image/png", "x")
            .send(&f.app)
            .await,
        ErrorCode::InvalidRequest,
    );
}

#[tokio::test]
async fn a_replacement_applies_to_the_next_decision_and_is_audited() {
    let f = fixture().await;
    let path = f.dir.path().join("crm.json");
    let before = f.gw.state().servers["crm"]
        .policy
        .load()
        .version_hash()
        .to_owned();
    assert!(!decide_people(&f.gw));

    let (s, v) = req("PUT", "/api/policies/crm")
        .text("application/json", DENY_PEOPLE)
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["changed"], true);
    assert_eq!(v["audited"], true);
    assert_eq!(v["previous_version"], before.as_str());
    assert!(
        decide_people(&f.gw),
        "the next call is decided by the new policy"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), DENY_PEOPLE);
    let new_version = v["version"].as_str().unwrap().to_owned();

    let events = admin_events(&f).await;
    let e = events.last().unwrap();
    assert_eq!(e["action"], "policy.replace");
    assert_eq!(e["target"], "crm");
    assert_eq!(e["actor"], "admin-token");
    assert_eq!(e["details"]["previous_version"], before.as_str());
    assert_eq!(e["details"]["version"], new_version.as_str());

    // The same text again: nothing to do.
    let (_, again) = req("PUT", "/api/policies/crm")
        .text("application/json", DENY_PEOPLE)
        .send(&f.app)
        .await;
    assert_eq!(again["changed"], false);

    // If-Match: only over the version the client read.
    let stale = req("PUT", "/api/policies/crm")
        .header("if-match", &before)
        .text("application/json", ALLOW)
        .send(&f.app)
        .await;
    assert_error(&stale, ErrorCode::PreconditionFailed);
    assert_eq!(stale.1["error"]["current_version"], new_version.as_str());
    let quoted = format!("\"{new_version}\"");
    let (s, _) = req("PUT", "/api/policies/crm")
        .header("if-match", &quoted)
        .text("application/json", ALLOW)
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(!decide_people(&f.gw));
}

#[tokio::test]
async fn an_invalid_replacement_changes_nothing() {
    let f = fixture().await;
    let path = f.dir.path().join("crm.json");
    let before = f.gw.state().servers["crm"]
        .policy
        .load()
        .version_hash()
        .to_owned();
    let events_before = admin_events(&f).await.len();

    let bad = req("PUT", "/api/policies/crm")
        .text("application/json", BROKEN)
        .send(&f.app)
        .await;
    assert_error(&bad, ErrorCode::InvalidPolicy);
    assert!(!bad.1["error"]["diagnostics"].as_array().unwrap().is_empty());
    // A YAML body for a JSON policy file.
    assert_error(
        &req("PUT", "/api/policies/crm")
            .text("application/yaml", "version: \"1\"\ndefault: deny\n")
            .send(&f.app)
            .await,
        ErrorCode::InvalidRequest,
    );
    // A server without a policy file: there is nowhere to keep it.
    assert_error(
        &req("PUT", "/api/policies/open")
            .text("application/json", DENY_PEOPLE)
            .send(&f.app)
            .await,
        ErrorCode::Conflict,
    );
    assert_error(
        &req("PUT", "/api/policies/nope")
            .text("application/json", DENY_PEOPLE)
            .send(&f.app)
            .await,
        ErrorCode::NotFound,
    );

    assert_eq!(
        f.gw.state().servers["crm"].policy.load().version_hash(),
        before
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), ALLOW);
    assert!(!decide_people(&f.gw));
    assert_eq!(admin_events(&f).await.len(), events_before);
}

#[tokio::test]
async fn grants_are_created_once_revoked_and_rotated() {
    let f = fixture().await;
    let (s, v) = req("POST", "/api/grants")
        .json(
            json!({"label":"ci","agent":"ci-bot","servers":["crm"],"tags":["ci"],"expires_in":"30d",
                     "policies":{"crm":"{\"version\":\"1\",\"default\":\"deny\"}"}}),
        )
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let token = v["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("tg_"));
    assert_eq!(v["grant"]["status"], "active");
    assert!(v["grant"].get("token_sha256").is_none());
    let now = toolgate_gateway::enforce::now_ms();
    let auth = format!("Bearer {token}");
    let caller =
        f.gw.state()
            .auth
            .authenticate(Some(auth.as_bytes()), now)
            .await
            .expect("the new token works on the next request");
    assert_eq!(caller.identity.agent, "ci-bot");
    assert!(!f.gw.is_open(), "once a grant exists, tokens are required");

    let (_, list) = req("GET", "/api/grants").send(&f.app).await;
    assert_eq!(list["grants"][0]["label"], "ci");
    let (s, one) = req("GET", "/api/grants/ci").send(&f.app).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one["agent"], "ci-bot");
    assert_error(
        &req("GET", "/api/grants/nope").send(&f.app).await,
        ErrorCode::NotFound,
    );

    assert_error(
        &req("POST", "/api/grants")
            .json(json!({"label":"ci","agent":"x"}))
            .send(&f.app)
            .await,
        ErrorCode::Conflict,
    );
    assert_error(
        &req("POST", "/api/grants")
            .json(json!({"label":"x","agent":"x","servers":["nope"]}))
            .send(&f.app)
            .await,
        ErrorCode::InvalidRequest,
    );
    assert_error(
        &req("POST", "/api/grants")
            .json(json!({"label":"bad label","agent":"x"}))
            .send(&f.app)
            .await,
        ErrorCode::InvalidRequest,
    );
    assert_error(
        &req("POST", "/api/grants")
            .json(json!({"label":"x","agent":"x","surprise":1}))
            .send(&f.app)
            .await,
        ErrorCode::InvalidRequest,
    );
    assert_error(
        &req("POST", "/api/grants")
            .text("application/json", "{not json")
            .send(&f.app)
            .await,
        ErrorCode::InvalidRequest,
    );
    let bad_policy = req("POST", "/api/grants")
        .json(json!({"label":"x","agent":"x","policies":{"crm":"{\"version\":\"1\",\"default\":\"maybe\"}"}}))
        .send(&f.app)
        .await;
    assert_error(&bad_policy, ErrorCode::InvalidPolicy);

    let (s, rotated) = req("POST", "/api/grants/ci/rotate").send(&f.app).await;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    let new_token = rotated["token"].as_str().unwrap();
    assert_ne!(new_token, token);
    assert!(
        f.gw.state()
            .auth
            .authenticate(Some(auth.as_bytes()), now)
            .await
            .is_err(),
        "the old token stops working"
    );

    let (s, revoked) = req("POST", "/api/grants/ci/revoke").send(&f.app).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(revoked["grant"]["status"], "revoked");
    assert_error(
        &req("POST", "/api/grants/ci/rotate").send(&f.app).await,
        ErrorCode::Conflict,
    );
    assert_error(
        &req("POST", "/api/grants/nope/revoke").send(&f.app).await,
        ErrorCode::NotFound,
    );

    let actions: Vec<Value> = admin_events(&f)
        .await
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(actions, ["grant.create", "grant.rotate", "grant.revoke"]);
    let log = serde_json::to_string(&admin_events(&f).await).unwrap();
    assert!(
        !log.contains(&token) && !log.contains(new_token),
        "no token in the audit log"
    );
}

#[tokio::test]
async fn a_grant_s_expiry_is_changed_after_creation_and_audited() {
    let f = fixture().await;
    let (s, v) = req("POST", "/api/grants")
        .json(json!({"label":"ci","agent":"ci-bot","expires_in":"30d"}))
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let auth = format!("Bearer {}", v["token"].as_str().unwrap());
    let first = v["grant"]["expires_at_ms"].as_u64().unwrap();
    let works = || async {
        let now = toolgate_gateway::enforce::now_ms();
        f.gw.state()
            .auth
            .authenticate(Some(auth.as_bytes()), now)
            .await
            .is_ok()
    };

    // At once: the next request is refused, and the grant reads as expired.
    let (s, v) = req("PUT", "/api/grants/ci/expiry")
        .json(json!({"expires_in": "0s"}))
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["previous_expires_at_ms"], first);
    assert_eq!(v["grant"]["status"], "expired");
    assert!(!works().await, "an expired grant still works");

    // Never: it works again.
    let (s, v) = req("PUT", "/api/grants/ci/expiry")
        .json(json!({"expires_at_ms": null}))
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["grant"]["expires_at_ms"], Value::Null);
    assert_eq!(v["grant"]["status"], "active");
    assert!(works().await, "a renewed grant is refused");
    let (s, v) = req("PUT", "/api/grants/ci/expiry")
        .json(json!({"expires_at_ms": 4_102_444_800_000u64}))
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["grant"]["expires_at_ms"], 4_102_444_800_000u64);

    for bad in [
        json!({}),
        json!({"expires_at_ms": 1, "expires_in": "1d"}),
        json!({"expires_in": "soon"}),
        json!({"expires_at_ms": "tomorrow"}),
    ] {
        assert_error(
            &req("PUT", "/api/grants/ci/expiry")
                .json(bad)
                .send(&f.app)
                .await,
            ErrorCode::InvalidRequest,
        );
    }
    assert_error(
        &req("PUT", "/api/grants/nope/expiry")
            .json(json!({"expires_in": "1d"}))
            .send(&f.app)
            .await,
        ErrorCode::NotFound,
    );
    req("POST", "/api/grants/ci/revoke").send(&f.app).await;
    assert_error(
        &req("PUT", "/api/grants/ci/expiry")
            .json(json!({"expires_at_ms": null}))
            .send(&f.app)
            .await,
        ErrorCode::Conflict,
    );

    let events = admin_events(&f).await;
    let expiries: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "grant.expiry")
        .collect();
    assert_eq!(expiries.len(), 3, "{events:?}");
    assert_eq!(expiries[0]["target"], "ci");
    assert_eq!(expiries[0]["details"]["previous_expires_at_ms"], first);
    assert_eq!(expiries[1]["details"]["expires_at_ms"], Value::Null);
}

#[tokio::test]
async fn kill_switches_apply_at_once_and_are_audited() {
    let f = fixture().await;
    let (s, v) = req("POST", "/api/kill-switches")
        .json(json!({"scope":"server","target":"crm","reason":"incident 42"}))
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["scope"], "server");
    assert_eq!(v["target"], "crm");
    let blocking = f.gw.kill_switches().blocking("crm", "anyone").unwrap();
    assert_eq!(blocking.reason.as_deref(), Some("incident 42"));
    assert!(f.gw.kill_switches().blocking("open", "anyone").is_none());

    let (_, list) = req("GET", "/api/kill-switches").send(&f.app).await;
    assert_eq!(list["kill_switches"].as_array().unwrap().len(), 1);
    let (_, servers) = req("GET", "/api/servers/crm").send(&f.app).await;
    assert_eq!(servers["kill_switch"]["reason"], "incident 42");

    let (s, _) = req("POST", "/api/kill-switches")
        .json(json!({"scope":"global"}))
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert!(f.gw.kill_switches().blocking("open", "anyone").is_some());
    let (s, _) = req("DELETE", "/api/kill-switches/global")
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = req("DELETE", "/api/kill-switches/server/crm")
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(f.gw.kill_switches().blocking("crm", "anyone").is_none());

    assert_error(
        &req("DELETE", "/api/kill-switches/server/crm")
            .send(&f.app)
            .await,
        ErrorCode::NotFound,
    );
    assert_error(
        &req("DELETE", "/api/kill-switches/server")
            .send(&f.app)
            .await,
        ErrorCode::InvalidRequest,
    );
    for bad in [
        json!({"scope":"planet"}),
        json!({"scope":"server"}),
        json!({"scope":"global","target":"crm"}),
        json!({"scope":"global","why":"x"}),
    ] {
        assert_error(
            &req("POST", "/api/kill-switches")
                .json(bad)
                .send(&f.app)
                .await,
            ErrorCode::InvalidRequest,
        );
    }
    for missing in [
        json!({"scope":"server","target":"nope"}),
        json!({"scope":"grant","target":"nope"}),
    ] {
        assert_error(
            &req("POST", "/api/kill-switches")
                .json(missing)
                .send(&f.app)
                .await,
            ErrorCode::NotFound,
        );
    }

    let events = admin_events(&f).await;
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("kill_switch.engage", "crm"),
            ("kill_switch.engage", "global"),
            ("kill_switch.release", "global"),
            ("kill_switch.release", "crm"),
        ]
    );
    assert_eq!(events[0]["details"]["reason"], "incident 42");
}

#[tokio::test]
async fn the_audit_log_is_queried_and_verified() {
    let f = fixture().await;
    for target in ["crm", "open"] {
        req("POST", "/api/kill-switches")
            .json(json!({"scope":"server","target":target}))
            .send(&f.app)
            .await;
    }
    let (s, v) = req("GET", "/api/audit?stream=admin&target=open")
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["count"], 1);
    assert_eq!(v["records"][0]["seq"], 2);
    let (_, page) = req("GET", "/api/audit?stream=admin&limit=1&order=desc")
        .send(&f.app)
        .await;
    assert_eq!(page["records"][0]["target"], "open");
    assert_eq!(page["next"], json!({"before": 2}));
    let (_, since) = req(
        "GET",
        "/api/audit?stream=admin&since=1h&until=2100-01-01T00:00:00Z",
    )
    .send(&f.app)
    .await;
    assert_eq!(since["count"], 2);
    let (s, requests) = req("GET", "/api/audit?server=crm&decision=deny")
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(requests["stream"], "requests");

    for bad in [
        "/api/audit?decision=maybe",
        "/api/audit?stream=elsewhere",
        "/api/audit?stream=admin&tool=x",
        "/api/audit?since=soon",
        "/api/audit?limit=0",
        "/api/audit?limit=many",
        "/api/audit?colour=red",
    ] {
        assert_error(
            &req("GET", bad).send(&f.app).await,
            ErrorCode::InvalidRequest,
        );
    }

    let (s, v) = req("GET", "/api/audit/verify").send(&f.app).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["intact"], true);
    assert_eq!(v["streams"][1]["stream"], "admin");
    assert_eq!(v["streams"][1]["checked"], 2);
}

#[tokio::test]
async fn without_a_store_store_backed_endpoints_say_no_store() {
    let f = fixture_with(None, AdminAuth::from_token(TOKEN)).await;
    for r in [
        req("POST", "/api/grants").json(json!({"label":"x","agent":"x"})),
        req("POST", "/api/grants/x/revoke"),
        req("POST", "/api/kill-switches").json(json!({"scope":"global"})),
        req("DELETE", "/api/kill-switches/global"),
        req("GET", "/api/audit"),
        req("GET", "/api/audit/verify"),
    ] {
        assert_error(&r.send(&f.app).await, ErrorCode::NoStore);
    }
    let (s, v) = req("GET", "/api/grants").send(&f.app).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["grants"], json!([]));
    // A policy can still be replaced; there is no audit log to record it in.
    let (s, v) = req("PUT", "/api/policies/crm")
        .text("application/json", DENY_PEOPLE)
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["audited"], false);
    assert!(decide_people(&f.gw));
}

#[tokio::test]
async fn the_openapi_document_is_valid_and_covers_every_route() {
    let f = fixture().await;
    let (s, served) = req("GET", "/api/openapi.json").send(&f.app).await;
    assert_eq!(s, StatusCode::OK);
    let text = served.to_string();
    let spec = oas3::from_json(&text).expect("a valid OpenAPI 3.1 document");
    assert!(spec.openapi.starts_with("3.1"));
    let paths = spec.paths.as_ref().expect("paths");

    let routes = toolgate_admin::route_table();
    for (method, path) in &routes {
        let item = paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is not in openapi.json"));
        let documented = match *method {
            "GET" => item.get.as_ref(),
            "POST" => item.post.as_ref(),
            "PUT" => item.put.as_ref(),
            "DELETE" => item.delete.as_ref(),
            other => panic!("unexpected method {other}"),
        };
        let op = documented.unwrap_or_else(|| panic!("{method} {path} is not in openapi.json"));
        assert!(
            op.operation_id.is_some(),
            "{method} {path} has an operationId"
        );
    }
    // And nothing is documented that the router does not serve.
    for (path, item) in served["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let m = method.to_ascii_uppercase();
            assert!(
                routes.iter().any(|(rm, rp)| *rm == m && rp == path),
                "{m} {path} is documented but not routed"
            );
        }
    }
    // Every stable error code is documented.
    let codes = &served["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
        ["enum"];
    for code in ErrorCode::ALL {
        assert!(
            codes.as_array().unwrap().contains(&json!(code.as_str())),
            "{} is not documented",
            code.as_str()
        );
    }
}

fn tool(name: &str, description: &str) -> toolgate_store::catalogue::ObservedTool {
    let v = json!({"name": name, "description": description, "inputSchema": {"type": "object"}});
    toolgate_store::catalogue::ObservedTool {
        classification: toolgate_catalog::classify(
            &toolgate_catalog::ToolDefinition::from_value(&v).unwrap(),
        ),
        definition: toolgate_store::catalogue::ToolDigest::of(&v).unwrap(),
    }
}

#[tokio::test]
async fn catalogue_and_pins_are_listed_diffed_and_approved() {
    let f = fixture().await;
    let store = f.gw.catalogue.store.clone();
    let listing = |d: &str| {
        vec![
            tool("findManyPeople", "Lists people."),
            tool("deleteOnePerson", d),
        ]
    };
    store
        .record_listing("crm", listing("Deletes a person."), false, 1)
        .await
        .unwrap();
    store
        .record_listing(
            "crm",
            listing("Deletes a person and mails their data out."),
            false,
            2,
        )
        .await
        .unwrap();
    f.gw.catalogue.reload_now().await.unwrap();
    let reason =
        f.gw.catalogue
            .blocking("crm", "deleteOnePerson")
            .expect("quarantined");
    assert!(
        reason.contains("changed since it was pinned (description)"),
        "{reason}"
    );

    let (s, body) = req("GET", "/api/catalog?server=crm").send(&f.app).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["tools"].as_array().unwrap().len(), 2);
    assert_eq!(
        body["tools"][0]["classification"]["category"],
        "destructive"
    );
    let (_, body) = req("GET", "/api/pins").send(&f.app).await;
    assert_eq!(body["pins"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["pins"][0]["tool"], "deleteOnePerson");
    assert_eq!(body["pins"][0]["changed_fields"], json!(["description"]));

    let (s, one) = req("GET", "/api/pins/crm/deleteOnePerson")
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::OK);
    let diff = one["diff"].as_str().unwrap();
    assert!(
        diff.contains("-   \"description\": \"Deletes a person.\""),
        "{diff}"
    );
    assert!(
        diff.contains("+   \"description\": \"Deletes a person and mails"),
        "{diff}"
    );
    let (s, body) = req("GET", "/api/pins/crm/nope").send(&f.app).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );

    let approve = "/api/pins/crm/deleteOnePerson/approve";
    let (s, body) = req("POST", approve)
        .json(json!({"digest": "0000"}))
        .send(&f.app)
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    let digest = one["current"]["digest"].as_str().unwrap();
    let (s, body) = req("POST", approve)
        .json(json!({ "digest": digest }))
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        (body["state"].as_str(), body["changed"].as_bool()),
        (Some("pinned"), Some(true))
    );
    assert_eq!(body["approved_by"], "admin-token");
    assert!(f.gw.catalogue.blocking("crm", "deleteOnePerson").is_none());
    let (_, body) = req("GET", "/api/pins").send(&f.app).await;
    assert_eq!(body["pins"], json!([]));
    let (_, audit) = req("GET", "/api/audit?stream=admin").send(&f.app).await;
    assert!(audit.to_string().contains("pin.approved"), "{audit}");
}

#[tokio::test]
async fn role_tokens_may_do_what_their_role_allows_and_nothing_else() {
    use toolgate_admin::AdminCredential;
    use toolgate_admin::role::{Permission, Role, api_permission};
    const VIEWER: &str = "viewer-secret";
    const APPROVER: &str = "approver-secret";
    let credential = |label: &str, role, token| AdminCredential {
        label: label.into(),
        role,
        token_sha256: toolgate_store::token::hash(token),
    };
    let auth = AdminAuth::from_token(TOKEN).with([
        credential("vera", Role::Viewer, VIEWER),
        credential("april", Role::Approver, APPROVER),
    ]);
    let f = fixture_with(Some(Stores::memory()), auth).await;

    // Every change of the route table: a viewer is refused; an approver only where it decides a
    // held call (here the approval does not exist, so the handler answers 404).
    for (method, path) in toolgate_admin::route_table() {
        if method == "GET" {
            continue;
        }
        let path = path.replace('{', "x").replace('}', "");
        let uri = format!("/api{path}");
        let needs = api_permission(&method.parse().unwrap(), &path);
        let viewer = req(method, &uri).token(Some(VIEWER)).send(&f.app).await;
        let approver = req(method, &uri).token(Some(APPROVER)).send(&f.app).await;
        if needs == Permission::Read {
            assert_ne!(
                viewer.0,
                StatusCode::FORBIDDEN,
                "{method} {uri}: {}",
                viewer.1
            );
            continue;
        }
        assert_error(&viewer, ErrorCode::Forbidden);
        assert!(
            viewer.1["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("this credential's role is viewer, which may only read"),
            "{}",
            viewer.1
        );
        if needs == Permission::DecideApprovals {
            assert_error(&approver, ErrorCode::NotFound);
        } else {
            assert_error(&approver, ErrorCode::Forbidden);
            assert!(
                approver.1["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("needs the admin role"),
                "{}",
                approver.1
            );
        }
    }

    // Reads are open to both, checking a candidate policy included; nothing was changed above.
    for token in [VIEWER, APPROVER] {
        let (s, v) = req("GET", "/api/grants")
            .token(Some(token))
            .send(&f.app)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["grants"], json!([]), "a refused request created a grant");
        let (s, v) = req("POST", "/api/policies/crm/validate")
            .token(Some(token))
            .json(json!({"version": "1", "default": "deny"}))
            .send(&f.app)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    assert!(
        admin_events(&f).await.is_empty(),
        "a refused request was audited as a change"
    );
    assert_error(
        &req("GET", "/api/servers")
            .token(Some("not-a-token"))
            .send(&f.app)
            .await,
        ErrorCode::Unauthorized,
    );

    // The admin token still does everything, and the admin audit names the credential.
    let (s, v) = req("POST", "/api/grants")
        .json(json!({"label": "g1", "agent": "a"}))
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(admin_events(&f).await[0]["actor"], "admin-token");
}

#[tokio::test]
async fn a_grant_gets_its_own_policy_for_a_server_and_loses_it() {
    let f = fixture().await;
    let (s, v) = req("POST", "/api/grants")
        .json(json!({"label": "g1", "agent": "a", "servers": ["crm"]}))
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let yaml = "version: \"1\"\ndefault: deny\n";

    // Checked first, every error located; nothing changes on error.
    let (s, v) = req("PUT", "/api/grants/g1/policies/crm")
        .text("application/yaml", "version: \"1\"\ndefault: maybe\n")
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["diagnostics"][0]["line"], 2, "{v}");
    // A server the grant may not reach, a stale If-Match, an unknown grant.
    let (s, v) = req("PUT", "/api/grants/g1/policies/open")
        .text("application/yaml", yaml)
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = req("PUT", "/api/grants/g1/policies/crm")
        .header("if-match", "\"abc\"")
        .text("application/yaml", yaml)
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED, "{v}");
    assert_eq!(v["error"]["current_version"], "none");
    assert_error(
        &req("PUT", "/api/grants/nobody/policies/crm")
            .text("application/yaml", yaml)
            .send(&f.app)
            .await,
        ErrorCode::NotFound,
    );

    let (s, v) = req("PUT", "/api/grants/g1/policies/crm")
        .header("if-match", "\"none\"")
        .text("application/yaml", yaml)
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["grant"]["policies"]["crm"], yaml);
    assert_eq!(v["previous_version"], "none");
    let version = v["version"].as_str().unwrap().to_owned();
    assert_eq!(version.len(), 64);
    let events = admin_events(&f).await;
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "grant.policy" && e["details"]["version"] == version.as_str()),
        "{events:?}"
    );

    let (s, v) = req("DELETE", "/api/grants/g1/policies/crm")
        .header("if-match", &format!("\"{version}\""))
        .send(&f.app)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["grant"]["policies"], json!({}));
    assert_eq!(v["version"], "none");
}
