//! The web UI's access rules without sockets: the admin plane built as the binary builds it
//! (`admin_plane` with [`UiOptions`]) around a real `Gateway` with an in-memory store, driven with
//! `oneshot` the way a browser would — sign in with a token, carry the cookie and the CSRF token.
//! A role token signs in with its role; in read-only mode every session is a viewer's, whatever
//! the token, and changes are refused; the JSON API keeps each token's role. What a reload puts in
//! force (a token's new role, a token removed, the UI made read-only or read-write again) applies
//! to open sessions and the API from the next request on.

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use std::sync::Arc;
use toolgate_admin::role::Role;
use toolgate_admin::{Access, AdminAuth, AdminCredential, LiveAccess, UiOptions};
use toolgate_gateway::Gateway;
use toolgate_gateway::settings::Settings;
use toolgate_store::{MemoryCounterStore, Stores};
use tower::ServiceExt;

const ADMIN: &str = "admin-secret";
const APPROVER: &str = "approver-secret";
const HOST: &str = "127.0.0.1:8081";

/// The admin token, and `APPROVER` as april with `april_role`.
fn access(april_role: Role, ui_read_only: bool) -> Access {
    Access {
        auth: AdminAuth::from_token(ADMIN).with([AdminCredential {
            label: "april".into(),
            role: april_role,
            token_sha256: toolgate_store::token::hash(APPROVER),
        }]),
        ui_read_only,
    }
}

async fn plane_with(access: LiveAccess) -> Router {
    let gw = Gateway::new(
        Settings::default(),
        Arc::new(MemoryCounterStore::new()),
        Some(Stores::memory()),
    )
    .await
    .unwrap();
    toolgate_admin::admin_plane(gw, access, UiOptions::default())
}

async fn plane(read_only: bool) -> Router {
    plane_with(LiveAccess::new(access(Role::Approver, read_only))).await
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// Signs in with `token` as a browser on the UI's own page would; returns the cookie.
async fn sign_in(app: &Router, token: &str) -> String {
    let req = Request::post("/ui/login")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, format!("http://{HOST}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={token}")))
        .unwrap();
    let (status, headers, body) = send(app, req).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// A signed-in page: its status and HTML.
async fn page(app: &Router, cookie: &str, path: &str) -> (StatusCode, String) {
    let req = Request::get(path)
        .header(header::HOST, HOST)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(app, req).await;
    (status, body)
}

/// The page's CSRF token, as the script reads it.
fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf-token\" content=\"").unwrap() + 27;
    html[at..].split('"').next().unwrap().to_owned()
}

/// Engages the global kill switch through the UI, as its form would.
async fn engage(app: &Router, cookie: &str, csrf: &str) -> (StatusCode, String) {
    let body = format!("_csrf={csrf}&action=engage&scope=global&reason=test&confirm=yes");
    post_kill_switch(app, cookie, &format!("http://{HOST}"), body).await
}

/// Posts the kill switch form `body` from a page of `origin`: the status and the answer.
async fn post_kill_switch(
    app: &Router,
    cookie: &str,
    origin: &str,
    body: String,
) -> (StatusCode, String) {
    let req = Request::post("/ui/kill-switches")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, origin)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let (status, _, body) = send(app, req).await;
    (status, body)
}

/// The status of [`post_kill_switch`].
async fn post_engage(app: &Router, cookie: &str, origin: &str, body: String) -> StatusCode {
    post_kill_switch(app, cookie, origin, body).await.0
}

/// Whether the global kill switch is engaged, as the API reads it.
async fn engaged(app: &Router) -> bool {
    let req = Request::get("/api/kill-switches")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
        .body(Body::empty())
        .unwrap();
    let (_, _, body) = send(app, req).await;
    !body.contains("\"kill_switches\":[]")
}

#[tokio::test]
async fn the_session_cookie_is_http_only_same_site_strict_and_scoped_to_the_ui() {
    let app = plane(false).await;
    let req = Request::post("/ui/login")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, format!("http://{HOST}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={ADMIN}")))
        .unwrap();
    let (status, headers, _) = send(&app, req).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookies: Vec<&str> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let attributes: Vec<String> = cookies[0]
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    for wanted in ["httponly", "samesite=strict", "path=/ui"] {
        assert!(
            attributes.iter().any(|a| a == wanted),
            "{wanted}: {cookies:?}"
        );
    }
    assert!(cookies[0].starts_with("toolgate_ui="), "{cookies:?}");
}

#[tokio::test]
async fn a_change_needs_the_sessions_csrf_token_and_the_uis_own_origin() {
    let app = plane(false).await;
    let cookie = sign_in(&app, ADMIN).await;
    let (_, html) = page(&app, &cookie, "/ui").await;
    let token = csrf(&html);
    let same = format!("http://{HOST}");
    let form = "action=engage&scope=global&reason=test&confirm=yes";

    // A valid session from the UI's own origin, but no token or a wrong one: refused.
    for body in [
        form.to_owned(),
        format!("_csrf=&{form}"),
        format!("_csrf=tg_not-the-token&{form}"),
        format!("_csrf={token}x&{form}"),
    ] {
        assert_eq!(
            post_engage(&app, &cookie, &same, body.clone()).await,
            StatusCode::FORBIDDEN,
            "{body}"
        );
    }
    // Another session's token is not this one's.
    let other = sign_in(&app, ADMIN).await;
    let (_, other_html) = page(&app, &other, "/ui").await;
    assert_ne!(csrf(&other_html), token);
    let body = format!("_csrf={}&{form}", csrf(&other_html));
    assert_eq!(
        post_engage(&app, &cookie, &same, body).await,
        StatusCode::FORBIDDEN
    );
    // A wrong token in the header is refused even with the right one in the form.
    let req = Request::post("/ui/kill-switches")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, &same)
        .header(header::COOKIE, &cookie)
        .header("x-csrf-token", "tg_not-the-token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("_csrf={token}&{form}")))
        .unwrap();
    assert_eq!(send(&app, req).await.0, StatusCode::FORBIDDEN);
    // From another site, the right token does not help.
    for origin in ["http://evil.example", "null", "http://127.0.0.1:9999"] {
        let body = format!("_csrf={token}&{form}");
        assert_eq!(
            post_engage(&app, &cookie, origin, body).await,
            StatusCode::FORBIDDEN,
            "{origin}"
        );
    }
    assert!(!engaged(&app).await, "a refused change was made");

    // The right token, in the form or in the header, from the UI's own origin: done.
    let status = post_engage(&app, &cookie, &same, format!("_csrf={token}&{form}")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(engaged(&app).await);
    let req = Request::post("/ui/kill-switches")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, &same)
        .header(header::COOKIE, &cookie)
        .header("x-csrf-token", &token)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("action=release&scope=global&confirm=yes"))
        .unwrap();
    let (status, _, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert!(!engaged(&app).await, "released with the header's token");
}

#[tokio::test]
async fn a_role_token_signs_in_with_its_role() {
    let app = plane(false).await;
    let cookie = sign_in(&app, APPROVER).await;
    let (status, html) = page(&app, &cookie, "/ui").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("april · approver"), "{html}");
    assert!(!html.contains("Engage a kill switch"), "{html}");
    let (status, body) = engage(&app, &cookie, &csrf(&html)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("role is approver"), "{body}");

    // The admin token may.
    let cookie = sign_in(&app, ADMIN).await;
    let (_, html) = page(&app, &cookie, "/ui").await;
    assert!(html.contains("admin-token · admin") && html.contains("Engage a kill switch"));
    let (status, body) = engage(&app, &cookie, &csrf(&html)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
}

#[tokio::test]
async fn a_read_only_ui_changes_nothing_whatever_the_token() {
    let app = plane(true).await;
    let cookie = sign_in(&app, ADMIN).await;
    let (status, html) = page(&app, &cookie, "/ui").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("admin-token · viewer"), "{html}");
    assert!(html.contains("read-only"), "{html}");
    assert!(!html.contains("Engage a kill switch"), "{html}");
    let (_, grants) = page(&app, &cookie, "/ui/grants").await;
    assert!(!grants.contains("create-grant"), "{grants}");
    let (status, body) = engage(&app, &cookie, &csrf(&html)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // The JSON API is not the UI: the admin token still changes things there.
    let req = Request::get("/api/kill-switches")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("\"kill_switches\":[]"), "{body}");
    let req = Request::post("/api/kill-switches")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"scope":"global","reason":"api"}"#))
        .unwrap();
    let (status, _, body) = send(&app, req).await;
    assert!(status.is_success(), "{status}: {body}");
}

/// `GET /api/kill-switches` with `token`: the status.
async fn api_status(app: &Router, token: &str) -> StatusCode {
    let req = Request::get("/api/kill-switches")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    send(app, req).await.0
}

#[tokio::test]
async fn a_reload_applies_to_open_sessions_and_the_api_from_the_next_request() {
    let live = LiveAccess::new(access(Role::Approver, false));
    let app = plane_with(live.clone()).await;
    let admin = sign_in(&app, ADMIN).await;
    let april = sign_in(&app, APPROVER).await;

    // april becomes an admin: her open session may now throw a kill switch.
    assert!(live.replace(access(Role::Admin, false)));
    let (_, html) = page(&app, &april, "/ui").await;
    assert!(html.contains("april · admin"), "{html}");
    assert!(html.contains("Engage a kill switch"), "{html}");

    // The UI turns read-only: the admin's open session reads and changes nothing.
    live.replace(access(Role::Admin, true));
    let (_, html) = page(&app, &admin, "/ui").await;
    assert!(html.contains("admin-token · viewer"), "{html}");
    assert!(!html.contains("Engage a kill switch"), "{html}");
    let (status, body) = engage(&app, &admin, &csrf(&html)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Read-write again: the same session may.
    live.replace(access(Role::Admin, false));
    let (_, html) = page(&app, &admin, "/ui").await;
    assert!(html.contains("admin-token · admin"), "{html}");
    let (status, body) = engage(&app, &admin, &csrf(&html)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");

    // april's token is removed: her session is over, the API refuses the token, and it signs in
    // no more.
    assert_eq!(api_status(&app, APPROVER).await, StatusCode::OK);
    live.replace(Access::new(AdminAuth::from_token(ADMIN)));
    let req = Request::get("/ui")
        .header(header::HOST, HOST)
        .header(header::COOKIE, &april)
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = send(&app, req).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        headers[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/ui/login"),
        "{headers:?}"
    );
    assert_eq!(api_status(&app, APPROVER).await, StatusCode::UNAUTHORIZED);
    let req = Request::post("/ui/login")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, format!("http://{HOST}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={APPROVER}")))
        .unwrap();
    assert_eq!(send(&app, req).await.0, StatusCode::UNAUTHORIZED);
    let (status, _) = page(&app, &admin, "/ui").await;
    assert_eq!(status, StatusCode::OK, "the admin's session stays");
}
