//! Server-Sent Events framing: an incremental parser for upstream streams and the encoder for
//! the streams the gateway sends to clients. Streamable HTTP carries one JSON-RPC message per
//! event's `data`.

use bytes::{Bytes, BytesMut};

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    pub event: Option<String>,
    pub id: Option<String>,
    pub data: String,
}

/// Feeds bytes in, gets complete events out. Handles `\n`, `\r\n` and `\r` line ends, events
/// split across chunks, comments and multi-line data.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: BytesMut,
    current: Event,
    has_data: bool,
    /// A `\r` ended the previous chunk: a following `\n` belongs to the same line end.
    pending_cr: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a chunk and returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        let mut chunk = chunk;
        if self.pending_cr && chunk.first() == Some(&b'\n') {
            chunk = &chunk[1..];
        }
        self.pending_cr = false;
        self.buf.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n' || b == b'\r') {
            let line = self.buf.split_to(pos);
            let ending = self.buf.split_to(1);
            if ending[0] == b'\r' {
                if self.buf.first() == Some(&b'\n') {
                    let _ = self.buf.split_to(1);
                } else if self.buf.is_empty() {
                    self.pending_cr = true;
                }
            }
            if let Some(event) = self.line(&line) {
                events.push(event);
            }
        }
        events
    }

    fn line(&mut self, line: &[u8]) -> Option<Event> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.current);
            let had = std::mem::replace(&mut self.has_data, false);
            return had.then_some(event);
        }
        if line[0] == b':' {
            return None;
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.find(':') {
            Some(i) => {
                let v = &text[i + 1..];
                (&text[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (&text[..], ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.current.event = Some(value.to_owned()),
            "id" => self.current.id = Some(value.to_owned()),
            _ => {}
        }
        None
    }
}

/// Encodes one JSON-RPC message as an SSE `message` event. JSON text never contains a raw
/// newline outside strings, and inside strings newlines are escaped, so one `data:` line holds it;
/// a message that does contain newlines (pretty-printed) is split over several `data:` lines.
pub fn encode_message(json: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(json.len() + 24);
    out.extend_from_slice(b"event: message\n");
    for line in json.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.extend_from_slice(b"\n");
    }
    out.extend_from_slice(b"\n");
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_split_across_chunks() {
        let mut p = SseParser::new();
        assert!(p.push(b"id: 1\nevent: mess").is_empty());
        let ev = p.push(b"age\ndata: {\"a\":\ndata: 1}\n\n: comment\n\ndata: x\r\n\r\n");
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].event.as_deref(), Some("message"));
        assert_eq!(ev[0].id.as_deref(), Some("1"));
        assert_eq!(ev[0].data, "{\"a\":\n1}");
        assert_eq!(ev[1].data, "x");
    }

    #[test]
    fn priming_events_without_data_are_not_dispatched() {
        let mut p = SseParser::new();
        assert!(p.push(b"id: abc\n\n").is_empty());
        assert!(p.push(b"id: abc\ndata:\n\n")[0].data.is_empty());
    }

    #[test]
    fn cr_line_endings_split_across_chunks() {
        let mut p = SseParser::new();
        assert!(p.push(b"data: a\r").is_empty());
        let ev = p.push(b"\n\r\n");
        assert_eq!(
            ev,
            vec![Event {
                data: "a".into(),
                ..Default::default()
            }]
        );
    }

    #[test]
    fn encode_roundtrip() {
        let mut p = SseParser::new();
        let ev = p.push(&encode_message(b"{\n  \"a\": 1\n}"));
        assert_eq!(ev[0].data, "{\n  \"a\": 1\n}");
    }
}
