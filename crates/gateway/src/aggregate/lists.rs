//! Merged lists on the aggregate endpoint: each upstream's list fetched in full (following its
//! pagination), its items renamed for the client (tools hidden by that server's policy dropped),
//! and the merged result paginated again by the gateway.

use super::member::Member;
use super::names::Namer;
use super::rewrite::expose_uri;
use serde_json::Value;
use std::collections::HashSet;
use toolgate_policy::Policy;

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

/// One upstream's items as the client sees them (without the tools in `quarantined`).
pub fn expose(
    kind: ListKind,
    server: &str,
    policy: &Policy,
    namer: &Namer,
    items: Vec<Value>,
    quarantined: &HashSet<String>,
) -> Vec<Value> {
    items
        .into_iter()
        .filter_map(|mut item| {
            match kind {
                ListKind::Tools | ListKind::Prompts => {
                    let name = item.get("name")?.as_str()?.to_owned();
                    if kind == ListKind::Tools
                        && (policy.is_hidden(&name) || quarantined.contains(&name))
                    {
                        return None;
                    }
                    item["name"] = Value::String(namer.expose(server, &name));
                }
                ListKind::Resources => {
                    let uri = item.get("uri")?.as_str()?.to_owned();
                    item["uri"] = Value::String(expose_uri(server, &uri));
                }
                ListKind::ResourceTemplates => {
                    let t = item.get("uriTemplate")?.as_str()?.to_owned();
                    item["uriTemplate"] = Value::String(expose_uri(server, &t));
                }
            }
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
