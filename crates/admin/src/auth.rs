//! Who may use the admin plane, and what they may do there (as the configuration says now:
//! [`crate::access`]). With admin tokens configured (the
//! admin token, `[admin] token_sha256` or `TOOLGATE_ADMIN_TOKEN`, and role tokens,
//! `[admin.tokens.<label>]`), every request must carry `Authorization: Bearer <token>` (compared
//! by its SHA-256 with every configured one, in constant time), and the token's role decides what
//! it may do ([`crate::role::api_permission`]): a viewer reads, an approver also decides held
//! calls, an admin does everything. Without any (only allowed when the admin listener is bound to
//! loopback), a request is served, as an admin, only when it is local beyond doubt
//! ([`local_request`]): its TCP peer is a loopback address and it carries no `Forwarded`,
//! `X-Forwarded-*`, `X-Real-IP` or `Via` header (a proxy on the same machine makes every peer
//! loopback). Locality is never inferred from `Host`; but against DNS rebinding `Host` must also
//! name a loopback address, and a browser `Origin`, if sent, must be a loopback one. The actor
//! that admin audit events record names the credential, the real peer and any forwarded-for
//! chain.

use crate::AppState;
use crate::error::{ApiError, ErrorCode};
use crate::role::{self, Role};
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use toolgate_gateway::http::headers::{is_loopback_host, is_loopback_ip};
use toolgate_store::TokenHash;

/// The label of the admin token (`[admin] token_sha256`, `TOOLGATE_ADMIN_TOKEN`), as admin audit
/// events name it.
pub const ADMIN_TOKEN_LABEL: &str = "admin-token";

/// One admin credential: a bearer token's SHA-256, the label audit events name it by, its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCredential {
    pub label: String,
    pub role: Role,
    pub token_sha256: TokenHash,
}

/// How admin requests are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminAuth {
    /// Bearer tokens: every request carries one of these.
    Tokens(Vec<AdminCredential>),
    /// No token: loopback peers only, as admins.
    LoopbackOnly,
}

impl AdminAuth {
    /// The admin token, from its plain text (e.g. `TOOLGATE_ADMIN_TOKEN`).
    pub fn from_token(token: &str) -> AdminAuth {
        AdminAuth::from_sha256(toolgate_store::token::hash(token).0)
    }

    /// The admin token, from its SHA-256 (`[admin] token_sha256`).
    pub fn from_sha256(hash: [u8; 32]) -> AdminAuth {
        AdminAuth::Tokens(vec![AdminCredential {
            label: ADMIN_TOKEN_LABEL.to_owned(),
            role: Role::Admin,
            token_sha256: TokenHash(hash),
        }])
    }

    /// These credentials besides any already configured (`[admin.tokens.*]`). Any credential at
    /// all means every request needs a token.
    pub fn with(self, more: impl IntoIterator<Item = AdminCredential>) -> AdminAuth {
        let mut all = match self {
            AdminAuth::Tokens(c) => c,
            AdminAuth::LoopbackOnly => Vec::new(),
        };
        all.extend(more);
        if all.is_empty() {
            AdminAuth::LoopbackOnly
        } else {
            AdminAuth::Tokens(all)
        }
    }

    pub fn is_loopback_only(&self) -> bool {
        matches!(self, AdminAuth::LoopbackOnly)
    }

    /// The credential `token` is, if any: its SHA-256 is compared with every configured one, with
    /// no early exit.
    pub fn credential(&self, token: &str) -> Option<&AdminCredential> {
        self.by_hash(&TokenHash(Sha256::digest(token.as_bytes()).into()))
    }

    /// The credential whose token hashes to `hash`, if one is configured (a UI session names its
    /// credential so; compared with every one, with no early exit).
    pub fn by_hash(&self, hash: &TokenHash) -> Option<&AdminCredential> {
        let AdminAuth::Tokens(all) = self else {
            return None;
        };
        let mut found = None;
        for c in all {
            if constant_time_eq(&hash.0, &c.token_sha256.0) && found.is_none() {
                found = Some(c);
            }
        }
        found
    }
}

/// Who made an admin request, as admin audit events name them.
#[derive(Debug, Clone)]
pub struct Actor(pub String);

pub(crate) async fn authenticate(
    State(app): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let access = app.access.current();
    let (actor, role) = match &access.auth {
        AdminAuth::Tokens(_) => {
            if req
                .headers()
                .get_all(http::header::AUTHORIZATION)
                .iter()
                .count()
                > 1
            {
                return unauthorized("more than one Authorization header: send exactly one");
            }
            let presented = req
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(bearer);
            let Some(token) = presented else {
                return unauthorized(
                    "missing admin token: send Authorization: Bearer <admin token>",
                );
            };
            let Some(credential) = access.auth.credential(token) else {
                return unauthorized("invalid admin token");
            };
            (credential.label.clone(), credential.role)
        }
        AdminAuth::LoopbackOnly => {
            if let Err(why) = local_request(peer, req.headers()) {
                return ApiError::new(ErrorCode::Forbidden, why).into_response();
            }
            ("loopback".to_owned(), Role::Admin)
        }
    };
    let needs = role::api_permission(req.method(), req.uri().path());
    if !role.allows(needs) {
        return ApiError::new(ErrorCode::Forbidden, role::refusal(role, needs)).into_response();
    }
    let mut actor = match peer {
        Some(p) => format!("{actor}@{}", p.ip()),
        None => actor,
    };
    if let Some(chain) = forwarded_chain(req.headers()) {
        actor.push_str(" forwarded-for ");
        actor.push_str(&chain);
    }
    req.extensions_mut().insert(Actor(actor));
    next.run(req).await
}

fn unauthorized(message: &str) -> Response {
    let mut r = ApiError::new(ErrorCode::Unauthorized, message).into_response();
    r.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer realm=\"toolgate-admin\""),
    );
    r
}

fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Headers a proxy adds: a request that carries any of them did not come from this machine's
/// own user, whatever its TCP peer.
const PROXY_HEADERS: &[&str] = &[
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

/// The forwarding headers a request carries, as one line for the admin audit (at most 256
/// printable characters).
fn forwarded_chain(headers: &http::HeaderMap) -> Option<String> {
    let mut chain = String::new();
    for name in PROXY_HEADERS {
        for value in headers.get_all(*name) {
            if !chain.is_empty() {
                chain.push_str("; ");
            }
            chain.push_str(name);
            chain.push('=');
            chain.extend(
                String::from_utf8_lossy(value.as_bytes())
                    .chars()
                    .map(|c| if c.is_control() { '?' } else { c }),
            );
        }
    }
    if chain.is_empty() {
        return None;
    }
    if chain.len() > 256 {
        let mut end = 256;
        while !chain.is_char_boundary(end) {
            end -= 1;
        }
        chain.truncate(end);
        chain.push('…');
    }
    Some(chain)
}

/// Whether a request is local beyond doubt: a loopback peer, no proxy's headers, one loopback
/// `Host`, and no `Origin` but a loopback one. `Err` says why not. The admin API without a token
/// and the web UI's tokenless sign-in both ask this.
pub(crate) fn local_request(
    peer: Option<SocketAddr>,
    headers: &http::HeaderMap,
) -> Result<(), String> {
    const HELP: &str = "configure an admin token ([admin] token_sha256 or TOOLGATE_ADMIN_TOKEN) to use the admin API from elsewhere";
    match peer {
        Some(p) if is_loopback_ip(p.ip()) => {}
        Some(p) => {
            return Err(format!(
                "no admin token is configured, so the admin API answers loopback clients only (not {}); {HELP}",
                p.ip()
            ));
        }
        None => {
            return Err(format!(
                "no admin token is configured and the client's address is unknown; {HELP}"
            ));
        }
    }
    if let Some(name) = PROXY_HEADERS.iter().find(|h| headers.contains_key(**h)) {
        return Err(format!(
            "no admin token is configured, and this request came through a proxy (it carries {name}); {HELP}"
        ));
    }
    let mut hosts = headers.get_all(http::header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => host.to_str().unwrap_or(""),
        (None, _) => {
            return Err(format!(
                "no admin token is configured, so the admin API needs a Host header naming a loopback address; {HELP}"
            ));
        }
        (Some(_), Some(_)) => {
            return Err(format!(
                "no admin token is configured, and this request carries more than one Host header; {HELP}"
            ));
        }
    };
    if !is_loopback_host(host) {
        return Err(format!(
            "no admin token is configured, so the admin API answers requests for a loopback host only (not {host:?}); {HELP}"
        ));
    }
    if !toolgate_gateway::http::origin::origin_allowed(headers, &[]) {
        return Err(format!(
            "no admin token is configured, so browser requests from other origins are refused; {HELP}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:1",
            "127.1.2.3",
            "[::1]:80",
            "[::1]",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "evil.example",
            "localhost.evil.example:80",
            "10.0.0.1:8080",
            "[::2]:80",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn only_plain_loopback_requests_are_local() {
        let peer = Some(SocketAddr::from(([127, 0, 0, 1], 5000)));
        let headers = |pairs: &[(&str, &str)]| {
            let mut h = http::HeaderMap::new();
            for (k, v) in pairs {
                h.append(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    http::HeaderValue::from_str(v).unwrap(),
                );
            }
            h
        };
        assert!(local_request(peer, &headers(&[("host", "127.0.0.1:9")])).is_ok());
        // What a default reverse proxy sends still needs one of these to pass; any proxy header
        // makes the request remote.
        for proxy in PROXY_HEADERS {
            let h = headers(&[("host", "127.0.0.1:9"), (proxy, "203.0.113.7")]);
            let why = local_request(peer, &h).unwrap_err();
            assert!(why.contains(proxy), "{why}");
        }
        assert!(local_request(peer, &headers(&[])).is_err(), "no Host");
        assert!(
            local_request(
                peer,
                &headers(&[("host", "127.0.0.1:9"), ("host", "localhost:9")])
            )
            .is_err(),
            "two Hosts"
        );
        let remote = Some(SocketAddr::from(([10, 0, 0, 2], 5000)));
        assert!(local_request(remote, &headers(&[("host", "127.0.0.1:9")])).is_err());
    }

    #[test]
    fn forwarded_chain_is_recorded_bounded_and_printable() {
        let mut h = http::HeaderMap::new();
        assert_eq!(forwarded_chain(&h), None);
        h.append("x-forwarded-for", "203.0.113.7, 10.0.0.1".parse().unwrap());
        h.append("forwarded", "for=198.51.100.2".parse().unwrap());
        assert_eq!(
            forwarded_chain(&h).unwrap(),
            "forwarded=for=198.51.100.2; x-forwarded-for=203.0.113.7, 10.0.0.1"
        );
        h.append("via", "x".repeat(1000).parse().unwrap());
        assert!(forwarded_chain(&h).unwrap().chars().count() <= 257);
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
