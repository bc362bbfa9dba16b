//! A small JSON parser that records the position of every key and value. serde_json cannot report where a
//! *valid* but wrong value sits, and policy errors must point at `file:line:col`.

use crate::document::{Member, Node, NodeKind, Pos};

/// A syntax error: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub pos: Pos,
    pub message: String,
    pub help: Option<String>,
}

/// Nesting limit, so that a hostile document cannot overflow the stack.
const MAX_DEPTH: usize = 128;

/// Parses one JSON text (RFC 8259; a leading BOM is skipped) into a spanned tree.
pub(crate) fn parse(text: &str) -> Result<Node, SyntaxError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut p = Parser {
        src: text,
        bytes: text.as_bytes(),
        i: 0,
        line: 1,
        col: 1,
    };
    p.skip_ws();
    let node = p.value(0)?;
    p.skip_ws();
    if p.i < p.bytes.len() {
        return Err(p.error(
            "unexpected trailing characters after the JSON document",
            None,
        ));
    }
    Ok(node)
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    i: usize,
    line: u32,
    col: u32,
}

impl Parser<'_> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn error(&self, message: impl Into<String>, help: Option<&str>) -> SyntaxError {
        SyntaxError {
            pos: self.pos(),
            message: message.into(),
            help: help.map(str::to_owned),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.i).copied()
    }

    /// Advances over one whole character, keeping line and column current.
    fn bump(&mut self) -> Option<char> {
        let ch = self.src[self.i..].chars().next()?;
        self.i += ch.len_utf8();
        if ch == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(ch)
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.bump();
        }
    }

    fn describe_here(&self) -> String {
        match self.src[self.i..].chars().next() {
            None => "end of input".to_owned(),
            Some(c) => format!("{c:?}"),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.error(
                format!("document nested deeper than {MAX_DEPTH} levels"),
                None,
            ));
        }
        let pos = self.pos();
        let kind = match self.peek() {
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => NodeKind::String(self.string()?),
            Some(b'-' | b'0'..=b'9') => NodeKind::Number(self.number()?),
            Some(b't') => self.keyword("true", NodeKind::Bool(true))?,
            Some(b'f') => self.keyword("false", NodeKind::Bool(false))?,
            Some(b'n') => self.keyword("null", NodeKind::Null)?,
            Some(b'\'') => {
                return Err(self.error(
                    "expected a JSON value, found '\\''",
                    Some("JSON strings use double quotes"),
                ));
            }
            _ => {
                return Err(self.error(
                    format!("expected a JSON value, found {}", self.describe_here()),
                    None,
                ));
            }
        };
        Ok(Node { pos, kind })
    }

    fn keyword(&mut self, word: &str, kind: NodeKind) -> Result<NodeKind, SyntaxError> {
        if self.src[self.i..].starts_with(word) {
            for _ in 0..word.len() {
                self.bump();
            }
            Ok(kind)
        } else {
            Err(self.error(
                format!("expected a JSON value, found {}", self.describe_here()),
                None,
            ))
        }
    }

    fn object(&mut self, depth: usize) -> Result<NodeKind, SyntaxError> {
        self.bump(); // '{'
        let mut members = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.bump();
            return Ok(NodeKind::Object(members));
        }
        loop {
            self.skip_ws();
            let key_pos = self.pos();
            if self.peek() != Some(b'"') {
                let help = if self.peek() == Some(b'}') {
                    Some("remove the trailing comma")
                } else {
                    Some("object keys are double-quoted strings")
                };
                return Err(self.error(
                    format!("expected a string key, found {}", self.describe_here()),
                    help,
                ));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.error(
                    format!("expected ':' after the key, found {}", self.describe_here()),
                    None,
                ));
            }
            self.bump();
            self.skip_ws();
            let value = self.value(depth + 1)?;
            members.push(Member {
                key,
                key_pos,
                value,
            });
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.bump();
                }
                Some(b'}') => {
                    self.bump();
                    return Ok(NodeKind::Object(members));
                }
                _ => {
                    return Err(self.error(
                        format!(
                            "expected ',' or '}}' in object, found {}",
                            self.describe_here()
                        ),
                        None,
                    ));
                }
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<NodeKind, SyntaxError> {
        self.bump(); // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.bump();
            return Ok(NodeKind::Array(items));
        }
        loop {
            self.skip_ws();
            if self.peek() == Some(b']') {
                return Err(self.error(
                    "expected a JSON value, found ']'",
                    Some("remove the trailing comma"),
                ));
            }
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.bump();
                }
                Some(b']') => {
                    self.bump();
                    return Ok(NodeKind::Array(items));
                }
                _ => {
                    return Err(self.error(
                        format!(
                            "expected ',' or ']' in array, found {}",
                            self.describe_here()
                        ),
                        None,
                    ));
                }
            }
        }
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        self.bump(); // opening quote
        let mut out = String::new();
        loop {
            let start = self.i;
            // Fast path: copy a run of plain characters at once.
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.bump();
            }
            out.push_str(&self.src[start..self.i]);
            match self.peek() {
                Some(b'"') => {
                    self.bump();
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.bump();
                    let esc_pos = self.pos();
                    let Some(c) = self.bump() else {
                        return Err(self.error("unterminated string", None));
                    };
                    match c {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        '/' => out.push('/'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => out.push(self.unicode_escape()?),
                        other => {
                            return Err(SyntaxError {
                                pos: esc_pos,
                                message: format!("invalid escape '\\{other}' in string"),
                                help: Some(
                                    "valid escapes: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX"
                                        .to_owned(),
                                ),
                            });
                        }
                    }
                }
                Some(_) => {
                    return Err(self.error(
                        "control character in string",
                        Some("escape it, e.g. \\n for a newline"),
                    ));
                }
                None => return Err(self.error("unterminated string", Some("add the closing '\"'"))),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = self.peek().and_then(|b| (b as char).to_digit(16));
            let Some(d) = d else {
                return Err(self.error("expected 4 hex digits after \\u", None));
            };
            self.bump();
            v = v * 16 + d;
        }
        Ok(v)
    }

    fn unicode_escape(&mut self) -> Result<char, SyntaxError> {
        let hi = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            if !self.src[self.i..].starts_with("\\u") {
                return Err(self.error("unpaired surrogate in \\u escape", None));
            }
            self.bump();
            self.bump();
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(self.error("invalid low surrogate in \\u escape", None));
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else {
            hi
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid \\u escape", None))
    }

    fn number(&mut self) -> Result<serde_json::Number, SyntaxError> {
        let start = self.i;
        let start_pos = self.pos();
        let bad = |p: &Self| SyntaxError {
            pos: start_pos,
            message: format!("invalid number {:?}", &p.src[start..p.i]),
            help: None,
        };
        if self.peek() == Some(b'-') {
            self.bump();
        }
        match self.peek() {
            Some(b'0') => {
                self.bump();
            }
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.bump();
                }
            }
            _ => return Err(bad(self)),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.bump();
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(bad(self));
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.bump();
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.bump();
            if let Some(b'+' | b'-') = self.peek() {
                self.bump();
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(bad(self));
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.bump();
            }
        }
        let s = &self.src[start..self.i];
        if integer {
            if let Ok(v) = s.parse::<u64>() {
                return Ok(v.into());
            }
            if let Ok(v) = s.parse::<i64>() {
                return Ok(v.into());
            }
        }
        let n = s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .ok_or_else(|| SyntaxError {
                pos: start_pos,
                message: format!("number {s} is out of range"),
                help: None,
            })?;
        if crate::number::loses_digits(&n, s) {
            return Err(inexact_number(start_pos, s));
        }
        Ok(n)
    }
}

/// A constant a policy could keep only approximately: refused, so a rule compares against exactly
/// what its author wrote.
pub(crate) fn inexact_number(pos: Pos, text: &str) -> SyntaxError {
    SyntaxError {
        pos,
        message: format!("number {text} has more digits than a policy keeps exactly"),
        help: Some(
            "write an integer within 64 bits, or a decimal of at most 15 significant digits"
                .to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_positions() {
        let n = parse("{\n  \"a\": [1, \"x\"],\n  \"b\": {\"c\": null}\n}").expect("valid");
        let members = n.as_object().expect("object");
        assert_eq!(members[0].key_pos, Pos { line: 2, col: 3 });
        assert_eq!(members[0].value.pos, Pos { line: 2, col: 8 });
        let arr = members[0].value.as_array().expect("array");
        assert_eq!(arr[1].pos, Pos { line: 2, col: 12 });
        assert_eq!(
            members[1].value.as_object().expect("obj")[0].value.kind,
            NodeKind::Null
        );
    }

    #[test]
    fn keeps_duplicates_and_numbers() {
        let n =
            parse(r#"{"a": 1, "a": -2.5, "b": 18446744073709551615, "c": "\u00e9\ud83d\ude00\n"}"#)
                .expect("valid");
        let m = n.as_object().expect("object");
        assert_eq!(m.len(), 4);
        assert_eq!(m[1].value.to_json(), serde_json::json!(-2.5));
        assert_eq!(m[2].value.to_json(), serde_json::json!(u64::MAX));
        assert_eq!(m[3].value.as_str(), Some("é😀\n"));
    }

    #[test]
    fn reports_syntax_errors_with_positions() {
        for (text, line, col) in [
            ("{\"a\": 1,}", 1, 9),
            ("{\"a\" 1}", 1, 6),
            ("[1, 2", 1, 6),
            ("{\"a\": 01}", 1, 8),
            ("{\"a\": tru}", 1, 7),
            ("\n\n  \"abc", 3, 7),
            ("{} x", 1, 4),
            ("\"\\q\"", 1, 3),
        ] {
            let e = parse(text).expect_err(text);
            assert_eq!(
                (e.pos.line, e.pos.col),
                (line, col),
                "{text}: {}",
                e.message
            );
        }
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowed() {
        let text = "[".repeat(10_000);
        assert!(parse(&text).is_err());
    }
}
