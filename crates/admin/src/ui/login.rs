//! Signing in and out. An operator signs in with an admin token (the one the JSON API takes, or a
//! role token of `[admin.tokens.*]`); with no token configured, the local operator of a loopback
//! admin listener signs in without one. `toolgate demo` prints a link that signs in once. A
//! sign-in opens a session ([`super::session`]); in read-only mode every session is a viewer's.

use super::Ui;
use super::access::{Operator, Peer, UiError, same_origin};
use super::assets::CSS_URL;
use super::session;
use crate::auth::AdminAuth;
use crate::role::Role;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use maud::{DOCTYPE, html};
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;

/// A wrong token costs this long, so guessing is slow.
const FAILED_SIGN_IN_DELAY: Duration = Duration::from_millis(400);

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignIn {
    #[serde(default)]
    token: String,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct OnceQuery {
    token: String,
}

pub(crate) async fn form(
    State(ui): State<Ui>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let local = tokenless_allowed(&ui, peer, &headers);
    render(&ui, q.next.as_deref(), None, local, StatusCode::OK)
}

pub(crate) async fn submit(
    State(ui): State<Ui>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Form(f): Form<SignIn>,
) -> Response {
    if let Err(why) = same_origin(&headers) {
        return UiError::new(StatusCode::FORBIDDEN, why).into_response();
    }
    let local = tokenless_allowed(&ui, peer, &headers);
    match credential(&ui.app.auth, f.token.trim(), local) {
        Some((who, role)) => open(&ui, who, role, f.next.as_deref()),
        None => {
            tokio::time::sleep(FAILED_SIGN_IN_DELAY).await;
            let why = if f.token.trim().is_empty() {
                "enter an admin token"
            } else {
                "that token is not an admin token of this gateway"
            };
            render(
                &ui,
                f.next.as_deref(),
                Some(why),
                local,
                StatusCode::UNAUTHORIZED,
            )
        }
    }
}

/// `GET /ui/login/once?token=…`: the link `toolgate demo` prints; it works once.
pub(crate) async fn once(State(ui): State<Ui>, Query(q): Query<OnceQuery>) -> Response {
    let presented = toolgate_store::token::hash(&q.token);
    let taken = {
        let mut slot = ui.one_time_login.lock().unwrap_or_else(|e| e.into_inner());
        match &*slot {
            Some(expected) if session::same_hash(&expected.0, &presented.0) => slot.take(),
            _ => None,
        }
    };
    if taken.is_none() {
        tokio::time::sleep(FAILED_SIGN_IN_DELAY).await;
        return UiError::new(
            StatusCode::UNAUTHORIZED,
            "this sign-in link has been used already (or is not one of this gateway's); sign in with an admin token",
        )
        .into_response();
    }
    open(&ui, "one-time-link".to_owned(), Role::Admin, None)
}

pub(crate) async fn logout(
    State(ui): State<Ui>,
    Extension(_op): Extension<Operator>,
    headers: HeaderMap,
) -> Response {
    if let Some(id) = session::cookie_value(&headers) {
        ui.sessions.close(id);
    }
    let mut res = Redirect::to("/ui/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie()) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// Who a token (or, where allowed, no token) signs in as.
fn credential(auth: &AdminAuth, token: &str, local: bool) -> Option<(String, Role)> {
    match auth {
        AdminAuth::Token(expected) if !token.is_empty() => {
            let presented = toolgate_store::token::hash(token);
            session::same_hash(&expected.0, &presented.0)
                .then(|| ("admin-token".to_owned(), Role::Admin))
        }
        AdminAuth::Token(_) => None,
        AdminAuth::LoopbackOnly => local.then(|| ("local".to_owned(), Role::Admin)),
    }
}

/// True when no admin token is configured and the request is local beyond doubt (the admin
/// API's own rule).
fn tokenless_allowed(ui: &Ui, peer: Option<SocketAddr>, headers: &HeaderMap) -> bool {
    ui.app.auth.is_loopback_only() && local_request(peer, headers)
}

/// A request made on this machine, directly: a loopback peer, no proxy's headers, a loopback
/// `Host`.
fn local_request(peer: Option<SocketAddr>, headers: &HeaderMap) -> bool {
    const PROXY_HEADERS: [&str; 9] = [
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-forwarded-port",
        "x-real-ip",
        "x-client-ip",
        "true-client-ip",
        "via",
    ];
    let loopback_host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| {
            let name = match h.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or(""),
                None => h.rsplit_once(':').map_or(h, |(n, _)| n),
            };
            name.eq_ignore_ascii_case("localhost")
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
    peer.is_some_and(|p| p.ip().is_loopback())
        && !PROXY_HEADERS.iter().any(|h| headers.contains_key(*h))
        && loopback_host
}

/// Opens a session and sends the browser on to `next` (a UI page) or the overview.
fn open(ui: &Ui, who: String, role: Role, next: Option<&str>) -> Response {
    let role = if ui.read_only { Role::Viewer } else { role };
    tracing::info!(who, role = %role, "signed in to the web UI");
    let id = ui.sessions.open(who, role, crate::now_ms());
    let target = next
        .filter(|n| {
            (*n == "/ui" || n.starts_with("/ui/") || n.starts_with("/ui?"))
                && !n.starts_with("/ui//")
                && !n.contains('\\')
        })
        .unwrap_or("/ui");
    let mut res = Redirect::to(target).into_response();
    if let Ok(v) = HeaderValue::from_str(&session::set_cookie(&id)) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

fn render(
    ui: &Ui,
    next: Option<&str>,
    error: Option<&str>,
    local: bool,
    status: StatusCode,
) -> Response {
    let tokenless = ui.app.auth.is_loopback_only();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Sign in · toolgate" }
                link rel="stylesheet" href=(CSS_URL);
                link rel="icon" href=(super::assets::ICON_URL);
            }
            body {
                main.narrow #main {
                    h1 { "Sign in to toolgate" }
                    @if let Some(e) = error { p.notice.error role="alert" { (e) } }
                    form method="post" action="/ui/login" {
                        @if let Some(n) = next { input type="hidden" name="next" value=(n); }
                        @if tokenless {
                            @if local {
                                p { "No admin token is configured: this admin listener serves this machine only, and you are on it." }
                                button type="submit" { "Continue as the local admin" }
                            } @else {
                                p.notice.error role="alert" { "No admin token is configured, so the UI serves requests from this machine only, made directly (not through a proxy)." }
                            }
                        } @else {
                            label for="token" { "Admin token" }
                            input #token type="password" name="token" autocomplete="current-password" required autofocus;
                            button type="submit" { "Sign in" }
                            p.hint { "An admin token ([admin] token_sha256, TOOLGATE_ADMIN_TOKEN) or a role token of [admin.tokens.*]." }
                        }
                    }
                }
            }
        }
    };
    (status, Html(page.into_string())).into_response()
}
