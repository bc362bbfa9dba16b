//! Reading a stdio server's output, one JSON-RPC message per line, without trusting its line
//! lengths: a line longer than the limit is never held whole. Its bytes are read and dropped as
//! they come, keeping only its first and last few KiB; from those, [`oversized_answer`] tells
//! whether it was a response and to which id, so that the request waiting for it gets an error
//! naming the limit instead of waiting for its timeout. The line buffer shrinks back after a
//! long line, so one huge message does not stay resident until the child restarts.

use crate::jsonrpc::{codes, error_response};
use bytes::Bytes;
use serde_json::value::RawValue;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Bytes kept of each end of a line over the limit.
const KEPT: usize = 4096;
/// A line buffer grown past this is given back after its line.
const RETAINED: usize = 256 * 1024;
/// The longest id an oversized answer is matched by (ids are counters or UUIDs).
const MAX_ID: usize = 128;

/// One line read.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A message within the limit, trimmed of surrounding whitespace (maybe empty).
    Message(Bytes),
    /// A line over the limit: its length, and what is left of it.
    TooLong { len: usize, ends: Ends },
}

/// The first and last bytes of an oversized line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ends {
    pub head: Vec<u8>,
    pub tail: Vec<u8>,
}

/// Reads lines of at most `max` bytes from `reader`.
pub struct LineReader<R> {
    reader: R,
    buf: Vec<u8>,
    max: usize,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub fn new(reader: R, max: usize) -> Self {
        LineReader {
            reader,
            buf: Vec::with_capacity(4096),
            max: max.max(1),
        }
    }

    /// The next message to route, `None` at the end of the stream: a line within the limit, or
    /// in place of a response over it, an error answering its request. Empty lines are skipped,
    /// and so are other lines over the limit, with a warning.
    pub async fn next_message(&mut self, server: &str) -> std::io::Result<Option<Bytes>> {
        loop {
            match self.next().await? {
                None => return Ok(None),
                Some(Line::Message(m)) if m.is_empty() => {}
                Some(Line::Message(m)) => return Ok(Some(m)),
                Some(Line::TooLong { len, ends }) => match ends.classify() {
                    Oversized::Response(id) => {
                        tracing::warn!(
                            server,
                            bytes = len,
                            limit = self.max,
                            id = id.get(),
                            "an answer over the size limit dropped; its request gets an error"
                        );
                        return Ok(Some(oversized_answer(&id, server, len, self.max)));
                    }
                    Oversized::Other => {
                        tracing::warn!(
                            server,
                            bytes = len,
                            limit = self.max,
                            "a message over the size limit dropped"
                        );
                    }
                },
            }
        }
    }

    /// The next line; `None` at the end of the stream (a last line without a newline counts).
    pub async fn next(&mut self) -> std::io::Result<Option<Line>> {
        if self.buf.capacity() > RETAINED {
            self.buf = Vec::with_capacity(4096);
        }
        self.buf.clear();
        let mut len = 0usize;
        let mut tail: Option<Vec<u8>> = None;
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                if len == 0 {
                    return Ok(None);
                }
                break;
            }
            let newline = available.iter().position(|&b| b == b'\n');
            let chunk = &available[..newline.unwrap_or(available.len())];
            len += chunk.len();
            match tail.as_mut() {
                None if self.buf.len() + chunk.len() <= self.max => {
                    self.buf.extend_from_slice(chunk)
                }
                None => {
                    self.buf.extend_from_slice(&chunk[..chunk.len().min(KEPT)]);
                    self.buf.truncate(KEPT);
                    let mut t = Vec::with_capacity(KEPT);
                    keep_last(&mut t, chunk);
                    tail = Some(t);
                }
                Some(t) => {
                    if self.buf.len() < KEPT {
                        let more = (KEPT - self.buf.len()).min(chunk.len());
                        self.buf.extend_from_slice(&chunk[..more]);
                    }
                    keep_last(t, chunk)
                }
            }
            let used = chunk.len() + usize::from(newline.is_some());
            self.reader.consume(used);
            if newline.is_some() {
                break;
            }
        }
        Ok(Some(match tail {
            None => Line::Message(Bytes::copy_from_slice(self.buf.trim_ascii())),
            Some(tail) => Line::TooLong {
                len,
                ends: Ends {
                    head: std::mem::take(&mut self.buf),
                    tail,
                },
            },
        }))
    }
}

/// Appends `chunk` to `tail`, keeping its last [`KEPT`] bytes.
fn keep_last(tail: &mut Vec<u8>, chunk: &[u8]) {
    if chunk.len() >= KEPT {
        tail.clear();
        tail.extend_from_slice(&chunk[chunk.len() - KEPT..]);
    } else {
        tail.extend_from_slice(chunk);
        if tail.len() > KEPT {
            tail.drain(..tail.len() - KEPT);
        }
    }
}

/// What an oversized line was, as far as its ends tell.
#[derive(Debug)]
pub enum Oversized {
    /// A response to the request with this (raw) id.
    Response(Box<RawValue>),
    /// A request or a notification from the server, or something its ends do not tell.
    Other,
}

impl Ends {
    /// Whether the line was a response, and to which id: its top-level members are read from
    /// the head until the head runs out (a response shows `result` or `error` and no `method`),
    /// and the id is found in the head, or as the last member in the tail (where the TypeScript
    /// SDK writes it).
    pub fn classify(&self) -> Oversized {
        let head = scan_head(self.head.trim_ascii_start());
        let response = head.keys.iter().any(|k| k == "result" || k == "error");
        let request = head.keys.iter().any(|k| k == "method");
        match head.id.or_else(|| last_member_id(&self.tail)) {
            Some(id) if response && !request => Oversized::Response(id),
            _ => Oversized::Other,
        }
    }
}

/// The error the request gets in place of an answer over the limit.
pub fn oversized_answer(id: &RawValue, server: &str, len: usize, max: usize) -> Bytes {
    Bytes::from(error_response(
        Some(id),
        codes::UPSTREAM_UNAVAILABLE,
        &too_long(server, Some(len), max),
    ))
}

/// Why a message over the limit was dropped (`len` when known).
pub fn too_long(server: &str, len: Option<usize>, max: usize) -> String {
    let size = match len {
        Some(len) => format!("{len} bytes"),
        None => format!("more than {max} bytes"),
    };
    format!(
        "server {server} sent a message of {size}; this gateway takes at most {max} ([limits] max_upstream_message_bytes)"
    )
}

/// The top-level members of an object's beginning, as far as the text goes.
#[derive(Debug, Default)]
struct Head {
    keys: Vec<String>,
    id: Option<Box<RawValue>>,
}

fn scan_head(text: &[u8]) -> Head {
    let mut head = Head::default();
    let mut s = Scanner { text, at: 0 };
    if s.byte() != Some(b'{') {
        return head;
    }
    s.at += 1;
    loop {
        s.skip_ws();
        let Some(key) = s.string() else {
            return head;
        };
        s.skip_ws();
        if s.byte() != Some(b':') {
            return head;
        }
        s.at += 1;
        s.skip_ws();
        let start = s.at;
        if !s.value() {
            // The value runs past the head (the large one): its key still counts.
            head.keys.push(String::from_utf8_lossy(key).into_owned());
            return head;
        }
        if key == b"id" {
            head.id = id_from(&text[start..s.at]);
        }
        head.keys.push(String::from_utf8_lossy(key).into_owned());
        s.skip_ws();
        match s.byte() {
            Some(b',') => s.at += 1,
            _ => return head,
        }
    }
}

/// The id of an object whose last member is `"id": <string or integer>`, read from its end.
fn last_member_id(tail: &[u8]) -> Option<Box<RawValue>> {
    let t = tail.trim_ascii_end().strip_suffix(b"}")?.trim_ascii_end();
    let start = match t.last()? {
        b'"' => {
            let mut i = t.len() - 1;
            loop {
                i = t[..i].iter().rposition(|&b| b == b'"')?;
                if !escaped(t, i) {
                    break i;
                }
            }
        }
        b'0'..=b'9' => t
            .iter()
            .rposition(|b| !(b.is_ascii_digit() || *b == b'-'))
            .map_or(0, |i| i + 1),
        _ => return None,
    };
    let id = id_from(&t[start..])?;
    let before = t[..start]
        .trim_ascii_end()
        .strip_suffix(b":")?
        .trim_ascii_end();
    let key_start = before.strip_suffix(b"\"id\"")?.len();
    if escaped(before, key_start) {
        return None;
    }
    matches!(
        before[..key_start].trim_ascii_end().last(),
        Some(b',' | b'{')
    )
    .then_some(id)
}

/// Whether the byte at `i` is preceded by an odd number of backslashes.
fn escaped(text: &[u8], i: usize) -> bool {
    text[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

/// `raw` as an id: a JSON string or integer of sane length.
fn id_from(raw: &[u8]) -> Option<Box<RawValue>> {
    if raw.len() > MAX_ID {
        return None;
    }
    let text = std::str::from_utf8(raw).ok()?;
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    (value.is_string() || value.is_i64() || value.is_u64())
        .then(|| RawValue::from_string(text.to_owned()).ok())
        .flatten()
}

/// A cursor over the beginning of a JSON text that may be cut anywhere.
struct Scanner<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn byte(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while self.byte().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    /// A string's raw contents (escapes left as they are); `None` if it is not one or is cut.
    fn string(&mut self) -> Option<&'a [u8]> {
        if self.byte() != Some(b'"') {
            return None;
        }
        let start = self.at + 1;
        let mut i = start;
        while i < self.text.len() {
            match self.text[i] {
                b'\\' => i += 2,
                b'"' => {
                    self.at = i + 1;
                    return Some(&self.text[start..i]);
                }
                _ => i += 1,
            }
        }
        None
    }

    /// Skips one value; `false` if it is cut.
    fn value(&mut self) -> bool {
        match self.byte() {
            None => false,
            Some(b'"') => self.string().is_some(),
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                while let Some(b) = self.byte() {
                    match b {
                        b'"' => {
                            if self.string().is_none() {
                                return false;
                            }
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                return true;
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
                false
            }
            Some(_) => {
                while let Some(b) = self.byte() {
                    if matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace() {
                        return true;
                    }
                    self.at += 1;
                }
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<Line> {
        // A small buffer, so lines arrive in many pieces.
        let reader = tokio::io::BufReader::with_capacity(7, input);
        let mut r = LineReader::new(reader, max);
        let mut out = Vec::new();
        while let Some(line) = r.next().await.unwrap() {
            out.push(line);
        }
        out
    }

    fn ends(line: &Line) -> &Ends {
        match line {
            Line::TooLong { ends, .. } => ends,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn lines_within_the_limit_pass_and_a_longer_one_keeps_only_its_ends() {
        let long = format!("{{\"a\":\"{}\"}}", "x".repeat(20_000));
        let input = format!(" {{\"a\":1}} \n\n{long}\n{{\"b\":2}}");
        let got = lines(input.as_bytes(), 100).await;
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], Line::Message(Bytes::from_static(br#"{"a":1}"#)));
        assert_eq!(got[1], Line::Message(Bytes::new()));
        match &got[2] {
            Line::TooLong { len, ends } => {
                assert_eq!(*len, long.len());
                assert_eq!(ends.head, long.as_bytes()[..KEPT]);
                assert_eq!(ends.tail, long.as_bytes()[long.len() - KEPT..]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(got[3], Line::Message(Bytes::from_static(br#"{"b":2}"#)));
    }

    #[tokio::test]
    async fn the_buffer_shrinks_after_a_long_line() {
        let input = format!("{}\n{{}}\n", "y".repeat(2 << 20));
        let reader = tokio::io::BufReader::new(input.as_bytes());
        let mut r = LineReader::new(reader, 4 << 20);
        assert!(matches!(r.next().await.unwrap(), Some(Line::Message(m)) if m.len() == 2 << 20));
        assert!(r.buf.capacity() >= 2 << 20);
        r.next().await.unwrap();
        assert!(r.buf.capacity() <= RETAINED);
    }

    #[tokio::test]
    async fn an_oversized_response_is_told_by_its_id_at_either_end() {
        let big = "z".repeat(10_000);
        for (text, id) in [
            // id first (Python SDK), id last (TypeScript SDK), string ids, an error.
            (
                format!(r#"{{"jsonrpc":"2.0","id":7,"result":{{"t":"{big}"}}}}"#),
                "7",
            ),
            (
                format!(r#"{{"result":{{"t":"{big}"}},"jsonrpc":"2.0","id":12}}"#),
                "12",
            ),
            (
                format!(r#"{{"result":"{big}", "jsonrpc":"2.0", "id" : "a\"b" }}"#),
                r#""a\"b""#,
            ),
            (
                format!(r#"{{"jsonrpc":"2.0","error":{{"code":1,"message":"{big}"}},"id":"q"}}"#),
                r#""q""#,
            ),
        ] {
            let got = lines(format!("{text}\n").as_bytes(), 100).await;
            match ends(&got[0]).classify() {
                Oversized::Response(found) => assert_eq!(found.get(), id, "{}", &text[..40]),
                Oversized::Other => panic!("not told: {}", &text[..40]),
            }
        }
    }

    #[tokio::test]
    async fn requests_notifications_and_nested_ids_are_not_taken_for_answers() {
        let big = "z".repeat(10_000);
        for text in [
            format!(
                r#"{{"jsonrpc":"2.0","id":3,"method":"sampling/createMessage","params":{{"t":"{big}"}}}}"#
            ),
            format!(
                r#"{{"method":"notifications/message","params":{{"data":"{big}"}},"jsonrpc":"2.0"}}"#
            ),
            format!(r#"{{"method":"x","params":{{"data":"{big}"}},"jsonrpc":"2.0","id":4}}"#),
            // The last "id" is inside the result, not the message's own.
            format!(r#"{{"jsonrpc":"2.0","result":{{"t":"{big}","id":5}}}}"#),
            format!(r#"{{"jsonrpc":"2.0","result":"{big}\",\"id\":5}}"}}"#),
            format!("[{big}]"),
        ] {
            let got = lines(format!("{text}\n").as_bytes(), 100).await;
            let told = ends(&got[0]).classify();
            assert!(
                matches!(told, Oversized::Other),
                "{told:?}: {}",
                &text[..60]
            );
        }
    }

    #[tokio::test]
    async fn messages_skip_empty_and_unanswerable_lines_and_answer_oversized_responses() {
        let big = "z".repeat(500);
        let input = format!(
            "\n{{\"method\":\"n\",\"params\":\"{big}\"}}\n{{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"{big}\"}}\n{{}}\n"
        );
        let mut r = LineReader::new(input.as_bytes(), 100);
        let answer = r.next_message("s").await.unwrap().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(v["id"], 1, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("536 bytes"),
            "{v}"
        );
        assert_eq!(r.next_message("s").await.unwrap().unwrap(), "{}");
        assert!(r.next_message("s").await.unwrap().is_none());
    }

    #[test]
    fn the_error_names_the_limit() {
        let id = RawValue::from_string("9".into()).unwrap();
        let answer = oversized_answer(&id, "hog", 100_000_000, 16 << 20);
        let v: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(v["id"], 9);
        assert_eq!(v["error"]["code"], codes::UPSTREAM_UNAVAILABLE);
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("server hog sent a message of 100000000 bytes")
                && message.contains("max_upstream_message_bytes"),
            "{message}"
        );
    }
}
