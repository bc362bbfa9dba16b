//! The client capabilities of an `initialize`, as far as the gateway must honour them: which
//! server-to-client requests a server may send (`roots/list` needs `roots`,
//! `sampling/createMessage` needs `sampling`, `elicitation/create` needs `elicitation`), and
//! whether a client declared any capability at all — a client that did may see tools and
//! requests other clients must not, so it never shares a stdio child.

use serde::Deserialize;
use serde_json::value::RawValue;

/// The capabilities a client (or the gateway, for a child it shares) declared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCapabilities {
    pub roots: bool,
    pub sampling: bool,
    pub elicitation: bool,
    /// Any other capability (`experimental`, `tasks`, extensions, …).
    pub other: bool,
}

impl ClientCapabilities {
    /// The capabilities in an `initialize` request's `params` (missing or unreadable: none);
    /// a member whose value is `null` is not declared.
    pub fn of_initialize(params: Option<&RawValue>) -> ClientCapabilities {
        #[derive(Deserialize)]
        struct Params<'a> {
            #[serde(borrow)]
            capabilities: Option<&'a RawValue>,
        }
        params
            .and_then(|p| serde_json::from_str::<Params<'_>>(p.get()).ok())
            .and_then(|p| p.capabilities)
            .map_or_else(ClientCapabilities::default, |c| Self::of_value(c.get()))
    }

    /// The capabilities of a `capabilities` object given as JSON text.
    pub fn of_value(json: &str) -> ClientCapabilities {
        let Ok(serde_json::Value::Object(members)) = serde_json::from_str(json) else {
            return ClientCapabilities::default();
        };
        let mut out = ClientCapabilities::default();
        for (name, value) in members {
            if value.is_null() {
                continue;
            }
            match name.as_str() {
                "roots" => out.roots = true,
                "sampling" => out.sampling = true,
                "elicitation" => out.elicitation = true,
                _ => out.other = true,
            }
        }
        out
    }

    /// Whether the client declared any capability.
    pub fn any(self) -> bool {
        self.roots || self.sampling || self.elicitation || self.other
    }

    /// Whether a server may send the request `method` to this client. Unknown methods are not
    /// allowed: the gateway relays only what it knows a client agreed to. (`ping` is always
    /// allowed; the gateway answers it itself.)
    pub fn allows_request(self, method: &str) -> bool {
        match method {
            "ping" => true,
            "roots/list" => self.roots,
            "sampling/createMessage" => self.sampling,
            "elicitation/create" => self.elicitation,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(params: &str) -> ClientCapabilities {
        let raw = RawValue::from_string(params.to_owned()).unwrap();
        ClientCapabilities::of_initialize(Some(&raw))
    }

    #[test]
    fn reads_what_a_client_declared() {
        let none = of(r#"{"protocolVersion":"2025-11-25","capabilities":{}}"#);
        assert!(!none.any());
        assert!(!of(r#"{"capabilities":{"roots":null,"sampling":null}}"#).any());
        assert!(!of(r#"{"protocolVersion":"2025-11-25"}"#).any());
        let roots = of(r#"{"capabilities":{"roots":{"listChanged":true}}}"#);
        assert!(roots.any() && roots.roots && !roots.sampling);
        assert!(of(r#"{"capabilities":{"experimental":{"x":{}}}}"#).any());
        assert!(!ClientCapabilities::of_initialize(None).any());
    }

    #[test]
    fn a_server_request_needs_its_capability() {
        let roots = ClientCapabilities::of_value(r#"{"roots":{}}"#);
        assert!(roots.allows_request("roots/list"));
        assert!(!roots.allows_request("sampling/createMessage"));
        assert!(!roots.allows_request("elicitation/create"));
        assert!(
            !roots.allows_request("tasks/get"),
            "unknown requests are refused"
        );
        assert!(ClientCapabilities::default().allows_request("ping"));
        let all = ClientCapabilities::of_value(r#"{"sampling":{},"elicitation":{}}"#);
        assert!(
            all.allows_request("sampling/createMessage")
                && all.allows_request("elicitation/create")
        );
    }
}
