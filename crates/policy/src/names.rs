//! Tool names as `hide` and `deny` rules compare them: folded, so that a server cannot bring back a
//! hidden or denied family of tools under a name that only looks different — `DeleteOne`,
//! `dеleteOne` with a Cyrillic `е`, `ｄeleteOne` in fullwidth, `delete\u{200B}One` with a zero-width
//! space. Folding lowercases, maps compatibility forms (fullwidth letters and digits, mathematical
//! alphanumerics) and the Cyrillic and Greek letters that look like Latin ones to their Latin
//! letter, and drops invisible characters (zero-width, bidirectional controls, combining marks).
//! A compact table rather than a full confusables database: tool names are short identifiers, and
//! these are the look-alikes that pass for them.

use std::collections::HashMap;

use crate::glob::Glob;

/// `name` folded: what `hide` and `deny` rules match against.
pub fn fold_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        fold_char(c, &mut out);
    }
    out
}

/// Appends the folding of `c` to `out` (nothing for an invisible character).
pub(crate) fn fold_char(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    if invisible(c) {
        return;
    }
    let c = compatibility(c);
    if let Some(latin) = capital_look_alike(c) {
        out.push(latin);
        return;
    }
    for lower in c.to_lowercase() {
        out.push(look_alike(lower).unwrap_or(lower));
    }
}

/// Characters that render as nothing (or only change how their neighbours render).
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}'              // soft hyphen
        | '\u{034F}'            // combining grapheme joiner
        | '\u{0300}'..='\u{036F}' // combining diacritical marks
        | '\u{061C}'            // Arabic letter mark
        | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
        | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' // Mongolian selectors and vowel separator
        | '\u{200B}'..='\u{200F}' // zero-width space, joiners, LRM, RLM
        | '\u{202A}'..='\u{202E}' // bidirectional embeddings and overrides
        | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, isolates
        | '\u{FE00}'..='\u{FE0F}' // variation selectors
        | '\u{FEFF}'            // zero-width no-break space
        | '\u{E0000}'..='\u{E007F}' // tags
        | '\u{E0100}'..='\u{E01EF}' // variation selectors supplement
    )
}

/// The compatibility decomposition of fullwidth forms and mathematical alphanumerics (what NFKC
/// does to them); other characters as they are.
fn compatibility(c: char) -> char {
    let code = c as u32;
    let shifted = match code {
        // Fullwidth ASCII: `！`..`～`.
        0xFF01..=0xFF5E => code - 0xFF01 + 0x21,
        // Mathematical alphanumeric letters: 13 styles of A–Z a–z (bold, italic, script, …).
        0x1D400..=0x1D6A3 => {
            let i = (code - 0x1D400) % 52;
            if i < 26 { 0x41 + i } else { 0x61 + i - 26 }
        }
        // Mathematical digits: 5 styles of 0–9.
        0x1D7CE..=0x1D7FF => 0x30 + (code - 0x1D7CE) % 10,
        // Letterlike symbols that stand for a Latin letter.
        0x210A | 0x210E | 0x212F | 0x2134 | 0x2113 | 0x2139 => u32::from(match c {
            'ℊ' => 'g',
            'ℎ' => 'h',
            'ℯ' => 'e',
            'ℴ' => 'o',
            'ℓ' => 'l',
            _ => 'i',
        }),
        _ => return c,
    };
    char::from_u32(shifted).unwrap_or(c)
}

/// The Latin letter a Cyrillic or Greek capital passes for (Greek `Ν` is `N`, though its
/// lowercase `ν` passes for `v`).
fn capital_look_alike(c: char) -> Option<char> {
    Some(match c {
        'А' | 'Α' => 'a',
        'В' | 'Β' => 'b',
        'С' | 'Ϲ' => 'c',
        'Е' | 'Ё' | 'Ε' => 'e',
        'Н' | 'Η' => 'h',
        'І' | 'Ї' | 'Ι' => 'i',
        'Ј' => 'j',
        'К' | 'Κ' => 'k',
        'Ӏ' => 'l',
        'М' | 'Μ' => 'm',
        'Ν' => 'n',
        'О' | 'Ο' => 'o',
        'Р' | 'Ρ' => 'p',
        'Ԛ' => 'q',
        'Ѕ' => 's',
        'Т' | 'Τ' => 't',
        'Ԝ' => 'w',
        'Х' | 'Χ' => 'x',
        'У' | 'Ү' | 'Υ' => 'y',
        'Ζ' => 'z',
        _ => return None,
    })
}

/// The Latin letter a lowercase Cyrillic, Greek or Latin-extension letter passes for.
fn look_alike(c: char) -> Option<char> {
    Some(match c {
        // Cyrillic (`в н м т к` as the small capitals they are drawn as)
        'а' => 'a',
        'в' | 'ь' => 'b',
        'с' => 'c',
        'ԁ' => 'd',
        'е' | 'ё' | 'є' => 'e',
        'һ' | 'н' => 'h',
        'і' | 'ї' => 'i',
        'ј' => 'j',
        'к' => 'k',
        'ӏ' => 'l',
        'м' => 'm',
        'о' => 'o',
        'р' => 'p',
        'ԛ' => 'q',
        'г' => 'r',
        'ѕ' => 's',
        'т' => 't',
        'ц' | 'џ' => 'u',
        'ѵ' => 'v',
        'ԝ' | 'ш' => 'w',
        'х' => 'x',
        'у' | 'ү' => 'y',
        // Greek
        'α' => 'a',
        'β' => 'b',
        'ϲ' => 'c',
        'ε' => 'e',
        'ι' | 'ί' => 'i',
        'ϳ' => 'j',
        'κ' => 'k',
        'η' => 'n',
        'ο' | 'ό' | 'σ' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'μ' | 'υ' => 'u',
        'ν' => 'v',
        'χ' => 'x',
        'γ' => 'y',
        // Latin letters that pass for others
        'ı' | 'ɩ' => 'i',
        'ȷ' => 'j',
        'ſ' => 's',
        'ɑ' => 'a',
        'ɡ' => 'g',
        'ʟ' => 'l',
        'ᴠ' => 'v',
        'ᴡ' => 'w',
        'ᴢ' => 'z',
        _ => return None,
    })
}

/// Names and globs, folded, each with a value (the rule it stands for): an exact name beats every
/// glob, globs are tried in the order given.
#[derive(Debug, Clone, Default)]
pub(crate) struct FoldedNames<T> {
    exact: HashMap<Box<str>, T>,
    globs: Vec<(Glob, T)>,
}

impl<T: Copy> FoldedNames<T> {
    /// Adds an exact name (its first value is kept when two names fold alike).
    pub fn exact(&mut self, name: &str, value: T) {
        self.exact.entry(fold_name(name).into()).or_insert(value);
    }

    /// Adds a glob (after those added before).
    pub fn glob(&mut self, glob: &Glob, value: T) {
        self.globs.push((glob.folded(), value));
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.globs.is_empty()
    }

    /// The value of the first name or glob that `tool`, folded, matches.
    pub fn find(&self, tool: &str) -> Option<T> {
        let folded = fold_name(tool);
        if let Some(&v) = self.exact.get(folded.as_str()) {
            return Some(v);
        }
        self.globs
            .iter()
            .find(|(g, _)| g.is_match(&folded))
            .map(|&(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_fold_to_the_same_name() {
        for disguised in [
            "DeleteOne",
            "DELETEONE",
            "d\u{0435}leteOne",        // Cyrillic е
            "\u{FF44}eleteOne",        // fullwidth ｄ
            "delete\u{200B}One",       // zero-width space
            "\u{202E}deleteOne",       // right-to-left override
            "dele\u{0442}e\u{041E}ne", // Cyrillic т, О
            "d\u{0301}eleteOne",       // combining acute
            "\u{1D41D}eleteOne",       // mathematical bold d
            "dеlеtеОnе",
            "DΕLΕΤΕΟΝΕ", // Greek capitals
        ] {
            assert_eq!(fold_name(disguised), "deleteone", "{disguised:?}");
        }
        assert_eq!(fold_name("get_sum.v2-x"), "get_sum.v2-x");
        assert_eq!(fold_name("\u{FF10}\u{FF19}"), "09");
        assert_ne!(fold_name("delete"), fold_name("deletes"));
        // Letters that look like no Latin one are kept.
        assert!(fold_name("удалить").contains('д'));
    }

    #[test]
    fn exact_names_beat_globs_and_both_fold() {
        let mut names = FoldedNames::default();
        names.exact("deleteDraft", 0);
        names.glob(&Glob::new("delete*").unwrap(), 1);
        names.glob(&Glob::new("*").unwrap(), 2);
        assert_eq!(names.find("DeleteDraft"), Some(0));
        assert_eq!(names.find("dеleteAll"), Some(1));
        assert_eq!(names.find("\u{FF24}ELETE"), Some(1));
        assert_eq!(names.find("list"), Some(2));
        assert!(FoldedNames::<u8>::default().find("x").is_none());
    }

    fn policy(text: &str) -> crate::Policy {
        crate::compile(text, "p.json", crate::SourceFormat::Json).expect("compiles")
    }

    fn decide(p: &crate::Policy, tool: &str) -> String {
        let identity = crate::Identity::default();
        let args = serde_json::json!({});
        let call = crate::Call {
            server: "s",
            tool,
            args: &args,
            args_text: None,
            identity: &identity,
            session: "",
        };
        match p.decide_at(&call, &crate::NoCounterState, 0) {
            crate::Decision::Allow { .. } => "allow".into(),
            crate::Decision::Hidden { rule } => format!("hidden {rule}"),
            crate::Decision::Deny { rule, .. } => format!("deny {rule}"),
            crate::Decision::NeedsApproval { rule, .. } => format!("approval {rule}"),
        }
    }

    #[test]
    fn a_hidden_family_cannot_come_back_renamed() {
        let p =
            policy(r#"{"version":"1","default":"allow","hide":["delete*","GetOpenApiSchema"]}"#);
        for tool in [
            "deleteOne",
            "DeleteOne",
            "d\u{0435}lete",
            "\u{FF44}elete",
            "de\u{200D}lete_all",
            "getopenapischema",
            "GETOPENAPISCHEMA",
            "G\u{0435}tOpenApiSchema",
        ] {
            assert!(p.is_hidden(tool), "{tool:?} is not hidden");
            assert!(decide(&p, tool).starts_with("hidden /hide/"), "{tool:?}");
        }
        assert_eq!(p.hidden_rule("GETOPENAPISCHEMA"), Some("/hide/1"));
        for tool in ["undelete", "listPeople", "GetOpenApiSchemas"] {
            assert!(!p.is_hidden(tool), "{tool:?} is hidden");
        }
        let (args, identity) = (serde_json::json!({}), crate::Identity::default());
        let explained = p.explain(&crate::Call {
            server: "s",
            tool: "DeleteOne",
            args: &args,
            args_text: None,
            identity: &identity,
            session: "",
        });
        assert_eq!(explained.hidden_by.map(|h| h.pattern), Some("delete*"));
    }

    #[test]
    fn deny_rules_match_folded_names_and_folding_never_allows() {
        let p = policy(
            r#"{"version":"1","default":"allow","tools":{
                "*":{"action":"allow"},
                "delete*":{"action":"deny"},
                "deleteDraft":{"action":"allow"},
                "readFile":{"action":"allow"}}}"#,
        );
        assert_eq!(decide(&p, "deleteAll"), "deny /tools/delete*/action");
        assert_eq!(decide(&p, "DeleteAll"), "deny /tools/delete*/action");
        assert_eq!(decide(&p, "d\u{0435}leteAll"), "deny /tools/delete*/action");
        // The exact name still beats the glob, folded or not.
        assert_eq!(decide(&p, "deleteDraft"), "allow");
        assert_eq!(decide(&p, "listPeople"), "allow");
        let strict =
            policy(r#"{"version":"1","default":"deny","tools":{"readFile":{"action":"allow"}}}"#);
        assert_eq!(decide(&strict, "readFile"), "allow");
        // A look-alike of an allowed name is another tool: the default decides it.
        assert_eq!(decide(&strict, "ReadFile"), "deny /default");
        assert_eq!(decide(&strict, "r\u{0435}adFile"), "deny /default");
    }
}
