//! [`CatalogueStore`] over a map of entries by (server, tool).

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;

use crate::StoreError;
use crate::catalogue::merge::{EntryKey, approve_entry, merge_listing};
use crate::catalogue::{
    CatalogueEntry, CatalogueStore, EntryKind, Observed, PinApproval, PinEvent,
};
use crate::memory::MemoryStore;

/// The catalogue's entries (by server, kind, name) and its pins version.
#[derive(Debug, Default)]
pub(crate) struct Catalogue {
    entries: BTreeMap<(String, EntryKind, String), CatalogueEntry>,
    version: u64,
}

fn ready<T: Send + 'static>(v: T) -> BoxFuture<'static, T> {
    Box::pin(std::future::ready(v))
}

impl CatalogueStore for MemoryStore {
    fn record<'a>(
        &'a self,
        server: &'a str,
        tools: Vec<Observed>,
        pin_new_tools: bool,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Vec<PinEvent>, StoreError>> {
        let mut catalogue = self.catalogue.lock();
        let existing: BTreeMap<EntryKey, CatalogueEntry> = catalogue
            .entries
            .range((server.to_owned(), EntryKind::Instructions, String::new())..)
            .take_while(|((s, _, _), _)| s == server)
            .map(|((_, k, t), e)| ((*k, t.clone()), e.clone()))
            .collect();
        let merged = merge_listing(server, &existing, tools, pin_new_tools, now_ms);
        for entry in merged.entries {
            catalogue.entries.insert(
                (entry.server.clone(), entry.kind, entry.tool.clone()),
                entry,
            );
        }
        if merged.pins_changed {
            catalogue.version += 1;
        }
        ready(Ok(merged.events))
    }

    fn entries<'a>(
        &'a self,
        server: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<CatalogueEntry>, StoreError>> {
        let all = self
            .catalogue
            .lock()
            .entries
            .values()
            .filter(|e| server.is_none_or(|s| e.server == s))
            .cloned()
            .collect();
        ready(Ok(all))
    }

    fn approve_pin<'a>(
        &'a self,
        server: &'a str,
        kind: EntryKind,
        tool: &'a str,
        by: &'a str,
        expected_digest: Option<&'a str>,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<PinApproval, StoreError>> {
        let mut catalogue = self.catalogue.lock();
        let key = (server.to_owned(), kind, tool.to_owned());
        let entry = catalogue.entries.get(&key).cloned();
        let result = approve_entry(entry, (server, kind, tool), by, expected_digest, now_ms);
        if let Ok(done) = &result
            && done.changed
        {
            catalogue.entries.insert(key, done.entry.clone());
            catalogue.version += 1;
        }
        ready(result)
    }

    fn pins_version(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        ready(Ok(self.catalogue.lock().version))
    }
}
