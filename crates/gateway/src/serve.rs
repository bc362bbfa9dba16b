//! The gateway's two planes, each on its own listener: the data plane (`/mcp…`, `/healthz`,
//! `/readyz`) that agents reach, and the admin plane (`/api`, `/ui`, `/metrics`) that operators
//! reach. They are never routed together, so a reverse proxy in front of the data plane cannot
//! expose the admin plane by accident. Here too: the background tasks a running gateway needs,
//! and the order things stop in.
//!
//! Stopping, on the first signal: the listeners stop accepting, GET streams are told the gateway
//! is going away and end, held calls are answered ("restarting, retry"), and in-flight calls may
//! finish within `[gateway] shutdown_grace`; then what is still open is closed, every session
//! closed (stopping stdio children), the audit log written out and the servers stopped. A second
//! signal cuts the grace short: the audit log is written out first, then the rest, bounded.

use crate::Gateway;
use crate::conn::{self, PlaneLimits};
use axum::Router;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long closing sessions and stopping servers may take after a second signal.
const HURRIED_STOP: Duration = Duration::from_secs(3);

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
    /// connection's peer address available to handlers as `ConnectInfo<SocketAddr>`, until the
    /// first message on `stops` (a signal); then drains, and stops at once on a second one.
    pub async fn serve(
        self: Arc<Self>,
        listeners: Listeners,
        admin: Router,
        mut stops: mpsc::Receiver<()>,
    ) -> std::io::Result<()> {
        let background = [
            tokio::spawn(crate::reap_idle_sessions(self.clone())),
            tokio::spawn(self.kill_switches().clone().poll()),
            tokio::spawn(crate::poll_store_grants(self.clone())),
            tokio::spawn(crate::apply_retention(self.clone())),
            tokio::spawn(self.catalogue.clone().poll()),
            tokio::spawn(crate::catalogue::refresh::run(self.clone())),
        ];
        let approval_poller = self
            .pipeline
            .approvals
            .clone()
            .map(|a| tokio::spawn(a.poll()));
        self.refresh_catalogue_at_start();

        let soft_nofile = conn::fd_limit::soft_limit().ok();
        let (data_limits, admin_limits) =
            PlaneLimits::planes(&self.state().settings.limits, soft_nofile);
        let metrics = &self.pipeline.telemetry.metrics.connections;
        let data = tokio::spawn(conn::serve(
            listeners.data,
            self.router(),
            data_limits,
            self.drain.clone(),
            metrics.clone(),
        ));
        let admin = tokio::spawn(conn::serve(
            listeners.admin,
            self.admin_router().merge(admin),
            admin_limits,
            self.drain.clone(),
            metrics.clone(),
        ));

        // Without a sender left, no signal can come: stop as if one had.
        let _ = stops.recv().await;
        let grace = self.state().settings.shutdown_grace;
        tracing::info!(
            grace_s = grace.as_secs_f64(),
            sessions = self.session_count(),
            "draining: no new connections, streams and held calls answered, in-flight calls may finish"
        );
        self.drain.begin();
        let planes = futures_util::future::join(data, admin);
        tokio::pin!(planes);
        let mut planes_done = false;
        let hurried = tokio::select! {
            _ = &mut planes => {
                planes_done = true;
                false
            }
            () = tokio::time::sleep(grace) => {
                tracing::warn!(grace_s = grace.as_secs_f64(), "shutdown grace over");
                false
            }
            Some(()) = stops.recv() => {
                tracing::warn!("second signal: stopping at once");
                true
            }
        };
        self.drain.cut();
        if !planes_done {
            let _ = planes.await;
        }
        for task in background {
            task.abort();
        }
        if let Some(p) = approval_poller {
            p.abort();
        }
        if hurried {
            self.pipeline.telemetry.flush().await;
            let stop = async {
                self.close_all_sessions().await;
                self.stop_servers().await;
            };
            let _ = tokio::time::timeout(HURRIED_STOP, stop).await;
        } else {
            self.close_all_sessions().await;
            self.pipeline.telemetry.flush().await;
            self.stop_servers().await;
        }
        Ok(())
    }

    /// Stops every server's children.
    async fn stop_servers(&self) {
        let state = self.state();
        futures_util::future::join_all(state.servers.values().map(|s| s.stop())).await;
    }
}
