//! The case file of `toolgate policy test`: JSON, or YAML for `.yaml`/`.yml`, read with the policy
//! engine's spanned parser so that every error names `file:line:col`, its JSON pointer and a hint.
//!
//! ```yaml
//! policy: ../policies/crm.json        # relative to this file; optional when given on the command line
//! cases:
//!   - name: big opportunities need a human
//!     server: crm                      # optional
//!     tool: UpdateOneOpportunity
//!     args: { requestBody: { amount: { amountMicros: 2000000000 } } }
//!     identity: { agent: alice, grant: alice-laptop, tags: [sales] }   # optional
//!     session: s1                      # optional
//!     expect: deny                     # allow | deny | hidden | require_approval
//!     rule: /tools/UpdateOneOpportunity/deny_if/0                      # optional
//!     reason_contains: need a human    # optional
//!     repeat: 31                       # optional: the LAST of 31 calls is checked
//! ```

use serde_json::Value;
use toolgate_policy::{
    Diagnostic, Diagnostics, Identity, Member, Node, NodeKind, Pos, SourceFormat,
};

const TOP_KEYS: &[&str] = &["policy", "cases"];
const CASE_KEYS: &[&str] = &[
    "name",
    "server",
    "tool",
    "args",
    "identity",
    "session",
    "expect",
    "rule",
    "reason_contains",
    "repeat",
];
const IDENTITY_KEYS: &[&str] = &["agent", "grant", "tags"];
/// Upper bound on `repeat`, so that a typo cannot make a CI job spin.
const MAX_REPEAT: u64 = 1_000_000;

/// An expected decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Allow,
    Deny,
    Hidden,
    RequireApproval,
}

impl Expect {
    const ALL: [Expect; 4] = [
        Expect::Allow,
        Expect::Deny,
        Expect::Hidden,
        Expect::RequireApproval,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Expect::Allow => "allow",
            Expect::Deny => "deny",
            Expect::Hidden => "hidden",
            Expect::RequireApproval => "require_approval",
        }
    }
}

/// A parsed case file.
#[derive(Debug)]
pub struct CaseFile {
    /// `policy` as written, with where it is written.
    pub policy: Option<(String, Pos)>,
    pub cases: Vec<Case>,
}

/// One case: a call and what the policy should decide.
#[derive(Debug)]
pub struct Case {
    pub name: String,
    pub pos: Pos,
    /// `/cases/<i>`
    pub pointer: String,
    pub server: Option<String>,
    pub tool: String,
    pub args: Value,
    pub identity: Identity,
    pub session: Option<String>,
    pub expect: Expect,
    pub rule: Option<String>,
    pub reason_contains: Option<String>,
    pub repeat: u64,
}

/// Parses and checks a case file; every problem is reported.
pub fn parse(text: &str, origin: &str) -> Result<CaseFile, Diagnostics> {
    let format = SourceFormat::from_path(origin);
    if text.trim().is_empty() {
        return Err(Diagnostics {
            items: vec![diag(
                origin,
                Pos { line: 1, col: 1 },
                "",
                "the case file is empty".to_owned(),
                Some("write an object with \"cases\": [ { \"tool\": ..., \"expect\": ... } ]"),
            )],
        });
    }
    let root = toolgate_policy::parse_document(text, origin, format)?;
    let mut p = Parser {
        origin,
        errors: Vec::new(),
    };
    let file = p.file(&root);
    if p.errors.is_empty() {
        file.ok_or_else(|| Diagnostics { items: Vec::new() })
    } else {
        p.errors.sort_by_key(|d| (d.line, d.col));
        Err(Diagnostics { items: p.errors })
    }
}

fn diag(origin: &str, pos: Pos, pointer: &str, message: String, help: Option<&str>) -> Diagnostic {
    Diagnostic {
        origin: origin.to_owned(),
        line: pos.line,
        col: pos.col,
        pointer: pointer.to_owned(),
        message,
        help: help.map(str::to_owned),
    }
}

struct Parser<'o> {
    origin: &'o str,
    errors: Vec<Diagnostic>,
}

impl Parser<'_> {
    fn err(&mut self, pos: Pos, pointer: &str, message: String, help: Option<&str>) {
        self.errors
            .push(diag(self.origin, pos, pointer, message, help));
    }

    /// The members of an object, with unknown keys reported.
    fn object<'n>(
        &mut self,
        node: &'n Node,
        ptr: &str,
        what: &str,
        keys: &[&str],
    ) -> Option<&'n [Member]> {
        let Some(members) = node.as_object() else {
            self.err(
                node.pos,
                ptr,
                format!("{what} must be an object, not {}", node.kind.type_name()),
                None,
            );
            return None;
        };
        for m in members {
            if !keys.contains(&m.key.as_str()) {
                let help = format!("{what} has the keys: {}", keys.join(", "));
                self.err(
                    m.key_pos,
                    &format!("{ptr}/{}", m.key),
                    format!("unknown key {:?} in {what}", m.key),
                    Some(&help),
                );
            }
        }
        Some(members)
    }

    fn string(&mut self, m: &Member, ptr: &str) -> Option<String> {
        match m.value.as_str() {
            Some(s) => Some(s.to_owned()),
            None => {
                self.err(
                    m.value.pos,
                    &format!("{ptr}/{}", m.key),
                    format!(
                        "\"{}\" must be a string, not {}",
                        m.key,
                        m.value.kind.type_name()
                    ),
                    None,
                );
                None
            }
        }
    }

    fn file(&mut self, root: &Node) -> Option<CaseFile> {
        let members = self.object(root, "", "the case file", TOP_KEYS)?;
        let policy = get(members, "policy").and_then(|m| {
            let s = self.string(m, "")?;
            Some((s, m.value.pos))
        });
        let Some(cases_m) = get(members, "cases") else {
            self.err(
                root.pos,
                "",
                "missing \"cases\"".to_owned(),
                Some("add \"cases\": [ { \"name\": ..., \"tool\": ..., \"expect\": \"allow\" } ]"),
            );
            return None;
        };
        let Some(items) = cases_m.value.as_array() else {
            self.err(
                cases_m.value.pos,
                "/cases",
                format!(
                    "\"cases\" must be an array, not {}",
                    cases_m.value.kind.type_name()
                ),
                None,
            );
            return None;
        };
        if items.is_empty() {
            self.err(
                cases_m.value.pos,
                "/cases",
                "\"cases\" is empty: there is nothing to test".to_owned(),
                Some("add at least one case"),
            );
        }
        let cases: Vec<Case> = items
            .iter()
            .enumerate()
            .filter_map(|(i, n)| self.case(n, i))
            .collect();
        Some(CaseFile { policy, cases })
    }

    fn case(&mut self, node: &Node, i: usize) -> Option<Case> {
        let ptr = format!("/cases/{i}");
        let members = self.object(node, &ptr, "a case", CASE_KEYS)?;
        let errors_before = self.errors.len();
        let text = |p: &mut Self, key: &str| get(members, key).and_then(|m| p.string(m, &ptr));
        let name = text(self, "name");
        let server = text(self, "server");
        let tool = text(self, "tool");
        let session = text(self, "session");
        let rule = text(self, "rule");
        let reason_contains = text(self, "reason_contains");
        if tool.is_none() && get(members, "tool").is_none() {
            self.err(
                node.pos,
                &ptr,
                "missing \"tool\" in a case".to_owned(),
                Some("name the tool the call is for, e.g. \"tool\": \"findManyCompanies\""),
            );
        }
        let args = match get(members, "args") {
            None => Value::Object(serde_json::Map::new()),
            Some(m) if m.value.as_object().is_some() => m.value.to_json(),
            Some(m) => {
                self.err(
                    m.value.pos,
                    &format!("{ptr}/args"),
                    format!(
                        "\"args\" must be an object (the call's arguments), not {}",
                        m.value.kind.type_name()
                    ),
                    None,
                );
                Value::Null
            }
        };
        let identity = match get(members, "identity") {
            None => Identity {
                agent: super::ANONYMOUS.to_owned(),
                grant: super::ANONYMOUS.to_owned(),
                tags: Vec::new(),
            },
            Some(m) => self.identity(&m.value, &format!("{ptr}/identity")),
        };
        let expect = match get(members, "expect") {
            None => {
                self.err(
                    node.pos,
                    &ptr,
                    "missing \"expect\" in a case".to_owned(),
                    Some("add \"expect\": \"allow\" (or deny, hidden, require_approval)"),
                );
                None
            }
            Some(m) => {
                let found = m
                    .value
                    .as_str()
                    .and_then(|s| Expect::ALL.into_iter().find(|e| e.name() == s));
                if found.is_none() {
                    self.err(
                        m.value.pos,
                        &format!("{ptr}/expect"),
                        format!("\"expect\" must be a decision, not {}", m.value.to_json()),
                        Some("use allow, deny, hidden or require_approval"),
                    );
                }
                found
            }
        };
        let repeat = match get(members, "repeat") {
            None => 1,
            Some(m) => match &m.value.kind {
                NodeKind::Number(n)
                    if n.as_u64().is_some_and(|n| (1..=MAX_REPEAT).contains(&n)) =>
                {
                    n.as_u64().unwrap_or(1)
                }
                _ => {
                    self.err(
                        m.value.pos,
                        &format!("{ptr}/repeat"),
                        format!(
                            "\"repeat\" must be a whole number from 1 to {MAX_REPEAT}, not {}",
                            m.value.to_json()
                        ),
                        Some("repeat N makes the call N times against fresh counters and checks the last"),
                    );
                    1
                }
            },
        };
        if self.errors.len() > errors_before {
            return None;
        }
        let tool = tool?;
        Some(Case {
            name: name.unwrap_or_else(|| format!("case {} ({tool})", i + 1)),
            pos: node.pos,
            pointer: ptr,
            server,
            tool,
            args,
            identity,
            session,
            expect: expect?,
            rule,
            reason_contains,
            repeat,
        })
    }

    fn identity(&mut self, node: &Node, ptr: &str) -> Identity {
        let mut identity = Identity {
            agent: super::ANONYMOUS.to_owned(),
            grant: super::ANONYMOUS.to_owned(),
            tags: Vec::new(),
        };
        let Some(members) = self.object(node, ptr, "an identity", IDENTITY_KEYS) else {
            return identity;
        };
        if let Some(a) = get(members, "agent").and_then(|m| self.string(m, ptr)) {
            identity.agent = a;
        }
        if let Some(g) = get(members, "grant").and_then(|m| self.string(m, ptr)) {
            identity.grant = g;
        }
        if let Some(m) = get(members, "tags") {
            let tags: Option<Vec<String>> = m.value.as_array().and_then(|items| {
                items
                    .iter()
                    .map(|t| t.as_str().map(str::to_owned))
                    .collect()
            });
            match tags {
                Some(t) => identity.tags = t,
                None => self.err(
                    m.value.pos,
                    &format!("{ptr}/tags"),
                    "\"tags\" must be an array of strings".to_owned(),
                    Some("e.g. \"tags\": [\"sales\", \"eu\"]"),
                ),
            }
        }
        identity
    }
}

/// The last member named `key` (duplicates are refused by the parser anyway).
fn get<'n>(members: &'n [Member], key: &str) -> Option<&'n Member> {
    members.iter().rev().find(|m| m.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_yaml_cases_with_defaults() {
        let f = parse(
            "policy: p.json\ncases:\n  - tool: findMany\n    expect: allow\n  - name: n\n    tool: x\n    args: {a: 1}\n    identity: {agent: al, tags: [t]}\n    expect: require_approval\n    repeat: 3\n",
            "c.yaml",
        )
        .unwrap();
        assert_eq!(f.policy.as_ref().map(|p| p.0.as_str()), Some("p.json"));
        assert_eq!(f.cases[0].name, "case 1 (findMany)");
        assert_eq!(f.cases[0].identity.agent, "anonymous");
        assert_eq!(f.cases[1].identity.agent, "al");
        assert_eq!(f.cases[1].identity.grant, "anonymous");
        assert_eq!(f.cases[1].expect, Expect::RequireApproval);
        assert_eq!(f.cases[1].repeat, 3);
        assert_eq!(f.cases[1].args, serde_json::json!({"a": 1}));
    }

    #[test]
    fn reports_every_error_with_its_place() {
        let e = parse(
            r#"{"cases": [
  {"tool": "a", "expect": "denied"},
  {"expect": "allow", "argz": {}},
  {"tool": "b", "expect": "allow", "repeat": 0, "identity": {"tags": "x"}}
]}"#,
            "c.json",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("c.json:2:27: \"expect\" must be a decision, not \"denied\""),
            "{e}"
        );
        assert!(
            e.contains("c.json:3:23: unknown key \"argz\" in a case"),
            "{e}"
        );
        assert!(e.contains("c.json:3:3: missing \"tool\""), "{e}");
        assert!(e.contains("/cases/2/repeat"), "{e}");
        assert!(e.contains("/cases/2/identity/tags"), "{e}");
    }
}
