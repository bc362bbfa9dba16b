//! The toolgate runtime: it puts MCP servers behind the operator's policy.
//!
//! Every client message, whatever its front, takes one path: [`pipeline::Pipeline::handle`].
//! The fronts — [`http::mcp`] (`/mcp/<server>`), [`http::aggregate`] (`/mcp`) and [`wrap`]
//! (stdio) — only authenticate ([`identity::Authenticator::authenticate`], after the strict
//! header and origin checks) and turn their transport into messages and back. In the pipeline
//! a request is recorded, screened, routed, **decided** ([`enforce::Enforcer::tool_call`]:
//! kill switch, quarantine, the policy's `decide()`, the counter reservation), held for
//! approval when the policy asks, **forwarded** over its [`upstream::UpstreamLink`], finished
//! (tool lists filtered, quota given back after upstream errors) and **audited** exactly once.
//! `docs/architecture.md` draws the path.
//!
//! Beside the request path, [`catalogue`] lists every server's tools in the background, pins
//! their definitions and quarantines changed ones; [`enforce`] denies a quarantined tool right
//! after the kill switch, and [`tools_list`] / [`aggregate::lists`] leave it out of listings.

pub mod admin_ops;
pub mod aggregate;
pub(crate) mod approvals;
pub mod catalogue;
pub mod conn;
pub(crate) mod drain;
pub mod enforce;
pub mod http;
pub mod identity;
pub mod kill_switch;
pub(crate) mod limits;
pub(crate) mod pipeline;
pub(crate) mod rejection;
pub(crate) mod reload;
pub(crate) mod screen;
pub mod serve;
pub mod server;
pub(crate) mod session;
pub mod settings;
pub(crate) mod state;
pub mod telemetry;
pub(crate) mod tools_cache;
pub(crate) mod tools_list;
pub mod trim;
pub(crate) mod upstream;
pub mod webhook;
pub(crate) mod wire;
pub mod wrap;

pub use approvals::argument_names;

use aggregate::session::AggregateSession;
use approvals::Approvals;
use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use catalogue::Catalogue;
use enforce::Enforcer;
use kill_switch::KillSwitches;
use pipeline::Pipeline;
use session::SessionRegistry;
use settings::Settings;
use state::GrantSource;
use state::State;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use telemetry::Telemetry;
use toolgate_mcp::upstream::UpstreamError;
use toolgate_store::CatalogueStore;
use toolgate_store::CounterStore;
use toolgate_store::Stores;
use toolgate_store::audit::AuditStream;

/// A running gateway: its servers, credentials, counters and open sessions.
#[derive(Debug)]
pub struct Gateway {
    state: ArcSwap<State>,
    pipeline: Arc<Pipeline>,
    sessions: SessionRegistry,
    aggregates: SessionRegistry<AggregateSession>,
    reloading: tokio::sync::Mutex<()>,
    grants: GrantSource,
    /// Sessions per grant and streams per session, for the caps of `[limits]`.
    limits: limits::Counts,
    /// Serving, draining or cut: what a stopping gateway tells whoever holds a client.
    drain: drain::Drain,
    /// Every server's tools, classified and pinned.
    pub catalogue: Arc<Catalogue>,
    /// Grants, audit log and kill switches, when a store is configured.
    pub stores: Option<Stores>,
}

impl Gateway {
    /// A gateway for `settings`, counting limits in `counters` and keeping grants, the audit
    /// log and kill switches in `stores` (the store's current grants and switches are read
    /// before it returns).
    pub async fn new(
        settings: Settings,
        counters: Arc<dyn CounterStore>,
        stores: Option<Stores>,
    ) -> Result<Arc<Gateway>, GatewayError> {
        let grants = GrantSource {
            store: stores.as_ref().map(|s| s.grants.clone()),
            store_has_grants: Arc::default(),
        };
        let kill_switches = Arc::new(KillSwitches::new(
            stores.as_ref().map(|s| s.kill_switches.clone()),
        ));
        kill_switches.refresh().await?;
        let drain = drain::Drain::default();
        let telemetry = match &stores {
            Some(s) => {
                let values = settings
                    .audit
                    .values
                    .then(|| settings.audit.redaction.clone());
                Telemetry::with_audit(s.audit_sink.clone(), values, settings.audit.policy)
            }
            None => Telemetry::default(),
        };
        let approvals = stores.as_ref().map(|s| {
            // The configured secret first; the environment variable is the fallback.
            let secret = settings
                .approvals
                .webhook_secret
                .clone()
                .or_else(|| std::env::var("TOOLGATE_WEBHOOK_SECRET").ok());
            Arc::new(
                Approvals::new(s.approvals.clone(), secret)
                    .with_public_url(settings.approvals.public_url.clone())
                    .with_argument_values(
                        settings
                            .audit
                            .values
                            .then(|| settings.audit.redaction.clone()),
                    )
                    .with_hold_max(settings.approvals.hold_max)
                    .with_pending_limit(settings.limits.pending_approvals_per_grant)
                    .with_drain(drain.clone())
                    .with_audit(Some(s.audit_sink.clone())),
            )
        });
        // Without a store, pins live as long as the process.
        let catalogue_store = match &stores {
            Some(s) => s.catalogue.clone(),
            None => Arc::new(toolgate_store::MemoryStore::new()) as Arc<dyn CatalogueStore>,
        };
        let catalogue = Arc::new(Catalogue::new(catalogue_store, pin_rules(&settings)));
        catalogue.reload_now().await?;
        telemetry.metrics.labels.listed_by(catalogue.clone());
        let state = State::build(settings, &HashMap::new(), &grants)?;
        let enforcer = Enforcer::new(counters, kill_switches).with_catalogue(catalogue.clone());
        let gateway = Arc::new(Gateway {
            state: ArcSwap::from_pointee(state),
            catalogue,
            pipeline: Arc::new(Pipeline::new(enforcer, telemetry, approvals)),
            sessions: SessionRegistry::default(),
            aggregates: SessionRegistry::default(),
            reloading: tokio::sync::Mutex::new(()),
            grants,
            limits: limits::Counts::default(),
            drain,
            stores,
        });
        gateway.refresh_store_grants().await?;
        Ok(gateway)
    }

    /// Notes whether the store holds grants (once one does, every request needs a token).
    async fn refresh_store_grants(&self) -> Result<(), toolgate_store::StoreError> {
        if let Some(store) = &self.grants.store {
            let any = !store.list().await?.is_empty();
            self.grants
                .store_has_grants
                .store(any, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    /// The kill switches in force.
    pub fn kill_switches(&self) -> &Arc<KillSwitches> {
        &self.pipeline.enforcer.kill_switches
    }

    /// The configuration in force now.
    pub fn state(&self) -> Arc<State> {
        self.state.load_full()
    }

    /// Puts a server scripted in memory in place of `server`'s transport (the router's
    /// in-process tests).
    #[cfg(test)]
    pub(crate) fn script_server(&self, server: &str, link: upstream::scripted::ScriptedLink) {
        let state = self.state();
        let settings = state
            .settings
            .servers
            .iter()
            .find(|s| s.name == server)
            .expect("a configured server");
        let mut keep = state.servers.clone();
        keep.insert(
            server.to_owned(),
            Arc::new(server::ServerRuntime::scripted(settings, link)),
        );
        let next = State::build(state.settings.clone(), &keep, &self.grants).expect("a state");
        self.state.store(Arc::new(next));
    }

    /// True when no grant is configured: every caller is the anonymous identity.
    pub fn is_open(&self) -> bool {
        self.state.load().auth.is_open()
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The data plane: `/mcp/<server>` (alias `/servers/<server>/mcp`), `/mcp`, `/healthz`,
    /// `/readyz`. Nothing of the admin plane is routed here.
    pub fn router(self: &Arc<Self>) -> Router {
        let mcp = || {
            axum::routing::post(http::mcp::post)
                .get(http::mcp::get)
                .delete(http::mcp::delete)
        };
        let aggregate = axum::routing::post(http::aggregate::post)
            .get(http::aggregate::get)
            .delete(http::aggregate::delete);
        Router::new()
            .route("/mcp", aggregate)
            .route("/mcp/{server}", mcp())
            // The same endpoint for clients that insist the path ends in `/mcp` (the Inspector CLI).
            .route("/servers/{server}/mcp", mcp())
            .layer(DefaultBodyLimit::max(
                self.state.load().settings.max_body_bytes,
            ))
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(http::health::readyz))
            .with_state(self.clone())
    }

    /// The gateway's own part of the admin plane: `/metrics` (the admin API and UI are merged in
    /// by [`Gateway::serve`]'s caller).
    pub fn admin_router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/metrics", get(http::health::metrics))
            .with_state(self.clone())
    }

    /// Closes every session.
    pub async fn close_all_sessions(&self) {
        let sessions = self.sessions.drain();
        let aggregates = self.aggregates.drain();
        let closing = sessions.iter().map(|s| s.link.close(None));
        futures_util::future::join(
            futures_util::future::join_all(closing),
            futures_util::future::join_all(aggregates.iter().map(|s| s.close())),
        )
        .await;
    }
}

/// Each server's pinning rules.
fn pin_rules(settings: &Settings) -> HashMap<String, catalogue::rules::PinRules> {
    settings
        .servers
        .iter()
        .map(|s| (s.name.clone(), s.pinning))
        .collect()
}

async fn poll_store_grants(gw: Arc<Gateway>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Err(e) = gw.refresh_store_grants().await {
            tracing::error!(error = %e, "cannot read grants from the store");
        }
    }
}

/// Deletes audit records older than the retention, hourly.
async fn apply_retention(gw: Arc<Gateway>) {
    let (Some(stores), Some(keep)) = (gw.stores.clone(), gw.state().settings.audit.retention)
    else {
        return;
    };
    loop {
        let cutoff = enforce::now_ms().saturating_sub(keep.as_millis() as u64);
        for stream in [AuditStream::Requests, AuditStream::Admin] {
            match stores.audit.delete_before(stream, cutoff).await {
                Ok(r) if r.deleted > 0 => {
                    tracing::info!(%stream, deleted = r.deleted, "audit retention applied")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "audit retention failed"),
            }
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// Why a gateway could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Store(#[from] toolgate_store::StoreError),
}

async fn reap_idle_sessions(gw: Arc<Gateway>) {
    let idle = gw.state().settings.session_idle_timeout;
    let every = (idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::time::sleep(every).await;
        for s in gw.sessions.take_idle(idle) {
            tracing::info!(server = %s.server.name, session = %s.id, "closing idle session");
            s.link.close(s.protocol_version().as_deref()).await;
        }
        for s in gw.aggregates.take_idle(idle) {
            tracing::info!(session = %s.id, "closing idle /mcp session");
            s.close().await;
        }
    }
}
