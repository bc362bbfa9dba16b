//! Condition and `increment_from` paths (`args.a.b.0.length`, `identity.agent`, `state.<counter>`, ...):
//! parsed once at compile time, resolved per call against the call without allocating (except a
//! number a double may not hold, whose text is then read from the arguments as the agent wrote
//! them).

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::decide::Call;

/// What a path names. Parsed by [`Path::parse`]; `state.<counter>` is tied to its limit by the compiler.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Path {
    /// `args` followed by zero or more segments.
    Args(Vec<Segment>),
    Agent,
    Grant,
    Tags,
    /// `identity.tags.length`
    TagsLength,
    Server,
    Tool,
    /// `state.<counter>`; `limit` indexes [`crate::policy::Policy`]'s limit table.
    State {
        counter: String,
        limit: usize,
    },
}

/// One step below `args`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Segment {
    /// An object key; when it is a non-negative integer it also indexes arrays.
    Key { name: String, index: Option<usize> },
    /// A final `length`: the member named "length" of an object that has one, else the size of the array
    /// (elements), string (Unicode scalar values) or object (members).
    Length,
}

/// Why a path is invalid, with a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathError {
    pub message: String,
    pub help: Option<String>,
}

const ROOTS: [&str; 8] = [
    "args",
    "identity.agent",
    "identity.grant",
    "identity.tags",
    "server",
    "tool",
    "state",
    "identity",
];

impl Path {
    pub(crate) fn parse(text: &str) -> Result<Path, PathError> {
        let err = |message: String, help: Option<String>| Err(PathError { message, help });
        if text.is_empty() {
            return err("empty path".to_owned(), Some(help_roots()));
        }
        let parts: Vec<&str> = text.split('.').collect();
        if let Some(i) = parts.iter().position(|p| p.is_empty()) {
            return err(
                format!("bad path {text:?}: empty segment at position {}", i + 1),
                Some(
                    "segments are separated by single dots, e.g. \"args.requestBody.amount\""
                        .to_owned(),
                ),
            );
        }
        match parts[0] {
            "args" => {
                let n = parts.len();
                let segments = parts[1..]
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        if *p == "length" && i + 2 == n {
                            Segment::Length
                        } else {
                            Segment::Key {
                                name: (*p).to_owned(),
                                index: p.parse().ok(),
                            }
                        }
                    })
                    .collect();
                Ok(Path::Args(segments))
            }
            "identity" => match &parts[1..] {
                ["agent"] => Ok(Path::Agent),
                ["grant"] => Ok(Path::Grant),
                ["tags"] => Ok(Path::Tags),
                ["tags", "length"] => Ok(Path::TagsLength),
                [] => err(
                    format!("bad path {text:?}: `identity` needs a field"),
                    Some("use identity.agent, identity.grant or identity.tags".to_owned()),
                ),
                [field, ..] => {
                    let help = crate::diagnostics::did_you_mean(field, ["agent", "grant", "tags"])
                        .unwrap_or_else(|| {
                            "use identity.agent, identity.grant or identity.tags".to_owned()
                        });
                    err(
                        format!("bad path {text:?}: unknown identity field {field:?}"),
                        Some(help),
                    )
                }
            },
            "server" | "tool" if parts.len() > 1 => err(
                format!(
                    "bad path {text:?}: `{}` is a string and has no fields",
                    parts[0]
                ),
                Some(format!("use \"{}\" alone", parts[0])),
            ),
            "server" => Ok(Path::Server),
            "tool" => Ok(Path::Tool),
            "state" => match &parts[1..] {
                [counter] => Ok(Path::State {
                    counter: (*counter).to_owned(),
                    limit: usize::MAX,
                }),
                [] => err(
                    format!("bad path {text:?}: `state` needs a counter name"),
                    Some(
                        "write state.<counter>, naming a counter defined in this policy's limits"
                            .to_owned(),
                    ),
                ),
                _ => err(
                    format!("bad path {text:?}: a counter's state is a number and has no fields"),
                    Some(format!("use \"state.{}\"", parts[1])),
                ),
            },
            root => {
                let alias = match root {
                    "arguments" | "arg" | "params" | "input" | "parameters" => {
                        Some("did you mean \"args\"?".to_owned())
                    }
                    "agent" | "grant" | "tags" => {
                        Some(format!("did you mean \"identity.{root}\"?"))
                    }
                    _ => None,
                };
                let help = alias
                    .or_else(|| crate::diagnostics::did_you_mean(root, ROOTS))
                    .map(|h| format!("{h} ({})", help_roots()))
                    .unwrap_or_else(help_roots);
                err(
                    format!("bad path {text:?}: unknown root {root:?}"),
                    Some(help),
                )
            }
        }
    }

    /// True for `args...` paths (the only kind `increment_from` accepts).
    pub(crate) fn is_args(&self) -> bool {
        matches!(self, Path::Args(_))
    }

    /// Resolves everything but `state.<counter>` (which needs the counter store; see `decide`).
    pub(crate) fn resolve<'a>(&self, call: &Call<'a>) -> Val<'a> {
        match self {
            Path::Args(segments) => {
                let found = resolve_args(call.args, segments);
                match (found, call.args_text) {
                    // A double cannot hold every number an agent may write: compare its text.
                    (Val::Json(Value::Number(n)), Some(text)) if n.is_f64() => {
                        number_text_at(text, segments).map_or(found, Val::Exact)
                    }
                    _ => found,
                }
            }
            Path::Agent => Val::Str(&call.identity.agent),
            Path::Grant => Val::Str(&call.identity.grant),
            Path::Tags => Val::Tags(&call.identity.tags),
            Path::TagsLength => Val::Num(call.identity.tags.len() as u64),
            Path::Server => Val::Str(call.server),
            Path::Tool => Val::Str(call.tool),
            Path::State { .. } => Val::Missing,
        }
    }
}

fn help_roots() -> String {
    "paths start with args., identity.agent, identity.grant, identity.tags, server, tool or state.<counter>"
        .to_owned()
}

fn resolve_args<'a>(args: &'a Value, segments: &[Segment]) -> Val<'a> {
    let mut cur = args;
    for seg in segments {
        match seg {
            Segment::Key { name, index } => {
                let next = match cur {
                    Value::Object(map) => map.get(name.as_str()),
                    Value::Array(items) => index.and_then(|i| items.get(i)),
                    _ => None,
                };
                match next {
                    Some(v) => cur = v,
                    None => return Val::Missing,
                }
            }
            Segment::Length => {
                return match cur {
                    Value::Object(map) => match map.get("length") {
                        Some(v) => Val::Json(v),
                        None => Val::Num(map.len() as u64),
                    },
                    Value::Array(items) => Val::Num(items.len() as u64),
                    Value::String(s) => Val::Num(s.chars().count() as u64),
                    _ => Val::Missing,
                };
            }
        }
    }
    Val::Json(cur)
}

/// The text of the value at `segments` in the arguments as the agent wrote them (`Length` reaches a
/// member named `length`, as in [`resolve_args`]). Only numbers a double may not hold come here.
fn number_text_at<'a>(mut text: &'a str, segments: &[Segment]) -> Option<&'a str> {
    for seg in segments {
        let (name, index) = match seg {
            Segment::Key { name, index } => (name.as_str(), *index),
            Segment::Length => ("length", None),
        };
        text = match text.trim_start().as_bytes().first()? {
            b'{' => {
                let members: HashMap<Cow<'a, str>, &'a RawValue> =
                    serde_json::from_str(text).ok()?;
                members.get(name)?.get()
            }
            b'[' => {
                let items: Vec<&'a RawValue> = serde_json::from_str(text).ok()?;
                items.get(index?)?.get()
            }
            _ => return None,
        };
    }
    Some(text.trim())
}

/// A resolved path value, borrowed from the call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Val<'a> {
    /// The path does not exist in this call.
    Missing,
    Json(&'a Value),
    Str(&'a str),
    Num(u64),
    Tags(&'a [String]),
    /// A number with a fraction or beyond 64 bits, as the agent wrote it (`Call::args_text`).
    Exact(&'a str),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::Identity;
    use serde_json::json;

    #[test]
    fn resolves_every_path_form() {
        let args = json!({
            "requestBody": [{"id": "a"}, {"id": "b"}],
            "name": "héllo",
            "obj": {"x": 1, "y": 2},
            "withLength": {"length": 42},
            "0": "zero-key",
            "nested": {"deep": {"n": 1.5}}
        });
        let identity = Identity {
            agent: "ag".into(),
            grant: "gr".into(),
            tags: vec!["t1".into(), "t2".into()],
        };
        let call = Call {
            server: "crm",
            tool: "t",
            args: &args,
            args_text: None,
            identity: &identity,
            session: "s",
        };
        let r = |p: &str| Path::parse(p).expect(p).resolve(&call);
        assert_eq!(r("args.requestBody.1.id"), Val::Json(&json!("b")));
        assert_eq!(r("args.requestBody.length"), Val::Num(2));
        assert_eq!(r("args.name.length"), Val::Num(5));
        assert_eq!(r("args.obj.length"), Val::Num(2));
        assert_eq!(r("args.withLength.length"), Val::Json(&json!(42)));
        assert_eq!(r("args.0"), Val::Json(&json!("zero-key")));
        assert_eq!(r("args.nested.deep.n"), Val::Json(&json!(1.5)));
        assert_eq!(r("args.requestBody.7.id"), Val::Missing);
        assert_eq!(r("args.name.x"), Val::Missing);
        assert_eq!(r("args.nested.length.x"), Val::Missing);
        assert_eq!(r("args.obj.x.length"), Val::Missing);
        assert_eq!(r("identity.agent"), Val::Str("ag"));
        assert_eq!(r("identity.grant"), Val::Str("gr"));
        assert_eq!(r("identity.tags.length"), Val::Num(2));
        assert!(matches!(r("identity.tags"), Val::Tags(t) if t.len() == 2));
        assert_eq!(r("server"), Val::Str("crm"));
        assert_eq!(r("tool"), Val::Str("t"));
        assert!(matches!(r("args"), Val::Json(_)));
    }

    #[test]
    fn rejects_bad_paths_with_hints() {
        for (p, needle) in [
            ("", "empty path"),
            ("arg.x", "did you mean \"args\""),
            ("args..x", "empty segment"),
            ("identity.agnt", "did you mean \"agent\""),
            ("identity", "needs a field"),
            ("server.name", "has no fields"),
            ("state", "needs a counter"),
            ("state.a.b", "has no fields"),
        ] {
            let e = Path::parse(p).expect_err(p);
            let all = format!("{} {}", e.message, e.help.unwrap_or_default());
            assert!(all.contains(needle), "{p}: {all}");
        }
    }
}
