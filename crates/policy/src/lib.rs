//! toolgate's policy engine: parse a policy document (JSON or YAML), validate it as a whole with located
//! diagnostics, and decide tool calls against it. Pure: no IO, no async; time is passed in.
//!
//! # Semantics the document leaves open, as implemented
//!
//! - **Tool precedence**: an exact name beats every glob; among globs the longest literal prefix wins
//!   (`findMany*` beats `find*` beats `*`), then the longest pattern, then document order.
//! - **Globs** (`tools` keys, `hide`, op `glob`): `*` any run of characters, `?` one character,
//!   `[abc]`, `[a-z]`, `[!x]` classes, `\` escapes; they match the whole name.
//! - **Look-alike names**: `hide` entries match tool names folded ([`fold_name`]: case,
//!   fullwidth and mathematical forms, Cyrillic and Greek look-alikes of Latin letters, invisible
//!   characters), and so do `action: deny` rules: a tool whose folded name falls under a deny
//!   rule (by the same precedence) is denied, whatever its own name matches. Folding never allows
//!   anything: other rules match names as they are.
//! - **Paths**: `args.a.b` walks objects; a segment that is a non-negative integer also indexes arrays
//!   (`args.items.0.id`). A final `.length` is the size of an array (elements), string (Unicode scalar
//!   values) or object (members) — except that an object with a member named `length` yields that member.
//!   `identity.tags.length` counts tags. `state.<counter>` is the counter's current amount for this
//!   call's subject (per the counter's scope), and must name a counter defined in the same document.
//! - **Ops**: see [`condition`](crate::Op) docs: numbers compare numerically (`1 == 1.0`); `contains`
//!   is substring / array element / object key; `in` on an array target (e.g. `identity.tags`) holds when
//!   any element is listed; `regex` is an unanchored search; a **missing path** makes every op false
//!   except `exists: false`, `neq` and `not_in` — so a `require` on a missing argument denies.
//! - **Conditions** of one rule are ANDed. A `deny_if` rule without conditions denies unconditionally; a
//!   `require` rule must have conditions.
//! - **Limits**: `increment` (constant, default 1) or `increment_from` (an `args` path giving a
//!   non-negative integer, e.g. `args.requestBody.length`); a missing or non-numeric value, or an amount
//!   above `max`, denies the call (fail closed). The `rate_limit` shorthand is a session-scoped sliding
//!   limit on counter `<tools key>__rate_limit` (`all_tools__rate_limit` under `all_tools`); under a
//!   glob key the counter is shared by every tool the glob matches, like any named counter.
//! - **Counters** are shared by name: defining one counter in several places is allowed only when the
//!   definitions agree on window, max, scope and mode ("duplicate counter" otherwise).
//! - **`all_tools`** holds `deny_if`, `require`, `limits` and `rate_limit`, applied to every tool that is
//!   not hidden and not denied earlier; its conditions are checked after the tool's own, its limits are
//!   reserved together with the tool's.
//! - `version` is `"1"` (the number `1` is accepted too, for YAML). `approval` requires
//!   `action: require_approval`; its timeout defaults to 10 minutes.

mod approval;
mod compile;
mod condition;
mod decide;
mod diagnostics;
mod document;
mod edit;
mod explain;
mod glob;
mod json;
mod limit;
mod names;
mod number;
mod outcome;
mod path;
mod policy;
mod report;
mod source;
mod window;
mod yaml;

pub use approval::{ApprovalMode, ApprovalSpec, DEFAULT_APPROVAL_TIMEOUT_MS};
pub use compile::compile;
pub use condition::Op;
pub use decide::{
    Call, CounterKey, CounterState, Decision, Identity, NoCounterState, Reservation, system_now_ms,
};
pub use diagnostics::{Diagnostic, Diagnostics, did_you_mean};
pub use document::{Member, Node, NodeKind, Pos};
pub use edit::rewrite;
pub use explain::{ConditionCheck, Explanation, HideMatch, RuleCheck, RuleKind, ToolMatch};
pub use glob::{Glob, GlobError};
pub use limit::{DurationError, Limit, Scope, WindowMode, describe_window, parse_duration_ms};
pub use names::fold_name;
pub use outcome::{ToolOutcome, ToolVerdict};
pub use policy::{Action, DefaultAction, Policy};
pub use report::COUNTERS_NOTE;
pub use source::parse_document;
pub use window::{EntryId, RetryAfterMs, WindowLog, window_start};

/// The syntax of a policy document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    Json,
    Yaml,
}

impl SourceFormat {
    /// `.yaml` / `.yml` (any case) → YAML, anything else → JSON.
    pub fn from_path(path: &str) -> Self {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            SourceFormat::Yaml
        } else {
            SourceFormat::Json
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_from_path() {
        assert_eq!(SourceFormat::from_path("p/crm.yaml"), SourceFormat::Yaml);
        assert_eq!(SourceFormat::from_path("crm.YML"), SourceFormat::Yaml);
        assert_eq!(SourceFormat::from_path("crm.json"), SourceFormat::Json);
        assert_eq!(SourceFormat::from_path("crm"), SourceFormat::Json);
    }

    #[test]
    fn policy_is_send_sync() {
        fn check<T: Send + Sync + std::fmt::Debug>() {}
        check::<Policy>();
        check::<Diagnostics>();
    }
}
