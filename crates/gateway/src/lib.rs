//! The toolgate runtime: it puts MCP servers behind the operator's policy.
//!
//! Where a client request goes, in order:
//! - **authenticated** in [`identity::Authenticator::authenticate`] (bearer token → grant → agent),
//!   after the origin check, in [`http::mcp`] (or implicitly for `wrap`, which is local);
//! - **decided** in [`relay::plan_request`] → [`enforce::Enforcer::tool_call`]: the policy's
//!   `decide()`, then the counter reservation; denials are rendered by [`wire::GatewayAnswer`];
//! - **forwarded** over the session's [`upstream::UpstreamLink`] (a stdio child or an upstream
//!   Streamable HTTP session), its answer relayed by [`relay::finish`], which filters tool
//!   lists and gives quota back after upstream errors.

pub mod aggregate;
pub mod connect;
pub mod enforce;
pub mod http;
pub mod identity;
pub mod relay;
pub mod reload;
pub mod server;
pub mod session;
pub mod settings;
pub mod state;
pub mod telemetry;
pub mod tools_list;
pub mod upstream;
pub mod wire;
pub mod wrap;

use aggregate::session::AggregateSession;
use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use relay::Relay;
use session::SessionRegistry;
use settings::Settings;
use state::State;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use toolgate_mcp::upstream::UpstreamError;
use toolgate_store::CounterStore;

/// A running gateway: its servers, credentials, counters and open sessions.
#[derive(Debug)]
pub struct Gateway {
    state: ArcSwap<State>,
    relay: Relay,
    sessions: SessionRegistry,
    aggregates: SessionRegistry<AggregateSession>,
    reloading: tokio::sync::Mutex<()>,
}

impl Gateway {
    pub fn new(
        settings: Settings,
        counters: Arc<dyn CounterStore>,
    ) -> Result<Arc<Gateway>, UpstreamError> {
        let state = State::build(settings, &HashMap::new())?;
        Ok(Arc::new(Gateway {
            state: ArcSwap::from_pointee(state),
            relay: Relay::new(counters),
            sessions: SessionRegistry::default(),
            aggregates: SessionRegistry::default(),
            reloading: tokio::sync::Mutex::new(()),
        }))
    }

    /// The configuration in force now.
    pub fn state(&self) -> Arc<State> {
        self.state.load_full()
    }

    /// True when no grant is configured: every caller is the anonymous identity.
    pub fn is_open(&self) -> bool {
        self.state.load().auth.is_open()
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The HTTP application: `/mcp/<server>` (alias `/servers/<server>/mcp`), `/healthz`, `/readyz`.
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
            .route("/metrics", get(http::health::metrics))
            .with_state(self.clone())
    }

    /// Serves on `listener` until `shutdown` completes, then closes every session (and so stops
    /// every stdio child).
    pub async fn serve(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let reaper = tokio::spawn(reap_idle_sessions(self.clone()));
        let app = self.router();
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        reaper.abort();
        self.close_all_sessions().await;
        let state = self.state();
        futures_util::future::join_all(state.servers.values().map(|s| s.stop())).await;
        result
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
