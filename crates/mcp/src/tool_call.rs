//! The `params` of a `tools/call` request, read strictly: the tool name and arguments a policy
//! decides on must be exactly what the upstream will see.
//!
//! JSON parsers disagree on duplicate object keys (first wins, last wins, error). A policy that
//! checks the first `amount` while the server uses the last would be bypassed, so any duplicate
//! key, at any depth of the arguments, makes the call unreadable and it is refused.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// A `tools/call` request's parameters.
#[derive(Debug)]
pub struct ToolCall<'a> {
    pub name: Cow<'a, str>,
    /// The arguments; `{}` when the client sent none.
    pub arguments: Value,
    /// The arguments exactly as the client wrote them (numbers beyond 64 bits, `1e2`, `-0` keep
    /// their text), for what must match the call exactly: an approval.
    pub raw_arguments: Option<&'a serde_json::value::RawValue>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ToolCallError {
    #[error("tools/call needs params with a string \"name\"")]
    MissingName,
    #[error("invalid tools/call params: {0}")]
    Invalid(String),
}

impl<'a> ToolCall<'a> {
    pub fn parse(params: Option<&'a serde_json::value::RawValue>) -> Result<Self, ToolCallError> {
        let Some(params) = params else {
            return Err(ToolCallError::MissingName);
        };
        #[derive(Deserialize)]
        struct Wire<'a> {
            #[serde(borrow)]
            name: Option<Cow<'a, str>>,
            #[serde(borrow)]
            arguments: Option<&'a serde_json::value::RawValue>,
        }
        let invalid = |e: serde_json::Error| ToolCallError::Invalid(e.to_string());
        let wire: Wire<'a> = serde_json::from_str(params.get()).map_err(invalid)?;
        let name = wire.name.ok_or(ToolCallError::MissingName)?;
        let strict = match wire.arguments {
            Some(raw) => Some(serde_json::from_str::<StrictValue>(raw.get()).map_err(invalid)?),
            None => None,
        };
        let arguments = match strict {
            None => Value::Object(Map::new()),
            Some(StrictValue(Value::Null)) => Value::Object(Map::new()),
            Some(StrictValue(v @ Value::Object(_))) => v,
            Some(_) => {
                return Err(ToolCallError::Invalid(
                    "\"arguments\" must be an object".into(),
                ));
            }
        };
        Ok(ToolCall {
            name,
            arguments,
            raw_arguments: wire.arguments,
        })
    }
}

/// A JSON value that refuses duplicate object keys anywhere inside it.
pub struct StrictValue(pub Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        StrictSeed.deserialize(d).map(StrictValue)
    }
}

struct StrictSeed;

impl<'de> DeserializeSeed<'de> for StrictSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        StrictSeed.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element_seed(StrictSeed)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(StrictSeed)?;
            if out.insert(key.clone(), value).is_some() {
                return Err(de::Error::custom(format_args!("duplicate key \"{key}\"")));
            }
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn parse(s: &str) -> Result<(String, Value), ToolCallError> {
        let raw = RawValue::from_string(s.to_owned()).unwrap();
        ToolCall::parse(Some(&raw)).map(|c| (c.name.into_owned(), c.arguments))
    }

    #[test]
    fn reads_name_and_arguments() {
        let (name, args) = parse(r#"{"name":"echo","arguments":{"a":[1,{"b":2}]}}"#).unwrap();
        assert_eq!(name, "echo");
        assert_eq!(args["a"][1]["b"], 2);
        assert_eq!(parse(r#"{"name":"x"}"#).unwrap().1, serde_json::json!({}));
    }

    #[test]
    fn refuses_duplicate_keys_at_any_depth() {
        assert!(parse(r#"{"name":"a","name":"b"}"#).is_err());
        assert!(parse(r#"{"name":"x","arguments":{"amount":1,"amount":9}}"#).is_err());
        assert!(parse(r#"{"name":"x","arguments":{"o":[{"k":1,"k":2}]}}"#).is_err());
    }

    #[test]
    fn refuses_bad_shapes() {
        assert_eq!(
            parse(r#"{"arguments":{}}"#),
            Err(ToolCallError::MissingName)
        );
        assert!(parse(r#"{"name":1}"#).is_err());
        assert!(parse(r#"{"name":"x","arguments":[1]}"#).is_err());
    }
}
