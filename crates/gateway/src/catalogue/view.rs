//! The pins as the hot path reads them: per server and kind (tools, prompts, resources, resource
//! templates), each entry's pinned digest (and definition, to name what changed), the entries
//! waiting for approval, and the server's pinned instructions. Built
//! from the store's entries whenever the store's pins version moves; swapped in whole, read
//! without locks.

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use toolgate_store::catalogue::{
    CatalogueEntry, EntryKind, PIN_FORMAT, PinState, ToolDigest, changed_fields,
};

/// Why an entry (a tool, prompt, …) is waiting for approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Its definition differs from its pin in these members.
    Changed { fields: Vec<String> },
    /// It appeared after the server's entries of its kind were pinned.
    New,
    /// Not pinned yet, and pinned as it is once recorded (trust on first use): the first entry
    /// of its kind the server shows, or a resource ([`EntryKind::pinned_at_first_sight`]).
    Unpinned,
}

/// A tool's approved version.
#[derive(Debug, Clone)]
pub struct Pin {
    pub digest: String,
    /// The definition as compact JSON text, read back only to name what changed: a few hundred
    /// tools per server held as `Value` trees cost megabytes for a rare question.
    definition: Box<str>,
    /// Which members `digest` covers (1: a pin of an older toolgate, compared over fewer).
    format: u32,
}

impl Pin {
    pub fn new(pin: &ToolDigest) -> Pin {
        Pin {
            digest: pin.digest.clone(),
            definition: pin.definition.to_string().into_boxed_str(),
            format: pin.format,
        }
    }

    fn digest(&self) -> ToolDigest {
        ToolDigest {
            digest: self.digest.clone(),
            definition: serde_json::from_str(&self.definition).unwrap_or(Value::Null),
            format: self.format,
        }
    }

    /// Whether `listed` is the pinned version (by the members the pin covers).
    fn pins(&self, listed: &ToolDigest) -> bool {
        self.digest == listed.digest
            || (self.format < PIN_FORMAT && self.digest == listed.legacy().digest)
    }
}

/// A server's pinned instructions, and whether what it says now differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstructionsPin {
    /// The digest of the pinned version.
    pub digest: String,
    /// The pinned text (`None`: the server was pinned without instructions).
    pub text: Option<String>,
    /// The digest of the version the catalogue recorded last (the pinned one, unless changed).
    pub current: String,
}

/// One kind of a server's entries (its tools, prompts, resources or resource templates), by name.
#[derive(Debug, Default)]
pub struct KindPins {
    pub pinned: HashMap<String, Pin>,
    pub quarantined: HashMap<String, Problem>,
    /// The digest of each quarantined entry's version the store holds (the last one recorded).
    pub recorded: HashMap<String, String>,
}

/// One server's pins.
#[derive(Debug, Default)]
pub struct ServerPins {
    /// Every kind but instructions.
    pub kinds: HashMap<EntryKind, KindPins>,
    /// `None` until the catalogue has read the server's instructions.
    pub instructions: Option<InstructionsPin>,
    /// Some pin is of an older format: the server is listed again to take it anew.
    pub outdated: bool,
}

impl ServerPins {
    /// The server's entries of `kind`, if it has any.
    pub fn of(&self, kind: EntryKind) -> Option<&KindPins> {
        self.kinds.get(&kind)
    }

    /// What is wrong with a listed entry of `kind` of this (known) server. By the store's rules
    /// ([`toolgate_store::CatalogueStore::record`]): an entry not pinned is new once the server's
    /// entries of its kind were pinned, else (and a resource always) pinned when recorded.
    pub fn problem(&self, kind: EntryKind, listed: &ToolDigest) -> Option<Problem> {
        let entries = self.of(kind);
        match entries.and_then(|k| k.pinned.get(listed.key(kind))) {
            Some(pin) if pin.pins(listed) => None,
            Some(pin) => Some(Problem::Changed {
                fields: changed_fields(kind, &pin.digest(), listed),
            }),
            None if entries.is_none() || kind.pinned_at_first_sight() => Some(Problem::Unpinned),
            None => Some(Problem::New),
        }
    }

    /// Whether the catalogue should list this server again soon: a pin is of an older format,
    /// or its instructions were never read.
    pub fn wants_listing(&self) -> bool {
        self.outdated || self.instructions.is_none()
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
    /// The servers, and kinds of their entries, whose set of quarantined entries differs
    /// between `before` and this view.
    pub fn quarantine_differs<'a>(&'a self, before: &'a PinView) -> Vec<(&'a str, EntryKind)> {
        let quarantined = |view: &'a PinView, server: &str, kind: EntryKind| {
            view.servers
                .get(server)
                .and_then(|p| p.of(kind))
                .map(|k| k.quarantined.keys().collect::<BTreeSet<_>>())
                .unwrap_or_default()
        };
        let servers: BTreeSet<&str> = self
            .servers
            .keys()
            .chain(before.servers.keys())
            .map(String::as_str)
            .collect();
        servers
            .into_iter()
            .flat_map(|s| EntryKind::ALL.into_iter().map(move |k| (s, k)))
            .filter(|(s, k)| quarantined(self, s, *k) != quarantined(before, s, *k))
            .collect()
    }

    pub fn build(entries: Vec<CatalogueEntry>, generation: u64) -> PinView {
        let mut servers: HashMap<String, ServerPins> = HashMap::new();
        for e in entries {
            let pins = servers.entry(e.server.clone()).or_default();
            pins.outdated |= e.pinned.as_ref().is_some_and(|p| p.format < PIN_FORMAT);
            if e.kind == EntryKind::Instructions {
                pins.instructions = Some(InstructionsPin {
                    digest: e
                        .pinned
                        .as_ref()
                        .map(|p| p.digest.clone())
                        .unwrap_or_default(),
                    text: e
                        .pinned
                        .as_ref()
                        .and_then(|p| p.instructions())
                        .map(str::to_owned),
                    current: e.current.digest.clone(),
                });
                continue;
            }
            let kind = pins.kinds.entry(e.kind).or_default();
            let problem = match e.state {
                PinState::Changed => Some(Problem::Changed {
                    fields: e.changed_fields(),
                }),
                PinState::New => Some(Problem::New),
                PinState::Pinned => None,
            };
            if let Some(problem) = problem {
                kind.recorded
                    .insert(e.tool.clone(), e.current.digest.clone());
                kind.quarantined.insert(e.tool.clone(), problem);
            }
            if let Some(p) = e.pinned {
                kind.pinned.insert(e.tool, Pin::new(&p));
            }
        }
        PinView {
            servers,
            generation,
        }
    }
}
