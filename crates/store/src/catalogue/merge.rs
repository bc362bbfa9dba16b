//! Recording one listing against what the catalogue already holds, as plain data: both backends
//! load the server's entries, call [`merge_listing`], and write back what it returns, so the rules
//! of pinning live in one place.

use std::collections::{BTreeMap, HashSet};

use super::{
    CatalogueEntry, EntryKind, Observed, PIN_FORMAT, PinApproval, PinEvent, PinEventKind, PinState,
};
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

/// The catalogue's key of an entry: its kind and name.
pub(crate) type EntryKey = (EntryKind, String);

pub(crate) fn merge_listing(
    server: &str,
    existing: &BTreeMap<EntryKey, CatalogueEntry>,
    tools: Vec<Observed>,
    pin_new_tools: bool,
    now_ms: u64,
) -> Merged {
    // Per kind: a server's tools were pinned by its first listing; its instructions, prompts and
    // templates by the first listing that read them (a server catalogued before they were
    // pinned gets them pinned at first sight, like its tools once were); each resource by the
    // first listing that showed it.
    let known =
        |kind: EntryKind| !kind.pinned_at_first_sight() && existing.keys().any(|(k, _)| *k == kind);
    let mut seen = HashSet::new();
    let mut merged = Merged {
        entries: Vec::with_capacity(tools.len()),
        events: Vec::with_capacity(tools.len()),
        pins_changed: false,
    };
    for tool in tools {
        let key = (tool.kind, tool.name().to_owned());
        if !seen.insert(key.clone()) {
            continue;
        }
        let (entry, kind) = match existing.get(&key) {
            None => first_sight(server, tool, known(key.0), pin_new_tools, now_ms),
            Some(old) => seen_again(old, tool, pin_new_tools, now_ms),
        };
        merged.pins_changed |= kind != PinEventKind::Unchanged;
        merged.events.push(PinEvent {
            entry_kind: entry.kind,
            tool: entry.tool.clone(),
            kind,
            state: entry.state,
            fields: entry.changed_fields(),
            digest: entry.current.digest.clone(),
        });
        merged.entries.push(entry);
    }
    merged
}

/// An entry not in the catalogue yet: pinned when its server's entries of its kind are not
/// pinned yet (or with `pin_new_tools`), else new.
fn first_sight(
    server: &str,
    tool: Observed,
    known: bool,
    pin_new_tools: bool,
    now_ms: u64,
) -> (CatalogueEntry, PinEventKind) {
    let pin_now = !known || pin_new_tools;
    let kind = if known {
        PinEventKind::New
    } else {
        PinEventKind::Pinned
    };
    let entry = CatalogueEntry {
        server: server.to_owned(),
        kind: tool.kind,
        tool: tool.name().to_owned(),
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

/// An entry the catalogue holds, seen again as `tool`.
fn seen_again(
    old: &CatalogueEntry,
    tool: Observed,
    pin_new_tools: bool,
    now_ms: u64,
) -> (CatalogueEntry, PinEventKind) {
    let mut entry = old.clone();
    entry.last_seen_ms = now_ms;
    entry.classification = tool.classification;
    let again = old.current.pins(&tool.definition);
    entry.current = tool.definition;
    let kind = match &old.pinned {
        None if pin_new_tools => {
            entry.pinned = Some(entry.current.clone());
            entry.state = PinState::Pinned;
            PinEventKind::Pinned
        }
        None if again => PinEventKind::Unchanged,
        None => PinEventKind::New,
        // A pin of an older format, of this very definition: taken again in the current one.
        Some(pin) if pin.format < PIN_FORMAT && pin.pins(&entry.current) => {
            entry.pinned = Some(entry.current.clone());
            entry.state = PinState::Pinned;
            PinEventKind::Repinned
        }
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

/// Approves `entry` (the stored one for `server`/`tool`, if any): its current version becomes
/// its pin.
pub(crate) fn approve_entry(
    entry: Option<CatalogueEntry>,
    (server, kind, tool): (&str, EntryKind, &str),
    by: &str,
    expected_digest: Option<&str>,
    now_ms: u64,
) -> Result<PinApproval, StoreError> {
    let label = kind.label(tool);
    let mut entry = entry.ok_or_else(|| StoreError::PinNotFound {
        server: server.to_owned(),
        tool: label.clone(),
    })?;
    if let Some(expected) = expected_digest
        && expected != entry.current.digest
    {
        return Err(StoreError::PinDigestMismatch {
            server: server.to_owned(),
            tool: label,
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
