//! Validation and compilation: spanned document → [`Policy`]. Every problem is collected (never just the
//! first) with its position, JSON pointer and a hint; a document with any error produces no policy.

use std::collections::HashMap;

use crate::SourceFormat;
use crate::approval::{ApprovalMode, ApprovalSpec};
use crate::condition::{Condition, Op, Operand};
use crate::diagnostics::{Collector, Diagnostics, child_pointer, closest, did_you_mean};
use crate::document::{Member, Node, NodeKind, Pos};
use crate::glob::{Glob, is_glob};
use crate::limit::{Increment, Limit, Scope, WindowMode, named_window_ms, parse_duration_ms};
use crate::names::FoldedNames;
use crate::path::Path;
use crate::policy::{
    Action, ConditionRule, DefaultAction, HideEntry, Policy, RuleBody, ToolRule, sha256_hex,
};

const TOP_KEYS: &[&str] = &["version", "default", "hide", "all_tools", "tools"];
const TOOL_KEYS: &[&str] = &[
    "action",
    "reason",
    "on_deny",
    "deny_if",
    "require",
    "limits",
    "rate_limit",
    "approval",
];
const ALL_TOOLS_KEYS: &[&str] = &["deny_if", "require", "limits", "rate_limit"];
const COND_RULE_KEYS: &[&str] = &["conditions", "on_deny", "reason"];
const CONDITION_KEYS: &[&str] = &["path", "op", "value"];
const LIMIT_KEYS: &[&str] = &[
    "counter",
    "window",
    "max",
    "scope",
    "increment",
    "increment_from",
    "mode",
];
const RATE_LIMIT_KEYS: &[&str] = &["max", "window"];
const APPROVAL_KEYS: &[&str] = &["timeout", "hold_max", "mode", "notify", "via"];
const NOTIFY_KEYS: &[&str] = &["webhook"];
const WINDOW_HELP: &str = "use second, minute, hour, day, a whole number of seconds (60) or a duration (\"90s\", \"10m\", \"1h\", \"2d\")";

/// Parses and validates a policy document. `origin` names it in diagnostics (usually its path).
pub fn compile(text: &str, origin: &str, format: SourceFormat) -> Result<Policy, Diagnostics> {
    let mut diags = Collector::new(origin);
    let parsed = match format {
        SourceFormat::Json => crate::json::parse(text),
        SourceFormat::Yaml => crate::yaml::parse(text),
    };
    let root = match parsed {
        Ok(root) => root,
        Err(e) => {
            let help = e.help.unwrap_or_else(|| match format {
                SourceFormat::Json => "the policy must be valid JSON (RFC 8259)".to_owned(),
                SourceFormat::Yaml => "the policy must be valid YAML".to_owned(),
            });
            diags.error(e.pos, "", e.message, Some(help));
            return Err(diags.finish());
        }
    };
    check_duplicate_keys(&root, "", &mut diags);
    let mut c = Compiler {
        d: diags,
        limits: Vec::new(),
        limit_pos: Vec::new(),
        state_refs: Vec::new(),
        counter_names: Vec::new(),
    };
    let policy = c.document(&root, text);
    c.check_counters();
    let mut policy = match policy {
        Some(p) if !c.d.has_errors() => p,
        Some(_) => return Err(c.d.finish()),
        None => {
            if !c.d.has_errors() {
                // Unreachable by construction; never return an empty error list.
                c.d.error(
                    root.pos,
                    "",
                    "the document could not be compiled",
                    Some("please report this".to_owned()),
                );
            }
            return Err(c.d.finish());
        }
    };
    policy.limits = c.limits;
    policy.counters = counter_index(&policy.limits);
    link_state_paths(&mut policy);
    Ok(policy)
}

fn counter_index(limits: &[Limit]) -> HashMap<Box<str>, usize> {
    let mut map = HashMap::new();
    for (i, l) in limits.iter().enumerate() {
        map.entry(l.counter.as_str().into()).or_insert(i);
    }
    map
}

/// Ties each `state.<counter>` path to its limit (existence was checked in `check_counters`).
fn link_state_paths(policy: &mut Policy) {
    let counters = &policy.counters;
    let bodies =
        std::iter::once(&mut policy.all_tools).chain(policy.rules.iter_mut().map(|r| &mut r.body));
    for body in bodies {
        for rule in body.deny_if.iter_mut().chain(body.require.iter_mut()) {
            for c in &mut rule.conditions {
                if let Path::State { counter, limit } = &mut c.path {
                    *limit = counters
                        .get(counter.as_str())
                        .copied()
                        .unwrap_or(usize::MAX);
                }
            }
        }
    }
}

pub(crate) fn check_duplicate_keys(node: &Node, ptr: &str, d: &mut Collector<'_>) {
    match &node.kind {
        NodeKind::Object(members) => {
            let mut seen: HashMap<&str, Pos> = HashMap::new();
            for m in members {
                let child = child_pointer(ptr, &m.key);
                if let Some(first) = seen.get(m.key.as_str()) {
                    d.error(
                        m.key_pos,
                        &child,
                        format!("duplicate key \"{}\"", m.key),
                        Some(format!(
                            "first defined at line {}, column {}; keep only one",
                            first.line, first.col
                        )),
                    );
                } else {
                    seen.insert(&m.key, m.key_pos);
                }
                check_duplicate_keys(&m.value, &child, d);
            }
        }
        NodeKind::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_duplicate_keys(item, &child_pointer(ptr, &i.to_string()), d);
            }
        }
        _ => {}
    }
}

/// The `hide` entries and their folded index.
type HideLists = (Vec<HideEntry>, FoldedNames<usize>);

struct Compiler<'o> {
    d: Collector<'o>,
    limits: Vec<Limit>,
    /// Position of each limit's `counter` value (or of the `rate_limit` object).
    limit_pos: Vec<Pos>,
    /// Every `state.<counter>` reference: (counter, position, pointer).
    state_refs: Vec<(String, Pos, String)>,
    /// Every counter name written in the document, valid limit or not (for `state.` hints).
    counter_names: Vec<String>,
}

fn get<'n>(members: &'n [Member], key: &str) -> Option<&'n Member> {
    members.iter().find(|m| m.key == key)
}

fn quote_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Compiler<'_> {
    fn err(
        &mut self,
        pos: Pos,
        ptr: &str,
        message: impl Into<String>,
        help: impl Into<Option<String>>,
    ) {
        self.d.error(pos, ptr, message, help.into());
    }

    fn wrong_type(
        &mut self,
        node: &Node,
        ptr: &str,
        what: &str,
        expected: &str,
        help: Option<String>,
    ) {
        let help = help.unwrap_or_else(|| format!("{what} takes {expected}"));
        self.err(
            node.pos,
            ptr,
            format!(
                "wrong type for {what}: expected {expected}, found {}",
                node.kind.type_name()
            ),
            Some(help),
        );
    }

    /// Checks `node` is an object and reports unknown keys (with did-you-mean). `None` if not an object.
    fn object<'n>(
        &mut self,
        node: &'n Node,
        ptr: &str,
        what: &str,
        known: &[&str],
    ) -> Option<&'n [Member]> {
        let Some(members) = node.as_object() else {
            self.wrong_type(node, ptr, what, "an object", None);
            return None;
        };
        for m in members {
            if !known.contains(&m.key.as_str()) {
                let help = did_you_mean(&m.key, known.iter().copied())
                    .unwrap_or_else(|| format!("known keys here: {}", quote_list(known)));
                self.err(
                    m.key_pos,
                    &child_pointer(ptr, &m.key),
                    format!("unknown key \"{}\" in {what}", m.key),
                    Some(help),
                );
            }
        }
        Some(members)
    }

    fn required<'n>(
        &mut self,
        members: &'n [Member],
        obj: &Node,
        ptr: &str,
        what: &str,
        key: &str,
        example: &str,
    ) -> Option<&'n Member> {
        let m = get(members, key);
        if m.is_none() {
            self.err(
                obj.pos,
                ptr,
                format!("missing required field \"{key}\" in {what}"),
                Some(format!("add {example}")),
            );
        }
        m
    }

    fn string<'n>(&mut self, node: &'n Node, ptr: &str, what: &str) -> Option<&'n str> {
        let s = node.as_str();
        if s.is_none() {
            self.wrong_type(node, ptr, what, "a string", None);
        }
        s
    }

    /// A non-negative integer (`10` or `10.0`).
    fn count(&mut self, node: &Node, ptr: &str, what: &str) -> Option<u64> {
        if let NodeKind::Number(n) = &node.kind {
            if let Some(u) = n.as_u64() {
                return Some(u);
            }
            if let Some(f) = n.as_f64()
                && f >= 0.0
                && f.fract() == 0.0
                && f < u64::MAX as f64
            {
                return Some(f as u64);
            }
            self.err(
                node.pos,
                ptr,
                format!("{what} must be a non-negative integer, found {n}"),
                Some("use a whole number, 0 or more".to_owned()),
            );
            return None;
        }
        let help = match &node.kind {
            NodeKind::String(s) if s.parse::<u64>().is_ok() => {
                Some(format!("write the number without quotes: {s}"))
            }
            _ => None,
        };
        self.wrong_type(node, ptr, what, "a non-negative integer", help);
        None
    }

    fn document(&mut self, root: &Node, text: &str) -> Option<Policy> {
        let members = self.object(root, "", "the policy document", TOP_KEYS)?;
        let mut ok = true;

        match self.required(
            members,
            root,
            "",
            "the policy document",
            "version",
            "\"version\": \"1\"",
        ) {
            Some(m) => {
                let ptr = "/version";
                match &m.value.kind {
                    NodeKind::String(s) if s == "1" => {}
                    NodeKind::Number(n) if n.as_u64() == Some(1) => {}
                    NodeKind::String(s) => self.err(
                        m.value.pos,
                        ptr,
                        format!("unsupported policy version \"{s}\""),
                        Some("this toolgate understands \"version\": \"1\"".to_owned()),
                    ),
                    _ => self.wrong_type(
                        &m.value,
                        ptr,
                        "\"version\"",
                        "the string \"1\"",
                        Some("write \"version\": \"1\"".to_owned()),
                    ),
                }
            }
            None => ok = false,
        }

        let default = match self.required(
            members,
            root,
            "",
            "the policy document",
            "default",
            "\"default\": \"deny\" (or \"allow\")",
        ) {
            Some(m) => match self.string(&m.value, "/default", "\"default\"") {
                Some("allow") => Some(DefaultAction::Allow),
                Some("deny") => Some(DefaultAction::Deny),
                Some(other) => {
                    let help = did_you_mean(other, ["allow", "deny"])
                        .unwrap_or_else(|| "use \"allow\" or \"deny\"".to_owned());
                    self.err(
                        m.value.pos,
                        "/default",
                        format!("bad default \"{other}\": expected \"allow\" or \"deny\""),
                        Some(help),
                    );
                    None
                }
                None => None,
            },
            None => None,
        };

        let (hide, hidden_names) = match get(members, "hide") {
            Some(m) => self.hide(&m.value),
            None => (Vec::new(), FoldedNames::default()),
        };

        let all_tools = match get(members, "all_tools") {
            Some(m) => self.all_tools(&m.value).unwrap_or_default(),
            None => RuleBody::default(),
        };

        let mut rules = Vec::new();
        let mut exact: HashMap<Box<str>, usize> = HashMap::new();
        let mut globs: Vec<(Glob, usize)> = Vec::new();
        if let Some(m) = get(members, "tools") {
            match m.value.as_object() {
                Some(tools) => {
                    for t in tools {
                        let ptr = child_pointer("/tools", &t.key);
                        let Some(rule) = self.tool_rule(t, &ptr) else {
                            continue;
                        };
                        let index = rules.len();
                        if is_glob(&t.key) {
                            match Glob::new(&t.key) {
                                Ok(g) => globs.push((g, index)),
                                Err(e) => {
                                    self.err(
                                        t.key_pos,
                                        &ptr,
                                        format!("bad glob \"{}\": {e}", t.key),
                                        Some(glob_help()),
                                    );
                                    continue;
                                }
                            }
                        } else if t.key.is_empty() {
                            self.err(
                                t.key_pos,
                                &ptr,
                                "empty tool name",
                                Some("name a tool, or use \"*\" for every tool".to_owned()),
                            );
                            continue;
                        } else {
                            exact.entry(t.key.as_str().into()).or_insert(index);
                        }
                        rules.push(rule);
                    }
                }
                None => self.wrong_type(
                    &m.value,
                    "/tools",
                    "\"tools\"",
                    "an object mapping tool names or globs to rules",
                    None,
                ),
            }
        }
        // Precedence among globs: longest literal prefix, then longest pattern, then document order.
        globs.sort_by(|(a, ai), (b, bi)| {
            let key = |g: &Glob| {
                (
                    g.literal_prefix().chars().count(),
                    g.as_str().chars().count(),
                )
            };
            key(b).cmp(&key(a)).then(ai.cmp(bi))
        });
        let mut folded_rules = FoldedNames::default();
        // In document order: of two names that fold alike, the first one's rule is kept.
        let mut names: Vec<(&str, usize)> = exact.iter().map(|(n, &i)| (&**n, i)).collect();
        names.sort_by_key(|&(_, i)| i);
        for (name, i) in names {
            folded_rules.exact(name, i);
        }
        for (g, i) in &globs {
            folded_rules.glob(g, *i);
        }

        let default = default?;
        if !ok {
            return None;
        }
        Some(Policy {
            hash: sha256_hex(text),
            default,
            hide,
            hidden_names,
            all_tools,
            rules,
            exact,
            globs,
            folded_rules,
            limits: Vec::new(),
            counters: HashMap::new(),
        })
    }

    fn hide(&mut self, node: &Node) -> HideLists {
        let mut entries = Vec::new();
        let mut names = FoldedNames::default();
        let mut globs = Vec::new();
        let Some(items) = node.as_array() else {
            self.wrong_type(
                node,
                "/hide",
                "\"hide\"",
                "an array of tool names or globs",
                Some(
                    "write a list, e.g. \"hide\": [\"deleteOne*\", \"GetOpenApiSchema\"]"
                        .to_owned(),
                ),
            );
            return (entries, names);
        };
        for (i, item) in items.iter().enumerate() {
            let ptr = child_pointer("/hide", &i.to_string());
            let Some(name) = self.string(item, &ptr, "a \"hide\" entry") else {
                continue;
            };
            let glob = is_glob(name);
            if glob {
                match Glob::new(name) {
                    Ok(g) => globs.push((g, entries.len())),
                    Err(e) => {
                        self.err(
                            item.pos,
                            &ptr,
                            format!("bad glob \"{name}\": {e}"),
                            Some(glob_help()),
                        );
                        continue;
                    }
                }
            } else if name.is_empty() {
                self.err(
                    item.pos,
                    &ptr,
                    "empty tool name in \"hide\"",
                    Some("name a tool or a glob, or remove the entry".to_owned()),
                );
                continue;
            } else {
                names.exact(name, entries.len());
            }
            entries.push(HideEntry {
                pattern: name.to_owned(),
                pointer: ptr,
                glob,
            });
        }
        // Exact names first (they were added above), then globs in document order.
        for (g, i) in &globs {
            names.glob(g, *i);
        }
        (entries, names)
    }

    fn all_tools(&mut self, node: &Node) -> Option<RuleBody> {
        let ptr = "/all_tools";
        let Some(members) = node.as_object() else {
            self.wrong_type(node, ptr, "\"all_tools\"", "an object", None);
            return None;
        };
        for m in members {
            if ALL_TOOLS_KEYS.contains(&m.key.as_str()) {
                continue;
            }
            let p = child_pointer(ptr, &m.key);
            if TOOL_KEYS.contains(&m.key.as_str()) {
                self.err(
                    m.key_pos,
                    &p,
                    format!("\"{}\" is not allowed in \"all_tools\"", m.key),
                    Some("all_tools holds deny_if, require, limits and rate_limit; set actions per tool under \"tools\" (or use \"default\")".to_owned()),
                );
            } else {
                let help = did_you_mean(&m.key, ALL_TOOLS_KEYS.iter().copied())
                    .unwrap_or_else(|| format!("known keys here: {}", quote_list(ALL_TOOLS_KEYS)));
                self.err(
                    m.key_pos,
                    &p,
                    format!("unknown key \"{}\" in \"all_tools\"", m.key),
                    Some(help),
                );
            }
        }
        Some(self.rule_body(members, ptr, "all_tools"))
    }

    fn tool_rule(&mut self, member: &Member, ptr: &str) -> Option<ToolRule> {
        let node = &member.value;
        let what = format!("the rule for \"{}\"", member.key);
        let empty: &[Member] = &[];
        let members = if matches!(node.kind, NodeKind::Null) {
            empty
        } else {
            self.object(node, ptr, &what, TOOL_KEYS)?
        };
        let action_pointer = child_pointer(ptr, "action");
        let action = match get(members, "action") {
            None => Action::Allow,
            Some(m) => match self.string(&m.value, &action_pointer, "\"action\"") {
                Some("allow") => Action::Allow,
                Some("deny") => Action::Deny,
                Some("require_approval") => Action::RequireApproval,
                Some(other) => {
                    let options = ["allow", "deny", "require_approval"];
                    let help = did_you_mean(other, options)
                        .unwrap_or_else(|| format!("use one of {}", quote_list(&options)));
                    self.err(
                        m.value.pos,
                        &action_pointer,
                        format!("unknown action \"{other}\""),
                        Some(help),
                    );
                    Action::Deny
                }
                None => Action::Deny,
            },
        };
        let reason = self.reason(members, ptr);
        let body = self.rule_body(members, ptr, &member.key);
        let approval = match get(members, "approval") {
            Some(m) => {
                let p = child_pointer(ptr, "approval");
                if action != Action::RequireApproval
                    && get(members, "action").is_some_and(|a| {
                        a.value
                            .as_str()
                            .is_some_and(|s| ["allow", "deny"].contains(&s))
                    })
                {
                    self.err(
                        m.key_pos,
                        &p,
                        "\"approval\" is only used with \"action\": \"require_approval\"",
                        Some(
                            "set \"action\": \"require_approval\" or remove \"approval\""
                                .to_owned(),
                        ),
                    );
                } else if get(members, "action").is_none() {
                    self.err(
                        m.key_pos,
                        &p,
                        "\"approval\" is only used with \"action\": \"require_approval\"",
                        Some("add \"action\": \"require_approval\" to this rule".to_owned()),
                    );
                }
                self.approval(&m.value, &p)
            }
            None => ApprovalSpec::default(),
        };
        Some(ToolRule {
            pointer: ptr.to_owned(),
            action,
            action_pointer,
            reason,
            body,
            approval,
        })
    }

    /// `reason` or its alias `on_deny` (not both).
    fn reason(&mut self, members: &[Member], ptr: &str) -> Option<String> {
        let reason = get(members, "reason");
        let on_deny = get(members, "on_deny");
        if let (Some(_), Some(second)) = (reason, on_deny) {
            self.err(
                second.key_pos,
                &child_pointer(ptr, &second.key),
                "\"reason\" and \"on_deny\" are the same setting",
                Some("keep only one of them".to_owned()),
            );
        }
        let m = reason.or(on_deny)?;
        self.string(
            &m.value,
            &child_pointer(ptr, &m.key),
            &format!("\"{}\"", m.key),
        )
        .map(str::to_owned)
    }

    fn rule_body(&mut self, members: &[Member], ptr: &str, owner: &str) -> RuleBody {
        let mut body = RuleBody::default();
        for (key, require) in [("deny_if", false), ("require", true)] {
            let Some(m) = get(members, key) else { continue };
            let list_ptr = child_pointer(ptr, key);
            let Some(items) = m.value.as_array() else {
                self.wrong_type(
                    &m.value,
                    &list_ptr,
                    &format!("\"{key}\""),
                    "an array of rules {\"conditions\": [...], \"on_deny\": \"...\"}",
                    None,
                );
                continue;
            };
            for (i, item) in items.iter().enumerate() {
                let p = child_pointer(&list_ptr, &i.to_string());
                if let Some(rule) = self.condition_rule(item, &p, key, require) {
                    if require {
                        body.require.push(rule);
                    } else {
                        body.deny_if.push(rule);
                    }
                }
            }
        }
        if let Some(m) = get(members, "limits") {
            let list_ptr = child_pointer(ptr, "limits");
            match m.value.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let p = child_pointer(&list_ptr, &i.to_string());
                        if let Some(limit) = self.limit(item, &p) {
                            body.limits.push(self.limits.len());
                            self.limits.push(limit.0);
                            self.limit_pos.push(limit.1);
                        }
                    }
                }
                None => self.wrong_type(
                    &m.value,
                    &list_ptr,
                    "\"limits\"",
                    "an array of limits",
                    None,
                ),
            }
        }
        if let Some(m) = get(members, "rate_limit") {
            let p = child_pointer(ptr, "rate_limit");
            if let Some(limit) = self.rate_limit(&m.value, &p, owner) {
                body.limits.push(self.limits.len());
                self.limits.push(limit);
                self.limit_pos.push(m.value.pos);
            }
        }
        body
    }

    fn condition_rule(
        &mut self,
        node: &Node,
        ptr: &str,
        list: &str,
        require: bool,
    ) -> Option<ConditionRule> {
        let members = self.object(node, ptr, &format!("a \"{list}\" rule"), COND_RULE_KEYS)?;
        let on_deny = self.reason(members, ptr);
        let mut conditions = Vec::new();
        let cond_ptr = child_pointer(ptr, "conditions");
        match get(members, "conditions") {
            Some(m) => match m.value.as_array() {
                Some(items) => {
                    if items.is_empty() && require {
                        self.err(m.value.pos, &cond_ptr, "a \"require\" rule needs at least one condition", Some("an empty require rule would never deny; remove it or add conditions".to_owned()));
                    }
                    for (i, item) in items.iter().enumerate() {
                        if let Some(c) =
                            self.condition(item, &child_pointer(&cond_ptr, &i.to_string()))
                        {
                            conditions.push(c);
                        }
                    }
                }
                None => self.wrong_type(
                    &m.value,
                    &cond_ptr,
                    "\"conditions\"",
                    "an array of {\"path\", \"op\", \"value\"}",
                    None,
                ),
            },
            None if require => {
                self.err(node.pos, ptr, "missing required field \"conditions\" in a \"require\" rule", Some("add \"conditions\": [{\"path\": \"args.x\", \"op\": \"exists\", \"value\": true}]".to_owned()));
            }
            // A deny_if rule without conditions denies unconditionally.
            None => {}
        }
        Some(ConditionRule {
            pointer: ptr.to_owned(),
            conditions,
            on_deny,
        })
    }

    fn condition(&mut self, node: &Node, ptr: &str) -> Option<Condition> {
        let members = self.object(node, ptr, "a condition", CONDITION_KEYS)?;
        let path_m = self.required(
            members,
            node,
            ptr,
            "a condition",
            "path",
            "\"path\": \"args.<field>\"",
        );
        let op_m = self.required(members, node, ptr, "a condition", "op", "\"op\": \"eq\"");
        let value_m = get(members, "value");

        let path = path_m.and_then(|m| {
            let p = child_pointer(ptr, "path");
            let text = self.string(&m.value, &p, "\"path\"")?;
            match Path::parse(text) {
                Ok(path) => {
                    if let Path::State { counter, .. } = &path {
                        self.state_refs.push((counter.clone(), m.value.pos, p));
                    }
                    Some((path, text))
                }
                Err(e) => {
                    self.err(m.value.pos, &p, e.message, e.help);
                    None
                }
            }
        });
        let op = op_m.and_then(|m| {
            let p = child_pointer(ptr, "op");
            let text = self.string(&m.value, &p, "\"op\"")?;
            let op = Op::from_name(text);
            if op.is_none() {
                let help = match Op::suggest(text) {
                    Some(s) => format!("did you mean \"{}\"?", s.name()),
                    None => format!(
                        "ops: {}",
                        Op::ALL
                            .iter()
                            .map(|o| o.name())
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                };
                self.err(
                    m.value.pos,
                    &p,
                    format!("unknown op \"{text}\""),
                    Some(help),
                );
            }
            op
        })?;
        let value_ptr = child_pointer(ptr, "value");
        let operand = match value_m {
            None if op == Op::Exists => Some(Operand::Exists(true)),
            None => {
                self.err(
                    node.pos,
                    ptr,
                    format!(
                        "missing required field \"value\" in a condition with op \"{}\"",
                        op.name()
                    ),
                    Some(format!("add \"value\": {}", example_value(op))),
                );
                None
            }
            Some(m) => self.operand(op, &m.value, &value_ptr),
        }?;
        let (path, path_text) = path?;
        let display = match (&operand, value_m) {
            (_, Some(m)) => format!("{path_text} {} {}", op.name(), m.value.to_json()),
            (_, None) => format!("{path_text} {}", op.name()),
        };
        Some(Condition {
            path,
            op,
            operand,
            display,
        })
    }

    fn operand(&mut self, op: Op, value: &Node, ptr: &str) -> Option<Operand> {
        let what = format!("the value of op \"{}\"", op.name());
        match op {
            Op::Eq | Op::Neq | Op::Contains => Some(Operand::Value(value.to_json())),
            Op::In | Op::NotIn => match value.as_array() {
                Some(items) => Some(Operand::List(items.iter().map(Node::to_json).collect())),
                None => {
                    self.wrong_type(
                        value,
                        ptr,
                        &what,
                        "an array",
                        Some(format!("write the list, e.g. [{}]", value.to_json())),
                    );
                    None
                }
            },
            Op::Lt | Op::Lte | Op::Gt | Op::Gte => match &value.kind {
                NodeKind::Number(_) | NodeKind::String(_) => {
                    Some(Operand::Ordered(value.to_json()))
                }
                _ => {
                    self.wrong_type(value, ptr, &what, "a number or a string", None);
                    None
                }
            },
            Op::Regex => {
                let text = self.string(value, ptr, &what)?;
                match regex::Regex::new(text) {
                    Ok(re) => Some(Operand::Regex(re)),
                    Err(e) => {
                        let detail = match &e {
                            regex::Error::Syntax(s) => s
                                .lines()
                                .filter(|l| l.starts_with("error:"))
                                .map(|l| l.trim_start_matches("error:").trim())
                                .next()
                                .unwrap_or(s)
                                .to_owned(),
                            other => other.to_string(),
                        };
                        self.err(value.pos, ptr, format!("bad regex {text:?}: {detail}"), Some("regexes use Rust regex syntax (https://docs.rs/regex); escape literal metacharacters with \\\\".to_owned()));
                        None
                    }
                }
            }
            Op::Glob => {
                let text = self.string(value, ptr, &what)?;
                match Glob::new(text) {
                    Ok(g) => Some(Operand::Glob(g)),
                    Err(e) => {
                        self.err(
                            value.pos,
                            ptr,
                            format!("bad glob \"{text}\": {e}"),
                            Some(glob_help()),
                        );
                        None
                    }
                }
            }
            Op::StartsWith | Op::EndsWith => self
                .string(value, ptr, &what)
                .map(|s| Operand::Text(s.to_owned())),
            Op::Exists => match value.kind {
                NodeKind::Bool(b) => Some(Operand::Exists(b)),
                _ => {
                    self.wrong_type(value, ptr, &what, "true or false", None);
                    None
                }
            },
        }
    }

    fn window(&mut self, node: &Node, ptr: &str) -> Option<u64> {
        match &node.kind {
            NodeKind::String(s) => {
                if let Some(ms) = named_window_ms(s) {
                    return Some(ms);
                }
                match parse_duration_ms(s) {
                    Ok(0) => {
                        self.err(
                            node.pos,
                            ptr,
                            format!("bad window \"{s}\": a window must be longer than zero"),
                            Some(WINDOW_HELP.to_owned()),
                        );
                        None
                    }
                    Ok(ms) => Some(ms),
                    Err(e) => {
                        let help = match closest(s, ["second", "minute", "hour", "day"]) {
                            Some(c) => format!("did you mean \"{c}\"? ({WINDOW_HELP})"),
                            None => WINDOW_HELP.to_owned(),
                        };
                        self.err(
                            node.pos,
                            ptr,
                            format!("bad window \"{s}\": {e}"),
                            Some(help),
                        );
                        None
                    }
                }
            }
            NodeKind::Number(n) => match n.as_u64() {
                Some(0) | None => {
                    self.err(
                        node.pos,
                        ptr,
                        format!("bad window {n}: a number of seconds must be a positive integer"),
                        Some(WINDOW_HELP.to_owned()),
                    );
                    None
                }
                Some(secs) => match secs.checked_mul(1000) {
                    Some(ms) => Some(ms),
                    None => {
                        self.err(
                            node.pos,
                            ptr,
                            format!("bad window {n}: too long"),
                            Some(WINDOW_HELP.to_owned()),
                        );
                        None
                    }
                },
            },
            _ => {
                self.wrong_type(
                    node,
                    ptr,
                    "\"window\"",
                    "a string or a number of seconds",
                    Some(WINDOW_HELP.to_owned()),
                );
                None
            }
        }
    }

    fn limit(&mut self, node: &Node, ptr: &str) -> Option<(Limit, Pos)> {
        let what = "a limit";
        let members = self.object(node, ptr, what, LIMIT_KEYS)?;
        let counter = self
            .required(
                members,
                node,
                ptr,
                what,
                "counter",
                "\"counter\": \"<name>\"",
            )
            .and_then(|m| {
                let p = child_pointer(ptr, "counter");
                let s = self.string(&m.value, &p, "\"counter\"")?;
                if s.is_empty() {
                    self.err(
                        m.value.pos,
                        &p,
                        "empty counter name",
                        Some("name the counter, e.g. \"crm_writes\"".to_owned()),
                    );
                    return None;
                }
                self.counter_names.push(s.to_owned());
                Some((s.to_owned(), m.value.pos))
            });
        let window = self
            .required(members, node, ptr, what, "window", "\"window\": \"minute\"")
            .and_then(|m| self.window(&m.value, &child_pointer(ptr, "window")));
        let max = self
            .required(members, node, ptr, what, "max", "\"max\": 100")
            .and_then(|m| self.count(&m.value, &child_pointer(ptr, "max"), "\"max\""));
        let mut ok = true;
        let scope = match get(members, "scope") {
            None => Scope::Grant,
            Some(m) => {
                let p = child_pointer(ptr, "scope");
                match self.string(&m.value, &p, "\"scope\"") {
                    Some(s) => match Scope::from_name(s) {
                        Some(scope) => scope,
                        None => {
                            let names: Vec<&str> = Scope::ALL.iter().map(|s| s.name()).collect();
                            let help = did_you_mean(s, names.iter().copied())
                                .unwrap_or_else(|| format!("scopes: {}", quote_list(&names)));
                            self.err(
                                m.value.pos,
                                &p,
                                format!("unknown scope \"{s}\""),
                                Some(help),
                            );
                            ok = false;
                            Scope::Grant
                        }
                    },
                    None => {
                        ok = false;
                        Scope::Grant
                    }
                }
            }
        };
        let mode = match get(members, "mode") {
            None => WindowMode::Sliding,
            Some(m) => {
                let p = child_pointer(ptr, "mode");
                match self.string(&m.value, &p, "\"mode\"") {
                    Some("sliding") => WindowMode::Sliding,
                    Some("fixed") => WindowMode::Fixed,
                    Some(other) => {
                        let help = did_you_mean(other, ["sliding", "fixed"])
                            .unwrap_or_else(|| "use \"sliding\" or \"fixed\"".to_owned());
                        self.err(
                            m.value.pos,
                            &p,
                            format!("unknown window mode \"{other}\""),
                            Some(help),
                        );
                        ok = false;
                        WindowMode::Sliding
                    }
                    None => {
                        ok = false;
                        WindowMode::Sliding
                    }
                }
            }
        };
        let increment = match (get(members, "increment"), get(members, "increment_from")) {
            (Some(_), Some(second)) => {
                self.err(
                    second.key_pos,
                    &child_pointer(ptr, "increment_from"),
                    "\"increment\" and \"increment_from\" cannot both be set",
                    Some(
                        "use a constant increment or one taken from the arguments, not both"
                            .to_owned(),
                    ),
                );
                None
            }
            (Some(m), None) => self
                .count(&m.value, &child_pointer(ptr, "increment"), "\"increment\"")
                .map(Increment::Fixed),
            (None, Some(m)) => {
                let p = child_pointer(ptr, "increment_from");
                self.string(&m.value, &p, "\"increment_from\"").and_then(|text| match Path::parse(text) {
                    Ok(path) if path.is_args() => Some(Increment::From { path, source: text.to_owned() }),
                    Ok(_) => {
                        self.err(m.value.pos, &p, format!("bad path \"{text}\": increment_from must point into the call's arguments"), Some("use an args path, e.g. \"args.requestBody.length\"".to_owned()));
                        None
                    }
                    Err(e) => {
                        self.err(m.value.pos, &p, e.message, e.help);
                        None
                    }
                })
            }
            (None, None) => Some(Increment::Fixed(1)),
        };
        let (counter, pos) = counter?;
        if !ok {
            return None;
        }
        Some((
            Limit {
                counter,
                window_ms: window?,
                max: max?,
                scope,
                mode,
                rule: ptr.to_owned(),
                increment: increment?,
            },
            pos,
        ))
    }

    fn rate_limit(&mut self, node: &Node, ptr: &str, owner: &str) -> Option<Limit> {
        let what = "\"rate_limit\"";
        let members = self.object(node, ptr, what, RATE_LIMIT_KEYS)?;
        let window = self
            .required(members, node, ptr, what, "window", "\"window\": 60")
            .and_then(|m| self.window(&m.value, &child_pointer(ptr, "window")));
        let max = self
            .required(members, node, ptr, what, "max", "\"max\": 10")
            .and_then(|m| self.count(&m.value, &child_pointer(ptr, "max"), "\"max\""));
        self.counter_names.push(format!("{owner}__rate_limit"));
        Some(Limit {
            counter: format!("{owner}__rate_limit"),
            window_ms: window?,
            max: max?,
            scope: Scope::Session,
            mode: WindowMode::Sliding,
            rule: ptr.to_owned(),
            increment: Increment::Fixed(1),
        })
    }

    /// A duration longer than zero: a string (`"30s"`, `"10m"`) or a whole number of seconds.
    fn positive_duration_ms(&mut self, value: &Node, p: &str, what: &str) -> Option<u64> {
        let help = "use a duration such as \"30s\", \"10m\", \"1h\" or a whole number of seconds"
            .to_owned();
        match &value.kind {
            NodeKind::String(s) => match parse_duration_ms(s) {
                Ok(0) => self.err(
                    value.pos,
                    p,
                    format!("bad {what} \"{s}\": must be longer than zero"),
                    Some(help),
                ),
                Ok(ms) => return Some(ms),
                Err(e) => self.err(value.pos, p, format!("bad {what} \"{s}\": {e}"), Some(help)),
            },
            NodeKind::Number(n) => match n
                .as_u64()
                .filter(|&s| s > 0)
                .and_then(|s| s.checked_mul(1000))
            {
                Some(ms) => return Some(ms),
                None => self.err(
                    value.pos,
                    p,
                    format!("bad {what} {n}: must be a positive whole number of seconds"),
                    Some(help),
                ),
            },
            _ => {
                let key = format!("\"{}\"", p.rsplit('/').next().unwrap_or_default());
                self.wrong_type(value, p, &key, "a duration string", Some(help))
            }
        }
        None
    }

    fn approval(&mut self, node: &Node, ptr: &str) -> ApprovalSpec {
        let mut spec = ApprovalSpec::default();
        let Some(members) = self.object(node, ptr, "\"approval\"", APPROVAL_KEYS) else {
            return spec;
        };
        if let Some(m) = get(members, "timeout") {
            let p = child_pointer(ptr, "timeout");
            if let Some(ms) = self.positive_duration_ms(&m.value, &p, "approval timeout") {
                spec.timeout_ms = ms;
            }
        }
        if let Some(m) = get(members, "hold_max") {
            let p = child_pointer(ptr, "hold_max");
            spec.hold_max_ms = self.positive_duration_ms(&m.value, &p, "approval hold_max");
        }
        if let Some(m) = get(members, "mode") {
            let p = child_pointer(ptr, "mode");
            match self.string(&m.value, &p, "\"mode\"") {
                Some("hold") => spec.mode = ApprovalMode::Hold,
                Some("retry") => spec.mode = ApprovalMode::Retry,
                Some(other) => {
                    let help = did_you_mean(other, ["hold", "retry"])
                        .unwrap_or_else(|| "use \"hold\" or \"retry\"".to_owned());
                    self.err(
                        m.value.pos,
                        &p,
                        format!("unknown approval mode \"{other}\""),
                        Some(help),
                    );
                }
                None => {}
            }
        }
        if let Some(m) = get(members, "via") {
            let p = child_pointer(ptr, "via");
            match self.string(&m.value, &p, "\"via\"") {
                Some("operator") => spec.via_client = false,
                Some("client") => spec.via_client = true,
                Some(other) => {
                    let help = did_you_mean(other, ["operator", "client"])
                        .unwrap_or_else(|| "use \"operator\" or \"client\"".to_owned());
                    self.err(
                        m.value.pos,
                        &p,
                        format!("unknown approval channel \"{other}\""),
                        Some(help),
                    );
                }
                None => {}
            }
        }
        if let Some(m) = get(members, "notify") {
            let p = child_pointer(ptr, "notify");
            if let Some(notify) = self.object(&m.value, &p, "\"notify\"", NOTIFY_KEYS)
                && let Some(w) = get(notify, "webhook")
            {
                let wp = child_pointer(&p, "webhook");
                if let Some(url) = self.string(&w.value, &wp, "\"webhook\"") {
                    let rest = url
                        .strip_prefix("https://")
                        .or_else(|| url.strip_prefix("http://"));
                    if rest.is_some_and(|r| {
                        !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace)
                    }) {
                        spec.webhook = Some(url.to_owned());
                    } else {
                        self.err(
                            w.value.pos,
                            &wp,
                            format!("bad webhook URL \"{url}\""),
                            Some("use an absolute http:// or https:// URL".to_owned()),
                        );
                    }
                }
            }
        }
        spec
    }

    /// Duplicate counters with different definitions, and `state.<counter>` naming no counter.
    fn check_counters(&mut self) {
        let mut first: HashMap<&str, usize> = HashMap::new();
        let mut errors = Vec::new();
        for (i, l) in self.limits.iter().enumerate() {
            match first.get(l.counter.as_str()) {
                None => {
                    first.insert(&l.counter, i);
                }
                Some(&j) => {
                    let other = &self.limits[j];
                    if !l.same_counter_definition(other) {
                        let pos = self.limit_pos[i];
                        let other_pos = self.limit_pos[j];
                        errors.push((
                            pos,
                            child_pointer(&l.rule, "counter"),
                            format!(
                                "duplicate counter \"{}\": already defined differently at {} (line {}, column {})",
                                l.counter, other.rule, other_pos.line, other_pos.col
                            ),
                            format!(
                                "rename one of them, or make both definitions identical (window, max, scope, mode) to share the counter; the first is {}",
                                other.describe()
                            ),
                        ));
                    }
                }
            }
        }
        let mut names: Vec<&str> = self.counter_names.iter().map(String::as_str).collect();
        names.sort_unstable();
        names.dedup();
        for (counter, pos, ptr) in &self.state_refs {
            if names.binary_search(&counter.as_str()).is_err() {
                let help = match did_you_mean(counter, names.iter().copied()) {
                    Some(h) => h,
                    None if names.is_empty() => "this policy defines no counters; add a limit with \"counter\": \"<name>\" first".to_owned(),
                    None => format!("counters defined in this policy: {}", quote_list(&names)),
                };
                errors.push((*pos, ptr.clone(), format!("bad path \"state.{counter}\": no counter \"{counter}\" is defined in this policy"), help));
            }
        }
        for (pos, ptr, message, help) in errors {
            self.err(pos, &ptr, message, Some(help));
        }
    }
}

fn glob_help() -> String {
    "globs use * (any run of characters), ? (one character), [abc] / [a-z] / [!x] classes and \\ to escape".to_owned()
}

fn example_value(op: Op) -> &'static str {
    match op {
        Op::In | Op::NotIn => "[\"a\", \"b\"]",
        Op::Lt | Op::Lte | Op::Gt | Op::Gte => "100",
        Op::Regex => "\"^prod-\"",
        Op::Glob => "\"*.example.com\"",
        Op::Exists => "true",
        _ => "\"...\"",
    }
}
