//! Every error of one configuration, in the order of the file: each located (`file:line:col`),
//! naming the key it is about (`at: servers.crm.policy`), with a hint — the same
//! [`Diagnostic`] and rendering as a policy's errors, whose own errors join the list where the
//! configuration names the policy.

use std::fmt;
use std::ops::Range;
use toolgate_policy::{Diagnostic, Diagnostics};

use super::keys::KeyIndex;
use super::tolerant::Problem;
use super::wording;

/// One problem with a configuration.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read at all.
    Unreadable { file: String, error: std::io::Error },
    /// A located problem in the configuration or in a policy it names.
    Located(Diagnostic),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Unreadable { file, error } => write!(
                f,
                "{file}: cannot read the configuration file: {error}\n  help: pass the path of an existing toolgate.toml with -c/--config (the default is toolgate.toml in the current directory)"
            ),
            ConfigError::Located(d) => write!(f, "{d}"),
        }
    }
}

/// Every problem found in a configuration (never empty when returned), one paragraph each.
#[derive(Debug, Default)]
pub struct ConfigErrors {
    pub items: Vec<ConfigError>,
}

impl ConfigErrors {
    pub(super) fn unreadable(file: &std::path::Path, error: std::io::Error) -> ConfigErrors {
        ConfigErrors {
            items: vec![ConfigError::Unreadable {
                file: file.display().to_string(),
                error,
            }],
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// What validation of one file has found so far.
pub(super) struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    index: KeyIndex,
    /// With the byte offset in the configuration each is about, to sort them by.
    errors: Vec<(usize, Diagnostic)>,
    /// Keys left out because their value could not be read.
    left_out: Vec<String>,
    /// A policy file that does not exist yet counts as allow-all (for `toolgate init`, which
    /// may be about to write it).
    pub(super) missing_policy_is_allow_all: bool,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(file: &'a str, text: &'a str, missing_policy_is_allow_all: bool) -> Self {
        Ctx {
            file,
            text,
            index: KeyIndex::of(text),
            errors: Vec::new(),
            left_out: Vec::new(),
            missing_policy_is_allow_all,
        }
    }

    /// An error at `span` of the configuration.
    pub(super) fn at(&mut self, span: Range<usize>, message: String, help: Option<&str>) {
        let path = self.index.path_at(span.start).to_owned();
        // A table whose key could not be read was read without it: what is then wrong with the
        // table as a whole (a missing `command`, say) only repeats that error.
        if self.left_out.iter().any(|k| {
            k.strip_prefix(path.as_str())
                .is_some_and(|r| r.starts_with('.'))
        }) {
            return;
        }
        self.push(span.start, path, message, help.map(str::to_owned));
    }

    /// Text that is not TOML: the one error there is.
    pub(super) fn syntax(&mut self, error: &toml_edit::de::Error) {
        let offset = error.span().map_or(0, |s| s.start);
        let message = error
            .message()
            .trim()
            .lines()
            .collect::<Vec<_>>()
            .join(": ");
        let table = enclosing_table(self.text, offset);
        self.push(
            offset,
            table,
            message,
            Some("fix this first: the rest of a file that is not valid TOML is not checked".into()),
        );
    }

    /// Unknown keys and unreadable values.
    pub(super) fn structure(&mut self, problems: &[Problem]) {
        for p in problems {
            if let Problem::Invalid { path, .. } = p {
                self.left_out.push(path.clone());
            }
            let worded = wording::word(p, &self.index);
            let path = self.index.path_at(worded.span.start).to_owned();
            self.push(worded.span.start, path, worded.message, worded.help);
        }
    }

    /// Whether the key at `path` was left out because its value could not be read.
    pub(super) fn was_left_out(&self, path: &str) -> bool {
        self.left_out.iter().any(|k| k == path)
    }

    /// A policy's own errors, placed where the configuration names it (`span`).
    pub(super) fn policy(&mut self, span: Range<usize>, diagnostics: Diagnostics) {
        self.errors
            .extend(diagnostics.items.into_iter().map(|d| (span.start, d)));
    }

    pub(super) fn finish(mut self) -> Result<(), ConfigErrors> {
        if self.errors.is_empty() {
            return Ok(());
        }
        self.errors.sort_by_key(|(offset, _)| *offset);
        Err(ConfigErrors {
            items: self
                .errors
                .into_iter()
                .map(|(_, d)| ConfigError::Located(d))
                .collect(),
        })
    }

    fn push(&mut self, offset: usize, path: String, message: String, help: Option<String>) {
        let (line, col) = line_col(self.text, offset);
        self.errors.push((
            offset,
            Diagnostic {
                origin: self.file.to_owned(),
                line,
                col,
                pointer: path,
                message,
                help,
            },
        ));
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (u32, u32) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(col).unwrap_or(u32::MAX),
    )
}

/// The `[table]` whose header is the last one before `offset`, for text that does not parse.
fn enclosing_table(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    before
        .lines()
        .rev()
        .map(str::trim)
        .find_map(|l| {
            let inner = l.strip_prefix('[')?;
            let inner = inner.strip_prefix('[').unwrap_or(inner);
            let end = inner.find(']')?;
            Some(inner[..end].trim().to_owned())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters() {
        assert_eq!(line_col("a = \"é\"\nb", 9), (2, 1));
        assert_eq!(line_col("a = \"é\" x", 9), (1, 9));
    }

    #[test]
    fn text_that_does_not_parse_is_placed_in_its_table() {
        let text = "[gateway]\nlisten = \"x\"\n[servers.crm]\nurl = \n";
        assert_eq!(enclosing_table(text, text.len() - 1), "servers.crm");
        assert_eq!(enclosing_table(text, 0), "");
    }
}
