//! Writing a changed policy back as text a person would have written: given the file as it is and
//! the document as it should be, [`rewrite`] keeps every top-level member and every `tools` entry
//! whose value did not change byte for byte as it was — comments, blank lines, key order, quoting —
//! and writes only what changed (in block-style YAML at the member's indentation, or JSON), new
//! members after the existing ones. Comments inside a changed member go with it. A YAML document
//! whose top level (or whose `tools`) is written in flow style (`{…}`) is written anew as block
//! YAML; JSON has no comments, so a JSON document is written whole, indented by two, its keys in
//! their original order.

use serde_json::{Map, Value};

use crate::SourceFormat;
use crate::diagnostics::Diagnostics;
use crate::document::{Member, Node, NodeKind};
use crate::source::parse_document;

/// `text` (a policy in `format`) changed to say `wanted`, keeping what did not change.
pub fn rewrite(text: &str, format: SourceFormat, wanted: &Value) -> Result<String, Diagnostics> {
    let root = parse_document(text, "policy", format)?;
    Ok(match format {
        SourceFormat::Json => {
            let mut out = String::new();
            json_value(&mut out, wanted, Some(&root), 0);
            out.push('\n');
            out
        }
        SourceFormat::Yaml => match (root.as_object(), wanted.as_object()) {
            (Some(members), Some(wanted)) if is_block(text, &root, members) => {
                let lines: Vec<&str> = text.split_inclusive('\n').collect();
                let mut out = String::new();
                let first = members.first().map_or(lines.len(), line_index);
                // The header (comments before the first key) stays.
                for l in &lines[..first.min(lines.len())] {
                    out.push_str(l);
                }
                block_members(&mut out, &lines, members, lines.len(), wanted, 0);
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out
            }
            _ => {
                let mut out = String::new();
                match wanted.as_object() {
                    Some(m) => yaml_map(&mut out, m, 0),
                    None => out.push_str(&yaml_scalar(wanted)),
                }
                out
            }
        },
    })
}

/// 0-based line of a member's key.
fn line_index(m: &Member) -> usize {
    m.key_pos.line.saturating_sub(1) as usize
}

/// True when `node`'s members are written one per line in block style.
fn is_block(text: &str, node: &Node, members: &[Member]) -> bool {
    let starts_with_brace = text
        .lines()
        .nth(node.pos.line.saturating_sub(1) as usize)
        .and_then(|l| l.chars().nth(node.pos.col.saturating_sub(1) as usize))
        == Some('{');
    !members.is_empty() && !starts_with_brace
}

fn is_filler(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// Writes a block mapping's members: each member whose value is still `wanted`'s keeps its lines;
/// `tools` (block style on both sides) is rewritten entry by entry; the rest is written anew.
/// `end` is the line index where the mapping ends.
fn block_members(
    out: &mut String,
    lines: &[&str],
    members: &[Member],
    end: usize,
    wanted: &Map<String, Value>,
    depth: usize,
) {
    let indent = members
        .first()
        .map_or(0, |m| m.key_pos.col.saturating_sub(1) as usize);
    for (i, m) in members.iter().enumerate() {
        let start = line_index(m);
        let next = members.get(i + 1).map_or(end, line_index).min(lines.len());
        // Trailing comments and blank lines belong to what follows.
        let mut content_end = next;
        while content_end > start + 1 && is_filler(lines[content_end - 1]) {
            content_end -= 1;
        }
        let filler = &lines[content_end..next];
        let Some(value) = wanted.get(&m.key) else {
            // Removed: its lines go, the comments above the next member stay.
            push_lines(out, filler);
            continue;
        };
        if m.value.to_json() == *value {
            push_lines(out, &lines[start..next]);
            continue;
        }
        match (&m.value.kind, value) {
            (NodeKind::Object(inner), Value::Object(inner_wanted))
                if depth == 0
                    && m.key == "tools"
                    && inner
                        .first()
                        .is_some_and(|f| f.key_pos.line > m.key_pos.line) =>
            {
                // The `tools:` line and any comment lines before its first entry.
                push_lines(out, &lines[start..line_index(&inner[0])]);
                block_members(out, lines, inner, content_end, inner_wanted, depth + 1);
                let known: Vec<&str> = inner.iter().map(|x| x.key.as_str()).collect();
                let child_indent = inner[0].key_pos.col.saturating_sub(1) as usize;
                for (k, v) in inner_wanted
                    .iter()
                    .filter(|(k, _)| !known.contains(&k.as_str()))
                {
                    yaml_member(out, k, v, child_indent);
                }
            }
            _ => {
                let at = out.len();
                yaml_member(out, &m.key, value, indent);
                // A comment at the end of the key's line stays on it.
                if let Some(comment) = trailing_comment(lines[start]) {
                    let eol = at + out[at..].find('\n').unwrap_or(out.len() - at);
                    out.insert_str(eol, &format!("  {comment}"));
                }
            }
        }
        push_lines(out, filler);
    }
    if depth == 0 {
        let known: Vec<&str> = members.iter().map(|x| x.key.as_str()).collect();
        for (k, v) in wanted.iter().filter(|(k, _)| !known.contains(&k.as_str())) {
            yaml_member(out, k, v, indent);
        }
    }
}

/// The `# …` at the end of a line, outside quotes.
fn trailing_comment(line: &str) -> Option<&str> {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single && prev != '\\' => double = !double,
            '#' if !single && !double && prev.is_whitespace() => {
                return Some(line[i..].trim_end());
            }
            _ => {}
        }
        prev = c;
    }
    None
}

fn push_lines(out: &mut String, lines: &[&str]) {
    for l in lines {
        out.push_str(l);
        if !l.ends_with('\n') {
            out.push('\n');
        }
    }
}

/// `key: value` at `indent`, block style, ending with a newline.
fn yaml_member(out: &mut String, key: &str, value: &Value, indent: usize) {
    push_indent(out, indent);
    out.push_str(&yaml_key(key));
    out.push(':');
    yaml_after_key(out, value, indent);
}

fn yaml_after_key(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            yaml_map(out, m, indent + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            yaml_seq(out, a, indent + 2);
        }
        v => {
            out.push(' ');
            out.push_str(&yaml_scalar(v));
            out.push('\n');
        }
    }
}

fn yaml_map(out: &mut String, m: &Map<String, Value>, indent: usize) {
    for (k, v) in in_document_order(m) {
        yaml_member(out, k, v, indent);
    }
}

/// The order a person writes a policy's keys in (the specification's); other keys after them,
/// alphabetically.
const KEY_ORDER: [&str; 21] = [
    "version",
    "default",
    "hide",
    "all_tools",
    "tools",
    "action",
    "reason",
    "on_deny",
    "approval",
    "mode",
    "timeout",
    "conditions",
    "path",
    "op",
    "value",
    "limits",
    "counter",
    "window",
    "max",
    "scope",
    "deny_if",
];

fn in_document_order(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut members: Vec<(&String, &Value)> = m.iter().collect();
    members.sort_by_key(|(k, _)| {
        KEY_ORDER
            .iter()
            .position(|o| o == k)
            .unwrap_or(KEY_ORDER.len())
    });
    members
}

fn yaml_seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        push_indent(out, indent);
        out.push('-');
        match item {
            Value::Object(m) if !m.is_empty() => {
                // The first member on the dash's line, the others under it.
                for (i, (k, v)) in in_document_order(m).into_iter().enumerate() {
                    if i == 0 {
                        out.push(' ');
                    } else {
                        push_indent(out, indent + 2);
                    }
                    out.push_str(&yaml_key(k));
                    out.push(':');
                    yaml_after_key(out, v, indent + 2);
                }
            }
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                yaml_seq(out, a, indent + 2);
            }
            v => {
                out.push(' ');
                out.push_str(&yaml_scalar(v));
                out.push('\n');
            }
        }
    }
}

fn push_indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A key, plain when YAML reads it back as the same string, else double-quoted.
fn yaml_key(key: &str) -> String {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '*' | '?' | '/'))
        && !looks_typed(key);
    if plain {
        key.to_owned()
    } else {
        Value::String(key.to_owned()).to_string()
    }
}

/// A scalar: strings plain when safe, else double-quoted (JSON escapes are valid YAML).
fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let plain = !s.is_empty()
                && s.chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric() || c == '/' || c == '_')
                && !s.ends_with(' ')
                && !s.ends_with(':')
                && !s.contains(": ")
                && !s.contains(" #")
                && s.chars().all(|c| {
                    !c.is_control()
                        && !matches!(c, '"' | '\'' | '`' | '{' | '}' | '[' | ']' | ',' | '\\')
                })
                && !looks_typed(s);
            if plain { s.clone() } else { v.to_string() }
        }
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
        other => other.to_string(),
    }
}

/// Text YAML would read as something other than a string.
fn looks_typed(s: &str) -> bool {
    matches!(
        s.to_ascii_lowercase().as_str(),
        "true" | "false" | "null" | "~" | "yes" | "no" | "on" | "off" | "y" | "n"
    ) || s.parse::<f64>().is_ok()
        || s.starts_with("0x")
        || s.starts_with("0o")
}

/// JSON, indented by two, objects' keys in the order `original` has them (new ones after).
fn json_value(out: &mut String, v: &Value, original: Option<&Node>, indent: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            let order: Vec<&str> = original
                .and_then(Node::as_object)
                .map(|ms| ms.iter().map(|x| x.key.as_str()).collect())
                .unwrap_or_default();
            let mut keys: Vec<&String> = order
                .iter()
                .filter_map(|k| m.get_key_value(*k).map(|(k, _)| k))
                .collect();
            keys.extend(m.keys().filter(|k| !order.contains(&k.as_str())));
            out.push_str("{\n");
            for (i, k) in keys.iter().enumerate() {
                push_indent(out, indent + 2);
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push_str(": ");
                let child = original
                    .and_then(Node::as_object)
                    .and_then(|ms| ms.iter().rev().find(|x| &x.key == *k))
                    .map(|x| &x.value);
                json_value(out, &m[k.as_str()], child, indent + 2);
                if i + 1 < keys.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            push_indent(out, indent);
            out.push('}');
        }
        Value::Array(a) if !a.is_empty() => {
            out.push_str("[\n");
            for (i, item) in a.iter().enumerate() {
                push_indent(out, indent + 2);
                let child = original.and_then(Node::as_array).and_then(|xs| xs.get(i));
                json_value(out, item, child, indent + 2);
                if i + 1 < a.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            push_indent(out, indent);
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile;
    use serde_json::json;

    const YAML: &str = "\
# Starter policy for crm.
version: \"1\"
default: deny   # unknown tools are refused

tools:
  # Reads are free.
  findMany*: {}
  deleteOneCompany:  # verb \"delete\" in name
    action: require_approval   # a person decides
    approval:
      timeout: 10m

  # Credentials are IT's.
  createOneConnectedAccount:
    action: deny
    reason: Credentials are managed by IT.
";

    fn doc(text: &str) -> Value {
        parse_document(text, "t", SourceFormat::Yaml)
            .unwrap()
            .to_json()
    }

    #[test]
    fn unchanged_document_is_kept_byte_for_byte() {
        assert_eq!(rewrite(YAML, SourceFormat::Yaml, &doc(YAML)).unwrap(), YAML);
    }

    #[test]
    fn one_changed_tool_leaves_every_other_line_alone() {
        let mut wanted = doc(YAML);
        wanted["tools"]["deleteOneCompany"] = json!({"action": "deny", "reason": "Never: ask IT."});
        wanted["tools"]["createOneCompany"] =
            json!({"limits": [{"counter": "companies", "window": "minute", "max": 2}]});
        let out = rewrite(YAML, SourceFormat::Yaml, &wanted).unwrap();
        assert_eq!(
            out,
            "\
# Starter policy for crm.
version: \"1\"
default: deny   # unknown tools are refused

tools:
  # Reads are free.
  findMany*: {}
  deleteOneCompany:  # verb \"delete\" in name
    action: deny
    reason: \"Never: ask IT.\"

  # Credentials are IT's.
  createOneConnectedAccount:
    action: deny
    reason: Credentials are managed by IT.
  createOneCompany:
    limits:
      - counter: companies
        window: minute
        max: 2
"
        );
        assert_eq!(doc(&out), wanted);
        compile(&out, "t.yaml", SourceFormat::Yaml).unwrap();
    }

    #[test]
    fn removed_and_top_level_changes() {
        let mut wanted = doc(YAML);
        wanted["default"] = json!("allow");
        wanted["hide"] = json!(["GetOpenApiSchema", "*Secret*"]);
        wanted["tools"].as_object_mut().unwrap().remove("findMany*");
        let out = rewrite(YAML, SourceFormat::Yaml, &wanted).unwrap();
        assert!(
            out.starts_with("# Starter policy for crm.\nversion: \"1\"\ndefault: allow  # unknown tools are refused\n"),
            "{out}"
        );
        assert!(!out.contains("findMany"), "{out}");
        assert!(out.contains("  # Credentials are IT's.\n"), "{out}");
        assert!(
            out.ends_with("hide:\n  - GetOpenApiSchema\n  - \"*Secret*\"\n"),
            "{out}"
        );
        assert_eq!(doc(&out), wanted);
    }

    #[test]
    fn flow_style_and_json_are_written_whole_in_order() {
        let flow = "{version: \"1\", default: deny}\n";
        let wanted = json!({"version": "1", "default": "allow", "tools": {"x": {}}});
        let out = rewrite(flow, SourceFormat::Yaml, &wanted).unwrap();
        assert_eq!(doc(&out), wanted);
        let j = "{\n  \"version\": \"1\",\n  \"tools\": {\"b\": {}, \"a\": {}},\n  \"default\": \"deny\"\n}";
        let wanted =
            json!({"version": "1", "default": "deny", "tools": {"b": {}, "a": {"action": "deny"}}});
        let out = rewrite(j, SourceFormat::Json, &wanted).unwrap();
        let keys: Vec<usize> = ["\"version\"", "\"tools\"", "\"b\"", "\"a\"", "\"default\""]
            .iter()
            .map(|k| out.find(k).unwrap())
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{out}");
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), wanted);
    }

    #[test]
    fn hostile_strings_round_trip() {
        let wanted = json!({"version": "1", "default": "deny", "tools": {
            "a: b": {"action": "deny", "reason": "#not a comment\n\"quoted\" & {x}"},
            "true": {"action": "deny", "reason": "yes"}
        }});
        let out = rewrite(
            "version: \"1\"\ndefault: deny\n",
            SourceFormat::Yaml,
            &wanted,
        )
        .unwrap();
        assert_eq!(doc(&out), wanted);
    }
}
