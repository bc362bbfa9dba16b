//! Fail closed on methods: before policy, whether a message's method is one the gateway forwards
//! for the negotiated protocol version (or one the operator allowed for the server), matched
//! byte for byte. A request with any other method is refused with `-32601`, a notification with
//! an unknown method is dropped, and a request method sent as a notification is refused: a
//! policy gateway must not forward what it did not decide on.

use crate::rejection::Rejection;
use std::borrow::Cow;
use toolgate_mcp::jsonrpc::{Kind, Message};
use toolgate_mcp::methods::{MethodKind, classify};

/// What the gateway knows of a session's methods.
#[derive(Debug, Clone, Copy, Default)]
pub struct Methods<'a> {
    /// The negotiated protocol version (`None`: not known yet; the newest applies).
    pub version: Option<&'a str>,
    /// `[servers.<name>] extra_methods`: experimental requests the operator allowed.
    pub extra: &'a [String],
}

/// What happens to a message before policy.
#[derive(Debug, PartialEq, Eq)]
pub enum Screened {
    /// A method the gateway knows (or a response): on to policy.
    Pass,
    /// A notification the gateway does not know: dropped and logged.
    Drop,
    /// Refused, with the reason.
    Refuse(Rejection),
}

/// Screens one message.
pub fn screen(msg: &Message<'_>, methods: Methods<'_>) -> Screened {
    let Some(method) = &msg.method else {
        return Screened::Pass;
    };
    // A method written with escapes is not, byte for byte, the name it decodes to.
    let kind = match method {
        Cow::Borrowed(m) => classify(m, methods.version, methods.extra),
        Cow::Owned(_) => MethodKind::Unknown,
    };
    match (msg.kind, kind) {
        (Kind::Request, MethodKind::Request) => Screened::Pass,
        (Kind::Notification, MethodKind::Notification) => Screened::Pass,
        (Kind::Request, _) => Screened::Refuse(Rejection::UnknownMethod(method.to_string())),
        (Kind::Notification, MethodKind::Request) => {
            Screened::Refuse(Rejection::RequestWithoutId(method.to_string()))
        }
        (Kind::Notification, MethodKind::Unknown) => Screened::Drop,
        (Kind::Result | Kind::Error, _) => Screened::Pass,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screened(json: &str) -> Screened {
        let msg = Message::parse(json.as_bytes()).unwrap();
        screen(&msg, Methods::default())
    }

    #[test]
    fn requests_and_notifications_of_known_methods_pass() {
        assert_eq!(
            screened(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#),
            Screened::Pass
        );
        assert_eq!(
            screened(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Screened::Pass
        );
        assert_eq!(
            screened(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#),
            Screened::Pass
        );
    }

    #[test]
    fn shapes_a_lenient_server_might_take_for_a_tool_call_are_refused() {
        for method in [
            r#""Tools/Call""#,
            r#""tools/call ""#,
            r#""tools\/call""#,
            r#""tools\u002fcall""#,
        ] {
            let json =
                format!(r#"{{"jsonrpc":"2.0","id":1,"method":{method},"params":{{"name":"x"}}}}"#);
            assert!(
                matches!(
                    screened(&json),
                    Screened::Refuse(Rejection::UnknownMethod(_))
                ),
                "{method}"
            );
        }
    }

    #[test]
    fn a_request_sent_as_a_notification_is_refused_and_unknown_notifications_dropped() {
        assert_eq!(
            screened(r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"x"}}"#),
            Screened::Refuse(Rejection::RequestWithoutId("tools/call".into()))
        );
        assert_eq!(
            screened(r#"{"jsonrpc":"2.0","method":"notifications/whatever"}"#),
            Screened::Drop
        );
    }

    #[test]
    fn extra_methods_pass_for_their_server_only() {
        let msg = Message::parse(br#"{"jsonrpc":"2.0","id":1,"method":"x/search"}"#).unwrap();
        let extra = vec!["x/search".to_owned()];
        let with = Methods {
            version: None,
            extra: &extra,
        };
        assert_eq!(screen(&msg, with), Screened::Pass);
        assert!(matches!(
            screen(&msg, Methods::default()),
            Screened::Refuse(Rejection::UnknownMethod(_))
        ));
    }
}
