//! Byte-exact edits of one JSON-RPC message: find the raw value of a member (the id, a progress
//! token, a cancelled request's id) and replace it, keeping every other byte as the peer sent it.
//! Multiplexing a shared stdio child needs these edits; re-serialising would reorder keys and
//! drop nothing but still change bytes the gateway promises to relay untouched.

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

/// Why a member could not be located unambiguously.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemberError {
    #[error("member {key:?} appears more than once")]
    Duplicate { key: String },
    #[error("invalid JSON object: {0}")]
    Json(String),
}

/// The raw value of `key` in the JSON object `object`, borrowed from `object`. `Ok(None)` when
/// the key is absent or `object` is not an object; an error when the key is repeated, since a
/// repeated key could be read one way here and another way by the peer.
pub fn member<'a>(object: &'a str, key: &str) -> Result<Option<&'a RawValue>, MemberError> {
    if object.trim_start().as_bytes().first() != Some(&b'{') {
        return Ok(None);
    }
    let mut de = serde_json::Deserializer::from_str(object);
    let found = FindMember { key }
        .deserialize(&mut de)
        .map_err(|e| MemberError::Json(e.to_string()))?;
    de.end().map_err(|e| MemberError::Json(e.to_string()))?;
    match found {
        Found::Absent => Ok(None),
        Found::Once(value) => Ok(Some(value)),
        Found::Repeated => Err(MemberError::Duplicate {
            key: key.to_owned(),
        }),
    }
}

/// The raw value at `path` (`["params", "_meta", "progressToken"]`), borrowed from `text`.
pub fn member_at<'a>(text: &'a str, path: &[&str]) -> Result<Option<&'a RawValue>, MemberError> {
    let mut current: &'a str = text;
    let mut found = None;
    for key in path {
        match member(current, key)? {
            Some(value) => {
                current = value.get();
                found = Some(value);
            }
            None => return Ok(None),
        }
    }
    Ok(found)
}

/// Where `part` lies in `text`. `part` must be a slice of `text` (as a borrowed `RawValue` from
/// parsing `text` is); `None` otherwise.
pub fn span_in(text: &[u8], part: &str) -> Option<Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= text.len()).then_some(start..end)
}

/// `text` with each span replaced by its new bytes. Spans must not overlap.
pub fn splice(text: &[u8], edits: &mut [(Range<usize>, &[u8])]) -> Bytes {
    edits.sort_by_key(|(span, _)| span.start);
    let grow: usize = edits.iter().map(|(_, new)| new.len()).sum();
    let mut out = Vec::with_capacity(text.len() + grow);
    let mut at = 0;
    for (span, new) in edits.iter() {
        out.extend_from_slice(&text[at..span.start]);
        out.extend_from_slice(new);
        at = span.end;
    }
    out.extend_from_slice(&text[at..]);
    Bytes::from(out)
}

/// Replaces the raw value `part` (a slice of `text`) with `new`; `None` if `part` is not in
/// `text`.
pub fn replace(text: &[u8], part: &RawValue, new: &[u8]) -> Option<Bytes> {
    let span = span_in(text, part.get())?;
    Some(splice(text, &mut [(span, new)]))
}

enum Found<'a> {
    Absent,
    Once(&'a RawValue),
    Repeated,
}

struct FindMember<'k> {
    key: &'k str,
}

impl<'de> DeserializeSeed<'de> for FindMember<'_> {
    type Value = Found<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FindMember<'_> {
    type Value = Found<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = Found::Absent;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == self.key {
                let value = map.next_value::<&'de RawValue>()?;
                found = match found {
                    Found::Absent => Found::Once(value),
                    _ => Found::Repeated,
                };
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_members_and_keeps_other_bytes() {
        let text = r#"{"jsonrpc":"2.0", "id" : "a\"b", "method":"x","params":{"_meta":{"progressToken":7},"k":[1,2]}}"#;
        let id = member(text, "id").unwrap().unwrap();
        assert_eq!(id.get(), r#""a\"b""#);
        let token = member_at(text, &["params", "_meta", "progressToken"])
            .unwrap()
            .unwrap();
        assert_eq!(token.get(), "7");
        let id_span = span_in(text.as_bytes(), id.get()).unwrap();
        let token_span = span_in(text.as_bytes(), token.get()).unwrap();
        let out = splice(
            text.as_bytes(),
            &mut [(token_span, b"\"t\""), (id_span, b"12")],
        );
        assert_eq!(
            out,
            r#"{"jsonrpc":"2.0", "id" : 12, "method":"x","params":{"_meta":{"progressToken":"t"},"k":[1,2]}}"#
        );
    }

    #[test]
    fn absent_and_non_objects_are_none() {
        assert!(member(r#"{"a":1}"#, "b").unwrap().is_none());
        assert!(member("[1]", "b").unwrap().is_none());
        assert!(
            member_at(r#"{"a":{"b":1}}"#, &["a", "c"])
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_repeated_member_is_refused() {
        assert_eq!(
            member(r#"{"progressToken":1,"progressToken":2}"#, "progressToken").unwrap_err(),
            MemberError::Duplicate {
                key: "progressToken".into()
            }
        );
    }

    #[test]
    fn escaped_keys_match() {
        let text = r#"{"\u0069d":5}"#;
        assert_eq!(member(text, "id").unwrap().unwrap().get(), "5");
    }

    #[test]
    fn a_foreign_slice_has_no_span() {
        assert_eq!(span_in(b"{}", "x"), None);
    }
}
