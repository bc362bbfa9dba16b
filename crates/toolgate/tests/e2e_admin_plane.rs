//! The admin plane has a listener of its own: nothing of `/api` or `/metrics` is reachable on the
//! data plane (what a reverse proxy in front of `/mcp` forwards), a request that came through a
//! proxy is never taken for a local one, a non-loopback admin listener needs a token or the
//! gateway does not start, and the admin audit names the real peer and the forwarded-for chain.
//! The public `/readyz` says ready or not and nothing more.

mod common;

use common::{TOOLGATE, Toolgate, stderr, toml_array, toml_str};
use serde_json::{Value, json};
use std::process::Command;
use toolgate_testkit::twenty_stdio_command;

fn servers() -> String {
    let twenty = twenty_stdio_command();
    format!(
        "[servers.crm]\ncommand = {}\nargs = {}\n",
        toml_str(&twenty[0]),
        toml_array(&twenty[1..])
    )
}

async fn status(req: reqwest::RequestBuilder) -> u16 {
    req.send().await.expect("send").status().as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_data_plane_routes_nothing_of_the_admin_plane() {
    let gw = Toolgate::start(&servers(), &[]);
    assert_ne!(gw.base, gw.admin, "two listeners");
    let http = reqwest::Client::new();
    // What a default `proxy_pass http://127.0.0.1:PORT` in front of the data plane sends: a
    // loopback peer, a loopback Host, no forwarding headers. Once refused as "not local", it
    // must now find nothing at all.
    for (method, path) in [
        (reqwest::Method::GET, "/api/servers"),
        (reqwest::Method::POST, "/api/grants"),
        (reqwest::Method::POST, "/api/kill-switches"),
        (reqwest::Method::DELETE, "/api/kill-switches/global"),
        (reqwest::Method::PUT, "/api/policies/crm"),
        (reqwest::Method::GET, "/api/openapi.json"),
        (reqwest::Method::GET, "/metrics"),
        (reqwest::Method::GET, "/ui"),
    ] {
        let req = http
            .request(method.clone(), format!("{}{path}", gw.base))
            .header("host", gw.base.trim_start_matches("http://"))
            .json(&json!({"label": "x", "agent": "x"}));
        assert_eq!(status(req).await, 404, "{method} {path} on the data plane");
    }
    // The admin plane itself answers a local client.
    assert_eq!(status(http.get(gw.api_url("/servers"))).await, 200);
    assert_eq!(status(http.get(format!("{}/metrics", gw.admin))).await, 200);
    // And the data plane still serves MCP.
    assert_eq!(status(http.get(format!("{}/healthz", gw.base))).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_token_a_proxied_or_rebound_request_is_not_local() {
    let gw = Toolgate::start(&servers(), &[]);
    let http = reqwest::Client::new();
    let engage = || {
        http.post(gw.api_url("/kill-switches"))
            .json(&json!({"scope": "global", "reason": "from afar"}))
    };
    for (header, value) in [
        ("x-forwarded-for", "203.0.113.7"),
        ("forwarded", "for=203.0.113.7"),
        ("x-real-ip", "203.0.113.7"),
        ("via", "1.1 nginx"),
        ("host", "evil.example:8081"),
    ] {
        let resp = engage().header(header, value).send().await.unwrap();
        assert_eq!(resp.status(), 403, "{header}: {value}");
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("admin token")),
            "{body}"
        );
    }
    let listed: Value = http
        .get(gw.api_url("/kill-switches"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["kill_switches"],
        json!([]),
        "nothing was engaged: {listed}"
    );
}

#[test]
fn a_non_loopback_admin_listener_without_a_token_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("toolgate.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\nlisten = \"127.0.0.1:0\"\nstore = \"none\"\n\n[admin]\nlisten = \"0.0.0.0:0\"\n\n{}",
            servers()
        ),
    )
    .unwrap();
    for command in ["validate", "serve"] {
        let out = Command::new(TOOLGATE)
            .args([command, "-c"])
            .arg(&config)
            .env_remove("TOOLGATE_ADMIN_TOKEN")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(78), "{command}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("toolgate.toml:6:10:")
                && err.contains("not a loopback address, without an admin token"),
            "{command}: {err}"
        );
    }
    // With a token it is valid.
    let out = Command::new(TOOLGATE)
        .args(["validate", "-c"])
        .arg(&config)
        .env("TOOLGATE_ADMIN_TOKEN", "a-long-admin-token")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_audit_names_the_peer_and_the_forwarded_chain() {
    const TOKEN: &str = "admin-plane-token";
    let gw = Toolgate::start_with_env(&servers(), &[], &[("TOOLGATE_ADMIN_TOKEN", TOKEN)]);
    let http = reqwest::Client::new();
    assert_eq!(
        status(http.get(gw.api_url("/servers"))).await,
        401,
        "a token is required once one is configured"
    );
    let engaged = http
        .post(gw.api_url("/kill-switches"))
        .bearer_auth(TOKEN)
        .header("x-forwarded-for", "203.0.113.7, 10.0.0.1")
        .json(&json!({"scope": "server", "target": "crm", "reason": "incident 42"}))
        .send()
        .await
        .unwrap();
    assert!(engaged.status().is_success(), "{}", engaged.status());
    let audit: Value = http
        .get(gw.api_url("/audit?stream=admin"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actors: Vec<&str> = audit["records"]
        .as_array()
        .unwrap_or_else(|| panic!("{audit}"))
        .iter()
        .filter_map(|r| r["actor"].as_str())
        .collect();
    assert!(
        actors
            .contains(&"admin-token@127.0.0.1 forwarded-for x-forwarded-for=203.0.113.7, 10.0.0.1"),
        "{actors:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_answers_ready_and_nothing_else() {
    let gw = Toolgate::start(&servers(), &[]);
    let ready: Value = reqwest::get(format!("{}/readyz", gw.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready, json!({"ready": true, "parked": []}));
}
