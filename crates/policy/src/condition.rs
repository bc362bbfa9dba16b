//! Conditions `{path, op, value}`: the 14 operators, their operands compiled once (regexes, globs), and
//! their evaluation against a resolved path value.
//!
//! Semantics (documented in the crate docs too):
//! - Numbers compare by decimal value whatever their JSON spelling (`1 == 1.0 == 1e0`), exactly as the
//!   agent wrote them (beyond 64 bits and beyond a double's digits; see `number`).
//! - `eq`/`neq`: deep JSON equality (numbers as above); no coercion between strings and numbers.
//! - `in`/`not_in`: the value is a list; `in` holds when the target equals an element; for an array
//!   target (e.g. `identity.tags`) when any of its elements is in the list.
//! - `lt lte gt gte`: numbers numerically, strings lexicographically (by Unicode scalar value); mixed
//!   types are false.
//! - `regex` (unanchored search; anchor with `^…$`), `starts_with`, `ends_with`, `glob` (whole string):
//!   strings only.
//! - `contains`: substring of a string, element of an array, key of an object.
//! - `exists`: `true` holds when the path resolves (a JSON `null` exists), `false` when it does not.
//! - A missing path makes every op false except `exists: false`, `neq` and `not_in`, which hold. Inside
//!   `require` a false condition denies, so a missing argument fails closed.

use std::cmp::Ordering;

use serde_json::{Number, Value};

use crate::number::{number_cmp, text_cmp};

use crate::glob::Glob;
use crate::path::{Path, Val};

/// The condition operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Neq,
    In,
    NotIn,
    Lt,
    Lte,
    Gt,
    Gte,
    Regex,
    Contains,
    StartsWith,
    EndsWith,
    Glob,
    Exists,
}

impl Op {
    pub const ALL: [Op; 14] = [
        Op::Eq,
        Op::Neq,
        Op::In,
        Op::NotIn,
        Op::Lt,
        Op::Lte,
        Op::Gt,
        Op::Gte,
        Op::Regex,
        Op::Contains,
        Op::StartsWith,
        Op::EndsWith,
        Op::Glob,
        Op::Exists,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Neq => "neq",
            Op::In => "in",
            Op::NotIn => "not_in",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Regex => "regex",
            Op::Contains => "contains",
            Op::StartsWith => "starts_with",
            Op::EndsWith => "ends_with",
            Op::Glob => "glob",
            Op::Exists => "exists",
        }
    }

    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == name)
    }

    /// A hint for an unknown op: common spellings from other policy languages first, then typos.
    pub(crate) fn suggest(name: &str) -> Option<Op> {
        let alias = match name.to_ascii_lowercase().as_str() {
            "greater" | "greater_than" | "greaterthan" | ">" | "more_than" | "above" => {
                Some(Op::Gt)
            }
            "greater_or_equal" | "greater_than_or_equal" | ">=" | "ge" | "at_least" => {
                Some(Op::Gte)
            }
            "less" | "less_than" | "lessthan" | "<" | "below" => Some(Op::Lt),
            "less_or_equal" | "less_than_or_equal" | "<=" | "le" | "at_most" => Some(Op::Lte),
            "equals" | "equal" | "==" | "=" | "is" => Some(Op::Eq),
            "not_equal" | "not_equals" | "!=" | "ne" | "is_not" => Some(Op::Neq),
            "matches" | "match" | "regexp" | "re" | "=~" => Some(Op::Regex),
            "startswith" | "prefix" | "begins_with" => Some(Op::StartsWith),
            "endswith" | "suffix" => Some(Op::EndsWith),
            "has" | "includes" | "include" => Some(Op::Contains),
            "nin" | "notin" | "not_one_of" => Some(Op::NotIn),
            "one_of" | "any_of" | "oneof" => Some(Op::In),
            "present" | "defined" | "exist" | "is_set" => Some(Op::Exists),
            "like" | "wildcard" => Some(Op::Glob),
            _ => None,
        };
        alias.or_else(|| {
            crate::diagnostics::closest(name, Op::ALL.iter().map(|o| o.name()))
                .and_then(Op::from_name)
        })
    }
}

/// An operand, compiled for its op.
#[derive(Debug, Clone)]
pub(crate) enum Operand {
    /// eq, neq, contains
    Value(Value),
    /// in, not_in
    List(Vec<Value>),
    /// lt, lte, gt, gte: a number or a string
    Ordered(Value),
    Regex(regex::Regex),
    Glob(Glob),
    /// starts_with, ends_with
    Text(String),
    Exists(bool),
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    pub path: Path,
    pub op: Op,
    pub operand: Operand,
    /// `args.x gt 5`, for generated deny reasons.
    pub display: String,
}

impl Condition {
    /// Evaluates against an already-resolved path value.
    pub(crate) fn holds(&self, target: Val<'_>) -> bool {
        if let Val::Missing = target {
            return match (&self.operand, self.op) {
                (Operand::Exists(expected), _) => !expected,
                (_, Op::Neq | Op::NotIn) => true,
                _ => false,
            };
        }
        match (&self.operand, self.op) {
            (Operand::Exists(expected), _) => *expected,
            (Operand::Value(v), Op::Eq) => val_eq(target, v),
            (Operand::Value(v), Op::Neq) => !val_eq(target, v),
            (Operand::Value(v), _) => contains(target, v),
            (Operand::List(list), Op::In) => is_in(target, list),
            (Operand::List(list), _) => !is_in(target, list),
            (Operand::Ordered(v), op) => match compare(target, v) {
                Some(ord) => match op {
                    Op::Lt => ord == Ordering::Less,
                    Op::Lte => ord != Ordering::Greater,
                    Op::Gt => ord == Ordering::Greater,
                    _ => ord != Ordering::Less,
                },
                None => false,
            },
            (Operand::Regex(re), _) => text(target).is_some_and(|s| re.is_match(s)),
            (Operand::Glob(g), _) => text(target).is_some_and(|s| g.is_match(s)),
            (Operand::Text(t), Op::StartsWith) => {
                text(target).is_some_and(|s| s.starts_with(t.as_str()))
            }
            (Operand::Text(t), _) => text(target).is_some_and(|s| s.ends_with(t.as_str())),
        }
    }
}

fn text<'a>(v: Val<'a>) -> Option<&'a str> {
    match v {
        Val::Str(s) => Some(s),
        Val::Json(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// Deep JSON equality where numbers compare numerically.
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_cmp(x, y) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn val_eq(target: Val<'_>, v: &Value) -> bool {
    match target {
        Val::Missing => false,
        Val::Json(j) => json_eq(j, v),
        Val::Str(s) => v.as_str() == Some(s),
        Val::Num(n) => {
            matches!(v, Value::Number(x) if number_cmp(&Number::from(n), x) == Some(Ordering::Equal))
        }
        Val::Exact(t) => {
            matches!(v, Value::Number(x) if text_cmp(t, &x.to_string()) == Some(Ordering::Equal))
        }
        Val::Tags(tags) => match v {
            Value::Array(items) => {
                items.len() == tags.len()
                    && items
                        .iter()
                        .zip(tags)
                        .all(|(i, t)| i.as_str() == Some(t.as_str()))
            }
            _ => false,
        },
    }
}

fn is_in(target: Val<'_>, list: &[Value]) -> bool {
    match target {
        Val::Tags(tags) => tags
            .iter()
            .any(|t| list.iter().any(|v| v.as_str() == Some(t.as_str()))),
        Val::Json(Value::Array(items)) => items.iter().any(|i| list.iter().any(|v| json_eq(i, v))),
        other => list.iter().any(|v| val_eq(other, v)),
    }
}

fn contains(target: Val<'_>, v: &Value) -> bool {
    match target {
        Val::Str(_) | Val::Json(Value::String(_)) => text(target)
            .zip(v.as_str())
            .is_some_and(|(s, needle)| s.contains(needle)),
        Val::Tags(tags) => v
            .as_str()
            .is_some_and(|needle| tags.iter().any(|t| t == needle)),
        Val::Json(Value::Array(items)) => items.iter().any(|i| json_eq(i, v)),
        Val::Json(Value::Object(map)) => v.as_str().is_some_and(|k| map.contains_key(k)),
        _ => false,
    }
}

fn compare(target: Val<'_>, v: &Value) -> Option<Ordering> {
    match (target, v) {
        (Val::Num(n), Value::Number(y)) => number_cmp(&Number::from(n), y),
        (Val::Json(Value::Number(x)), Value::Number(y)) => number_cmp(x, y),
        (Val::Exact(t), Value::Number(y)) => text_cmp(t, &y.to_string()),
        (t, Value::String(y)) => text(t).map(|s| s.cmp(y.as_str())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_across_spellings() {
        let n = |v: Value| match v {
            Value::Number(n) => n,
            _ => unreachable!("test numbers only"),
        };
        assert_eq!(
            number_cmp(&n(serde_json::json!(1)), &n(serde_json::json!(1.0))),
            Some(Ordering::Equal)
        );
        assert_eq!(
            number_cmp(&n(serde_json::json!(-1)), &n(serde_json::json!(u64::MAX))),
            Some(Ordering::Less)
        );
        assert_eq!(
            number_cmp(&n(serde_json::json!(u64::MAX)), &n(serde_json::json!(-5))),
            Some(Ordering::Greater)
        );
        assert_eq!(
            number_cmp(&n(serde_json::json!(2.5)), &n(serde_json::json!(2))),
            Some(Ordering::Greater)
        );
        assert!(json_eq(
            &serde_json::json!({"a": [1, 2.0]}),
            &serde_json::json!({"a": [1.0, 2]})
        ));
    }

    #[test]
    fn op_suggestions() {
        assert_eq!(Op::suggest("greater"), Some(Op::Gt));
        assert_eq!(Op::suggest("startswith"), Some(Op::StartsWith));
        assert_eq!(Op::suggest("containz"), Some(Op::Contains));
        assert_eq!(Op::suggest("frobnicate"), None);
    }
}
