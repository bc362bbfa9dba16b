//! Strict reading of the request headers security decisions rest on. A header that comes twice
//! could be read one way here and another way by a proxy or an upstream, so each of these must
//! come at most once; `Host` must be there (HTTP/1.1) and be the gateway's own, the second half
//! of DNS-rebinding protection beside the `Origin` check; and `MCP-Protocol-Version`, when sent,
//! must be a version the gateway speaks.

use crate::rejection::Rejection;
use http::{HeaderMap, Version};
use std::net::IpAddr;

/// Headers that may come at most once, with the name a refusal gives them.
const SINGLE: [(http::HeaderName, &str); 5] = [
    (http::header::HOST, "Host"),
    (http::header::ORIGIN, "Origin"),
    (http::header::AUTHORIZATION, "Authorization"),
    (
        http::HeaderName::from_static(toolgate_mcp::SESSION_HEADER),
        "Mcp-Session-Id",
    ),
    (
        http::HeaderName::from_static(toolgate_mcp::PROTOCOL_VERSION_HEADER),
        "MCP-Protocol-Version",
    ),
];

/// Which `Host` values name this gateway.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostRule<'a> {
    /// Loopback names (`localhost`, `127.x.y.z`, `[::1]`) are the gateway's own: it listens on
    /// loopback (or on every address).
    pub loopback: bool,
    /// The address it listens on, as a literal host (`10.0.0.5`), when it names one.
    pub listen: Option<IpAddr>,
    /// `[gateway] allowed_hosts`: further names, without port (`gateway.example.com`), or `*`.
    pub allowed: &'a [String],
}

impl<'a> HostRule<'a> {
    /// The rule for a gateway listening on `listen`, with `allowed` hosts besides.
    pub fn new(listen: std::net::SocketAddr, allowed: &'a [String]) -> Self {
        let ip = listen.ip();
        HostRule {
            loopback: ip.is_loopback() || ip.is_unspecified(),
            listen: (!ip.is_unspecified()).then_some(ip),
            allowed,
        }
    }

    fn admits(&self, host: &str) -> bool {
        let name = host_name(host);
        (self.loopback && is_loopback_name(name))
            || self
                .listen
                .is_some_and(|ip| name.parse::<IpAddr>().is_ok_and(|h| h == ip))
            || self
                .allowed
                .iter()
                .any(|a| a == "*" || a.eq_ignore_ascii_case(name))
    }
}

/// Checks the headers of a request to the data plane.
pub fn check(headers: &HeaderMap, version: Version, hosts: &HostRule) -> Result<(), Rejection> {
    for (header, name) in &SINGLE {
        let mut values = headers.get_all(header).iter();
        if values.next().is_some() && values.next().is_some() {
            return Err(Rejection::DuplicateHeader(name));
        }
    }
    match headers.get(http::header::HOST) {
        None if version == Version::HTTP_11 => return Err(Rejection::MissingHost),
        None => {}
        Some(host) => {
            let host = host.to_str().unwrap_or("");
            if !hosts.admits(host) {
                return Err(Rejection::HostNotAllowed(host.to_owned()));
            }
        }
    }
    if let Some(v) = headers.get(toolgate_mcp::PROTOCOL_VERSION_HEADER) {
        let v = String::from_utf8_lossy(v.as_bytes());
        if !toolgate_mcp::SUPPORTED_PROTOCOL_VERSIONS.contains(&v.as_ref()) {
            return Err(Rejection::UnsupportedProtocolVersion(v.into_owned()));
        }
    }
    Ok(())
}

/// The name part of a `Host` value: without its port, IPv6 without brackets.
fn host_name(host: &str) -> &str {
    if let Some(v6) = host.strip_prefix('[') {
        // `[addr]` or `[addr]:port`, nothing else after the bracket.
        return match v6.split_once(']') {
            Some((addr, rest)) if rest.is_empty() || rest.starts_with(':') => addr,
            _ => "",
        };
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

fn is_loopback_name(name: &str) -> bool {
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(is_loopback_ip)
}

/// A loopback address, IPv4-mapped ones included.
pub fn is_loopback_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
pub fn is_loopback_host(host: &str) -> bool {
    is_loopback_name(host_name(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn loopback() -> HostRule<'static> {
        HostRule::new(([127, 0, 0, 1], 8080).into(), &[])
    }

    #[test]
    fn a_header_security_rests_on_comes_once() {
        for name in [
            "host",
            "origin",
            "authorization",
            "mcp-session-id",
            "mcp-protocol-version",
        ] {
            let mut pairs = vec![("host", "127.0.0.1:8080")];
            let value = if name == "mcp-protocol-version" {
                "2025-11-25"
            } else if name == "host" {
                "localhost:8080"
            } else {
                "x"
            };
            pairs.push((name, value));
            pairs.push((name, value));
            let e = check(&headers(&pairs), Version::HTTP_11, &loopback()).unwrap_err();
            assert!(matches!(e, Rejection::DuplicateHeader(_)), "{name}: {e:?}");
            assert!(e.message().to_ascii_lowercase().contains(name), "{e:?}");
        }
    }

    #[test]
    fn host_must_be_present_and_the_gateways_own() {
        assert_eq!(
            check(&headers(&[]), Version::HTTP_11, &loopback()),
            Err(Rejection::MissingHost)
        );
        for ok in ["127.0.0.1:8080", "localhost", "[::1]:8080", "127.0.0.2"] {
            assert_eq!(
                check(&headers(&[("host", ok)]), Version::HTTP_11, &loopback()),
                Ok(()),
                "{ok}"
            );
        }
        for bad in [
            "evil.example",
            "localhost.evil.example:80",
            "10.0.0.1:8080",
            "",
        ] {
            assert!(
                matches!(
                    check(&headers(&[("host", bad)]), Version::HTTP_11, &loopback()),
                    Err(Rejection::HostNotAllowed(_))
                ),
                "{bad}"
            );
        }
        let names = ["gateway.example.com".to_owned()];
        let listed = HostRule::new(([10, 0, 0, 5], 8080).into(), &names);
        assert_eq!(
            check(
                &headers(&[("host", "10.0.0.5:8080")]),
                Version::HTTP_11,
                &listed
            ),
            Ok(()),
            "the address it listens on"
        );
        assert_eq!(
            check(
                &headers(&[("host", "Gateway.Example.com:443")]),
                Version::HTTP_11,
                &listed
            ),
            Ok(())
        );
        assert!(
            check(
                &headers(&[("host", "localhost")]),
                Version::HTTP_11,
                &listed
            )
            .is_err()
        );
    }

    #[test]
    fn protocol_version_must_be_one_the_gateway_speaks() {
        let h = |v| headers(&[("host", "localhost"), ("mcp-protocol-version", v)]);
        assert_eq!(
            check(&h("2025-06-18"), Version::HTTP_11, &loopback()),
            Ok(())
        );
        assert_eq!(
            check(&h("2024-01-01"), Version::HTTP_11, &loopback()),
            Err(Rejection::UnsupportedProtocolVersion("2024-01-01".into()))
        );
    }
}
