//! The gateway's catalogue of every server's tools: listing them from the server itself (so the
//! operator can review them before any client asks), classifying each by risk, and holding each
//! tool to the definition pinned when it was first seen. A tool whose definition changed, or that
//! appeared after its server's tools were pinned, is quarantined — hidden from every `tools/list`
//! and denied in `tools/call` — until an operator approves it (`pinning = "warn"` only logs and
//! audits). The store is the truth; this keeps a view of it in memory for the hot path, refreshed
//! when the store's pins version moves (so approvals made by the CLI count within a second).
//!
//! Pins never depend on timing or on which client listed first: the catalogue lists with every
//! capability a client may declare ([`fetch::CATALOGUE_CAPABILITIES`]); a relayed listing of a
//! server not catalogued yet waits for its first listing ([`Catalogue::before_listing`]); and a
//! tool a client's listing shows that the catalogue's own does not is recorded in the catalogue by
//! the same path, before that client gets its list ([`Catalogue::after_listing`]), so the command
//! a denial prints ([`approve_command`]) finds it.
//!
//! A server's `instructions` (from `initialize`, which clients put in their model's system
//! prompt) are pinned beside its tools: [`Catalogue::screen_initialize`] gives clients the pinned
//! text while a changed version waits for approval. So are its prompts, resources and resource
//! templates, checked by the same code as tools ([`Catalogue::withheld_in_answer`]): a changed
//! one is withheld from its list and refused when asked for ([`described`]).
//!
//! A change a relayed listing (or initialize) shows is recorded in the store and audited
//! (`pin.changed`) at once ([`Catalogue::after_listing`]), not when the background listing next
//! runs: a server that shows a change to clients and reverts it before the catalogue looks still
//! leaves a record.

pub mod described;
pub mod fetch;
pub mod instructions;
pub mod listing;
pub mod refresh;
pub mod rules;
pub mod view;

use arc_swap::ArcSwap;
use bytes::Bytes;
use parking_lot::Mutex;
use rules::{NewTools, PinRules, PinningMode};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::mpsc;
use toolgate_store::catalogue::{EntryKind, ToolDigest};
use toolgate_store::{CatalogueStore, StoreError};
use view::{PinView, Problem};

/// The catalogue, its pins in memory, and the queue of servers to list again.
pub struct Catalogue {
    pub store: Arc<dyn CatalogueStore>,
    rules: ArcSwap<HashMap<String, PinRules>>,
    view: ArcSwap<PinView>,
    /// Problems seen in relayed listings that the store may not know yet: server → (kind, name)
    /// → finding (with the entry as listed). Recorded by the next refresh of the server, and then
    /// forgotten.
    marks: Mutex<HashMap<String, listing::Findings>>,
    /// Instructions client sessions were given that differ from the pins, per server, until
    /// recorded.
    seen_instructions: Mutex<HashMap<String, ToolDigest>>,
    /// The gateway that records what relayed messages showed (attached when its background
    /// worker starts; without it, the next refresh records them).
    recorder: OnceLock<Weak<crate::Gateway>>,
    /// Refreshes per server: (asked for, tried) — each a count of requests; a listing waits
    /// until what was asked before it has been tried.
    progress: Mutex<HashMap<String, (u64, u64)>>,
    progress_made: tokio::sync::Notify,
    cache: listing::ListingCache,
    /// Servers listed (or asked to be) since this process started.
    requested: Mutex<HashSet<String>>,
    requests: mpsc::UnboundedSender<String>,
    queue: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
    version_seen: AtomicU64,
    /// `notifications/tools/list_changed` seen from any server, for cached listings.
    list_changes: AtomicU64,
    /// Servers whose quarantined entries of a kind changed: their clients are told to list
    /// again.
    quarantine_changes: tokio::sync::broadcast::Sender<(Arc<str>, EntryKind)>,
}

impl std::fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalogue")
            .field("servers", &self.view.load().servers.len())
            .finish_non_exhaustive()
    }
}

impl crate::telemetry::labels::ListedTools for Catalogue {
    fn lists(&self, server: &str, tool: &str) -> bool {
        Catalogue::lists(self, server, tool)
    }
}

impl Catalogue {
    pub fn new(store: Arc<dyn CatalogueStore>, rules: HashMap<String, PinRules>) -> Catalogue {
        let (requests, queue) = mpsc::unbounded_channel();
        Catalogue {
            store,
            rules: ArcSwap::from_pointee(rules),
            view: ArcSwap::default(),
            marks: Mutex::default(),
            seen_instructions: Mutex::default(),
            recorder: OnceLock::new(),
            progress: Mutex::default(),
            progress_made: tokio::sync::Notify::new(),
            cache: listing::ListingCache::default(),
            requested: Mutex::default(),
            requests,
            queue: Mutex::new(Some(queue)),
            version_seen: AtomicU64::new(u64::MAX),
            list_changes: AtomicU64::new(0),
            quarantine_changes: tokio::sync::broadcast::channel(64).0,
        }
    }

    /// The rules of every server (on start and after a reload).
    pub fn set_rules(&self, rules: HashMap<String, PinRules>) {
        self.rules.store(Arc::new(rules));
    }

    pub fn rules(&self, server: &str) -> PinRules {
        self.rules.load().get(server).copied().unwrap_or_default()
    }

    /// Asks for `server` to be listed again soon (in the background; requests close together are
    /// merged).
    pub fn request_refresh(&self, server: &str) {
        self.requested.lock().insert(server.to_owned());
        self.progress.lock().entry(server.to_owned()).or_default().0 += 1;
        let _ = self.requests.send(server.to_owned());
    }

    /// How many refreshes of `server` have been asked for so far (a refresh about to start
    /// serves all of them).
    fn refreshes_asked(&self, server: &str) -> u64 {
        self.progress.lock().get(server).map_or(0, |p| p.0)
    }

    /// A refresh of `server` that served the first `asked` requests is over (recorded or failed).
    fn refresh_tried(&self, server: &str, asked: u64) {
        let mut progress = self.progress.lock();
        let p = progress.entry(server.to_owned()).or_default();
        p.1 = p.1.max(asked);
        drop(progress);
        self.progress_made.notify_waiters();
    }

    /// Waits, at most `timeout`, until every refresh of `server` asked for so far has been tried.
    async fn settled(&self, server: &str, timeout: Duration) {
        let target = self.refreshes_asked(server);
        let waiting = async {
            loop {
                let notified = self.progress_made.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self
                    .progress
                    .lock()
                    .get(server)
                    .is_none_or(|p| p.1 >= target)
                {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(timeout, waiting).await.is_err() {
            tracing::warn!(
                server,
                ?timeout,
                "the catalogue's listing is late; relaying the list as it is"
            );
        }
    }

    /// Before a relayed list (`tools/list`, `prompts/list`, …) of `server` is checked: if the
    /// server has never been catalogued, its first listing is taken now and waited for, so that
    /// what a client sees is checked against pins from the catalogue's own listing, whichever
    /// session lists first.
    pub async fn before_listing(&self, server: &str) {
        if self.rules(server).mode == PinningMode::Off || self.is_catalogued(server) {
            return;
        }
        self.first_use(server);
        self.settled(server, LISTING_WAIT).await;
    }

    /// After a relayed list of `server` was checked: when it showed entries that do not match
    /// the pins, they are recorded (new, or changed, by the same rules as the catalogue's
    /// own listing) and audited before the client gets the list, so a denial's remedy works at
    /// once and a change the server reverts before its next listing still leaves a record.
    pub async fn after_listing(&self, server: &str) {
        if !self.has_marks(server) {
            return;
        }
        match self.recorder() {
            Some(gw) => {
                let recording = gw.record_relayed(server);
                if tokio::time::timeout(LISTING_WAIT, recording).await.is_err() {
                    tracing::warn!(
                        server,
                        "recording what a relayed listing showed is late; relaying the list as it is"
                    );
                }
            }
            None => self.settled(server, LISTING_WAIT).await,
        }
    }

    /// Whether relayed messages of `server` showed anything the store does not hold yet.
    fn has_marks(&self, server: &str) -> bool {
        self.marks.lock().get(server).is_some_and(|m| !m.is_empty())
            || self.seen_instructions.lock().contains_key(server)
    }

    /// Lets `gateway` record what relayed messages show, as they show it (its background worker
    /// does this when it starts).
    pub fn attach(&self, gateway: &Arc<crate::Gateway>) {
        let _ = self.recorder.set(Arc::downgrade(gateway));
    }

    fn recorder(&self) -> Option<Arc<crate::Gateway>> {
        self.recorder.get().and_then(Weak::upgrade)
    }

    /// Records what relayed messages of `server` showed, in the background (for callers that
    /// cannot wait).
    fn record_soon(&self, server: &str) {
        let (Some(gw), Ok(runtime)) = (self.recorder(), tokio::runtime::Handle::try_current())
        else {
            self.request_refresh(server);
            return;
        };
        let server = server.to_owned();
        runtime.spawn(async move { gw.record_relayed(&server).await });
    }

    /// Whether `server` has a listing in the catalogue.
    pub fn is_catalogued(&self, server: &str) -> bool {
        self.view.load().servers.contains_key(server)
    }

    /// Lists `server` the first time it is used by a client (lazy stdio servers are not started
    /// just to be catalogued).
    pub fn first_use(&self, server: &str) {
        if !self.requested.lock().contains(server) {
            self.request_refresh(server);
        }
    }

    /// Forgets that `server` was listed (its definition changed on reload).
    pub fn forget(&self, server: &str) {
        self.requested.lock().remove(server);
    }

    /// Notices `notifications/tools/list_changed` (or the prompts' or resources') in a message
    /// relayed from `server`.
    pub fn observe(&self, server: &str, message: &[u8]) {
        const NEEDLES: [&[u8]; 3] = [
            b"notifications/tools/list_changed",
            b"notifications/prompts/list_changed",
            b"notifications/resources/list_changed",
        ];
        // Notifications are short; answers (which may quote the method name) are not looked into.
        if message.len() >= 512 {
            return;
        }
        let seen = |needle: &[u8]| message.windows(needle.len()).any(|w| w == needle);
        let Some(needle) = NEEDLES.into_iter().find(|n| seen(n)) else {
            return;
        };
        tracing::debug!(
            server,
            notification = %String::from_utf8_lossy(needle),
            "a list changed; refreshing the catalogue"
        );
        if needle == NEEDLES[0] {
            self.list_changes.fetch_add(1, Ordering::Relaxed);
        }
        self.request_refresh(server);
    }

    /// The servers (and kinds of entries) whose quarantine changes from now on (a tool or prompt
    /// approved, or held back): their client sessions need the list's `list_changed`
    /// notification, which the server itself never sends for the gateway's decisions.
    pub fn quarantine_changes(&self) -> tokio::sync::broadcast::Receiver<(Arc<str>, EntryKind)> {
        self.quarantine_changes.subscribe()
    }

    /// A client stream's share of [`Catalogue::quarantine_changes`]: `upstream` as it comes, plus
    /// the list's `notifications/…/list_changed` whenever the quarantine of one of `servers`
    /// changes; it ends when `upstream` ends.
    pub fn with_quarantine_notes(
        &self,
        servers: Vec<String>,
        upstream: crate::upstream::MessageStream,
    ) -> crate::upstream::MessageStream {
        use futures_util::StreamExt;
        let note = |kind: EntryKind| -> &'static [u8] {
            match kind {
                EntryKind::Prompt => {
                    br#"{"jsonrpc":"2.0","method":"notifications/prompts/list_changed"}"#
                }
                EntryKind::Resource | EntryKind::ResourceTemplate => {
                    br#"{"jsonrpc":"2.0","method":"notifications/resources/list_changed"}"#
                }
                EntryKind::Tool | EntryKind::Instructions => {
                    br#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#
                }
            }
        };
        let notes_of = move |kinds: &[EntryKind]| {
            let notes: Vec<_> = kinds
                .iter()
                .map(|k| Some(Ok(Bytes::from_static(note(*k)))))
                .collect();
            futures_util::stream::iter(notes)
        };
        let changes = self.quarantine_changes();
        let notes = futures_util::stream::unfold(changes, move |mut rx| {
            let servers = servers.clone();
            async move {
                loop {
                    match rx.recv().await {
                        Ok((server, kind)) if servers.iter().any(|s| **s == *server) => {
                            return Some((notes_of(&[kind]), rx));
                        }
                        Ok(_) => {}
                        // Missed changes: one note of each list covers them all.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            let every = [EntryKind::Tool, EntryKind::Prompt, EntryKind::Resource];
                            return Some((notes_of(&every), rx));
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        })
        .flatten();
        let upstream = upstream
            .map(Some)
            .chain(futures_util::stream::once(async { None }));
        futures_util::stream::select(upstream, notes)
            .take_while(|m| std::future::ready(m.is_some()))
            .filter_map(std::future::ready)
            .boxed()
    }

    /// Moves whenever a listing may have changed: a server announced new tools, or the pins
    /// moved. A cached listing is good only for the generation it was made in.
    pub fn listing_generation(&self) -> u64 {
        (self.view.load().generation << 32) ^ self.list_changes.load(Ordering::Relaxed)
    }

    /// Reads the pins from the store when its pins version moved (or always, with `force`).
    pub async fn reload(&self, force: bool) -> Result<(), StoreError> {
        let version = self.store.pins_version().await?;
        if !force && version == self.version_seen.load(Ordering::Relaxed) {
            return Ok(());
        }
        let entries = self.store.entries(None).await?;
        let old = self.view.load_full();
        let view = PinView::build(entries, old.generation + 1);
        for (server, kind) in view.quarantine_differs(&old) {
            let _ = self.quarantine_changes.send((server.into(), kind));
        }
        {
            let mut marks = self.marks.lock();
            for (server, found) in marks.iter_mut() {
                let pins = view.servers.get(server);
                found.retain(|(kind, name), finding| {
                    pins.and_then(|p| p.of(*kind))
                        .and_then(|k| k.pinned.get(name))
                        .is_none_or(|pin| pin.digest != finding.digest)
                });
            }
        }
        self.view.store(Arc::new(view));
        self.version_seen.store(version, Ordering::Relaxed);
        Ok(())
    }

    /// Re-reads the pins every second until the process ends.
    pub async fn poll(self: Arc<Self>) {
        loop {
            if let Err(e) = self.reload(false).await {
                tracing::error!(error = %e, "cannot read the pins; keeping the last known ones");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Whether `server` lists `tool` (pinned or waiting for approval), as far as the catalogue
    /// knows.
    pub fn lists(&self, server: &str, tool: &str) -> bool {
        self.view
            .load()
            .servers
            .get(server)
            .and_then(|p| p.of(EntryKind::Tool))
            .is_some_and(|t| t.pinned.contains_key(tool) || t.quarantined.contains_key(tool))
    }

    /// Why a call of `tool` on `server` must be denied, if it must.
    pub fn blocking(&self, server: &str, tool: &str) -> Option<String> {
        self.blocking_entry(server, EntryKind::Tool, tool)
    }

    /// Why a request for the entry of `kind` called `name` on `server` (a tool's call, a
    /// prompt's `prompts/get`, a resource's `resources/read`) must be refused, if it must.
    pub fn blocking_entry(&self, server: &str, kind: EntryKind, name: &str) -> Option<String> {
        let rules = self.rules(server);
        if rules.mode != PinningMode::Enforce {
            return None;
        }
        let view = self.view.load();
        let recorded = view
            .servers
            .get(server)
            .and_then(|p| p.of(kind))
            .and_then(|k| k.quarantined.get(name));
        let problem = match recorded {
            Some(p) => p.clone(),
            None => self
                .marks
                .lock()
                .get(server)
                .and_then(|m| m.get(&(kind, name.to_owned())))
                .map(|f| f.problem.clone())?,
        };
        quarantines(rules, &problem).then(|| reason(server, kind, name, &problem))
    }

    /// The tools of a relayed `tools/list` answer from `server` to hide.
    pub fn hidden_in_answer(&self, server: &str, response: &Bytes) -> HashSet<String> {
        self.withheld_in_answer(server, EntryKind::Tool, response)
    }

    /// The entries of `kind` (by name, or URI) of a relayed list answer from `server` to
    /// withhold.
    pub fn withheld_in_answer(
        &self,
        server: &str,
        kind: EntryKind,
        response: &Bytes,
    ) -> HashSet<String> {
        self.withheld_by(server, |generation, pins| {
            self.cache.page(server, kind, generation, pins, response)
        })
    }

    /// The entries of `kind` of a list of objects from `server` to withhold.
    pub fn withheld_in_items(
        &self,
        server: &str,
        kind: EntryKind,
        items: &[Value],
    ) -> HashSet<String> {
        self.withheld_by(server, |generation, pins| {
            Some(self.cache.items(server, kind, generation, pins, items))
        })
    }

    fn withheld_by(
        &self,
        server: &str,
        check: impl FnOnce(u64, &view::ServerPins) -> Option<Arc<listing::Findings>>,
    ) -> HashSet<String> {
        let rules = self.rules(server);
        if rules.mode == PinningMode::Off {
            return HashSet::new();
        }
        let view = self.view.load();
        let Some(pins) = view.servers.get(server) else {
            // Not catalogued yet: the first listing pins what it sees.
            self.first_use(server);
            return HashSet::new();
        };
        if pins.wants_listing() {
            // Pins of an older format are taken anew, instructions read, by the next listing.
            self.first_use(server);
        }
        let Some(findings) = check(view.generation, pins) else {
            return HashSet::new();
        };
        if findings.is_empty() {
            return HashSet::new();
        }
        self.mark(server, pins, &findings);
        if rules.mode == PinningMode::Warn {
            return HashSet::new();
        }
        findings
            .iter()
            .filter(|(_, f)| quarantines(rules, &f.problem))
            .map(|((_, name), _)| name.clone())
            .collect()
    }

    /// Remembers problems the store does not know yet, and has the server listed again.
    fn mark(&self, server: &str, pins: &view::ServerPins, findings: &listing::Findings) {
        let mut marks = self.marks.lock();
        let server_marks = marks.entry(server.to_owned()).or_default();
        let mut unknown = false;
        for (key, finding) in findings {
            let (kind, name) = key;
            // The store holds this very version already (quarantined).
            let recorded = pins.of(*kind).and_then(|k| k.recorded.get(name));
            if recorded == Some(&finding.digest) {
                continue;
            }
            if server_marks
                .get(key)
                .is_none_or(|m| m.digest != finding.digest)
            {
                tracing::warn!(
                    server,
                    entry = %kind.label(name),
                    problem = ?finding.problem,
                    "a relayed list does not match the pins"
                );
                server_marks.insert(key.clone(), finding.clone());
                unknown = true;
            }
        }
        drop(marks);
        if unknown {
            self.request_refresh(server);
        }
    }

    /// The entries relayed listings of `server` showed that do not match the pins, as listed.
    fn marked(&self, server: &str) -> listing::Findings {
        self.marks.lock().get(server).cloned().unwrap_or_default()
    }

    /// The instructions a client of `server` was given that differ from the pins, if any.
    fn seen_instructions(&self, server: &str) -> Option<ToolDigest> {
        self.seen_instructions.lock().get(server).cloned()
    }

    /// Forgets `recorded` as the instructions clients of `server` were given (unless others were
    /// seen meanwhile).
    fn clear_seen_instructions(&self, server: &str, recorded: &ToolDigest) {
        let mut seen = self.seen_instructions.lock();
        if seen
            .get(server)
            .is_some_and(|s| s.digest == recorded.digest)
        {
            seen.remove(server);
        }
    }

    /// Forgets the marks of `server` that `recorded` holds (the same entry, the same digest):
    /// they are in the store now. Marks made meanwhile stay for the next refresh.
    fn clear_marks(&self, server: &str, recorded: &listing::Findings) {
        let mut marks = self.marks.lock();
        if let Some(m) = marks.get_mut(server) {
            m.retain(|key, f| recorded.get(key).is_none_or(|r| r.digest != f.digest));
            if m.is_empty() {
                marks.remove(server);
            }
        }
    }

    /// For tests: a catalogue over a memory store in which server `s` showed `seen` (so pinned
    /// it), its pins held in `mode`.
    #[cfg(test)]
    pub(crate) async fn pinned_for_test(
        seen: Vec<toolgate_store::catalogue::Observed>,
        mode: PinningMode,
    ) -> Catalogue {
        let store = Arc::new(toolgate_store::MemoryStore::new());
        store.record("s", seen, false, 1).await.unwrap();
        let rules = PinRules {
            mode,
            ..PinRules::default()
        };
        let c = Catalogue::new(store, HashMap::from([("s".to_owned(), rules)]));
        c.reload_now().await.unwrap();
        c
    }

    /// The queue of refresh requests, taken once by the worker that serves them.
    fn take_queue(&self) -> Option<mpsc::UnboundedReceiver<String>> {
        self.queue.lock().take()
    }
}

/// How long a relayed listing waits for the catalogue (its first listing of a server, or the
/// recording of tools only a client saw) before it is relayed as it is.
const LISTING_WAIT: Duration = Duration::from_secs(10);

/// Whether `problem` keeps an entry out under `rules` (pinning enforced).
fn quarantines(rules: PinRules, problem: &Problem) -> bool {
    match problem {
        Problem::Changed { .. } => true,
        Problem::New => rules.new_tools == NewTools::Quarantine,
        Problem::Unpinned => false,
    }
}

/// The denial a quarantined entry's caller reads.
pub fn reason(server: &str, kind: EntryKind, name: &str, problem: &Problem) -> String {
    let noun = kind.noun();
    let what = match problem {
        Problem::Changed { fields } if !fields.is_empty() => {
            format!(
                "{noun} {name:?} changed since it was pinned ({})",
                fields.join(", ")
            )
        }
        Problem::Changed { .. } => format!("{noun} {name:?} changed since it was pinned"),
        Problem::New => {
            format!("{noun} {name:?} is new on server {server:?} since its {noun}s were pinned")
        }
        Problem::Unpinned => format!("{noun} {name:?} is not pinned yet"),
    };
    format!(
        "{what}; an operator must approve it: {}",
        approve_entry_command(server, kind, name, None)
    )
}

/// The command that approves the current definition of `tool` on `server` (only the version with
/// `digest`, when given), ready to paste into a shell beside the gateway's config: names a shell
/// would split or expand are quoted, and names that look like options come after `--`.
pub fn approve_command(server: &str, tool: &str, digest: Option<&str>) -> String {
    approve_entry_command(server, EntryKind::Tool, tool, digest)
}

/// [`approve_command`] for any entry: a tool, the server's instructions (`--instructions`), a
/// prompt (`--prompt`), a resource (`--resource`, by URI) or a resource template
/// (`--resource-template`).
pub fn approve_entry_command(
    server: &str,
    kind: EntryKind,
    tool: &str,
    digest: Option<&str>,
) -> String {
    let mut command = "toolgate pins approve".to_owned();
    if let Some(flag) = kind_flag(kind) {
        command.push(' ');
        command.push_str(flag);
    }
    if let Some(d) = digest {
        command.push_str(" --digest ");
        command.push_str(&shell_word(d));
    }
    let words = match kind {
        EntryKind::Instructions => vec![server],
        _ => vec![server, tool],
    };
    if words.iter().any(|w| w.starts_with('-')) {
        command.push_str(" --");
    }
    for w in words {
        command.push(' ');
        command.push_str(&shell_word(w));
    }
    command
}

/// The CLI's flag that names an entry's kind (none for a tool, the default).
fn kind_flag(kind: EntryKind) -> Option<&'static str> {
    match kind {
        EntryKind::Tool => None,
        EntryKind::Instructions => Some("--instructions"),
        EntryKind::Prompt => Some("--prompt"),
        EntryKind::Resource => Some("--resource"),
        EntryKind::ResourceTemplate => Some("--resource-template"),
    }
}

/// `word` as one shell word: as it is when it holds only characters no shell treats specially,
/// else in single quotes (a `'` inside written `'\''`).
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.,:/@+=%".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_approve_command_quotes_what_a_shell_would_split() {
        assert_eq!(
            approve_command("fast", "add", None),
            "toolgate pins approve fast add"
        );
        assert_eq!(
            approve_command("crm", "get-sum.v2", Some("9d41e07b5c3a")),
            "toolgate pins approve --digest 9d41e07b5c3a crm get-sum.v2"
        );
        assert_eq!(
            approve_command("my server", "it's $HOME", None),
            "toolgate pins approve 'my server' 'it'\\''s $HOME'"
        );
        // A name that starts with `-` would be read as an option.
        assert_eq!(
            approve_command("s", "-x", None),
            "toolgate pins approve -- s -x"
        );
        assert_eq!(
            approve_entry_command("my server", EntryKind::Instructions, "", Some("9d41")),
            "toolgate pins approve --instructions --digest 9d41 'my server'"
        );
        assert_eq!(
            approve_entry_command("docs", EntryKind::Prompt, "summarize", None),
            "toolgate pins approve --prompt docs summarize"
        );
        assert_eq!(
            approve_entry_command("files", EntryKind::Resource, "file:///my notes.md", None),
            "toolgate pins approve --resource files 'file:///my notes.md'"
        );
        assert_eq!(
            approve_entry_command("files", EntryKind::ResourceTemplate, "file:///{path}", None),
            "toolgate pins approve --resource-template files 'file:///{path}'"
        );
    }
}
