//! Tool-name globs (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`, `\` escapes), compiled once at policy compile
//! time. Hand-written because tool names are short and the engine needs each pattern's literal prefix
//! for precedence ("among globs the longest literal prefix wins").

use std::fmt;

/// Why a pattern is not a valid glob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    #[error("empty pattern")]
    Empty,
    #[error("unclosed character class '[' at character {0}")]
    UnclosedClass(usize),
    #[error("empty character class at character {0}")]
    EmptyClass(usize),
    #[error("dangling escape '\\' at the end of the pattern")]
    DanglingEscape,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    AnyChar,
    AnySeq,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled glob. Matches the whole string; `*` matches any sequence (also empty), `?` one character.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
    /// Tokens after the literal prefix.
    tokens: Vec<Token>,
    prefix: String,
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.pattern)
    }
}

/// True when the text contains glob metacharacters (so it is a pattern rather than an exact name).
pub fn is_glob(text: &str) -> bool {
    text.contains(['*', '?', '[', '\\'])
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, GlobError> {
        if pattern.is_empty() {
            return Err(GlobError::Empty);
        }
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => {
                    if tokens.last() != Some(&Token::AnySeq) {
                        tokens.push(Token::AnySeq);
                    }
                    i += 1;
                }
                '?' => {
                    tokens.push(Token::AnyChar);
                    i += 1;
                }
                '\\' => {
                    let c = *chars.get(i + 1).ok_or(GlobError::DanglingEscape)?;
                    tokens.push(Token::Literal(c));
                    i += 2;
                }
                '[' => {
                    let start = i;
                    i += 1;
                    let negated = matches!(chars.get(i), Some('!' | '^'));
                    if negated {
                        i += 1;
                    }
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let c = *chars.get(i).ok_or(GlobError::UnclosedClass(start + 1))?;
                        if c == ']' && !first {
                            i += 1;
                            break;
                        }
                        if c == ']' {
                            // `[]` is an empty class, not a literal `]`; keeps the rules simple.
                            return Err(GlobError::EmptyClass(start + 1));
                        }
                        first = false;
                        let lo = c;
                        if chars.get(i + 1) == Some(&'-')
                            && chars.get(i + 2).is_some_and(|&c| c != ']')
                        {
                            ranges.push((lo, chars[i + 2]));
                            i += 3;
                        } else {
                            ranges.push((lo, lo));
                            i += 1;
                        }
                    }
                    tokens.push(Token::Class { negated, ranges });
                }
                c => {
                    tokens.push(Token::Literal(c));
                    i += 1;
                }
            }
        }
        Ok(Glob::from_tokens(pattern.to_owned(), tokens))
    }

    fn from_tokens(pattern: String, mut tokens: Vec<Token>) -> Glob {
        let prefix: String = tokens
            .iter()
            .map_while(|t| match t {
                Token::Literal(c) => Some(*c),
                _ => None,
            })
            .collect();
        tokens.drain(..prefix.chars().count());
        Glob {
            pattern,
            tokens,
            prefix,
        }
    }

    /// The glob that matches folded names ([`crate::names::fold_name`]): its literal characters
    /// and class members folded alike. It keeps the pattern's text, for reports.
    pub(crate) fn folded(&self) -> Glob {
        let fold_one = |c: char| {
            let mut s = String::new();
            crate::names::fold_char(c, &mut s);
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(f), None) => f,
                _ => c,
            }
        };
        let mut tokens = Vec::with_capacity(self.prefix.len() + self.tokens.len());
        let literals = self.prefix.chars().map(Token::Literal);
        for token in literals.chain(self.tokens.iter().cloned()) {
            match token {
                Token::Literal(c) => {
                    let mut s = String::new();
                    crate::names::fold_char(c, &mut s);
                    tokens.extend(s.chars().map(Token::Literal));
                }
                Token::Class { negated, ranges } => {
                    let ranges = ranges
                        .into_iter()
                        .map(|(lo, hi)| {
                            let (flo, fhi) = (fold_one(lo), fold_one(hi));
                            if lo == hi || flo <= fhi {
                                (flo, fhi)
                            } else {
                                (lo, hi)
                            }
                        })
                        .collect();
                    tokens.push(Token::Class { negated, ranges });
                }
                other => tokens.push(other),
            }
        }
        Glob::from_tokens(self.pattern.clone(), tokens)
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// The characters every match starts with (`findMany` for `findMany*`).
    pub fn literal_prefix(&self) -> &str {
        &self.prefix
    }

    /// Whole-string match, no allocation. Classic single-backtrack-point algorithm: linear for patterns
    /// with one `*`, at worst O(n·m).
    pub fn is_match(&self, text: &str) -> bool {
        let Some(rest) = text.strip_prefix(self.prefix.as_str()) else {
            return false;
        };
        let tokens = &self.tokens;
        let text: &str = rest;
        let mut t = 0; // index into tokens
        let mut s = 0; // byte index into text
        let mut backtrack: Option<(usize, usize)> = None; // (token after '*', text position it resumed at)
        loop {
            if t < tokens.len() {
                let next_char = text[s..].chars().next();
                match (&tokens[t], next_char) {
                    (Token::AnySeq, _) => {
                        backtrack = Some((t + 1, s));
                        t += 1;
                        continue;
                    }
                    (Token::Literal(l), Some(c)) if *l == c => {
                        t += 1;
                        s += c.len_utf8();
                        continue;
                    }
                    (Token::AnyChar, Some(c)) => {
                        t += 1;
                        s += c.len_utf8();
                        continue;
                    }
                    (Token::Class { negated, ranges }, Some(c))
                        if ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated =>
                    {
                        t += 1;
                        s += c.len_utf8();
                        continue;
                    }
                    _ => {}
                }
            } else if s == text.len() {
                return true;
            }
            // Mismatch: let the last `*` swallow one more character.
            match backtrack {
                Some((bt, bs)) => match text[bs..].chars().next() {
                    Some(c) => {
                        let ns = bs + c.len_utf8();
                        backtrack = Some((bt, ns));
                        t = bt;
                        s = ns;
                    }
                    None => return false,
                },
                None => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        Glob::new(p).expect("valid glob").is_match(t)
    }

    #[test]
    fn matching_table() {
        let cases = [
            ("findMany*", "findManyPeople", true),
            ("findMany*", "findMany", true),
            ("findMany*", "findOnePerson", false),
            ("*Company", "deleteOneCompany", true),
            ("*Company", "deleteOneCompanyX", false),
            ("find?ne*", "findOnePerson", true),
            ("find?ne*", "findne", false),
            ("*One*", "createOneNote", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("[cd]*One*", "deleteOneNote", true),
            ("[!cd]*", "deleteOneNote", false),
            ("[a-c]x", "bx", true),
            ("[a-c]x", "dx", false),
            ("a\\*", "a*", true),
            ("a\\*", "ab", false),
            ("é*", "éa", true),
            ("*", "", true),
            ("?", "", false),
            ("exact", "exact", true),
        ];
        for (p, t, want) in cases {
            assert_eq!(m(p, t), want, "{p} vs {t}");
        }
    }

    #[test]
    fn a_folded_glob_matches_folded_names() {
        let g = Glob::new("Delete[A-Z]ne*").unwrap().folded();
        assert!(g.is_match("deleteone") && g.is_match("deleteonex"));
        assert_eq!(g.literal_prefix(), "delete");
        assert_eq!(g.as_str(), "Delete[A-Z]ne*");
        assert!(Glob::new("ｄel*").unwrap().folded().is_match("delete"));
    }

    #[test]
    fn literal_prefix_and_errors() {
        assert_eq!(
            Glob::new("findMany*").expect("ok").literal_prefix(),
            "findMany"
        );
        assert_eq!(Glob::new("*x").expect("ok").literal_prefix(), "");
        assert_eq!(Glob::new("a\\*b*").expect("ok").literal_prefix(), "a*b");
        assert_eq!(Glob::new("find[").unwrap_err(), GlobError::UnclosedClass(5));
        assert_eq!(Glob::new("a[]").unwrap_err(), GlobError::EmptyClass(2));
        assert_eq!(Glob::new("a\\").unwrap_err(), GlobError::DanglingEscape);
        assert_eq!(Glob::new("").unwrap_err(), GlobError::Empty);
        assert!(is_glob("a*") && is_glob("a?") && !is_glob("findManyPeople"));
    }
}
