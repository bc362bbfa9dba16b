//! Structural problems of a configuration in its own words: serde says `invalid type: string
//! "yes", expected a boolean`; an operator reads `wrong type for "per_session": expected true or
//! false, found a string`, located at the value, with a hint of what to write instead.

use std::ops::Range;
use toolgate_policy::did_you_mean;

use super::keys::KeyIndex;
use super::tolerant::Problem;

/// One problem, worded and located.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Worded {
    pub span: Range<usize>,
    pub message: String,
    pub help: Option<String>,
}

pub(super) fn word(problem: &Problem, index: &KeyIndex) -> Worded {
    match problem {
        Problem::Unknown { path, key, known } => {
            let help = did_you_mean(key, known.iter().copied()).unwrap_or_else(|| {
                let table = table_name(parent(path));
                match known {
                    [] => format!("{table} takes no keys"),
                    _ => format!("{table} takes: {}", known.join(", ")),
                }
            });
            Worded {
                span: index.key_span(path).unwrap_or(0..0),
                message: format!("unknown key {key:?}"),
                help: Some(help),
            }
        }
        Problem::Invalid { path, error } => {
            let span = error.span().or_else(|| index.span(path)).unwrap_or(0..0);
            let located = index.path_at(span.start);
            let name = last(if located.is_empty() { path } else { located });
            let (message, help) = translate(error.message(), name, path);
            Worded {
                span,
                message,
                help,
            }
        }
    }
}

/// serde's message for the value of `name` (in the table or key at `path`), and a hint.
fn translate(message: &str, name: &str, path: &str) -> (String, Option<String>) {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            let expected = kind(expected);
            return (
                format!(
                    "wrong type for {name:?}: expected {expected}, found {}",
                    found_kind(found)
                ),
                example(expected, name),
            );
        }
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return (
                format!(
                    "invalid value for {name:?}: expected {}, found {found}",
                    kind(expected)
                ),
                None,
            );
        }
    }
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        let table = table_name(path);
        return (
            format!("{table} is missing the required key {field:?}"),
            Some(format!("add {field} = … to {table}")),
        );
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        if let Some((value, expected)) = rest.split_once("`, expected ") {
            let choices = backquoted(expected);
            let help = did_you_mean(value, choices.iter().copied())
                .unwrap_or_else(|| format!("use one of: {}", choices.join(", ")));
            return (format!("unknown value {value:?} for {name:?}"), Some(help));
        }
    }
    if name.is_empty() {
        (message.to_owned(), None)
    } else {
        (format!("{name:?}: {message}"), None)
    }
}

/// What serde expected, in TOML's terms.
fn kind(expected: &str) -> &str {
    match expected {
        "a boolean" => "true or false",
        "usize" | "u8" | "u16" | "u32" | "u64" | "u128" => "a non-negative integer",
        "isize" | "i8" | "i16" | "i32" | "i64" | "i128" => "an integer",
        "f32" | "f64" => "a number",
        "a sequence" => "an array",
        "a map" => "a table",
        s if s.starts_with("struct ") || s.starts_with("a map ") => "a table",
        s => s,
    }
}

/// What serde found (`string "yes"`, ``integer `5` ``), in TOML's terms.
fn found_kind(found: &str) -> &str {
    let head = found.split([' ', '`', '"']).next().unwrap_or(found);
    match head {
        "string" => "a string",
        "integer" => "an integer",
        "floating" => "a float",
        "boolean" => "a boolean",
        "sequence" => "an array",
        "map" => "a table",
        _ => found,
    }
}

/// How to write a value of the `expected` kind.
fn example(expected: &str, name: &str) -> Option<String> {
    let name = if name.contains('[') { "it" } else { name };
    Some(match expected {
        "true or false" => format!("write {name} = true or {name} = false, without quotes"),
        "a string" => format!("write the value in double quotes: {name} = \"…\""),
        "a non-negative integer" | "an integer" => {
            format!("write a whole number without quotes, e.g. {name} = 100")
        }
        "a number" => format!("write a number without quotes, e.g. {name} = 1.5"),
        "an array" => format!("write a list in brackets, e.g. {name} = [\"…\", \"…\"]"),
        "a table" => format!("write a table, e.g. {name} = {{ key = \"…\" }}"),
        _ => return None,
    })
}

/// The names in serde's `` `a`, `b` or `c` ``.
fn backquoted(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// `[servers.crm]`, or `the top level` for the document.
fn table_name(path: &str) -> String {
    if path.is_empty() {
        "the top level".to_owned()
    } else {
        format!("[{path}]")
    }
}

/// A dotted path split before its last key (`("servers.crm", "url")`); a quoted key may hold
/// dots.
fn split_last(path: &str) -> (&str, &str) {
    let (mut dot, mut quoted, mut escaped) = (None, false, false);
    for (i, c) in path.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '.' if !quoted => dot = Some(i),
            _ => {}
        }
    }
    match dot {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

/// The last key of `path`, unquoted when it is plain.
fn last(path: &str) -> &str {
    let last = split_last(path).1;
    last.strip_prefix('"')
        .and_then(|l| l.strip_suffix('"'))
        .filter(|l| !l.contains(['"', '\\']))
        .unwrap_or(last)
}

/// The path of the table holding the key at `path`.
fn parent(path: &str) -> &str {
    split_last(path).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_outside_quotes() {
        assert_eq!(
            split_last("servers.\"a.b\".url"),
            ("servers.\"a.b\"", "url")
        );
        assert_eq!(parent("servers.\"a.b\".url"), "servers.\"a.b\"");
        assert_eq!(parent("gateway"), "");
        assert_eq!(last("servers.\"a.b\""), "a.b");
        assert_eq!(last("servers.crm.args[1]"), "args[1]");
    }

    #[test]
    fn serde_wording_becomes_the_configuration_s() {
        assert_eq!(
            translate(
                "invalid type: string \"yes\", expected a boolean",
                "per_session",
                "servers.crm.per_session"
            ),
            (
                "wrong type for \"per_session\": expected true or false, found a string".into(),
                Some("write per_session = true or per_session = false, without quotes".into())
            )
        );
        assert_eq!(
            translate(
                "invalid type: integer `2`, expected a string",
                "args[1]",
                "servers.a.args"
            )
            .0,
            "wrong type for \"args[1]\": expected a string, found an integer"
        );
        assert_eq!(
            translate("missing field `agent`", "g", "grants.g"),
            (
                "[grants.g] is missing the required key \"agent\"".into(),
                Some("add agent = … to [grants.g]".into())
            )
        );
        assert_eq!(
            translate(
                "unknown variant `wran`, expected `warn` or `enforce`",
                "mode",
                "x.mode"
            ),
            (
                "unknown value \"wran\" for \"mode\"".into(),
                Some("did you mean \"warn\"?".into())
            )
        );
        assert_eq!(
            translate("something else", "k", "t.k").0,
            "\"k\": something else"
        );
    }

    /// The serde wording [`translate`] reads; if serde ever words these differently, this fails.
    #[test]
    fn serde_still_words_its_errors_this_way() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct S {
            b: bool,
            n: usize,
        }
        let e = toml::from_str::<S>("b = \"yes\"\nn = 1\n").unwrap_err();
        assert_eq!(
            e.message().trim(),
            "invalid type: string \"yes\", expected a boolean"
        );
        let e = toml::from_str::<S>("b = true\n").unwrap_err();
        assert_eq!(e.message().trim(), "missing field `n`");
        let e = toml::from_str::<S>("b = true\nn = -1\n").unwrap_err();
        assert_eq!(
            e.message().trim(),
            "invalid value: integer `-1`, expected usize"
        );
    }
}
