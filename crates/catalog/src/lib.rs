//! The tool catalogue's judgement of risk: what each MCP tool does — Read, Write, Execute,
//! Destructive or Financial — decided deterministically from the tool's annotations, the verbs
//! and nouns of its name, its description and its input schema, with the reasons that decided it.
//! Starter policies and operators' reviews are built on it, so the one error it must avoid is
//! calling a dangerous tool "Read": when the evidence is unclear it picks the more dangerous class.

mod classify;
mod lexicon;
mod schema;
pub mod starter_policy;
mod tool;
mod words;

pub use classify::{classify, classify_with_override};
pub use tool::{Annotations, ToolDefinition};

use serde::{Deserialize, Serialize};

/// What a tool does to the world, from harmless to most dangerous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Retrieves or computes information and changes nothing.
    Read,
    /// Creates or changes data in a way that can be undone.
    Write,
    /// Runs code, commands, workflows or drives an application.
    Execute,
    /// Can irreversibly lose or overwrite data or state.
    Destructive,
    /// Moves or commits money: payments, refunds, invoices, subscriptions.
    Financial,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Read,
        Category::Write,
        Category::Execute,
        Category::Destructive,
        Category::Financial,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Read => "read",
            Category::Write => "write",
            Category::Execute => "execute",
            Category::Destructive => "destructive",
            Category::Financial => "financial",
        }
    }

    /// Parses a category name, case-insensitively (`"execute"`, `"Destructive"`).
    pub fn parse(text: &str) -> Option<Category> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// How bad a wrong call of a tool of this category can be.
    pub fn severity(self) -> Severity {
        match self {
            Category::Read => Severity::Low,
            Category::Write => Severity::Medium,
            Category::Execute => Severity::High,
            Category::Destructive | Category::Financial => Severity::Critical,
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict on one tool and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub category: Category,
    pub severity: Severity,
    /// 0.0–1.0: how much the evidence agrees (an operator override is 1.0).
    pub confidence: f32,
    /// The tool reads or manages credentials, keys, tokens or connected accounts.
    pub credentials: bool,
    /// The evidence that decided, strongest first, e.g. `verb "delete" in name`.
    pub reasons: Vec<String>,
    /// Set when an operator's override decided the category.
    pub overridden: bool,
}
