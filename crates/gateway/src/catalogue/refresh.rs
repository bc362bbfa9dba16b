//! Keeping the stored catalogue current without ever blocking a client: refresh requests (start,
//! first use, reload, `list_changed`, a relayed listing that disagrees with the pins) queue up,
//! requests close together are merged, each server is listed by one task at a time over its own
//! short session, and a listing that fails is logged and tried again later. What relayed messages
//! showed that the pins do not hold is recorded at once, without a listing
//! ([`Gateway::record_relayed`]). Every pin event goes to the admin audit stream.

use super::rules::{NewTools, PinRules, PinningMode};
use super::{Catalogue, fetch};
use crate::Gateway;
use crate::enforce::now_ms;
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use toolgate_catalog::{ToolDefinition, classify_with_override};
use toolgate_store::StoreError;
use toolgate_store::audit::AdminEvent;
use toolgate_store::catalogue::{
    EntryKind, Observed, ObservedTool, PIN_FORMAT, PinEvent, PinEventKind, PinState, ToolDigest,
};

/// Requests this close together are served by one listing.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// A failed listing is tried again after this long.
const RETRY_AFTER: Duration = Duration::from_secs(15);

/// The actor of the gateway's own admin events.
pub const ACTOR: &str = "toolgate";

/// Serves refresh requests until the process ends (started with the gateway).
pub async fn run(gw: Arc<Gateway>) {
    let Some(mut queue) = gw.catalogue.take_queue() else {
        return;
    };
    gw.catalogue.attach(&gw);
    // server → asked again while being listed
    let running: Arc<Mutex<HashMap<String, bool>>> = Arc::default();
    while let Some(first) = queue.recv().await {
        let mut batch = HashSet::from([first]);
        let pause = tokio::time::sleep(DEBOUNCE);
        tokio::pin!(pause);
        loop {
            tokio::select! {
                _ = &mut pause => break,
                Some(server) = queue.recv() => { batch.insert(server); }
            }
        }
        for server in batch {
            if let Some(again) = running.lock().get_mut(&server) {
                *again = true;
                continue;
            }
            running.lock().insert(server.clone(), false);
            tokio::spawn(refresh_until_settled(gw.clone(), server, running.clone()));
        }
    }
}

async fn refresh_until_settled(
    gw: Arc<Gateway>,
    server: String,
    running: Arc<Mutex<HashMap<String, bool>>>,
) {
    loop {
        let asked = gw.catalogue.refreshes_asked(&server);
        let result = gw.refresh_catalogue(&server).await;
        gw.catalogue.refresh_tried(&server, asked);
        if let Err(reason) = result {
            tracing::warn!(server, %reason, retry_in = ?RETRY_AFTER, "cannot refresh the catalogue; the server stays usable");
            let catalogue = gw.catalogue.clone();
            let again = server.clone();
            tokio::spawn(async move {
                tokio::time::sleep(RETRY_AFTER).await;
                catalogue.request_refresh(&again);
            });
        }
        let mut r = running.lock();
        if r.get(&server) == Some(&true) {
            r.insert(server.clone(), false);
            continue;
        }
        r.remove(&server);
        let idle = r.is_empty();
        drop(r);
        if idle {
            // The listings' temporary values are gone; so should their pages be.
            crate::trim::release_freed_memory();
        }
        return;
    }
}

impl Gateway {
    /// Lists `server` now (its tools, instructions, prompts, resources and resource templates),
    /// classifies its tools, records the listing (pinning or quarantining) and audits what
    /// changed. Entries that client sessions' listings showed and this listing does not (a
    /// server may list some tools only to some clients) are recorded with it, by the same rules;
    /// they are recorded even when this listing fails, once the server has been catalogued.
    /// Errors say why the listing could not be taken or recorded.
    pub async fn refresh_catalogue(&self, server: &str) -> Result<Vec<PinEvent>, String> {
        let state = self.state();
        let Some(runtime) = state.servers.get(server).cloned() else {
            return Ok(Vec::new());
        };
        let risk = runtime_risk(&state, server);
        let listed = fetch::list_server(&runtime, state.settings.upstream_connect_timeout).await;
        let from_clients = if self.catalogue.is_catalogued(server) {
            self.catalogue.marked(server)
        } else {
            Default::default()
        };
        let (mut items, instructions, failure) = match listed {
            Ok(listing) => {
                let mut items: Vec<(EntryKind, Value)> = (listing.tools.into_iter())
                    .map(|t| (EntryKind::Tool, t))
                    .collect();
                for (kind, listed) in listing.others {
                    items.extend(listed.into_iter().map(|item| (kind, item)));
                }
                (items, Some(listing.instructions), None)
            }
            Err(e) if !from_clients.is_empty() => (Vec::new(), None, Some(e.to_string())),
            Err(e) => return Err(e.to_string()),
        };
        let shown: HashSet<(EntryKind, String)> = items
            .iter()
            .filter_map(|(kind, item)| {
                let name = item.get(kind.key_member()?)?.as_str()?;
                Some((*kind, name.to_owned()))
            })
            .collect();
        items.extend(
            from_clients
                .iter()
                .filter(|(key, _)| !shown.contains(*key))
                .map(|((kind, _), f)| (*kind, f.item.clone())),
        );
        let mut observed = observe_entries(&items, &risk);
        observed.extend(instructions.map(Observed::instructions));
        let events = self.record_observed(server, observed, "listing").await?;
        self.catalogue.clear_marks(server, &from_clients);
        tracing::info!(server, entries = events.len(), "catalogue refreshed");
        match failure {
            Some(reason) => Err(reason),
            None => Ok(events),
        }
    }

    /// Records at once what relayed messages of `server` showed that the pins do not hold —
    /// tools, prompts, resources and templates of client listings, instructions of client
    /// sessions — by the rules of any listing, and audits it, without listing the server: a
    /// change the server reverts before the catalogue next lists it is on record all the same.
    pub async fn record_relayed(&self, server: &str) -> Result<Vec<PinEvent>, String> {
        let marked = self.catalogue.marked(server);
        let instructions = self.catalogue.seen_instructions(server);
        if marked.is_empty() && instructions.is_none() {
            return Ok(Vec::new());
        }
        let risk = runtime_risk(&self.state(), server);
        let items: Vec<(EntryKind, Value)> = marked
            .iter()
            .map(|((kind, _), f)| (*kind, f.item.clone()))
            .collect();
        let mut observed = observe_entries(&items, &risk);
        observed.extend(instructions.clone().map(Observed::instructions));
        let events = self.record_observed(server, observed, "relayed").await;
        if let Err(reason) = &events {
            tracing::warn!(server, %reason, "cannot record what a relayed message showed; the next listing will");
            return events;
        }
        self.catalogue.clear_marks(server, &marked);
        if let Some(i) = &instructions {
            self.catalogue.clear_seen_instructions(server, i);
        }
        events
    }

    /// Records `observed` of `server` in the store, reads the pins again, and audits what
    /// changed (`seen_in`: where the versions were seen, `listing` or `relayed`).
    async fn record_observed(
        &self,
        server: &str,
        observed: Vec<Observed>,
        seen_in: &str,
    ) -> Result<Vec<PinEvent>, String> {
        let rules = self.catalogue.rules(server);
        let events = self
            .catalogue
            .store
            .record(
                server,
                observed,
                rules.new_tools == NewTools::Allow,
                now_ms(),
            )
            .await
            .map_err(|e| e.to_string())?;
        self.catalogue
            .reload(true)
            .await
            .map_err(|e| e.to_string())?;
        if let Err(e) = self.audit_pin_events(server, rules, &events, seen_in).await {
            tracing::error!(server, error = %e, "cannot write pin events to the admin audit log");
        }
        Ok(events)
    }

    /// Approves the current definition of the entry of `kind` called `name` (the admin API's
    /// path; the CLI writes the store itself), audits it and applies it at once.
    pub async fn approve_pin(
        &self,
        server: &str,
        kind: EntryKind,
        name: &str,
        by: &str,
        expected_digest: Option<&str>,
    ) -> Result<toolgate_store::catalogue::PinApproval, StoreError> {
        let done = self
            .catalogue
            .store
            .approve_pin(server, kind, name, by, expected_digest, now_ms())
            .await?;
        if done.changed {
            self.record_admin_event(
                by,
                "pin.approved",
                &format!("{server}/{}", kind.label(name)),
                json!({ "server": server, "tool": name, "entry": kind.as_str(),
                        "digest": done.entry.current.digest }),
            )
            .await?;
        }
        self.catalogue.reload(true).await?;
        Ok(done)
    }

    async fn audit_pin_events(
        &self,
        server: &str,
        rules: PinRules,
        events: &[PinEvent],
        seen_in: &str,
    ) -> Result<(), StoreError> {
        let time_ms = now_ms();
        let event = |action: &str, target: String, details| AdminEvent {
            time_ms,
            actor: ACTOR.to_owned(),
            action: action.to_owned(),
            target,
            details,
        };
        let mut out = Vec::new();
        // A server's first listing (and resources pinned at first sight), and pins of an older
        // format taken anew: one event each.
        for (kind, action) in [
            (PinEventKind::Pinned, "pin.pinned"),
            (PinEventKind::Repinned, "pin.repinned"),
        ] {
            let names = |entry_kind: EntryKind| -> Vec<&str> {
                events
                    .iter()
                    .filter(|e| e.kind == kind && e.entry_kind == entry_kind)
                    .map(|e| e.tool.as_str())
                    .collect()
            };
            let tools = names(EntryKind::Tool);
            let instructions = !names(EntryKind::Instructions).is_empty();
            let (prompts, resources, templates) = (
                names(EntryKind::Prompt),
                names(EntryKind::Resource),
                names(EntryKind::ResourceTemplate),
            );
            if events.iter().any(|e| e.kind == kind) {
                out.push(event(
                    action,
                    server.to_owned(),
                    json!({ "server": server, "count": tools.len(), "tools": tools,
                            "instructions": instructions, "prompts": prompts,
                            "resources": resources, "resource_templates": templates,
                            "format": PIN_FORMAT }),
                ));
            }
        }
        for e in events {
            let quarantined = e.state != PinState::Pinned && rules.mode == PinningMode::Enforce;
            let action = match (e.kind, rules.mode) {
                (PinEventKind::Pinned | PinEventKind::Repinned | PinEventKind::Unchanged, _) => {
                    continue;
                }
                (_, PinningMode::Off) => continue,
                (PinEventKind::Changed | PinEventKind::New, PinningMode::Warn)
                    if e.state != PinState::Pinned =>
                {
                    "pin.warn"
                }
                (PinEventKind::Changed, _) => "pin.changed",
                (PinEventKind::New, _) => "pin.new",
                (PinEventKind::Restored, _) => "pin.restored",
            };
            let what = e.entry_kind.label(&e.tool);
            let target = format!("{server}/{what}");
            tracing::warn!(server, entry = %what, kind = e.kind.as_str(), fields = ?e.fields, quarantined, seen_in, "definition differs from its pin");
            out.push(event(
                action,
                target,
                json!({
                    "server": server,
                    "tool": e.tool,
                    "entry": e.entry_kind.as_str(),
                    "kind": e.kind.as_str(),
                    "fields": e.fields,
                    "digest": e.digest,
                    "quarantined": quarantined,
                    "pinning": rules.mode.as_str(),
                    "seen_in": seen_in,
                }),
            ));
        }
        match &self.stores {
            Some(stores) if !out.is_empty() => stores.audit_sink.append_admin(&out).await.map(drop),
            _ => Ok(()),
        }
    }

    /// Lists every server that can be listed without starting anything on demand: HTTP and
    /// legacy SSE servers, and stdio servers with `start = "eager"`.
    pub fn refresh_catalogue_at_start(&self) {
        for s in &self.state().settings.servers {
            if lists_at_start(s) {
                self.catalogue.request_refresh(&s.name);
            }
        }
    }
}

/// Whether a server is catalogued as soon as the gateway (or its new definition) starts.
pub fn lists_at_start(s: &crate::settings::ServerSettings) -> bool {
    match s.transport {
        crate::settings::Transport::Stdio(_) => s.eager_start,
        _ => true,
    }
}

fn runtime_risk(
    state: &crate::state::State,
    server: &str,
) -> std::collections::BTreeMap<String, toolgate_catalog::Category> {
    state
        .settings
        .server(server)
        .map(|s| s.risk.clone())
        .unwrap_or_default()
}

/// Listed entries of every kind, digested (tools classified, operator overrides winning); those
/// without a name (or URI) left out.
fn observe_entries(
    items: &[(EntryKind, Value)],
    risk: &std::collections::BTreeMap<String, toolgate_catalog::Category>,
) -> Vec<Observed> {
    let tools: Vec<Value> = items
        .iter()
        .filter(|(kind, _)| *kind == EntryKind::Tool)
        .map(|(_, t)| t.clone())
        .collect();
    let mut observed: Vec<Observed> = observe(&tools, risk).into_iter().map(Into::into).collect();
    observed.extend(
        items
            .iter()
            .filter(|(kind, _)| *kind != EntryKind::Tool)
            .filter_map(|(kind, item)| Observed::item(*kind, item)),
    );
    observed
}

/// The listed tools, digested and classified (operator overrides win).
pub fn observe(
    tools: &[serde_json::Value],
    risk: &std::collections::BTreeMap<String, toolgate_catalog::Category>,
) -> Vec<ObservedTool> {
    tools
        .iter()
        .filter_map(|t| {
            let definition = ToolDefinition::from_value(t)?;
            let digest = ToolDigest::of(t)?;
            let classification =
                classify_with_override(&definition, risk.get(&definition.name).copied());
            Some(ObservedTool {
                definition: digest,
                classification,
            })
        })
        .collect()
}

impl Catalogue {
    /// For tests and tools that need the view to be current now.
    pub async fn reload_now(&self) -> Result<(), StoreError> {
        self.reload(true).await
    }
}
