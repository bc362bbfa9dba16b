//! Where each key of a TOML document is, by its dotted path (`servers.crm.policy`): an error
//! found at a byte offset names the key it is about, and an error about a key is located.

use std::ops::Range;
use toml_edit::{ImDocument, Item, Table, Value};

/// The path of `key` in the table at `parent` (`""`: the document), quoted unless it is bare.
pub(super) fn child_path(parent: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

/// The path of element `i` of the array at `parent`.
pub(super) fn index_path(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// Every key and array element of one document, with its spans.
#[derive(Debug, Default)]
pub(super) struct KeyIndex {
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    path: String,
    /// The key itself (an array element: the element).
    key: Range<usize>,
    /// The key with its value; a standard table from its header to the end of its body.
    whole: Range<usize>,
}

impl KeyIndex {
    /// The index of `text`; empty if it is not TOML.
    pub(super) fn of(text: &str) -> KeyIndex {
        let mut index = KeyIndex::default();
        if let Ok(doc) = ImDocument::parse(text) {
            index.table(doc.as_table(), "");
        }
        index
    }

    /// The innermost key or element whose span holds `offset`; `""` for none.
    pub(super) fn path_at(&self, offset: usize) -> &str {
        self.entries
            .iter()
            .filter(|e| e.whole.contains(&offset) || e.key.contains(&offset))
            // The shortest span; among equals the deeper one, which was recorded later.
            .min_by_key(|e| (e.whole.len(), std::cmp::Reverse(e.path.len())))
            .map_or("", |e| e.path.as_str())
    }

    /// Where the key at `path` is written.
    pub(super) fn key_span(&self, path: &str) -> Option<Range<usize>> {
        self.find(path).map(|e| e.key.clone())
    }

    /// Where the key at `path` and its value are written.
    pub(super) fn span(&self, path: &str) -> Option<Range<usize>> {
        self.find(path).map(|e| e.whole.clone())
    }

    fn find(&self, path: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.path == path)
    }

    fn push(&mut self, path: &str, key: Option<Range<usize>>, value: Option<Range<usize>>) {
        let Some(key) = key.or_else(|| value.clone()) else {
            return;
        };
        let whole = match value {
            Some(v) => key.start.min(v.start)..key.end.max(v.end),
            None => key.clone(),
        };
        self.entries.push(Entry {
            path: path.to_owned(),
            key,
            whole,
        });
    }

    fn table(&mut self, table: &Table, path: &str) {
        for (name, item) in table.iter() {
            let child = child_path(path, name);
            let key = table.key(name).and_then(toml_edit::Key::span);
            self.item(item, key, &child);
        }
    }

    fn item(&mut self, item: &Item, key: Option<Range<usize>>, path: &str) {
        match item {
            Item::None => {}
            Item::Value(v) => self.value(v, key, path),
            Item::Table(t) => {
                self.push(path, key, t.span());
                self.table(t, path);
            }
            Item::ArrayOfTables(tables) => {
                self.push(path, key, None);
                for (i, t) in tables.iter().enumerate() {
                    let element = index_path(path, i);
                    self.push(&element, None, t.span());
                    self.table(t, &element);
                }
            }
        }
    }

    fn value(&mut self, value: &Value, key: Option<Range<usize>>, path: &str) {
        self.push(path, key, value.span());
        match value {
            Value::InlineTable(t) => {
                for (name, v) in t.iter() {
                    let child = child_path(path, name);
                    let key = t.key(name).and_then(toml_edit::Key::span);
                    self.value(v, key, &child);
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    self.value(v, None, &index_path(path, i));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[gateway]\nlisten = \"x\"\n\n[servers.crm]\nurl = \"u\"\nheaders = { \"X-Key\" = \"k\", \"a b\" = \"c\" }\nargs = [\"a\", 2]\nenv.A = \"1\"\n";

    fn at(needle: &str) -> &'static str {
        let index = Box::leak(Box::new(KeyIndex::of(TEXT)));
        index.path_at(TEXT.find(needle).expect("needle"))
    }

    #[test]
    fn offsets_name_the_innermost_key() {
        assert_eq!(at("listen"), "gateway.listen");
        assert_eq!(at("\"x\""), "gateway.listen");
        assert_eq!(at("[servers.crm]"), "servers.crm");
        assert_eq!(at("\"u\""), "servers.crm.url");
        assert_eq!(at("\"k\""), "servers.crm.headers.X-Key");
        assert_eq!(at("\"c\""), "servers.crm.headers.\"a b\"");
        assert_eq!(at("2]"), "servers.crm.args[1]");
        assert_eq!(at("\"1\""), "servers.crm.env.A");
        assert_eq!(at("\n\n"), "");
    }

    #[test]
    fn paths_locate_their_key() {
        let index = KeyIndex::of(TEXT);
        let key = index.key_span("servers.crm.url").unwrap();
        assert_eq!(&TEXT[key], "url");
        let whole = index.span("servers.crm.url").unwrap();
        assert_eq!(&TEXT[whole], "url = \"u\"");
        assert_eq!(index.span("servers.nope"), None);
        assert_eq!(KeyIndex::of("[x").path_at(1), "");
    }
}
