//! Merged lists on the aggregate endpoint: each upstream's list fetched in full (following its
//! pagination), its items renamed for the client (tools hidden by that server's policy dropped,
//! and items its pins withhold),
//! and the merged result paginated again by the gateway.

use super::member::Member;
use super::names::Namer;
use super::rewrite::expose_uri;
use serde_json::Value;
use std::collections::HashSet;
use toolgate_policy::Policy;
use toolgate_store::catalogue::EntryKind;

/// The lists the gateway merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListKind {
    Tools,
    Prompts,
    Resources,
    ResourceTemplates,
}

/// A guard against an upstream whose cursors never end.
const MAX_PAGES: usize = 1000;

impl ListKind {
    pub fn from_method(method: &str) -> Option<Self> {
        Some(match method {
            "tools/list" => ListKind::Tools,
            "prompts/list" => ListKind::Prompts,
            "resources/list" => ListKind::Resources,
            "resources/templates/list" => ListKind::ResourceTemplates,
            _ => return None,
        })
    }

    pub fn method(self) -> &'static str {
        match self {
            ListKind::Tools => "tools/list",
            ListKind::Prompts => "prompts/list",
            ListKind::Resources => "resources/list",
            ListKind::ResourceTemplates => "resources/templates/list",
        }
    }

    /// The member of the result that holds the items.
    pub fn key(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Prompts => "prompts",
            ListKind::Resources => "resources",
            ListKind::ResourceTemplates => "resourceTemplates",
        }
    }

    /// What the catalogue pins of each item of this list.
    pub fn entry_kind(self) -> EntryKind {
        match self {
            ListKind::Tools => EntryKind::Tool,
            ListKind::Prompts => EntryKind::Prompt,
            ListKind::Resources => EntryKind::Resource,
            ListKind::ResourceTemplates => EntryKind::ResourceTemplate,
        }
    }

    /// The list whose items are entries of `kind` (none for instructions).
    pub fn of_entry(kind: EntryKind) -> Option<Self> {
        [
            ListKind::Tools,
            ListKind::Prompts,
            ListKind::Resources,
            ListKind::ResourceTemplates,
        ]
        .into_iter()
        .find(|l| l.entry_kind() == kind)
    }

    /// The server capability that says the list exists.
    pub fn capability(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Prompts => "prompts",
            ListKind::Resources | ListKind::ResourceTemplates => "resources",
        }
    }
}

/// Every item of one list from one upstream.
pub async fn fetch_all(member: &Member, kind: ListKind) -> Result<Vec<Value>, String> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let params = cursor
            .as_ref()
            .map(|c| serde_json::json!({ "cursor": c }).to_string());
        let mut result = member.call(kind.method(), params.as_deref()).await?;
        if let Some(Value::Array(page)) = result.get_mut(kind.key()).map(Value::take) {
            items.extend(page);
        }
        cursor = result
            .get("nextCursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if cursor.is_none() {
            return Ok(items);
        }
    }
    Err(format!(
        "{} did not end after {MAX_PAGES} pages",
        kind.method()
    ))
}

/// One upstream's items as the client sees them (without the items `withheld` by their pins,
/// named by the server's own name or URI).
pub fn expose(
    kind: ListKind,
    server: &str,
    policy: &Policy,
    namer: &Namer,
    items: Vec<Value>,
    withheld: &HashSet<String>,
) -> Vec<Value> {
    let key = kind.entry_kind().key_member().unwrap_or("name");
    items
        .into_iter()
        .filter_map(|mut item| {
            let own = item.get(key)?.as_str()?.to_owned();
            if withheld.contains(&own) || (kind == ListKind::Tools && policy.is_hidden(&own)) {
                return None;
            }
            let exposed = match kind {
                ListKind::Tools | ListKind::Prompts => namer.expose(server, &own),
                ListKind::Resources | ListKind::ResourceTemplates => expose_uri(server, &own),
            };
            item[key] = Value::String(exposed);
            Some(item)
        })
        .collect()
}

/// One page of a merged list: the items from `offset` and the cursor of the next page.
pub fn page(items: &[Value], offset: usize, page_size: usize) -> (Vec<Value>, Option<String>) {
    let size = if page_size == 0 {
        usize::MAX
    } else {
        page_size
    };
    let end = offset.saturating_add(size).min(items.len());
    let slice = items.get(offset..end).unwrap_or_default().to_vec();
    let next = (end < items.len()).then(|| end.to_string());
    (slice, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    #[test]
    fn tools_are_renamed_and_hidden_ones_dropped() {
        let policy = toolgate_policy::compile(
            r#"{"version":"1","default":"allow","hide":["secret*"]}"#,
            "p.json",
            toolgate_policy::SourceFormat::Json,
        )
        .unwrap();
        let namer = Namer::new("__", HashMap::new());
        let items = vec![
            json!({"name":"read","inputSchema":{}}),
            json!({"name":"secret_x"}),
            json!({"noname":1}),
        ];
        let out = expose(
            ListKind::Tools,
            "files",
            &policy,
            &namer,
            items.clone(),
            &HashSet::new(),
        );
        assert_eq!(out, vec![json!({"name":"files__read","inputSchema":{}})]);
        let quarantined = HashSet::from(["read".to_owned()]);
        let out = expose(
            ListKind::Tools,
            "files",
            &policy,
            &namer,
            items,
            &quarantined,
        );
        assert!(out.is_empty());
    }

    #[test]
    fn prompts_and_resources_their_pins_withhold_are_dropped_by_their_own_names() {
        let policy = toolgate_policy::compile(
            r#"{"version":"1","default":"allow","hide":["summarize"]}"#,
            "p.json",
            toolgate_policy::SourceFormat::Json,
        )
        .unwrap();
        let namer = Namer::new("__", HashMap::new());
        let prompts = vec![json!({"name":"summarize"}), json!({"name":"draft"})];
        // `hide` is about tools: a prompt of the same name stays.
        let out = expose(
            ListKind::Prompts,
            "docs",
            &policy,
            &namer,
            prompts.clone(),
            &HashSet::new(),
        );
        assert_eq!(out.len(), 2);
        let withheld = HashSet::from(["draft".to_owned()]);
        let out = expose(
            ListKind::Prompts,
            "docs",
            &policy,
            &namer,
            prompts,
            &withheld,
        );
        assert_eq!(out, vec![json!({"name":"docs__summarize"})]);
        let resources = vec![json!({"uri":"file:///a"}), json!({"uri":"file:///b"})];
        let withheld = HashSet::from(["file:///a".to_owned()]);
        let out = expose(
            ListKind::Resources,
            "fs",
            &policy,
            &namer,
            resources,
            &withheld,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["uri"], expose_uri("fs", "file:///b"));
    }

    #[test]
    fn pages() {
        let items: Vec<Value> = (0..5).map(|i| json!(i)).collect();
        assert_eq!(
            page(&items, 0, 2),
            (vec![json!(0), json!(1)], Some("2".into()))
        );
        assert_eq!(page(&items, 4, 2), (vec![json!(4)], None));
        assert_eq!(page(&items, 0, 0).0.len(), 5);
        assert_eq!(page(&items, 9, 2), (vec![], None));
    }
}
