//! The few rewrites the aggregate endpoint must make so that messages from several upstreams can
//! share one client session: ids of server-to-client requests (two servers may both send id 0),
//! and resource URIs (two servers may both have `file:///a`). Towards a server, the one string a
//! request names it by (a tool, prompt or resource) is spliced into the client's bytes
//! ([`replace_param`]); everything else — arguments, numbers of any size, key order — reaches
//! the server exactly as the client sent it.

use bytes::Bytes;
use serde_json::Value;
use toolgate_mcp::jsonrpc::{Kind, Message};

/// `body` (one JSON-RPC message) with the string at `pointer` inside its `params` (`/name`,
/// `/uri`, `/ref/name`) replaced by `value`, and not one other byte changed. `None` when the
/// message has no such string.
pub fn replace_param(body: &[u8], pointer: &str, value: &str) -> Option<Bytes> {
    use serde_json::value::RawValue;
    use std::collections::HashMap;
    let text = std::str::from_utf8(body).ok()?;
    let message: HashMap<String, &RawValue> = serde_json::from_str(text).ok()?;
    let mut at: &RawValue = message.get("params")?;
    for key in pointer.split('/').skip(1) {
        let object: HashMap<String, &RawValue> = serde_json::from_str(at.get()).ok()?;
        at = object.get(key)?;
    }
    if !at.get().starts_with('"') {
        return None;
    }
    // `at` borrows from `text`: its place in the message is where its bytes are.
    let start = at.get().as_ptr() as usize - text.as_ptr() as usize;
    let end = start + at.get().len();
    let replacement = serde_json::to_string(value).ok()?;
    let mut out = Vec::with_capacity(body.len() + replacement.len());
    out.extend_from_slice(&body[..start]);
    out.extend_from_slice(replacement.as_bytes());
    out.extend_from_slice(&body[end..]);
    Some(Bytes::from(out))
}

/// `<server>+<uri>`: a resource URI as the aggregate endpoint shows it.
pub fn expose_uri(server: &str, uri: &str) -> String {
    format!("{server}+{uri}")
}

/// Splits an exposed URI into the server (one of `servers`) and the upstream's URI.
pub fn resolve_uri<'s>(
    uri: &str,
    servers: impl IntoIterator<Item = &'s str>,
) -> Option<(String, String)> {
    servers
        .into_iter()
        .filter_map(|s| {
            uri.strip_prefix(s)
                .and_then(|r| r.strip_prefix('+'))
                .map(|rest| (s.to_owned(), rest.to_owned()))
        })
        .max_by_key(|(s, _)| s.len())
}

/// The id a server-to-client request gets on the aggregate endpoint: `"<server>:<raw id>"`.
fn tag_id(server: &str, raw_id: &str) -> Value {
    Value::String(format!("{server}:{raw_id}"))
}

/// Splits a tagged id back into the server and the upstream's raw id.
pub fn untag_id(id: &Value) -> Option<(String, Box<serde_json::value::RawValue>)> {
    let s = id.as_str()?;
    let (server, raw) = s.split_once(':')?;
    let raw = serde_json::value::RawValue::from_string(raw.to_owned()).ok()?;
    Some((server.to_owned(), raw))
}

/// Rewrites one message from `server` for the client: server-to-client requests get tagged ids,
/// resource URIs get the server's prefix. Messages that need nothing pass unchanged.
pub fn from_upstream(server: &str, msg: Bytes) -> Bytes {
    let Ok(parsed) = Message::parse(&msg) else {
        return msg;
    };
    let needs = match parsed.kind {
        Kind::Request => true,
        Kind::Notification => parsed.method() == "notifications/resources/updated",
        Kind::Result => parsed
            .result
            .is_some_and(|r| r.get().contains("\"contents\"")),
        Kind::Error => false,
    };
    if !needs {
        return msg;
    }
    let kind = parsed.kind;
    let raw_id = parsed.id.map(|i| i.get().to_owned());
    drop(parsed);
    let Ok(mut v) = serde_json::from_slice::<Value>(&msg) else {
        return msg;
    };
    match kind {
        Kind::Request => {
            if let Some(raw) = raw_id {
                v["id"] = tag_id(server, &raw);
            }
        }
        Kind::Notification => {
            if let Some(uri) = v.pointer_mut("/params/uri") {
                prefix_uri(server, uri);
            }
        }
        _ => {
            if let Some(contents) = v
                .pointer_mut("/result/contents")
                .and_then(Value::as_array_mut)
            {
                for c in contents {
                    if let Some(uri) = c.get_mut("uri") {
                        prefix_uri(server, uri);
                    }
                }
            }
        }
    }
    serde_json::to_vec(&v).map(Bytes::from).unwrap_or(msg)
}

fn prefix_uri(server: &str, uri: &mut Value) {
    if let Some(s) = uri.as_str() {
        *uri = Value::String(expose_uri(server, s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_string_changes() {
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"crm__pay","arguments":{"big":123456789012345678901234567890,"neg":-0,"z":1,"a":[1.0,2e3],"name":"keep"}}}"#;
        let out = replace_param(body, "/name", "pay").unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"pay","arguments":{"big":123456789012345678901234567890,"neg":-0,"z":1,"a":[1.0,2e3],"name":"keep"}}}"#
        );
        let completion = br#"{"jsonrpc":"2.0","id":2,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"a__p"},"argument":{"name":"x","value":"y"}}}"#;
        let out = replace_param(completion, "/ref/name", "p \"q\"").unwrap();
        assert!(
            std::str::from_utf8(&out)
                .unwrap()
                .contains(r#""name":"p \"q\"""#)
        );
        assert_eq!(replace_param(body, "/missing", "x"), None);
        assert_eq!(
            replace_param(br#"{"params":{"name":5}}"#, "/name", "x"),
            None
        );
    }

    #[test]
    fn server_requests_get_tagged_ids_that_map_back() {
        let out = from_upstream(
            "files",
            Bytes::from_static(br#"{"jsonrpc":"2.0","id":0,"method":"roots/list"}"#),
        );
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["id"], "files:0");
        let (server, raw) = untag_id(&v["id"]).unwrap();
        assert_eq!((server.as_str(), raw.get()), ("files", "0"));
        let out = from_upstream(
            "a",
            Bytes::from_static(
                br#"{"jsonrpc":"2.0","id":"x:1","method":"sampling/createMessage"}"#,
            ),
        );
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(untag_id(&v["id"]).unwrap().1.get(), "\"x:1\"");
    }

    #[test]
    fn uris_are_prefixed_and_resolved() {
        let out = from_upstream(
            "files",
            Bytes::from_static(br#"{"jsonrpc":"2.0","id":3,"result":{"contents":[{"uri":"file:///a","text":"x"}]}}"#),
        );
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["result"]["contents"][0]["uri"], "files+file:///a");
        assert_eq!(
            resolve_uri("files+file:///a", ["files", "f"]),
            Some(("files".into(), "file:///a".into()))
        );
        assert_eq!(resolve_uri("other+x://", ["files"]), None);
    }

    #[test]
    fn plain_messages_pass_untouched() {
        let m = Bytes::from_static(br#"{"jsonrpc":"2.0","id":3,"result":{"tools":[]}}"#);
        assert_eq!(from_upstream("s", m.clone()), m);
    }
}
