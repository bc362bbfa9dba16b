//! Who may reach a page and what they may change. Every answer carries headers that keep it out
//! of frames, caches and other origins' scripts. Pages need a session; a change (any method but
//! GET/HEAD) needs more: the browser must say the request comes from this very origin
//! (`Sec-Fetch-Site`, `Origin`), and it must carry the session's CSRF token — so a form posted by
//! another site is refused even where a browser would send the cookie.

use super::Ui;
use super::session::{self, Session};
use crate::auth::Actor;
use crate::role::{Permission, Role};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::{HeaderValue, Method, StatusCode, header};
use std::net::SocketAddr;

/// Largest form the UI takes (a policy document).
const MAX_FORM_BYTES: usize = 4 * 1024 * 1024;

/// The signed-in operator of a request.
#[derive(Debug, Clone)]
pub(crate) struct Operator {
    pub who: String,
    pub role: Role,
    pub csrf: String,
    /// As admin audit events record it: `ui:<who>@<peer>`.
    pub actor: Actor,
}

impl Operator {
    pub fn may(&self, what: Permission) -> bool {
        self.role.allows(what)
    }

    /// Refuses the request unless the operator's role allows `what`.
    pub fn require(&self, what: Permission) -> Result<(), UiError> {
        if self.may(what) {
            Ok(())
        } else {
            Err(UiError::new(
                StatusCode::FORBIDDEN,
                crate::role::refusal(self.role, what),
            ))
        }
    }
}

/// The TCP peer of a request, when the server recorded it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub Option<SocketAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

/// Security headers on every UI answer.
pub(crate) async fn headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut http::HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // Not `no-referrer`: browsers then send `Origin: null` with same-origin form posts.
    set(h, header::REFERRER_POLICY, "same-origin");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    res
}

/// Resolves the session (else: sign in first) and the operator's standing under the access in
/// force (a session whose credential a reload removed is over), guards changes, and hands the
/// handler an [`Operator`].
pub(crate) async fn require_session(
    State(ui): State<Ui>,
    mut req: Request,
    next: Next,
) -> Response {
    let now = crate::now_ms();
    let access = ui.app.access.current();
    let standing = session::cookie_value(req.headers()).and_then(|id| {
        let session = ui.sessions.get(id, now)?;
        match session.standing(&access) {
            Some(now_as) => Some((session, now_as)),
            None => {
                tracing::info!(
                    who = session.who,
                    "a web UI session ends: what it signed in with is no longer configured"
                );
                ui.sessions.close(id);
                None
            }
        }
    });
    let Some((session, (who, role))) = standing else {
        if matches!(*req.method(), Method::GET | Method::HEAD) {
            let next = req
                .extensions()
                .get::<axum::extract::OriginalUri>()
                .and_then(|u| u.0.path_and_query())
                .map_or("/ui", |p| p.as_str())
                .to_owned();
            return Redirect::to(&format!("/ui/login?next={}", encode_component(&next)))
                .into_response();
        }
        return UiError::new(
            StatusCode::UNAUTHORIZED,
            "you are not signed in (or your session ended): sign in again",
        )
        .into_response();
    };
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        if let Err(why) = same_origin(req.headers()) {
            return UiError::new(StatusCode::FORBIDDEN, why).into_response();
        }
        req = match with_csrf_checked(req, &session).await {
            Ok(req) => req,
            Err(e) => return e.into_response(),
        };
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let actor = match peer {
        Some(ip) => format!("ui:{who}@{ip}"),
        None => format!("ui:{who}"),
    };
    req.extensions_mut().insert(Operator {
        who,
        role,
        csrf: session.csrf.clone(),
        actor: Actor(actor),
    });
    next.run(req).await
}

/// Refuses a request a browser marks as coming from another site or origin. Requests from
/// programs that send neither header pass on to the CSRF token check.
pub(crate) fn same_origin(headers: &http::HeaderMap) -> Result<(), &'static str> {
    const REFUSED: &str =
        "cross-site request refused: changes are accepted only from the toolgate UI's own pages";
    if let Some(site) = headers.get("sec-fetch-site") {
        if site.as_bytes() != b"same-origin" {
            return Err(REFUSED);
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().map_err(|_| REFUSED)?;
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .ok_or(REFUSED)?;
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .ok_or(REFUSED)?;
        if !authority.eq_ignore_ascii_case(host) {
            return Err(REFUSED);
        }
    }
    Ok(())
}

/// Checks the CSRF token (header `X-CSRF-Token`, else form field `_csrf`) and gives the request
/// back with its body intact.
async fn with_csrf_checked(req: Request, session: &Session) -> Result<Request, UiError> {
    const MISSING: &str = "this change carries no valid CSRF token (reload the page and try again)";
    if let Some(token) = req.headers().get("x-csrf-token") {
        let ok = token
            .to_str()
            .is_ok_and(|t| session::same_secret(t, &session.csrf));
        return if ok {
            Ok(req)
        } else {
            Err(UiError::new(StatusCode::FORBIDDEN, MISSING))
        };
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(UiError::new(StatusCode::FORBIDDEN, MISSING));
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| UiError::new(StatusCode::PAYLOAD_TOO_LARGE, "the form is too large"))?;
    let token = form_field(&bytes, "_csrf");
    if !token.is_some_and(|t| session::same_secret(&t, &session.csrf)) {
        return Err(UiError::new(StatusCode::FORBIDDEN, MISSING));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// One field of an `application/x-www-form-urlencoded` body.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded_pairs(body)?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn serde_urlencoded_pairs(body: &[u8]) -> Option<Vec<(String, String)>> {
    let text = std::str::from_utf8(body).ok()?;
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&format!("/?{text}").parse().ok()?)
        .ok()
        .map(|q| q.0)
}

/// Percent-encodes a URL component (everything but unreserved characters).
pub(crate) fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A refused or failed UI request: a short page with the reason.
#[derive(Debug)]
pub(crate) struct UiError {
    pub status: StatusCode,
    pub message: String,
}

impl UiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> UiError {
        UiError {
            status,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> UiError {
        UiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<super::call::Failure> for UiError {
    fn from(f: super::call::Failure) -> UiError {
        UiError::new(f.status, f.message)
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let page = maud::html! {
            (maud::DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    title { "toolgate: " (self.status.canonical_reason().unwrap_or("error")) }
                    link rel="stylesheet" href=(super::assets::CSS_URL);
                    link rel="icon" href=(super::assets::ICON_URL);
                }
                body {
                    main.narrow {
                        h1 { (self.status.as_u16()) " " (self.status.canonical_reason().unwrap_or("")) }
                        p.error role="alert" { (self.message) }
                        p { a href="/ui" { "Back to the overview" } }
                    }
                }
            }
        };
        (self.status, Html(page.into_string())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn cross_site_changes_are_refused() {
        let host = ("host", "127.0.0.1:8081");
        assert!(same_origin(&headers(&[host])).is_ok());
        assert!(same_origin(&headers(&[host, ("origin", "http://127.0.0.1:8081")])).is_ok());
        assert!(same_origin(&headers(&[host, ("sec-fetch-site", "same-origin")])).is_ok());
        assert!(same_origin(&headers(&[host, ("origin", "http://evil.example")])).is_err());
        assert!(same_origin(&headers(&[host, ("origin", "null")])).is_err());
        assert!(same_origin(&headers(&[host, ("sec-fetch-site", "cross-site")])).is_err());
        assert!(same_origin(&headers(&[host, ("sec-fetch-site", "same-site")])).is_err());
    }

    #[test]
    fn form_fields_and_encoding() {
        assert_eq!(
            form_field(b"a=1&_csrf=tg%5Fx+y&b=2", "_csrf").as_deref(),
            Some("tg_x y")
        );
        assert_eq!(form_field(b"a=1", "_csrf"), None);
        assert_eq!(encode_component("/ui/a b?c=d"), "%2Fui%2Fa%20b%3Fc%3Dd");
    }
}
