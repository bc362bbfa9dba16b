//! Recording one listing against what the catalogue already holds, as plain data: both backends
//! load the server's entries, call [`merge_listing`], and write back what it returns, so the rules
//! of pinning live in one place.

use std::collections::{BTreeMap, HashSet};

use super::{CatalogueEntry, ObservedTool, PinApproval, PinEvent, PinEventKind, PinState};
use crate::StoreError;

/// The entries to write and the events to report.
#[derive(Debug)]
pub(crate) struct Merged {
    /// One per listed tool, in listing order.
    pub entries: Vec<CatalogueEntry>,
    pub events: Vec<PinEvent>,
    /// A pin or a pin state changed (the pins version must grow).
    pub pins_changed: bool,
}

pub(crate) fn merge_listing(
    server: &str,
    existing: &BTreeMap<String, CatalogueEntry>,
    tools: Vec<ObservedTool>,
    pin_new_tools: bool,
    now_ms: u64,
) -> Merged {
    let known_server = !existing.is_empty();
    let mut seen = HashSet::new();
    let mut merged = Merged {
        entries: Vec::with_capacity(tools.len()),
        events: Vec::with_capacity(tools.len()),
        pins_changed: false,
    };
    for tool in tools {
        let name = tool.definition.name().to_owned();
        if !seen.insert(name.clone()) {
            continue;
        }
        let (entry, kind) = match existing.get(&name) {
            None => {
                let pin_now = !known_server || pin_new_tools;
                let kind = if known_server {
                    PinEventKind::New
                } else {
                    PinEventKind::Pinned
                };
                let entry = CatalogueEntry {
                    server: server.to_owned(),
                    tool: name.clone(),
                    state: if pin_now {
                        PinState::Pinned
                    } else {
                        PinState::New
                    },
                    pinned: pin_now.then(|| tool.definition.clone()),
                    current: tool.definition,
                    classification: tool.classification,
                    first_seen_ms: now_ms,
                    last_seen_ms: now_ms,
                    approved_by: None,
                    approved_at_ms: None,
                };
                (entry, kind)
            }
            Some(old) => {
                let mut entry = old.clone();
                entry.last_seen_ms = now_ms;
                entry.classification = tool.classification;
                let again = old.current.digest == tool.definition.digest;
                entry.current = tool.definition;
                let kind = match &old.pinned {
                    None if pin_new_tools => {
                        entry.pinned = Some(entry.current.clone());
                        entry.state = PinState::Pinned;
                        PinEventKind::Pinned
                    }
                    None if again => PinEventKind::Unchanged,
                    None => PinEventKind::New,
                    Some(pin) if pin.digest == entry.current.digest => {
                        entry.state = PinState::Pinned;
                        if old.state == PinState::Pinned {
                            PinEventKind::Unchanged
                        } else {
                            PinEventKind::Restored
                        }
                    }
                    Some(_) => {
                        entry.state = PinState::Changed;
                        if old.state == PinState::Changed && again {
                            PinEventKind::Unchanged
                        } else {
                            PinEventKind::Changed
                        }
                    }
                };
                (entry, kind)
            }
        };
        merged.pins_changed |= kind != PinEventKind::Unchanged;
        merged.events.push(PinEvent {
            tool: name,
            kind,
            state: entry.state,
            fields: entry.changed_fields(),
            digest: entry.current.digest.clone(),
        });
        merged.entries.push(entry);
    }
    merged
}

/// Approves `entry` (the stored one for `server`/`tool`, if any): its current version becomes
/// its pin.
pub(crate) fn approve_entry(
    entry: Option<CatalogueEntry>,
    (server, tool): (&str, &str),
    by: &str,
    expected_digest: Option<&str>,
    now_ms: u64,
) -> Result<PinApproval, StoreError> {
    let mut entry = entry.ok_or_else(|| StoreError::PinNotFound {
        server: server.to_owned(),
        tool: tool.to_owned(),
    })?;
    if let Some(expected) = expected_digest
        && expected != entry.current.digest
    {
        return Err(StoreError::PinDigestMismatch {
            server: server.to_owned(),
            tool: tool.to_owned(),
            expected: expected.to_owned(),
            current: entry.current.digest.clone(),
        });
    }
    if entry.state == PinState::Pinned {
        return Ok(PinApproval {
            entry,
            changed: false,
        });
    }
    entry.pinned = Some(entry.current.clone());
    entry.state = PinState::Pinned;
    entry.approved_by = Some(by.to_owned());
    entry.approved_at_ms = Some(now_ms);
    Ok(PinApproval {
        entry,
        changed: true,
    })
}
