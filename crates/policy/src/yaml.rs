//! YAML input: drives yaml-rust2's event parser (which reports a marker per event) into the same spanned
//! tree as JSON, so both formats share one validator and both get `line:col` in every error.

use std::collections::HashMap;

use yaml_rust2::Yaml;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::document::{Member, Node, NodeKind, Pos};
use crate::json::SyntaxError;

/// Parses one YAML document into a spanned tree. Scalars follow the YAML 1.2 core schema (plain `true`,
/// `10`, `1.5`, `null`/`~` are typed; quoted scalars are strings). Anchors and aliases are expanded.
pub(crate) fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        return Err(SyntaxError {
            pos: pos(*e.marker()),
            message: format!("invalid YAML: {}", e.info()),
            help: None,
        });
    }
    if let Some(err) = builder.error {
        return Err(err);
    }
    match builder.docs.len() {
        0 => Err(SyntaxError {
            pos: Pos { line: 1, col: 1 },
            message: "empty YAML document".to_owned(),
            help: Some("a policy needs at least `version` and `default`".to_owned()),
        }),
        1 => Ok(builder.docs.remove(0)),
        _ => Err(SyntaxError {
            pos: builder.docs[1].pos,
            message: "more than one YAML document in the file".to_owned(),
            help: Some("keep one policy per file (remove the extra `---`)".to_owned()),
        }),
    }
}

fn pos(m: Marker) -> Pos {
    // yaml-rust2 markers: line is 1-based, column is 0-based.
    Pos {
        line: u32::try_from(m.line()).unwrap_or(u32::MAX),
        col: u32::try_from(m.col()).unwrap_or(u32::MAX).saturating_add(1),
    }
}

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        members: Vec<Member>,
        pending_key: Option<(String, Pos)>,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Node>,
    anchors: HashMap<usize, Node>,
    error: Option<SyntaxError>,
}

impl Builder {
    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                members,
                pending_key,
                ..
            }) => match pending_key.take() {
                Some((key, key_pos)) => members.push(Member {
                    key,
                    key_pos,
                    value: node,
                }),
                None => match node.kind {
                    NodeKind::String(key) => *pending_key = Some((key, node.pos)),
                    NodeKind::Bool(_) | NodeKind::Number(_) | NodeKind::Null => {
                        // Keys are text in a policy; `1: x` or `true: x` still names something.
                        let key = scalar_text(&node.kind);
                        *pending_key = Some((key, node.pos));
                    }
                    _ => {
                        if self.error.is_none() {
                            self.error = Some(SyntaxError {
                                pos: node.pos,
                                message: "mapping keys must be scalars".to_owned(),
                                help: None,
                            });
                        }
                        *pending_key = Some((String::new(), node.pos));
                    }
                },
            },
        }
    }
}

fn scalar_text(kind: &NodeKind) -> String {
    match kind {
        NodeKind::Bool(b) => b.to_string(),
        NodeKind::Number(n) => n.to_string(),
        NodeKind::Null => "null".to_owned(),
        NodeKind::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// A plain scalar's type; `Err` with the text for a number a policy could keep only approximately.
fn scalar(value: String, style: TScalarStyle) -> Result<NodeKind, String> {
    if style != TScalarStyle::Plain {
        return Ok(NodeKind::String(value));
    }
    Ok(match Yaml::from_str(&value) {
        Yaml::Null => NodeKind::Null,
        Yaml::Boolean(b) => NodeKind::Bool(b),
        Yaml::Integer(i) => NodeKind::Number(i.into()),
        // yaml-rust2 reads integers beyond i64 as reals: those within u64 stay exact.
        Yaml::Real(r) if is_integer_text(&r) && r.parse::<u64>().is_ok() => {
            NodeKind::Number(r.parse::<u64>().unwrap_or_default().into())
        }
        Yaml::Real(r) => match r.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
            Some(n) if !loses_digits(&n, &r) => NodeKind::Number(n),
            Some(_) => return Err(value),
            None => NodeKind::String(value),
        },
        _ => {
            // Integers beyond i64 (u64 range) stay numbers; longer ones cannot be kept exactly.
            match value.parse::<u64>() {
                Ok(u) => NodeKind::Number(u.into()),
                Err(_) if is_integer_text(&value) => return Err(value),
                Err(_) => NodeKind::String(value),
            }
        }
    })
}

/// YAML spells reals more freely than JSON (`+1.5`, `.5`): judged in their JSON spelling.
fn loses_digits(n: &serde_json::Number, real: &str) -> bool {
    let (sign, unsigned) = match real.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", real.strip_prefix('+').unwrap_or(real)),
    };
    let lead = if unsigned.starts_with('.') { "0" } else { "" };
    crate::number::loses_digits(n, &format!("{sign}{lead}{unsigned}"))
}

fn is_integer_text(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let p = pos(mark);
        match ev {
            Event::Scalar(value, style, anchor, _tag) => {
                let kind = match scalar(value, style) {
                    Ok(kind) => kind,
                    Err(text) => {
                        if self.error.is_none() {
                            self.error = Some(crate::json::inexact_number(p, &text));
                        }
                        NodeKind::Null
                    }
                };
                self.push_node(Node { pos: p, kind }, anchor);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                pos: p,
                anchor,
                items: Vec::new(),
            }),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map {
                    pos: p,
                    anchor,
                    members: Vec::new(),
                    pending_key: None,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { pos, anchor, items }) => (
                        Node {
                            pos,
                            kind: NodeKind::Array(items),
                        },
                        anchor,
                    ),
                    Some(Frame::Map {
                        pos,
                        anchor,
                        members,
                        ..
                    }) => (
                        Node {
                            pos,
                            kind: NodeKind::Object(members),
                        },
                        anchor,
                    ),
                    None => return,
                };
                self.push_node(node, anchor);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    let mut node = node.clone();
                    node.pos = p;
                    self.push_node(node, 0);
                }
                None => {
                    if self.error.is_none() {
                        self.error = Some(SyntaxError {
                            pos: p,
                            message: "unknown YAML alias".to_owned(),
                            help: None,
                        });
                    }
                }
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_tree_with_positions() {
        let text = "version: \"1\"\ndefault: deny\ntools:\n  a*:\n    limits:\n      - {counter: c, max: 5}\n";
        let n = parse(text).expect("valid");
        let m = n.as_object().expect("map");
        assert_eq!(m[0].key, "version");
        assert_eq!(m[0].key_pos, Pos { line: 1, col: 1 });
        assert_eq!(m[0].value.as_str(), Some("1"));
        assert_eq!(m[1].value.pos, Pos { line: 2, col: 10 });
        let tools = m[2].value.as_object().expect("tools");
        assert_eq!(tools[0].key_pos, Pos { line: 4, col: 3 });
        let limits = tools[0].value.as_object().expect("rule")[0]
            .value
            .as_array()
            .expect("limits");
        let limit = limits[0].as_object().expect("limit");
        assert_eq!(limit[1].value.to_json(), serde_json::json!(5));
        assert_eq!(limit[1].value.pos, Pos { line: 6, col: 27 });
    }

    #[test]
    fn aliases_expand_and_errors_have_positions() {
        let n = parse("a: &x [1, 2]\nb: *x\n").expect("valid");
        assert_eq!(n.to_json(), serde_json::json!({"a": [1, 2], "b": [1, 2]}));
        let e = parse("a: [1, 2\nb: 3\n").expect_err("invalid");
        assert!(e.pos.line >= 1, "{e:?}");
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
    }
}
