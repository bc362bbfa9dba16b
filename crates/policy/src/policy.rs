//! The compiled, immutable policy: what `compile` produces and `decide` reads. Lookups are precomputed
//! (exact names in a hash map, globs in precedence order) so that deciding never parses or compiles.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::approval::ApprovalSpec;
use crate::condition::Condition;
use crate::glob::Glob;
use crate::limit::Limit;
use crate::names::FoldedNames;

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
    /// The `hide` entries in document order.
    pub(crate) hide: Vec<HideEntry>,
    /// `hide`'s names and globs, folded, each with its index in `hide`.
    pub(crate) hidden_names: FoldedNames<usize>,
    pub(crate) all_tools: RuleBody,
    pub(crate) rules: Vec<ToolRule>,
    pub(crate) exact: HashMap<Box<str>, usize>,
    /// (pattern, index into `rules`) in precedence order: longest literal prefix, then longest pattern,
    /// then document order.
    pub(crate) globs: Vec<(Glob, usize)>,
    /// `exact` and `globs` again, folded (same precedence): a tool whose folded name falls under an
    /// `action: deny` rule is denied whatever its own name matches.
    pub(crate) folded_rules: FoldedNames<usize>,
    /// Every limit of the document; rule bodies refer to them by index.
    pub(crate) limits: Vec<Limit>,
    /// Counter name → index of its (first) limit, for `state.<counter>`.
    pub(crate) counters: HashMap<Box<str>, usize>,
}

/// One entry of `hide`.
#[derive(Debug)]
pub(crate) struct HideEntry {
    /// The name or glob as written.
    pub pattern: String,
    /// `/hide/<i>`
    pub pointer: String,
    pub glob: bool,
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
        self.hide.is_empty()
    }

    /// The pointer of the `hide` entry that hides this tool, if any. Names are compared folded
    /// ([`crate::fold_name`]): `hide: ["delete*"]` hides `DeleteOne` and `dеleteOne` (Cyrillic `е`).
    pub fn hidden_rule(&self, tool: &str) -> Option<&str> {
        self.hidden_entry(tool).map(|e| e.pointer.as_str())
    }

    pub(crate) fn hidden_entry(&self, tool: &str) -> Option<&HideEntry> {
        self.hidden_names.find(tool).map(|i| &self.hide[i])
    }

    /// `default: allow` and nothing else: for a server without a policy file.
    pub fn allow_all() -> Policy {
        Policy {
            hash: sha256_hex(""),
            default: DefaultAction::Allow,
            hide: Vec::new(),
            hidden_names: FoldedNames::default(),
            all_tools: RuleBody::default(),
            rules: Vec::new(),
            exact: HashMap::new(),
            globs: Vec::new(),
            folded_rules: FoldedNames::default(),
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

    /// The `action: deny` rule that governs `tool`'s folded name, if one does: what stops a denied
    /// family from coming back as `DeleteOne` or with look-alike letters.
    pub(crate) fn folded_deny(&self, tool: &str) -> Option<&ToolRule> {
        if self.folded_rules.is_empty() {
            return None;
        }
        self.folded_rules
            .find(tool)
            .map(|i| &self.rules[i])
            .filter(|r| r.action == Action::Deny)
    }

    /// The rule that governs `tool`: a deny rule its folded name falls under, else the rule its
    /// name matches.
    pub(crate) fn lookup(&self, tool: &str) -> Option<&ToolRule> {
        self.folded_deny(tool).or_else(|| self.lookup_exactly(tool))
    }

    fn lookup_exactly(&self, tool: &str) -> Option<&ToolRule> {
        if let Some(&i) = self.exact.get(tool) {
            return Some(&self.rules[i]);
        }
        self.globs
            .iter()
            .find(|(g, _)| g.is_match(tool))
            .map(|&(_, i)| &self.rules[i])
    }
}
