//! Token-like strings scrubbed out of text the gateway did not write (a crashed server's last
//! stderr lines) before an operator or a log sees it: the reader learns that a secret was there,
//! never the secret itself.

use regex::Regex;
use std::borrow::Cow;
use std::sync::LazyLock;

/// What a scrubbed secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Each pattern's groups (when it has them) are kept: the name or scheme that says what the
/// secret was; the rest of the match is replaced.
static PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // Credentials in URLs: scheme://user:password@host.
        r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]+:)[^@/\s]+(@)",
        // `Authorization: Bearer …`, `Basic …`.
        r"(?i)(\b(?:bearer|basic|token)\s+)[A-Za-z0-9._~+/=-]{8,}",
        // key=value and key: value where the key names a secret.
        r#"(?i)(\b[A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential)[A-Za-z0-9_.-]*["']?\s*[:=]\s*["']?)[^\s"'&,;]+"#,
        // Well-known token shapes: GitHub, GitLab, Slack, OpenAI/Anthropic/Stripe-style, AWS,
        // Google API keys, JWTs, toolgate's own grant tokens.
        r"\b(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{16,}|xox[abposr]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{16,}|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|tg_[A-Za-z0-9_-]{16,}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})",
    ]
    .iter()
    .map(|p| Regex::new(p).expect("secret pattern"))
    .collect()
});

/// Anything else long and random-looking: 32+ characters of a token alphabet that mix letters
/// and digits.
static LONG_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[A-Za-z0-9_-]{32,}").expect("long-run pattern"));

/// `text` with every token-like string replaced by [`REDACTED`].
pub fn scrub(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for pattern in PATTERNS.iter() {
        if pattern.is_match(&out) {
            let replaced = pattern.replace_all(&out, |caps: &regex::Captures<'_>| {
                let group = |i| caps.get(i).map_or("", |m: regex::Match<'_>| m.as_str());
                format!("{}{REDACTED}{}", group(1), group(2))
            });
            out = Cow::Owned(replaced.into_owned());
        }
    }
    if LONG_RUN.is_match(&out) {
        let replaced = LONG_RUN.replace_all(&out, |caps: &regex::Captures<'_>| {
            if looks_random(&caps[0]) {
                REDACTED.to_owned()
            } else {
                caps[0].to_owned()
            }
        });
        if let Cow::Owned(s) = replaced {
            out = Cow::Owned(s);
        }
    }
    out
}

/// A long run of letters only (a word, a path segment) is not a secret; a run mixing letters and
/// digits is taken to be one.
fn looks_random(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit()) && s.bytes().any(|b| b.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secrets_are_scrubbed() {
        let cases = [
            (
                "fatal: token ghp_1234567890abcdefghijABCDEFGHIJ0123 rejected",
                "ghp_1234567890abcdefghij",
            ),
            (
                "connecting to postgres://app:S3cr3t-pass@db.internal:5432/crm",
                "S3cr3t-pass",
            ),
            ("DATABASE_PASSWORD=hunter2hunter2", "hunter2hunter2"),
            ("{\"api_key\": \"abc123def456\"}", "abc123def456"),
            (
                "Authorization: Bearer tg_abcdefghijklmnopqrstuvwxyz",
                "tg_abcdefghij",
            ),
            ("key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
            (
                "slack xoxb-123456789012-abcdefghijkl failed",
                "xoxb-123456789012",
            ),
            (
                "session 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                "9f86d081884c7d659a2feaa0c55ad015",
            ),
        ];
        for (text, secret) in cases {
            let scrubbed = scrub(text);
            assert!(!scrubbed.contains(secret), "{text:?} -> {scrubbed:?}");
            assert!(scrubbed.contains(REDACTED), "{text:?} -> {scrubbed:?}");
        }
    }

    #[test]
    fn ordinary_text_is_kept() {
        for text in [
            "Error: Cannot find module '/usr/lib/node_modules/some-server/dist/index.js'",
            "TypeError: undefined is not a function at Object.<anonymous> (server.js:12:5)",
            "exited with exit status: 1",
            "a_very_long_identifier_without_any_digits_in_it_at_all",
        ] {
            assert_eq!(scrub(text), text);
        }
    }

    #[test]
    fn the_name_of_what_was_scrubbed_stays() {
        assert_eq!(scrub("password=hunter2"), "password=[redacted]");
        assert_eq!(
            scrub("postgres://app:pw@db/x"),
            "postgres://app:[redacted]@db/x"
        );
    }
}
