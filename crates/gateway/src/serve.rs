//! The gateway's two planes, each on its own listener: the data plane (`/mcp…`, `/healthz`,
//! `/readyz`) that agents reach, and the admin plane (`/api`, `/ui`, `/metrics`) that operators
//! reach. They are never routed together, so a reverse proxy in front of the data plane cannot
//! expose the admin plane by accident. Here too: the background tasks a running gateway needs,
//! and the order things stop in.

use crate::Gateway;
use axum::Router;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// Where the two planes listen.
#[derive(Debug)]
pub struct Listeners {
    /// `/mcp`, `/mcp/<server>`, `/servers/<server>/mcp`, `/healthz`, `/readyz`.
    pub data: tokio::net::TcpListener,
    /// `/metrics`, and the admin router given to [`Gateway::serve`] (`/api`, `/ui`).
    pub admin: tokio::net::TcpListener,
}

impl Gateway {
    /// Serves the data plane and the admin plane (`admin` merged with `/metrics`), each
    /// connection's peer address available to handlers as `ConnectInfo<SocketAddr>`, until
    /// `shutdown` completes; then closes every session (stopping stdio children), writes out the
    /// audit log and stops the servers' shared children.
    pub async fn serve(
        self: Arc<Self>,
        listeners: Listeners,
        admin: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let background = [
            tokio::spawn(crate::reap_idle_sessions(self.clone())),
            tokio::spawn(self.kill_switches().clone().poll()),
            tokio::spawn(crate::poll_store_grants(self.clone())),
            tokio::spawn(crate::apply_retention(self.clone())),
            tokio::spawn(self.catalogue.clone().poll()),
            tokio::spawn(crate::catalogue::refresh::run(self.clone())),
        ];
        let approval_poller = self.relay.approvals.clone().map(|a| tokio::spawn(a.poll()));
        self.refresh_catalogue_at_start();

        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let data = axum::serve(
            listeners.data,
            self.router()
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(until_stopped(stopped.clone()));
        let admin = axum::serve(
            listeners.admin,
            self.admin_router()
                .merge(admin)
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(until_stopped(stopped));
        let (data, admin) = tokio::join!(async move { data.await }, async move { admin.await });

        for task in background {
            task.abort();
        }
        if let Some(p) = approval_poller {
            p.abort();
        }
        self.close_all_sessions().await;
        self.relay.telemetry.flush().await;
        let state = self.state();
        futures_util::future::join_all(state.servers.values().map(|s| s.stop())).await;
        data.and(admin)
    }
}
