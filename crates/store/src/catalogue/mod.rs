//! The stored tool catalogue: per (server, tool) the definition pinned when the tool was first
//! seen (and per server its `instructions`, prompts, resources and resource templates, pinned the
//! same way), the definition the server lists now, whether they agree (pinned / changed / new),
//! the tool's risk classification, and who approved its current version. The gateway records every
//! listing it takes of a server; the CLI and the admin API read entries and approve new versions.
//! A pin is what stops a server from changing a tool's meaning under an agent that already
//! trusts it: a changed tool stays quarantined until a person approves the new version.

mod definition;
pub(crate) mod merge;

pub use definition::{
    INSTRUCTIONS_FIELDS, LEGACY_PINNED_FIELDS, PIN_FORMAT, PINNED_FIELDS, PROMPT_FIELDS,
    RESOURCE_FIELDS, RESOURCE_TEMPLATE_FIELDS, ToolDigest, changed_fields, definition_diff,
};

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use toolgate_catalog::Classification;

use crate::StoreError;

/// Whether a tool's current definition is the one pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PinState {
    /// The current definition is the pinned one.
    Pinned,
    /// The current definition differs from the pinned one: quarantined until approved.
    Changed,
    /// The tool appeared on a server whose tools were already pinned: quarantined until approved.
    New,
}

impl PinState {
    pub fn as_str(self) -> &'static str {
        match self {
            PinState::Pinned => "pinned",
            PinState::Changed => "changed",
            PinState::New => "new",
        }
    }

    pub fn parse(text: &str) -> Option<PinState> {
        [PinState::Pinned, PinState::Changed, PinState::New]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for PinState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a catalogue entry pins: every list of a server a client hands its model, and the
/// server's instructions. Ordered as the store orders entries (by the kind's name).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// The `instructions` of the server's `initialize` result (the entry's name is empty), which
    /// clients put in their model's system prompt. Listed before the server's other entries.
    Instructions,
    /// A prompt of `prompts/list` (the entry's name is the prompt's).
    Prompt,
    /// A resource of `resources/list` (the entry's name is its URI).
    Resource,
    /// A resource template of `resources/templates/list` (the entry's name is its URI template).
    ResourceTemplate,
    /// A tool of `tools/list` (the entry's name is the tool's).
    #[default]
    Tool,
}

impl EntryKind {
    /// Every kind, in the store's order.
    pub const ALL: [EntryKind; 5] = [
        EntryKind::Instructions,
        EntryKind::Prompt,
        EntryKind::Resource,
        EntryKind::ResourceTemplate,
        EntryKind::Tool,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Tool => "tool",
            EntryKind::Instructions => "instructions",
            EntryKind::Prompt => "prompt",
            EntryKind::Resource => "resource",
            EntryKind::ResourceTemplate => "resource_template",
        }
    }

    pub fn parse(text: &str) -> Option<EntryKind> {
        EntryKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// What messages call an entry of this kind: `tool`, `prompt`, `resource template`, ….
    pub fn noun(self) -> &'static str {
        match self {
            EntryKind::ResourceTemplate => "resource template",
            other => other.as_str(),
        }
    }

    /// How the CLI and the audit name an entry of this kind called `name`: a tool by its name,
    /// `(instructions)`, the others by their name after their kind (`(prompt) summarize`,
    /// `(resource) file:///notes.md`).
    pub fn label(self, name: &str) -> String {
        match self {
            EntryKind::Tool => name.to_owned(),
            EntryKind::Instructions => "(instructions)".to_owned(),
            other => format!("({}) {name}", other.noun()),
        }
    }

    /// Whether each entry of this kind is pinned the first time it is seen, even on a server
    /// whose entries of the kind are pinned already. A server's resources are its data (files,
    /// records) and come and go with it, so a new one is pinned, not quarantined; a later change
    /// of the same resource is quarantined like any other. Tools, prompts and templates are the
    /// server's fixed interface: one that appears later is new.
    pub fn pinned_at_first_sight(self) -> bool {
        self == EntryKind::Resource
    }
}

impl std::fmt::Display for EntryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One tool as a listing of its server showed it, classified.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedTool {
    pub definition: ToolDigest,
    pub classification: Classification,
}

/// One entry as its server showed it: a listed tool (classified), or the instructions of its
/// `initialize` answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub kind: EntryKind,
    pub definition: ToolDigest,
    pub classification: Option<Classification>,
}

impl From<ObservedTool> for Observed {
    fn from(tool: ObservedTool) -> Observed {
        Observed {
            kind: EntryKind::Tool,
            definition: tool.definition,
            classification: Some(tool.classification),
        }
    }
}

impl Observed {
    /// A server's instructions.
    pub fn instructions(definition: ToolDigest) -> Observed {
        Observed {
            kind: EntryKind::Instructions,
            definition,
            classification: None,
        }
    }

    /// Any other entry: a raw prompt, resource or resource template object as listed; `None`
    /// without its name (or URI).
    pub fn item(kind: EntryKind, item: &serde_json::Value) -> Option<Observed> {
        Some(Observed {
            kind,
            definition: ToolDigest::of_entry(kind, item)?,
            classification: None,
        })
    }

    /// The entry's name: the tool's or prompt's, the resource's URI, or empty for instructions.
    pub fn name(&self) -> &str {
        self.definition.key(self.kind)
    }
}

/// What the catalogue knows about one entry (a tool, prompt, resource, resource template, or the
/// instructions) of one server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogueEntry {
    pub server: String,
    #[serde(default)]
    pub kind: EntryKind,
    /// The entry's name: the tool's or prompt's, the resource's URI or template (empty for
    /// instructions).
    pub tool: String,
    pub state: PinState,
    /// The approved version; `None` for a [`PinState::New`] tool nobody approved yet.
    pub pinned: Option<ToolDigest>,
    /// The version the server listed last.
    pub current: ToolDigest,
    /// The tool's risk (none for instructions).
    pub classification: Option<Classification>,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// Who approved the pinned version (absent when it was pinned on first sight).
    pub approved_by: Option<String>,
    pub approved_at_ms: Option<u64>,
}

impl CatalogueEntry {
    /// How the CLI names the entry ([`EntryKind::label`]).
    pub fn label(&self) -> String {
        self.kind.label(&self.tool)
    }

    /// Hidden and denied until approved (when pinning is enforced).
    pub fn is_quarantined(&self) -> bool {
        self.state != PinState::Pinned
    }

    /// The line diff an approver reads: pinned against current (a new tool against nothing).
    pub fn diff(&self) -> String {
        let empty = serde_json::Value::Object(serde_json::Map::new());
        let pinned = match (&self.pinned, self.state) {
            (Some(p), _) => &p.definition,
            (None, _) => &empty,
        };
        definition_diff(pinned, &self.current.definition)
    }

    /// The entry as the CLI's `--json` and the admin API show it.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["changed_fields"] = serde_json::json!(self.changed_fields());
        v
    }

    /// The pinned members that differ between the pinned and the current version (empty for a
    /// pinned or a new tool).
    pub fn changed_fields(&self) -> Vec<String> {
        match &self.pinned {
            Some(p) if self.state == PinState::Changed => {
                changed_fields(self.kind, p, &self.current)
            }
            _ => Vec::new(),
        }
    }
}

/// What recording a listing did to one tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PinEventKind {
    /// First listing of the server: the tool was pinned as it is.
    Pinned,
    /// The tool no longer matches its pin (or changed again since it stopped matching).
    Changed,
    /// A tool the server did not list before (its entry's state says whether it was pinned at
    /// once or quarantined).
    New,
    /// A changed tool is back to its pinned definition.
    Restored,
    /// A pin of an older format was taken again in the current one: the definition it pinned was
    /// seen unchanged (by the members that pin covered).
    Repinned,
    /// Nothing changed.
    Unchanged,
}

impl PinEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PinEventKind::Pinned => "pinned",
            PinEventKind::Changed => "changed",
            PinEventKind::New => "new",
            PinEventKind::Restored => "restored",
            PinEventKind::Repinned => "repinned",
            PinEventKind::Unchanged => "unchanged",
        }
    }
}

/// One tool's outcome of [`CatalogueStore::record_listing`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PinEvent {
    /// What the entry pins.
    #[serde(default)]
    pub entry_kind: EntryKind,
    pub tool: String,
    pub kind: PinEventKind,
    /// The tool's state after the listing.
    pub state: PinState,
    /// For [`PinEventKind::Changed`]: the members that differ from the pin.
    pub fields: Vec<String>,
    pub digest: String,
}

/// What [`CatalogueStore::approve`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct PinApproval {
    pub entry: CatalogueEntry,
    /// False when the tool was already pinned at its current version (nothing changed).
    pub changed: bool,
}

/// The catalogue and its pins, shared by the gateway (which records listings) and the operator's
/// tools (which read and approve).
pub trait CatalogueStore: Send + Sync + 'static {
    /// Records `seen` as what the server showed at `now_ms`, each kind of entry by itself: the
    /// first listing of a server's tools (prompts, templates) pins every one (the first reading
    /// of its instructions pins them); afterwards an entry whose digest differs from its pin
    /// becomes `changed`, and one not seen before becomes `new` (or is pinned at once with
    /// `pin_new_tools`, and a resource always: [`EntryKind::pinned_at_first_sight`]). A pin of
    /// an older format whose definition is seen unchanged is taken again in the current format
    /// (`repinned`). Entries the server no longer shows keep their entries. Returns one event per
    /// entry seen.
    fn record<'a>(
        &'a self,
        server: &'a str,
        seen: Vec<Observed>,
        pin_new_tools: bool,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Vec<PinEvent>, StoreError>>;

    /// [`CatalogueStore::record`] of a listing's tools.
    fn record_listing<'a>(
        &'a self,
        server: &'a str,
        tools: Vec<ObservedTool>,
        pin_new_tools: bool,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Vec<PinEvent>, StoreError>> {
        let seen = tools.into_iter().map(Observed::from).collect();
        self.record(server, seen, pin_new_tools, now_ms)
    }

    /// Every entry (of one server), ordered by server, kind, then name.
    fn entries<'a>(
        &'a self,
        server: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<CatalogueEntry>, StoreError>>;

    /// Makes the entry's current version its pin. With `expected_digest`, only if the current
    /// version still has that digest (what the approver looked at).
    fn approve_pin<'a>(
        &'a self,
        server: &'a str,
        kind: EntryKind,
        name: &'a str,
        by: &'a str,
        expected_digest: Option<&'a str>,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<PinApproval, StoreError>>;

    /// [`CatalogueStore::approve_pin`] of a tool.
    fn approve<'a>(
        &'a self,
        server: &'a str,
        tool: &'a str,
        by: &'a str,
        expected_digest: Option<&'a str>,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<PinApproval, StoreError>> {
        self.approve_pin(server, EntryKind::Tool, tool, by, expected_digest, now_ms)
    }

    /// A number that grows whenever a pin or a pin state changes (not on a mere `last_seen`), so
    /// that a gateway can poll cheaply for approvals made by another process.
    fn pins_version(&self) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// One entry.
    fn entry_of<'a>(
        &'a self,
        server: &'a str,
        kind: EntryKind,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<CatalogueEntry>, StoreError>> {
        Box::pin(async move {
            Ok(self
                .entries(Some(server))
                .await?
                .into_iter()
                .find(|e| e.kind == kind && e.tool == name))
        })
    }

    /// One tool's entry.
    fn entry<'a>(
        &'a self,
        server: &'a str,
        tool: &'a str,
    ) -> BoxFuture<'a, Result<Option<CatalogueEntry>, StoreError>> {
        self.entry_of(server, EntryKind::Tool, tool)
    }

    /// The entries waiting for approval (changed or new), of every server or one.
    fn quarantined<'a>(
        &'a self,
        server: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<CatalogueEntry>, StoreError>> {
        Box::pin(async move {
            let mut all = self.entries(server).await?;
            all.retain(CatalogueEntry::is_quarantined);
            Ok(all)
        })
    }
}
