//! The pins as the hot path reads them: per server, each tool's pinned digest (and definition, to
//! name what changed) and the tools waiting for approval. Built from the store's entries whenever
//! the store's pins version moves; swapped in whole, read without locks.

use serde_json::Value;
use std::collections::HashMap;
use toolgate_store::catalogue::{CatalogueEntry, PinState, changed_fields};

/// Why a tool is waiting for approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Its definition differs from its pin in these members.
    Changed { fields: Vec<String> },
    /// It appeared after the server's tools were pinned.
    New,
}

/// A tool's approved version.
#[derive(Debug, Clone)]
pub struct Pin {
    pub digest: String,
    /// The definition as compact JSON text, read back only to name what changed: a few hundred
    /// tools per server held as `Value` trees cost megabytes for a rare question.
    definition: Box<str>,
}

impl Pin {
    pub fn new(digest: String, definition: &Value) -> Pin {
        Pin {
            digest,
            definition: definition.to_string().into_boxed_str(),
        }
    }

    pub fn definition(&self) -> Value {
        serde_json::from_str(&self.definition).unwrap_or(Value::Null)
    }
}

/// One server's pins.
#[derive(Debug, Default)]
pub struct ServerPins {
    pub pinned: HashMap<String, Pin>,
    pub quarantined: HashMap<String, Problem>,
}

impl ServerPins {
    /// What is wrong with a listed tool of this (known) server whose definition has `digest`.
    pub fn problem(&self, tool: &str, digest: &str, definition: &Value) -> Option<Problem> {
        match self.pinned.get(tool) {
            Some(pin) if pin.digest == digest => None,
            Some(pin) => Some(Problem::Changed {
                fields: changed_fields(&pin.definition(), definition),
            }),
            None => Some(Problem::New),
        }
    }
}

/// Every server's pins, as of one reading of the store.
#[derive(Debug, Default)]
pub struct PinView {
    pub servers: HashMap<String, ServerPins>,
    /// Grows with every reading that changed something (listing verdicts are cached under it).
    pub generation: u64,
}

impl PinView {
    /// The servers whose set of quarantined tools differs between `before` and this view.
    pub fn quarantine_differs<'a>(&'a self, before: &'a PinView) -> Vec<&'a str> {
        let quarantined = |view: &'a PinView, server: &str| {
            view.servers
                .get(server)
                .map(|p| {
                    p.quarantined
                        .keys()
                        .collect::<std::collections::BTreeSet<_>>()
                })
                .unwrap_or_default()
        };
        let servers: std::collections::BTreeSet<&str> = self
            .servers
            .keys()
            .chain(before.servers.keys())
            .map(String::as_str)
            .collect();
        servers
            .into_iter()
            .filter(|s| quarantined(self, s) != quarantined(before, s))
            .collect()
    }

    pub fn build(entries: Vec<CatalogueEntry>, generation: u64) -> PinView {
        let mut servers: HashMap<String, ServerPins> = HashMap::new();
        for e in entries {
            let pins = servers.entry(e.server.clone()).or_default();
            match e.state {
                PinState::Changed => {
                    pins.quarantined.insert(
                        e.tool.clone(),
                        Problem::Changed {
                            fields: e.changed_fields(),
                        },
                    );
                }
                PinState::New => {
                    pins.quarantined.insert(e.tool.clone(), Problem::New);
                }
                PinState::Pinned => {}
            }
            if let Some(p) = e.pinned {
                pins.pinned
                    .insert(e.tool, Pin::new(p.digest, &p.definition));
            }
        }
        PinView {
            servers,
            generation,
        }
    }
}
