//! Signing in and out. An operator signs in with an admin token (the one the JSON API takes, or a
//! role token of `[admin.tokens.*]`); with no token configured, the local operator of a loopback
//! admin listener signs in without one. `toolgate demo` prints a link that signs in once. A
//! sign-in opens a session ([`super::session`]); in read-only mode every session is a viewer's.

use super::Ui;
use super::access::{Operator, Peer, UiError, same_origin};
use super::assets::CSS_URL;
use super::session::{self, Basis};
use crate::auth::AdminAuth;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use maud::{DOCTYPE, html};
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;
use toolgate_store::TokenHash;

/// A wrong token costs this long, so guessing is slow.
const FAILED_SIGN_IN_DELAY: Duration = Duration::from_millis(400);

/// A sign-in link's secret that works once, until it expires: `GET /ui/login/once?token=…`
/// signs in as an admin and spends it.
#[derive(Debug, Clone)]
pub struct OneTimeLogin {
    token_sha256: TokenHash,
    expires_at_ms: u64,
}

impl OneTimeLogin {
    /// A new link valid for `valid_for` from now: the secret (for the link, shown once; only its
    /// hash is kept) and the login to hand the UI.
    pub fn issue(valid_for: Duration) -> (String, OneTimeLogin) {
        let secret = toolgate_store::token::generate();
        let login = OneTimeLogin {
            token_sha256: secret.hash(),
            expires_at_ms: crate::now_ms()
                .saturating_add(u64::try_from(valid_for.as_millis()).unwrap_or(u64::MAX)),
        };
        (secret.as_str().to_owned(), login)
    }

    /// The link's path and query on the admin listener.
    pub fn path(secret: &str) -> String {
        format!(
            "/ui/login/once?token={}",
            super::access::encode_component(secret)
        )
    }
}

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
    let access = ui.app.access.current();
    match credential(&access.auth, f.token.trim(), local) {
        Some((who, basis)) => open(&ui, who, basis, f.next.as_deref()),
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

/// `GET /ui/login/once?token=…`: the link `toolgate demo` prints; it works once, and not after it
/// expires.
pub(crate) async fn once(State(ui): State<Ui>, Query(q): Query<OnceQuery>) -> Response {
    let presented = toolgate_store::token::hash(&q.token);
    let taken = {
        let mut slot = ui.one_time_login.lock().unwrap_or_else(|e| e.into_inner());
        match &*slot {
            Some(expected) if session::same_hash(&expected.token_sha256.0, &presented.0) => {
                slot.take()
            }
            _ => None,
        }
    };
    let refusal = match taken {
        Some(login) if crate::now_ms() < login.expires_at_ms => None,
        Some(_) => Some("this sign-in link has expired; sign in with an admin token"),
        None => Some(
            "this sign-in link has been used already (or is not one of this gateway's); sign in with an admin token",
        ),
    };
    if let Some(why) = refusal {
        tokio::time::sleep(FAILED_SIGN_IN_DELAY).await;
        return UiError::new(StatusCode::UNAUTHORIZED, why).into_response();
    }
    open(&ui, "one-time-link".to_owned(), Basis::OneTimeLink, None)
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

/// Who a token (or, where allowed, no token) signs in as: the admin API's own credentials.
fn credential(auth: &AdminAuth, token: &str, local: bool) -> Option<(String, Basis)> {
    match auth {
        AdminAuth::Tokens(_) => auth
            .credential(token)
            .map(|c| (c.label.clone(), Basis::Token(c.token_sha256))),
        AdminAuth::LoopbackOnly => local.then(|| ("local".to_owned(), Basis::Local)),
    }
}

/// True when no admin token is configured and the request is local beyond doubt (the admin
/// API's own rule, [`crate::auth::local_request`]).
fn tokenless_allowed(ui: &Ui, peer: Option<SocketAddr>, headers: &HeaderMap) -> bool {
    ui.app.access.current().auth.is_loopback_only()
        && crate::auth::local_request(peer, headers).is_ok()
}

/// Opens a session and sends the browser on to `next` (a UI page) or the overview.
fn open(ui: &Ui, who: String, basis: Basis, next: Option<&str>) -> Response {
    tracing::info!(who, "signed in to the web UI");
    let id = ui.sessions.open(who, basis, crate::now_ms());
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
    let tokenless = ui.app.access.current().auth.is_loopback_only();
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
