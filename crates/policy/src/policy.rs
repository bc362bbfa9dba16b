//! The compiled, immutable policy: what `compile` produces and `decide` reads. Lookups are precomputed
//! (exact names in a hash map, globs in precedence order) so that deciding never parses or compiles.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::approval::ApprovalSpec;
use crate::condition::Condition;
use crate::glob::Glob;
use crate::limit::Limit;

/// What a tool that no `tools` key matches gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DefaultAction {
    Allow,
    Deny,
}

/// A listed tool's `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Allow,
    Deny,
    RequireApproval,
}

/// A compiled policy document. Immutable; share it as `Arc<Policy>`.
#[derive(Debug)]
pub struct Policy {
    pub(crate) hash: String,
    pub(crate) default: DefaultAction,
    pub(crate) hide_exact: HashMap<Box<str>, String>,
    /// (pattern, pointer) in document order.
    pub(crate) hide_globs: Vec<(Glob, String)>,
    pub(crate) all_tools: RuleBody,
    pub(crate) rules: Vec<ToolRule>,
    pub(crate) exact: HashMap<Box<str>, usize>,
    /// (pattern, index into `rules`) in precedence order: longest literal prefix, then longest pattern,
    /// then document order.
    pub(crate) globs: Vec<(Glob, usize)>,
    /// Every limit of the document; rule bodies refer to them by index.
    pub(crate) limits: Vec<Limit>,
    /// Counter name → index of its (first) limit, for `state.<counter>`.
    pub(crate) counters: HashMap<Box<str>, usize>,
}

/// One entry under `tools`.
#[derive(Debug)]
pub(crate) struct ToolRule {
    /// `/tools/<key>`
    pub pointer: String,
    pub action: Action,
    /// `/tools/<key>/action`
    pub action_pointer: String,
    pub reason: Option<String>,
    pub body: RuleBody,
    pub approval: ApprovalSpec,
}

/// What `all_tools` and each tool rule share: conditions and limits.
#[derive(Debug, Default)]
pub(crate) struct RuleBody {
    pub deny_if: Vec<ConditionRule>,
    pub require: Vec<ConditionRule>,
    /// Indices into [`Policy::limits`].
    pub limits: Vec<usize>,
}

/// One `deny_if` or `require` entry.
#[derive(Debug)]
pub(crate) struct ConditionRule {
    /// `/tools/<key>/deny_if/<i>`
    pub pointer: String,
    pub conditions: Vec<Condition>,
    pub on_deny: Option<String>,
}

pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl Policy {
    /// Lowercase hex SHA-256 of the source text: names the policy version in audit records.
    pub fn version_hash(&self) -> &str {
        &self.hash
    }

    /// True when the `hide` list names this tool (exactly or by glob): it is filtered from `tools/list`.
    pub fn is_hidden(&self, tool: &str) -> bool {
        self.hidden_rule(tool).is_some()
    }

    /// True when the `hide` list is empty: a `tools/list` result passes unfiltered.
    pub fn hides_nothing(&self) -> bool {
        self.hide_exact.is_empty() && self.hide_globs.is_empty()
    }

    /// The pointer of the `hide` entry that hides this tool, if any.
    pub fn hidden_rule(&self, tool: &str) -> Option<&str> {
        if let Some(p) = self.hide_exact.get(tool) {
            return Some(p);
        }
        self.hide_globs
            .iter()
            .find(|(g, _)| g.is_match(tool))
            .map(|(_, p)| p.as_str())
    }

    /// `default: allow` and nothing else: for a server without a policy file.
    pub fn allow_all() -> Policy {
        Policy {
            hash: sha256_hex(""),
            default: DefaultAction::Allow,
            hide_exact: HashMap::new(),
            hide_globs: Vec::new(),
            all_tools: RuleBody::default(),
            rules: Vec::new(),
            exact: HashMap::new(),
            globs: Vec::new(),
            limits: Vec::new(),
            counters: HashMap::new(),
        }
    }

    pub fn default_action(&self) -> DefaultAction {
        self.default
    }

    /// Every limit defined in the document (tool limits, `rate_limit` shorthands, `all_tools` limits).
    pub fn limits(&self) -> &[Limit] {
        &self.limits
    }

    /// The limit that defines `counter` (what `state.<counter>` reads).
    pub fn counter(&self, counter: &str) -> Option<&Limit> {
        self.counters.get(counter).map(|&i| &self.limits[i])
    }

    /// The pointer of the `tools` entry that governs `tool` (`/tools/findMany*`), if any; for `policy explain`.
    pub fn matched_rule(&self, tool: &str) -> Option<&str> {
        self.lookup(tool).map(|r| r.pointer.as_str())
    }

    pub(crate) fn lookup(&self, tool: &str) -> Option<&ToolRule> {
        if let Some(&i) = self.exact.get(tool) {
            return Some(&self.rules[i]);
        }
        self.globs
            .iter()
            .find(|(g, _)| g.is_match(tool))
            .map(|&(_, i)| &self.rules[i])
    }
}
