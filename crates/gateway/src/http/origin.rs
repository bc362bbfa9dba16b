//! DNS-rebinding protection: a browser page from a foreign origin must not reach a gateway on
//! loopback. Requests without `Origin` (every non-browser client) pass; browser requests pass
//! only from loopback origins or origins the operator listed.

use http::HeaderMap;

/// True when the request's `Origin` (if any) may call the gateway.
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(http::header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    is_loopback_origin(origin)
}

/// An `http(s)://` origin whose host is a loopback name (the same test as for `Host`).
fn is_loopback_origin(origin: &str) -> bool {
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|host| !host.contains('/') && super::headers::is_loopback_host(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(origin: Option<&str>, allowed: &[&str]) -> bool {
        let mut h = HeaderMap::new();
        if let Some(o) = origin {
            h.insert(http::header::ORIGIN, o.parse().unwrap());
        }
        origin_allowed(
            &h,
            &allowed.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    }

    #[test]
    fn loopback_and_listed_origins_pass() {
        assert!(check(None, &[]));
        assert!(check(Some("http://localhost:6274"), &[]));
        assert!(check(Some("http://127.0.0.1"), &[]));
        assert!(check(Some("http://[::1]:3000"), &[]));
        assert!(check(
            Some("https://agents.example.com"),
            &["https://agents.example.com"]
        ));
    }

    #[test]
    fn foreign_origins_are_refused() {
        assert!(!check(Some("http://evil.example"), &[]));
        assert!(!check(Some("http://localhost.evil.example"), &[]));
        assert!(!check(Some("http://127.0.0.1.evil.example"), &[]));
        assert!(!check(Some("null"), &[]));
        assert!(!check(Some("http://[::1].evil"), &[]));
    }
}
