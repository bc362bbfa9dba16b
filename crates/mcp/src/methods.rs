//! The JSON-RPC methods a client may send a server, per MCP protocol version: the gateway forwards
//! these and nothing else. A policy gateway must not forward what it did not decide on, and a
//! lenient server might take `Tools/Call` or `tools/call ` for a tool call the gateway never saw
//! as one; so a method is known only when it matches one of these names byte for byte.

/// What a method is to the gateway, for one protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodKind {
    /// A request a client may send (it has an `id` and expects an answer).
    Request,
    /// A notification a client may send (no `id`).
    Notification,
    /// Not a client-to-server method of this protocol version.
    Unknown,
}

/// Requests every supported version has.
const REQUESTS: &[&str] = &[
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
];

/// Requests added by 2025-11-25 (tasks).
const REQUESTS_2025_11_25: &[&str] = &["tasks/get", "tasks/result", "tasks/list", "tasks/cancel"];

/// Notifications every supported version has.
const NOTIFICATIONS: &[&str] = &[
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
];

/// Notifications added by 2025-11-25.
const NOTIFICATIONS_2025_11_25: &[&str] = &["notifications/tasks/status"];

/// The gateway's own probe answer (protocol 2026-07-28's `server/discover` is answered with an
/// error so that clients fall back to `initialize`); known so that it is never called unknown.
pub const DISCOVER: &str = "server/discover";

/// What `method` is for protocol `version` (`None`: not negotiated yet, the newest version's
/// methods apply). `extra` are methods an operator allowed for this server (experimental
/// requests); they count as requests.
pub fn classify(method: &str, version: Option<&str>, extra: &[String]) -> MethodKind {
    let newest = version.is_none_or(|v| v >= "2025-11-25");
    let is = |names: &[&str]| names.contains(&method);
    if is(REQUESTS) || (newest && is(REQUESTS_2025_11_25)) || method == DISCOVER {
        MethodKind::Request
    } else if is(NOTIFICATIONS) || (newest && is(NOTIFICATIONS_2025_11_25)) {
        MethodKind::Notification
    } else if extra.iter().any(|m| m == method) {
        MethodKind::Request
    } else {
        MethodKind::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_methods_match_byte_for_byte() {
        assert_eq!(classify("tools/call", None, &[]), MethodKind::Request);
        for shape in [
            "Tools/Call",
            "tools/call ",
            " tools/call",
            "tools/call\0",
            "tools//call",
            "tools/",
            "",
        ] {
            assert_eq!(classify(shape, None, &[]), MethodKind::Unknown, "{shape:?}");
        }
    }

    #[test]
    fn methods_follow_the_negotiated_version() {
        assert_eq!(
            classify("tasks/get", Some("2025-11-25"), &[]),
            MethodKind::Request
        );
        assert_eq!(
            classify("tasks/get", Some("2025-06-18"), &[]),
            MethodKind::Unknown
        );
        assert_eq!(
            classify("notifications/initialized", Some("2025-03-26"), &[]),
            MethodKind::Notification
        );
        assert_eq!(
            classify("notifications/tasks/status", Some("2025-03-26"), &[]),
            MethodKind::Unknown
        );
    }

    #[test]
    fn an_operator_may_allow_experimental_methods() {
        let extra = vec!["x/search".to_owned()];
        assert_eq!(classify("x/search", None, &extra), MethodKind::Request);
        assert_eq!(classify("x/other", None, &extra), MethodKind::Unknown);
    }

    #[test]
    fn server_to_client_methods_are_not_client_methods() {
        for m in [
            "sampling/createMessage",
            "elicitation/create",
            "roots/list",
            "notifications/message",
            "notifications/tools/list_changed",
        ] {
            assert_eq!(classify(m, None, &[]), MethodKind::Unknown, "{m}");
        }
    }
}
