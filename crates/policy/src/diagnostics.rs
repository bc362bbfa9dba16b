//! Validation errors with their location (`file:line:col` and JSON pointer) and a hint, rendered like
//! rustc so that an operator can jump straight to the offending spot.

use std::fmt;

use crate::document::Pos;

/// One problem found in a policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where the document came from (usually its file path), as given to [`crate::compile`].
    pub origin: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in Unicode scalar values.
    pub col: u32,
    /// Where in the document the offending node is, in the document's own notation: a JSON
    /// pointer (RFC 6901) in a policy, a dotted key path (`servers.crm.policy`) in a TOML
    /// configuration; `""` for the whole document.
    pub pointer: String,
    pub message: String,
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.origin, self.line, self.col, self.message
        )?;
        let pointer = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "\n  at: {pointer}")?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Every problem found in a document (never empty when returned as an error), in source order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

/// Collects diagnostics for one document while it is validated.
#[derive(Debug)]
pub(crate) struct Collector<'o> {
    origin: &'o str,
    items: Vec<Diagnostic>,
}

impl<'o> Collector<'o> {
    pub(crate) fn new(origin: &'o str) -> Self {
        Collector {
            origin,
            items: Vec::new(),
        }
    }

    pub(crate) fn error(
        &mut self,
        pos: Pos,
        pointer: &str,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        self.items.push(Diagnostic {
            origin: self.origin.to_owned(),
            line: pos.line,
            col: pos.col,
            pointer: pointer.to_owned(),
            message: message.into(),
            help,
        });
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.items.is_empty()
    }

    pub(crate) fn finish(mut self) -> Diagnostics {
        // Source order; the sort is stable so that errors at one spot keep the order they were found in.
        self.items.sort_by_key(|d| (d.line, d.col));
        Diagnostics { items: self.items }
    }
}

/// `help: did you mean "x"?` for the closest candidate within a small edit distance, if any.
pub fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean \"{c}\"?"))
}

/// The candidate closest to `word` (case-insensitive Levenshtein), if it is close enough to be a typo.
pub(crate) fn closest<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let lower = word.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = levenshtein(&lower, &c.to_lowercase());
        let threshold = (c.chars().count().max(word.chars().count()) / 2).max(1);
        let is_prefix = !lower.is_empty()
            && (c.to_lowercase().starts_with(&lower) || lower.starts_with(&c.to_lowercase()));
        if (d <= threshold || is_prefix) && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Appends one reference token to a JSON pointer, escaping `~` and `/` (RFC 6901).
pub(crate) fn child_pointer(parent: &str, token: &str) -> String {
    let mut p = String::with_capacity(parent.len() + token.len() + 1);
    p.push_str(parent);
    p.push('/');
    for ch in token.chars() {
        match ch {
            '~' => p.push_str("~0"),
            '/' => p.push_str("~1"),
            c => p.push(c),
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        assert_eq!(closest("greater", ["gt", "gte", "lt"]), None);
        assert_eq!(closest("gte_", ["gt", "gte", "lt"]), Some("gte"));
        assert_eq!(closest("scpoe", ["scope", "max"]), Some("scope"));
        assert_eq!(closest("zzzzzz", ["scope", "max"]), None);
    }

    #[test]
    fn pointer_escapes() {
        assert_eq!(child_pointer("/tools", "a/b~c"), "/tools/a~1b~0c");
    }
}
