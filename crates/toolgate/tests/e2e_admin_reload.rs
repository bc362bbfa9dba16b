//! End to end: the admin plane's credentials and the web UI's mode follow a configuration reload
//! of the real binary (SIGHUP, and the file watch), with no restart: a role token given another
//! role acts with it on its next API request, a new one works, a removed one is refused and its
//! open UI session is over; `[admin] ui = "read-only"` turns an admin's open session into a
//! viewer's that changes nothing, and taking it away gives the same session its changes back.

mod common;

use common::{Toolgate, sha256_hex, toml_array, toml_str};
use nix::sys::signal::Signal;
use reqwest::{Client, StatusCode, header};
use serde_json::Value;
use std::time::{Duration, Instant};
use toolgate_testkit::twenty_stdio_command;

const ADMIN: &str = "tg_reload-admin";
const APRIL: &str = "tg_reload-april";
const VERA: &str = "tg_reload-vera";
const OLGA: &str = "tg_reload-olga";

/// The config: the admin token, `roles` as `(label, role, token)` and `ui` when given.
fn config(roles: &[(&str, &str, &str)], ui: Option<&str>) -> String {
    let twenty = twenty_stdio_command();
    let mut text = format!(
        "[gateway]\nlisten = \"127.0.0.1:0\"\n\n[admin]\ntoken_sha256 = \"{}\"\n",
        sha256_hex(ADMIN)
    );
    if let Some(mode) = ui {
        text.push_str(&format!("ui = \"{mode}\"\n"));
    }
    for (label, role, token) in roles {
        text.push_str(&format!(
            "\n[admin.tokens.{label}]\nrole = \"{role}\"\ntoken_sha256 = \"{}\"\n",
            sha256_hex(token)
        ));
    }
    text.push_str(&format!(
        "\n[servers.crm]\ncommand = {}\nargs = {}\n",
        toml_str(&twenty[0]),
        toml_array(&twenty[1..])
    ));
    text
}

struct Plane {
    http: Client,
    admin: String,
}

impl Plane {
    /// Signs in to the UI with `token` as the sign-in form would: the session cookie.
    async fn sign_in(&self, token: &str) -> String {
        let res = self
            .http
            .post(format!("{}/ui/login", self.admin))
            .header(header::ORIGIN, &self.admin)
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "sign-in with {token}");
        res.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    }

    /// A UI page: its status, where it sends the browser, its HTML.
    async fn page(&self, cookie: &str, path: &str) -> (StatusCode, String, String) {
        let res = self
            .http
            .get(format!("{}{path}", self.admin))
            .header(header::COOKIE, cookie)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let location = res
            .headers()
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, location, res.text().await.unwrap())
    }

    /// Engages the global kill switch through the UI's form with the page's CSRF token.
    async fn engage(&self, cookie: &str, html: &str) -> (StatusCode, String) {
        let at = html.find("name=\"csrf-token\" content=\"").unwrap() + 27;
        let csrf = html[at..].split('"').next().unwrap();
        let res = self
            .http
            .post(format!("{}/ui/kill-switches", self.admin))
            .header(header::ORIGIN, &self.admin)
            .header(header::COOKIE, cookie)
            .form(&[
                ("_csrf", csrf),
                ("action", "engage"),
                ("scope", "global"),
                ("reason", "reload test"),
                ("confirm", "yes"),
            ])
            .send()
            .await
            .unwrap();
        (res.status(), res.text().await.unwrap())
    }

    /// An admin API request with `token`: the status.
    async fn api(&self, token: &str, method: &str, path: &str) -> StatusCode {
        self.http
            .request(method.parse().unwrap(), format!("{}/api{path}", self.admin))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
    }
}

/// Rewrites the config, signals SIGHUP and waits for the gateway to say the admin access changed
/// (the `n`th time).
fn reload(gw: &Toolgate, text: &str, n: usize) {
    std::fs::write(gw.path("toolgate.toml"), text).unwrap();
    gw.guard.signal(Signal::SIGHUP);
    let said = "admin credentials or web UI mode changed";
    let deadline = Instant::now() + Duration::from_secs(15);
    while gw.log().matches(said).count() < n {
        assert!(
            Instant::now() < deadline,
            "the reload was not applied within 15 s; log:\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn role_tokens_and_the_ui_mode_follow_a_config_reload() {
    let first = config(
        &[("april", "approver", APRIL), ("vera", "viewer", VERA)],
        None,
    );
    let body = first.split_once("\n\n").unwrap().1;
    let gw = Toolgate::start(body, &[]);
    let plane = Plane {
        http: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
        admin: gw.admin.clone(),
    };
    let admin = plane.sign_in(ADMIN).await;
    let april = plane.sign_in(APRIL).await;
    assert_eq!(
        plane.api(VERA, "POST", "/approvals/apv_none/deny").await,
        StatusCode::FORBIDDEN,
        "a viewer may not decide"
    );
    assert_eq!(
        plane.api(OLGA, "GET", "/servers").await,
        StatusCode::UNAUTHORIZED
    );
    let (_, _, html) = plane.page(&april, "/ui").await;
    assert!(html.contains("april · approver"), "{html}");

    // vera becomes an approver, olga a viewer, april goes; the UI turns read-only.
    let tokens = [("vera", "approver", VERA), ("olga", "viewer", OLGA)];
    reload(&gw, &config(&tokens, Some("read-only")), 1);
    assert_eq!(
        plane.api(VERA, "POST", "/approvals/apv_none/deny").await,
        StatusCode::NOT_FOUND,
        "an approver reaches the decision itself"
    );
    assert_eq!(plane.api(OLGA, "GET", "/servers").await, StatusCode::OK);
    assert_eq!(
        plane.api(OLGA, "POST", "/approvals/apv_none/deny").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        plane.api(APRIL, "GET", "/servers").await,
        StatusCode::UNAUTHORIZED
    );
    let (status, location, _) = plane.page(&april, "/ui").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "april's session is over");
    assert!(location.starts_with("/ui/login"), "{location}");
    let (status, _, html) = plane.page(&admin, "/ui").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("admin-token · viewer"), "{html}");
    assert!(html.contains("read-only"), "{html}");
    assert!(!html.contains("Engage a kill switch"), "{html}");
    let (status, text) = plane.engage(&admin, &html).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert_eq!(
        plane.api(ADMIN, "GET", "/kill-switches").await,
        StatusCode::OK
    );

    // Read-write again (the file watch, without a signal this time): the same session may.
    std::fs::write(gw.path("toolgate.toml"), config(&tokens, None)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let html = loop {
        let (_, _, html) = plane.page(&admin, "/ui").await;
        if html.contains("admin-token · admin") {
            break html;
        }
        assert!(
            Instant::now() < deadline,
            "read-write again: not within 15 s; log:\n{}",
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (status, text) = plane.engage(&admin, &html).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{text}");
    let events: Value = plane
        .http
        .get(format!(
            "{}/api/audit?stream=admin&action=kill_switch.engage",
            plane.admin
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actor = events["records"][0]["actor"].as_str().unwrap_or_default();
    assert!(actor.starts_with("ui:admin-token@"), "{events}");
}
