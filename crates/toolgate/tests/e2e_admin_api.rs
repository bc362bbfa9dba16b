//! The admin API of the real binary, over real HTTP: the admin token is required; a policy put
//! through the API denies the next call of a real MCP client (the Python SDK) in front of the
//! Twenty-like server; a kill switch thrown through the API stops the next call and releasing it
//! lets calls through again; the admin audit stream shows every change.

mod common;

use common::{Toolgate, sha256_hex, toml_array, toml_str};
use serde_json::{Value, json};
use toolgate_testkit::{McpClient, twenty_stdio_command};

const ADMIN_TOKEN: &str = "e2e-admin-token";
const ALLOW: &str = r#"{"version":"1","default":"allow"}"#;
const DENY: &str = r#"{"version":"1","default":"allow","tools":{"findManyPeople":{"action":"deny","reason":"Denied through the admin API."}}}"#;

fn config(admin: &str) -> String {
    let twenty = twenty_stdio_command();
    format!(
        "{admin}\n[servers.crm]\ncommand = {}\nargs = {}\npolicy = \"p.json\"\n",
        toml_str(&twenty[0]),
        toml_array(&twenty[1..])
    )
}

struct Admin {
    http: reqwest::Client,
    base: String,
    token: Option<&'static str>,
}

impl Admin {
    fn new(gw: &Toolgate, token: Option<&'static str>) -> Admin {
        Admin {
            http: reqwest::Client::new(),
            base: gw.api_url(""),
            token,
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = self.token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn put_policy(&self, server: &str, text: &str) -> (u16, Value) {
        let resp = self
            .http
            .put(format!("{}/policies/{server}", self.base))
            .bearer_auth(self.token.unwrap())
            .header("content-type", "application/json")
            .body(text.to_owned())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }
}

/// One `findManyPeople` call by the Python SDK client; its exit code (0 allowed, 2 `isError`)
/// and the result's text.
async fn call_people(url: String) -> (Option<i32>, String) {
    tokio::task::spawn_blocking(move || {
        let out = McpClient::python_http(&url)
            .no_list()
            .call("findManyPeople", json!({}))
            .run();
        let text = out
            .events_named("result")
            .first()
            .map(|r| {
                r["result"]["content"][0]["text"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .unwrap_or_default();
        (out.status, text)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn policies_and_kill_switches_through_the_admin_api_decide_real_calls() {
    let admin = format!("[admin]\ntoken_sha256 = \"{}\"\n", sha256_hex(ADMIN_TOKEN));
    let gw = Toolgate::start(&config(&admin), &[("p.json", ALLOW)]);
    let api = Admin::new(&gw, Some(ADMIN_TOKEN));

    // The admin token is required.
    let (status, body) = Admin::new(&gw, None).get("/servers").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = Admin::new(&gw, Some("wrong")).get("/servers").await;
    assert_eq!(status, 401);
    let (status, servers) = api.get("/servers").await;
    assert_eq!(status, 200, "{servers}");
    assert_eq!(servers["servers"][0]["name"], "crm");

    let (code, text) = call_people(gw.url("crm")).await;
    assert_eq!(code, Some(0), "allowed before: {text}");

    // A policy put through the API decides the next real call.
    let (status, replaced) = api.put_policy("crm", DENY).await;
    assert_eq!(status, 200, "{replaced}");
    let (code, text) = call_people(gw.url("crm")).await;
    assert_eq!(code, Some(2), "{text}");
    assert_eq!(text, "[POLICY DENIED] Denied through the admin API.");
    assert_eq!(std::fs::read_to_string(gw.path("p.json")).unwrap(), DENY);
    // An invalid one is refused with its diagnostics and changes nothing.
    let (status, invalid) = api
        .put_policy("crm", r#"{"version":"1","default":"maybe"}"#)
        .await;
    assert_eq!(status, 422, "{invalid}");
    assert_eq!(invalid["error"]["code"], "invalid_policy");
    assert!(invalid["error"]["diagnostics"][0]["line"].is_u64());
    let (status, _) = api.put_policy("crm", ALLOW).await;
    assert_eq!(status, 200);
    let (code, text) = call_people(gw.url("crm")).await;
    assert_eq!(code, Some(0), "allowed again: {text}");

    // A kill switch stops the very next call; releasing it lets calls through.
    let (status, engaged) = api
        .send(
            reqwest::Method::POST,
            "/kill-switches",
            Some(json!({"scope":"server","target":"crm","reason":"incident 7"})),
        )
        .await;
    assert_eq!(status, 201, "{engaged}");
    let (code, text) = call_people(gw.url("crm")).await;
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("incident 7"), "{text}");
    let (status, _) = api
        .send(reqwest::Method::DELETE, "/kill-switches/server/crm", None)
        .await;
    assert_eq!(status, 200);
    let (code, text) = call_people(gw.url("crm")).await;
    assert_eq!(code, Some(0), "released: {text}");

    // The admin audit stream shows each change.
    let (status, audit) = api.get("/audit?stream=admin").await;
    assert_eq!(status, 200, "{audit}");
    let actions: Vec<&str> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        // The gateway's own pin events (its first listing of each server) are not at issue here.
        .filter(|a| !a.starts_with("pin."))
        .collect();
    assert_eq!(
        actions,
        [
            "policy.replace",
            "policy.replace",
            "kill_switch.engage",
            "kill_switch.release"
        ]
    );
    let first_change = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "policy.replace")
        .unwrap();
    assert!(
        first_change["actor"]
            .as_str()
            .unwrap()
            .starts_with("admin-token@127.0.0.1"),
        "{first_change}"
    );
    let (_, verified) = api.get("/audit/verify").await;
    assert_eq!(verified["intact"], true, "{verified}");
    let (_, doc) = api.get("/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_an_admin_token_the_api_serves_loopback_only_and_says_so() {
    let gw = Toolgate::start(&config(""), &[("p.json", ALLOW)]);
    let (status, body) = Admin::new(&gw, None).get("/servers").await;
    assert_eq!(status, 200, "a loopback client is served: {body}");
    let log = gw.log();
    assert!(log.contains("no admin token configured"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_token_can_come_from_the_environment() {
    let gw = Toolgate::start_with_env(
        &config(""),
        &[("p.json", ALLOW)],
        &[("TOOLGATE_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    let (status, _) = Admin::new(&gw, None).get("/servers").await;
    assert_eq!(status, 401);
    let (status, _) = Admin::new(&gw, Some(ADMIN_TOKEN)).get("/servers").await;
    assert_eq!(status, 200);
}
