//! The tool catalogue of the Twenty-like server: the fixture parsed once, indexed by tool name, with every
//! `tools/list` page rendered ahead of time so that listing costs one copy.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::minify::minify;

/// The 219 tool definitions, in the shape of a `tools/list` result of the Twenty CRM MCP server.
pub const FIXTURE: &str = include_str!("../fixtures/twenty-crm-tools.json");

/// What a `tools/call` needs to know about one tool.
#[derive(Debug)]
pub(crate) struct ToolSpec {
    /// The name as a JSON string literal, quotes and escapes included.
    pub(crate) name_json: String,
    /// Top-level argument names the input schema marks `required`.
    pub(crate) required: Vec<String>,
}

/// All tools, by name, plus the pre-rendered `tools/list` results.
#[derive(Debug)]
pub struct Catalogue {
    tools: HashMap<String, ToolSpec>,
    /// `pages[i]` is the complete result object of page `i`, `nextCursor` included.
    pages: Vec<String>,
}

#[derive(Deserialize)]
struct FixtureFile<'a> {
    #[serde(borrow)]
    tools: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct ToolHead {
    name: String,
    #[serde(default, rename = "inputSchema")]
    input_schema: Option<SchemaHead>,
}

#[derive(Deserialize)]
struct SchemaHead {
    #[serde(default)]
    required: Vec<String>,
}

impl Catalogue {
    /// Parses [`FIXTURE`]; `page_size` splits `tools/list` into pages chained by `nextCursor`.
    pub fn new(page_size: Option<usize>) -> Self {
        Self::from_json(FIXTURE, page_size)
            .expect("the embedded fixture is a valid tools/list result")
    }

    /// Parses any `{"tools":[…]}` document.
    pub fn from_json(json: &str, page_size: Option<usize>) -> serde_json::Result<Self> {
        let file: FixtureFile<'_> = serde_json::from_str(json)?;
        let mut tools = HashMap::with_capacity(file.tools.len());
        let mut rendered = Vec::with_capacity(file.tools.len());
        for raw in &file.tools {
            let head: ToolHead = serde_json::from_str(raw.get())?;
            let mut required = head.input_schema.map(|s| s.required).unwrap_or_default();
            // A lookup by id is meaningless without one, whatever the schema says.
            if head.name.starts_with("findOne") && !required.iter().any(|r| r == "id") {
                required.push("id".to_owned());
            }
            let name_json = serde_json::to_string(&head.name)?;
            tools.insert(
                head.name,
                ToolSpec {
                    name_json,
                    required,
                },
            );
            rendered.push(minify(raw.get()));
        }
        let size = page_size
            .filter(|&n| n > 0)
            .unwrap_or(rendered.len().max(1));
        let chunks: Vec<&[String]> = rendered.chunks(size).collect();
        let mut pages = Vec::with_capacity(chunks.len().max(1));
        for (i, chunk) in chunks.iter().enumerate() {
            let mut page = String::from("{\"tools\":[");
            page.push_str(&chunk.join(","));
            page.push(']');
            if i + 1 < chunks.len() {
                page.push_str(",\"nextCursor\":\"");
                page.push_str(&cursor_for(i + 1));
                page.push('"');
            }
            page.push('}');
            pages.push(page);
        }
        if pages.is_empty() {
            pages.push("{\"tools\":[]}".to_owned());
        }
        Ok(Self { tools, pages })
    }

    /// How many tools the catalogue holds.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether the catalogue holds no tool.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// The `tools/list` result for `cursor` (`None`: the first page); `None` when the cursor is not ours.
    pub fn page(&self, cursor: Option<&str>) -> Option<&str> {
        let index = match cursor {
            None => 0,
            Some(c) => page_of(c)?,
        };
        self.pages.get(index).map(String::as_str)
    }

    pub(crate) fn tool(&self, name: &str) -> Option<&ToolSpec> {
        self.tools.get(name)
    }
}

/// Cursors are opaque to clients; this one only has to round-trip.
fn cursor_for(page: usize) -> String {
    format!("twenty-p{page:x}")
}

fn page_of(cursor: &str) -> Option<usize> {
    let hex = cursor.strip_prefix("twenty-p")?;
    let page = usize::from_str_radix(hex, 16).ok()?;
    (page > 0).then_some(page)
}

#[cfg(test)]
mod tests {
    use super::Catalogue;

    fn names(page: &str) -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(page).unwrap();
        v["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn serves_all_219_tools_on_one_page_by_default() {
        let c = Catalogue::new(None);
        assert_eq!(c.len(), 219);
        let page = c.page(None).unwrap();
        assert!(!page.contains('\n'));
        assert_eq!(names(page).len(), 219);
        assert!(!page.contains("nextCursor"));
    }

    #[test]
    fn pages_chain_through_next_cursor_and_cover_every_tool_once() {
        let c = Catalogue::new(Some(50));
        let (mut all, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
        loop {
            let page = c.page(cursor.as_deref()).unwrap();
            let v: serde_json::Value = serde_json::from_str(page).unwrap();
            all.extend(names(page));
            pages += 1;
            match v.get("nextCursor") {
                Some(next) => cursor = Some(next.as_str().unwrap().to_owned()),
                None => break,
            }
        }
        assert_eq!((all.len(), pages), (219, 5));
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 219);
    }

    #[test]
    fn rejects_foreign_cursors() {
        let c = Catalogue::new(Some(50));
        assert!(c.page(Some("nope")).is_none());
        assert!(c.page(Some("twenty-p0")).is_none());
        assert!(c.page(Some("twenty-p99")).is_none());
    }

    #[test]
    fn find_one_requires_id() {
        let c = Catalogue::new(None);
        assert_eq!(c.tool("findOneCompany").unwrap().required, ["id"]);
    }
}
