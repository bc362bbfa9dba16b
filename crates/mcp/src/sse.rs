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
/// split across chunks, comments and multi-line data. With a limit, an event (or a line) longer
/// than that is never held whole: the parser stops, and says so ([`SseParser::exceeded`]).
#[derive(Debug)]
pub struct SseParser {
    buf: BytesMut,
    /// The bytes of `buf` already searched for a line end.
    scanned: usize,
    current: Event,
    has_data: bool,
    /// A `\r` ended the previous chunk: a following `\n` belongs to the same line end.
    pending_cr: bool,
    limit: usize,
    exceeded: bool,
}

impl Default for SseParser {
    fn default() -> Self {
        SseParser {
            buf: BytesMut::new(),
            scanned: 0,
            current: Event::default(),
            has_data: false,
            pending_cr: false,
            limit: usize::MAX,
            exceeded: false,
        }
    }
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser that takes events of at most `limit` bytes of data.
    pub fn with_limit(limit: usize) -> Self {
        SseParser {
            limit,
            ..Self::default()
        }
    }

    /// Whether an event went over the limit: the parser then takes nothing more.
    pub fn exceeded(&self) -> bool {
        self.exceeded
    }

    /// Appends a chunk and returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        if self.exceeded {
            return Vec::new();
        }
        let mut chunk = chunk;
        if self.pending_cr && chunk.first() == Some(&b'\n') {
            chunk = &chunk[1..];
        }
        self.pending_cr = false;
        self.buf.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(pos) = self.line_end() {
            self.scanned = 0;
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
            if self.current.data.len() > self.limit {
                return self.stop(events);
            }
        }
        self.scanned = self.buf.len();
        if self.buf.len() > self.limit {
            return self.stop(events);
        }
        events
    }

    /// Where the next line ends, searching only bytes not searched before (a long line arriving
    /// in many chunks is not searched from its start each time).
    fn line_end(&self) -> Option<usize> {
        let from = self.scanned.min(self.buf.len());
        self.buf[from..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .map(|p| from + p)
    }

    fn stop(&mut self, events: Vec<Event>) -> Vec<Event> {
        self.exceeded = true;
        self.buf = BytesMut::new();
        self.current = Event::default();
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
    fn an_event_over_the_limit_stops_the_parser_without_holding_it() {
        let mut p = SseParser::with_limit(100);
        let ev = p.push(b"data: small\n\ndata: ");
        assert_eq!(ev.len(), 1);
        for _ in 0..10 {
            assert!(p.push(&[b'x'; 30]).is_empty());
        }
        assert!(p.exceeded());
        assert!(p.buf.capacity() < 100);
        // Many data lines count together.
        let mut p = SseParser::with_limit(100);
        for _ in 0..10 {
            p.push(b"data: 0123456789012345\n");
        }
        assert!(p.exceeded());
        assert!(p.push(b"\n").is_empty());
    }

    #[test]
    fn a_line_in_many_chunks_is_found_once_complete() {
        let mut p = SseParser::new();
        for _ in 0..1000 {
            assert!(p.push(b"data: aaaa").is_empty());
        }
        let ev = p.push(b"\n\n");
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].data.len(), 1000 * 10 - "data: ".len());
    }

    #[test]
    fn encode_roundtrip() {
        let mut p = SseParser::new();
        let ev = p.push(&encode_message(b"{\n  \"a\": 1\n}"));
        assert_eq!(ev[0].data, "{\n  \"a\": 1\n}");
    }
}
