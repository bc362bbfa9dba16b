//! Names on the aggregate endpoint: `<server>__<tool>` (and the same for prompts), always within
//! `^[a-zA-Z0-9_-]{1,64}$` as model APIs require. A name that would be too long or carry other
//! characters is shortened deterministically with a short hash of the original pair, so it is
//! stable across lists and restarts; the table of names seen maps it back.

use parking_lot::RwLock;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The longest name model APIs accept.
pub const MAX_NAME: usize = 64;
/// Hex digits of the hash appended to a shortened name.
const HASH_DIGITS: usize = 10;
/// The least of a server's prefix a shortened name keeps.
const MIN_PREFIX: usize = 12;

/// Builds exposed names and maps them back.
#[derive(Debug)]
pub struct Namer {
    separator: String,
    /// Per-server prefixes (default: the server's name).
    prefixes: HashMap<String, String>,
    /// Every shortened name handed out, to map it back.
    seen: RwLock<HashMap<String, (String, String)>>,
}

impl Namer {
    pub fn new(separator: &str, prefixes: HashMap<String, String>) -> Self {
        Namer {
            separator: separator.to_owned(),
            prefixes,
            seen: RwLock::default(),
        }
    }

    fn prefix<'a>(&'a self, server: &'a str) -> &'a str {
        self.prefixes.get(server).map_or(server, String::as_str)
    }

    /// The exposed name of `server`'s tool (or prompt) `name`.
    pub fn expose(&self, server: &str, name: &str) -> String {
        let plain = format!("{}{}{}", self.prefix(server), self.separator, name);
        if is_valid(&plain) {
            return plain;
        }
        let digest = Sha256::digest(format!("{server}\0{name}").as_bytes());
        let hash = &hex::encode(digest)[..HASH_DIGITS];
        // Keep the most of the tool's name (what a model reads), at least a little of the
        // server's, and the hash that makes the pair unique.
        let budget = MAX_NAME - HASH_DIGITS - 1 - self.separator.len();
        let prefix = sanitize(self.prefix(server));
        let tool = sanitize(name);
        let tool_keep = tool.len().min(budget - prefix.len().min(MIN_PREFIX));
        let prefix_keep = prefix.len().min(budget - tool_keep);
        let mut short = String::with_capacity(MAX_NAME);
        short.push_str(&prefix[..prefix_keep]);
        short.push_str(&self.separator);
        short.push_str(&tool[..tool_keep]);
        short.push('_');
        short.push_str(hash);
        self.seen
            .write()
            .insert(short.clone(), (server.to_owned(), name.to_owned()));
        short
    }

    /// The server and original name behind an exposed name: from the table of shortened names,
    /// else by splitting at the separator after a known prefix.
    pub fn resolve<'s>(
        &self,
        exposed: &str,
        servers: impl IntoIterator<Item = &'s str>,
    ) -> Option<(String, String)> {
        if let Some(hit) = self.seen.read().get(exposed) {
            return Some(hit.clone());
        }
        let mut best: Option<(String, String)> = None;
        for server in servers {
            let head = format!("{}{}", self.prefix(server), self.separator);
            if let Some(rest) = exposed.strip_prefix(&head) {
                // The longest matching prefix wins (`a` vs `a__b` as server names).
                if !rest.is_empty()
                    && best
                        .as_ref()
                        .is_none_or(|(s, _)| self.prefix(s).len() < self.prefix(server).len())
                {
                    best = Some((server.to_owned(), rest.to_owned()));
                }
            }
        }
        best.filter(|(s, n)| self.expose(s, n) == exposed)
    }
}

/// Characters outside `[a-zA-Z0-9_-]` become `_` (the result is ASCII, so byte slicing is safe).
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// True for names within `^[a-zA-Z0-9_-]{1,64}$`.
pub fn is_valid(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namer() -> Namer {
        Namer::new(
            "__",
            HashMap::from([("crm".to_owned(), "twenty".to_owned())]),
        )
    }

    #[test]
    fn plain_names_are_prefixed() {
        let n = namer();
        assert_eq!(n.expose("files", "read_file"), "files__read_file");
        assert_eq!(n.expose("crm", "findManyPeople"), "twenty__findManyPeople");
        assert_eq!(
            n.resolve("twenty__findManyPeople", ["crm", "files"]),
            Some(("crm".into(), "findManyPeople".into()))
        );
        assert_eq!(
            n.resolve("files__read_file", ["crm", "files"]),
            Some(("files".into(), "read_file".into()))
        );
        assert_eq!(n.resolve("nobody__x", ["crm", "files"]), None);
    }

    #[test]
    fn long_names_are_shortened_stably_and_map_back() {
        let server = "s".repeat(60);
        let tool = format!("t{}", "x".repeat(59));
        let a = namer().expose(&server, &tool);
        let n = namer();
        let b = n.expose(&server, &tool);
        assert_eq!(a, b, "stable across instances");
        assert!(is_valid(&b) && b.len() == MAX_NAME, "{b}");
        assert!(
            b.starts_with(&format!("{}__t", &server[..12])),
            "keeps a little of the server: {b}"
        );
        assert!(b.contains(&"x".repeat(30)), "keeps most of the tool: {b}");
        assert_eq!(
            n.resolve(&b, [server.as_str()]),
            Some((server.clone(), tool.clone()))
        );
        // A different tool with the same long prefix gets a different name.
        let c = n.expose(&server, &format!("t{}y", "x".repeat(58)));
        assert_ne!(b, c);
    }

    #[test]
    fn invalid_characters_are_replaced_and_hashed() {
        let n = namer();
        let e = n.expose("files", "read.file");
        assert!(is_valid(&e), "{e}");
        assert!(e.starts_with("files__read_file_"));
        assert_eq!(
            n.resolve(&e, ["files"]),
            Some(("files".into(), "read.file".into()))
        );
        // The plain form of a different tool never resolves to the dotted one.
        assert_eq!(
            n.resolve("files__read_file", ["files"]),
            Some(("files".into(), "read_file".into()))
        );
    }

    #[test]
    fn longest_server_prefix_wins() {
        let n = Namer::new("__", HashMap::new());
        assert_eq!(
            n.resolve("a__b__c", ["a", "a__b"]),
            Some(("a__b".into(), "c".into()))
        );
    }
}
