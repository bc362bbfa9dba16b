//! How long the names and ids a client chooses may be. Each one ends up somewhere the gateway
//! keeps: a metric label, an audit field, a map of requests in flight, an approval. Unbounded,
//! a hundred denied calls with megabyte names cost hundreds of megabytes of memory and database;
//! so a message with a longer one is refused before anything else reads it.
//!
//! The bounds leave ample room for real clients: MCP asks tool names to be 1–128 characters
//! (256 bytes allows them in any script), and ids and progress tokens are counters or UUIDs.

use crate::rejection::{Bounded, Rejection};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use toolgate_mcp::jsonrpc::Message;

/// A method name at most (the longest MCP method is under 40).
pub const MAX_METHOD_BYTES: usize = 128;
/// A request id as JSON text (quotes included) at most.
pub const MAX_ID_BYTES: usize = 128;
/// A progress token as JSON text at most.
pub const MAX_PROGRESS_TOKEN_BYTES: usize = 128;
/// A tool or prompt name at most.
pub const MAX_NAME_BYTES: usize = 256;

/// The first part of `msg` that is too long, if one is.
pub fn check(msg: &Message<'_>) -> Result<(), Rejection> {
    let too_long = |part, bytes, limit| Rejection::TooLong { part, bytes, limit };
    if let Some(id) = msg.id {
        if id.get().len() > MAX_ID_BYTES {
            return Err(too_long(Bounded::Id, id.get().len(), MAX_ID_BYTES));
        }
    }
    let method = msg.method();
    if method.len() > MAX_METHOD_BYTES {
        return Err(too_long(Bounded::Method, method.len(), MAX_METHOD_BYTES));
    }
    let Some(params) = msg.params else {
        return Ok(());
    };
    let Ok(p) = serde_json::from_str::<Params<'_>>(params.get()) else {
        // Unreadable params are refused further on, by what reads them.
        return Ok(());
    };
    if let Some(token) = p.meta.and_then(|m| m.progress_token) {
        if token.get().len() > MAX_PROGRESS_TOKEN_BYTES {
            let bytes = token.get().len();
            return Err(too_long(
                Bounded::ProgressToken,
                bytes,
                MAX_PROGRESS_TOKEN_BYTES,
            ));
        }
    }
    let named = matches!(method, "tools/call" | "prompts/get");
    match p.name {
        Some(name) if named && name.len() > MAX_NAME_BYTES => {
            Err(too_long(Bounded::Name, name.len(), MAX_NAME_BYTES))
        }
        _ => Ok(()),
    }
}

/// `text` cut to at most `max` bytes (on a character boundary), marked with `…` when cut: what
/// a record keeps of an oversized value.
pub fn shortened(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    // Everything else (the arguments) is skipped without being kept.
    #[serde(borrow, rename = "_meta", default)]
    meta: Option<Meta<'a>>,
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(borrow, rename = "progressToken", default)]
    progress_token: Option<&'a RawValue>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_text(text: &str) -> Result<(), Rejection> {
        check(&Message::parse(text.as_bytes()).unwrap())
    }

    fn call(name: &str) -> String {
        serde_json::json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
            "params":{"name": name, "arguments":{"big": "x".repeat(10_000)}}})
        .to_string()
    }

    #[test]
    fn names_ids_and_tokens_up_to_their_bounds_pass() {
        check_text(&call(&"n".repeat(MAX_NAME_BYTES))).unwrap();
        let id = format!("\"{}\"", "i".repeat(MAX_ID_BYTES - 2));
        check_text(&format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"ping","params":{{"_meta":{{"progressToken":{id}}}}}}}"#
        ))
        .unwrap();
        // A long name elsewhere than a call's is not this check's business.
        check_text(&format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{{"name":"{}"}}}}"#,
            "r".repeat(1000)
        ))
        .unwrap();
    }

    #[test]
    fn each_oversized_part_is_named() {
        let cases = [
            (call(&"n".repeat(MAX_NAME_BYTES + 1)), Bounded::Name, 257),
            (
                format!(
                    r#"{{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{{"name":"{}"}}}}"#,
                    "p".repeat(300)
                ),
                Bounded::Name,
                300,
            ),
            (
                format!(
                    r#"{{"jsonrpc":"2.0","id":"{}","method":"ping"}}"#,
                    "i".repeat(200)
                ),
                Bounded::Id,
                202,
            ),
            (
                format!(r#"{{"jsonrpc":"2.0","method":"{}"}}"#, "m".repeat(129)),
                Bounded::Method,
                129,
            ),
            (
                format!(
                    r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"a","_meta":{{"progressToken":"{}"}}}}}}"#,
                    "t".repeat(127)
                ),
                Bounded::ProgressToken,
                129,
            ),
        ];
        for (text, part, bytes) in cases {
            match check_text(&text) {
                Err(Rejection::TooLong {
                    part: p, bytes: b, ..
                }) => assert_eq!((p, b), (part, bytes), "{text:.80}"),
                other => panic!("{text:.80}: {other:?}"),
            }
        }
    }

    #[test]
    fn shortened_keeps_a_prefix_on_a_character_boundary() {
        assert_eq!(shortened("abc", 3), "abc");
        assert_eq!(shortened("abcdef", 3), "abc…");
        assert_eq!(shortened("aé", 2), "a…");
    }
}
