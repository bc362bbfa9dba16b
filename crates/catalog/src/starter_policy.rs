//! Starter policies: from a server's classified tools, the first policy an operator reviews
//! (`toolgate init`, `toolgate demo`). Deny by default, so tools the server adds later are
//! refused; Read tools allowed; Write and Execute tools rate-limited per grant; Destructive and
//! Financial tools held for a person's approval; tools that handle credentials denied. Written as
//! commented YAML (why each tool landed where it did) or as plain JSON; pure text generation, the
//! time of generation is passed in.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::{Category, Classification};

/// Calls per minute per grant shared by all Write tools.
pub const WRITES_PER_MINUTE: u32 = 30;
/// Calls per minute per grant shared by all Execute tools.
pub const EXECUTES_PER_MINUTE: u32 = 10;
/// How long a call held for approval waits before it is denied.
pub const APPROVAL_TIMEOUT: &str = "10m";
/// What the agent reads when it calls a tool that handles credentials.
pub const CREDENTIALS_REASON: &str = "This tool handles credentials (keys, tokens, environment variables or connected accounts); an operator must allow it in the gateway's policy.";

/// What the starter policy does with one tool; the order is the order of the groups in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Treatment {
    /// Read tools: allowed.
    Allow,
    /// Write tools: the shared per-grant write limit.
    LimitWrites,
    /// Execute tools: the tighter shared per-grant execute limit.
    LimitExecutes,
    /// Destructive tools: held for approval.
    ApproveDestructive,
    /// Financial tools: held for approval.
    ApproveFinancial,
    /// Tools that handle credentials (unless an operator override says otherwise): denied.
    DenyCredentials,
}

impl Treatment {
    pub const ALL: [Treatment; 6] = [
        Treatment::Allow,
        Treatment::LimitWrites,
        Treatment::LimitExecutes,
        Treatment::ApproveDestructive,
        Treatment::ApproveFinancial,
        Treatment::DenyCredentials,
    ];

    /// The treatment of a classified tool. An operator override decides by its category alone:
    /// overriding a credential tool's category is the way to let it through.
    pub fn of(classification: &Classification) -> Treatment {
        if classification.credentials && !classification.overridden {
            return Treatment::DenyCredentials;
        }
        match classification.category {
            Category::Read => Treatment::Allow,
            Category::Write => Treatment::LimitWrites,
            Category::Execute => Treatment::LimitExecutes,
            Category::Destructive => Treatment::ApproveDestructive,
            Category::Financial => Treatment::ApproveFinancial,
        }
    }

    /// The group's name in comments and summaries.
    pub fn group(self) -> &'static str {
        match self {
            Treatment::Allow => "Read",
            Treatment::LimitWrites => "Write",
            Treatment::LimitExecutes => "Execute",
            Treatment::ApproveDestructive => "Destructive",
            Treatment::ApproveFinancial => "Financial",
            Treatment::DenyCredentials => "Credentials",
        }
    }
}

/// Who wrote the file and when, for the YAML header.
#[derive(Debug, Clone, Copy)]
pub struct Provenance<'a> {
    /// The command line that generated it, e.g. `toolgate init crm`.
    pub command: &'a str,
    /// e.g. `2026-11-24T10:00:00.000Z`.
    pub generated_at: &'a str,
}

/// A starter policy for one server, its tools grouped by treatment and sorted by name.
#[derive(Debug, Clone)]
pub struct StarterPolicy {
    server: String,
    tools: BTreeMap<String, Classification>,
}

impl StarterPolicy {
    /// `tools` as the server listed them, each with its classification. A name listed twice keeps
    /// its more restrictive treatment.
    pub fn new(
        server: &str,
        tools: impl IntoIterator<Item = (String, Classification)>,
    ) -> StarterPolicy {
        let mut by_name: BTreeMap<String, Classification> = BTreeMap::new();
        for (name, classification) in tools {
            match by_name.get(&name) {
                Some(kept) if Treatment::of(kept) >= Treatment::of(&classification) => {}
                _ => {
                    by_name.insert(name, classification);
                }
            }
        }
        StarterPolicy {
            server: server.to_owned(),
            tools: by_name,
        }
    }

    /// How many tools get each treatment (every treatment present, zero included).
    pub fn counts(&self) -> BTreeMap<Treatment, usize> {
        let mut counts: BTreeMap<Treatment, usize> =
            Treatment::ALL.iter().map(|&t| (t, 0)).collect();
        for c in self.tools.values() {
            *counts.entry(Treatment::of(c)).or_default() += 1;
        }
        counts
    }

    /// The counter shared by the Write tools, named after the server (counter names are global to
    /// the gateway).
    pub fn writes_counter(&self) -> String {
        format!("{}_writes", self.server)
    }

    /// The counter shared by the Execute tools.
    pub fn executes_counter(&self) -> String {
        format!("{}_executes", self.server)
    }

    /// The tools of one group, by name.
    fn group(&self, treatment: Treatment) -> impl Iterator<Item = (&String, &Classification)> {
        self.tools
            .iter()
            .filter(move |(_, c)| Treatment::of(c) == treatment)
    }

    /// The policy as a JSON document (no comments), pretty-printed, ending with a newline.
    pub fn to_json(&self) -> String {
        let mut tools = serde_json::Map::new();
        for treatment in Treatment::ALL {
            for (name, _) in self.group(treatment) {
                tools.insert(glob_escape(name), self.rule(treatment));
            }
        }
        // serde_json's map is sorted by key: build the top level by hand to keep the reading order.
        let tools = serde_json::to_string_pretty(&Value::Object(tools)).expect("JSON values print");
        let tools = tools.replace('\n', "\n  ");
        format!("{{\n  \"version\": \"1\",\n  \"default\": \"deny\",\n  \"tools\": {tools}\n}}\n")
    }

    fn rule(&self, treatment: Treatment) -> Value {
        let limit = |counter: String, max: u32| json!({"limits": [{"counter": counter, "window": "minute", "max": max, "scope": "grant"}]});
        match treatment {
            Treatment::Allow => json!({}),
            Treatment::LimitWrites => limit(self.writes_counter(), WRITES_PER_MINUTE),
            Treatment::LimitExecutes => limit(self.executes_counter(), EXECUTES_PER_MINUTE),
            Treatment::ApproveDestructive | Treatment::ApproveFinancial => json!({
                "action": "require_approval",
                "approval": {"timeout": APPROVAL_TIMEOUT, "mode": "hold"}
            }),
            Treatment::DenyCredentials => json!({"action": "deny", "reason": CREDENTIALS_REASON}),
        }
    }

    /// The policy as commented YAML: a header, a comment per group and the key reason per tool.
    pub fn to_yaml(&self, provenance: &Provenance<'_>) -> String {
        let mut out = String::new();
        self.write_header(&mut out, provenance);
        out.push_str("version: \"1\"\ndefault: deny\n");
        if self.tools.is_empty() {
            out.push_str("tools: {}\n");
            return out;
        }
        out.push_str("tools:\n");
        let mut approval_anchored = false;
        for treatment in Treatment::ALL {
            let mut anchored = false;
            let members: Vec<_> = self.group(treatment).collect();
            if members.is_empty() {
                continue;
            }
            let _ = write!(
                out,
                "\n  # {} ({}): {}\n",
                treatment.group(),
                plural(members.len(), "tool"),
                self.group_comment(treatment)
            );
            for (name, classification) in members {
                let key = yaml_scalar(&glob_escape(name));
                let why = comment_text(&tool_comment(treatment, classification));
                let anchor_here = !anchored;
                anchored = true;
                match treatment {
                    Treatment::Allow => {
                        let _ = writeln!(out, "  {key}: {{}}  # {why}");
                    }
                    Treatment::LimitWrites | Treatment::LimitExecutes => {
                        let (anchor, counter, max) = if treatment == Treatment::LimitWrites {
                            ("writes", self.writes_counter(), WRITES_PER_MINUTE)
                        } else {
                            ("executes", self.executes_counter(), EXECUTES_PER_MINUTE)
                        };
                        let _ = writeln!(out, "  {key}:  # {why}");
                        if anchor_here {
                            let _ = write!(
                                out,
                                "    limits: &{anchor}\n      - {{ counter: {}, window: minute, max: {max}, scope: grant }}\n",
                                yaml_scalar(&counter)
                            );
                        } else {
                            let _ = writeln!(out, "    limits: *{anchor}");
                        }
                    }
                    Treatment::ApproveDestructive | Treatment::ApproveFinancial => {
                        let _ = writeln!(out, "  {key}:  # {why}");
                        out.push_str("    action: require_approval\n");
                        if approval_anchored {
                            out.push_str("    approval: *approval\n");
                        } else {
                            approval_anchored = true;
                            let _ = writeln!(
                                out,
                                "    approval: &approval {{ timeout: {APPROVAL_TIMEOUT}, mode: hold }}"
                            );
                        }
                    }
                    Treatment::DenyCredentials => {
                        let _ = writeln!(out, "  {key}:  # {why}");
                        out.push_str("    action: deny\n");
                        if anchor_here {
                            let _ = writeln!(
                                out,
                                "    reason: &credentials {}",
                                yaml_scalar(CREDENTIALS_REASON)
                            );
                        } else {
                            out.push_str("    reason: *credentials\n");
                        }
                    }
                }
            }
        }
        out
    }

    fn write_header(&self, out: &mut String, provenance: &Provenance<'_>) {
        let overridden = self.tools.values().filter(|c| c.overridden).count();
        let lines = [
            format!(
                "Starter policy for the MCP server {:?}, written by `{}`",
                self.server, provenance.command
            ),
            format!(
                "at {} from the {} the server listed.",
                provenance.generated_at,
                plural(self.tools.len(), "tool")
            ),
            String::new(),
            "default: deny refuses every tool not named below, including tools the server adds later.".into(),
            format!(
                "Read tools are allowed. Write tools share {WRITES_PER_MINUTE} calls a minute per grant (counter {}),",
                self.writes_counter()
            ),
            format!(
                "Execute tools {EXECUTES_PER_MINUTE} (counter {}). Destructive and Financial tools wait for a",
                self.executes_counter()
            ),
            format!(
                "person's approval, {APPROVAL_TIMEOUT} at most (`toolgate approvals list`). Tools that handle credentials are denied."
            ),
            format!(
                "After each tool, the main reason for its risk category{}.",
                if overridden > 0 {
                    format!(
                        " ({} set by [servers.{}.risk])",
                        plural(overridden, "category"),
                        self.server
                    )
                } else {
                    String::new()
                }
            ),
            "Review it, edit it, check it with `toolgate validate`; the format is in docs/policy.md.".into(),
        ];
        for line in lines {
            let line = comment_text(&line);
            if line.is_empty() {
                out.push_str("#\n");
            } else {
                let _ = writeln!(out, "# {line}");
            }
        }
    }

    fn group_comment(&self, treatment: Treatment) -> String {
        match treatment {
            Treatment::Allow => "allowed.".into(),
            Treatment::LimitWrites => format!(
                "at most {WRITES_PER_MINUTE} calls per minute per grant, all of them together (counter {}).",
                self.writes_counter()
            ),
            Treatment::LimitExecutes => format!(
                "at most {EXECUTES_PER_MINUTE} calls per minute per grant, all of them together (counter {}).",
                self.executes_counter()
            ),
            Treatment::ApproveDestructive => format!(
                "they can lose data for good, so each call waits for a person's approval ({APPROVAL_TIMEOUT} at most)."
            ),
            Treatment::ApproveFinancial => format!(
                "they move or commit money, so each call waits for a person's approval ({APPROVAL_TIMEOUT} at most)."
            ),
            Treatment::DenyCredentials => {
                "they read or manage credentials, keys, tokens, environment variables or connected accounts: denied."
                    .into()
            }
        }
    }
}

/// The reason shown beside a tool: its strongest piece of evidence; for a denied credential tool,
/// the category it would otherwise have and why it handles credentials.
fn tool_comment(treatment: Treatment, classification: &Classification) -> String {
    let reasons = &classification.reasons;
    let reason = reasons
        .first()
        .map_or("no evidence recorded", String::as_str);
    if treatment == Treatment::DenyCredentials {
        let why = reasons
            .iter()
            .find(|r| r.starts_with("handles credentials"))
            .map_or(reason, String::as_str);
        format!("{}; {why}", classification.category)
    } else {
        reason.to_owned()
    }
}

/// `1 tool`, `2 tools`.
fn plural(n: usize, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {noun}s"),
    }
}

/// A tool name as a `tools` key that matches that name only: glob characters escaped.
fn glob_escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Text safe inside a `#` comment: one line, no control characters.
fn comment_text(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A YAML scalar that reads back as this exact string: plain when that is unambiguous, else
/// double-quoted (a JSON string is a valid YAML double-quoted scalar).
fn yaml_scalar(text: &str) -> String {
    let plain = text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && !matches!(
            text.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain {
        text.to_owned()
    } else {
        Value::String(text.to_owned()).to_string()
    }
}

#[cfg(test)]
mod tests;
