//! One configured upstream server at run time: its policy in force (swapped atomically on
//! reload) and how to open a link to it for a new client session (pooled HTTP clients live here,
//! shared by every session).

use crate::settings::{ServerSettings, Transport};
use crate::upstream::{HttpLink, PipeLink, SharedLink, UpstreamLink};
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::time::Duration;
use toolgate_mcp::upstream::UpstreamError;
use toolgate_mcp::upstream::http::HttpUpstream;
use toolgate_mcp::upstream::legacy_sse::LegacySseUpstream;
use toolgate_mcp::upstream::stdio::StdioSpec;
use toolgate_mcp::upstream::supervisor::{SupervisedStdio, SupervisorOptions, UpstreamStatus};
use toolgate_policy::Policy;

/// How long connecting to a remote upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct ServerRuntime {
    pub name: String,
    pub settings: ServerSettings,
    pub policy: ArcSwap<Policy>,
    /// Filtered `tools/list` answers, reused while nothing that shapes them changed.
    pub tools_cache: crate::tools_cache::ToolsListCache,
    connector: Connector,
}

#[derive(Debug)]
enum Connector {
    /// A child per client session (`per_session = true`).
    Stdio(StdioSpec),
    /// One supervised child shared by every session.
    SharedStdio(Arc<SupervisedStdio>),
    Http(HttpUpstream),
    LegacySse(LegacySseUpstream),
}

impl ServerRuntime {
    pub fn new(settings: &ServerSettings) -> Result<Self, UpstreamError> {
        let connector =
            match &settings.transport {
                Transport::Stdio(spec) if settings.per_session => Connector::Stdio(spec.clone()),
                Transport::Stdio(spec) => {
                    let options = SupervisorOptions {
                        eager: settings.eager_start,
                        ..SupervisorOptions::default()
                    };
                    Connector::SharedStdio(Arc::new(SupervisedStdio::new(spec.clone(), options)))
                }
                Transport::Http { url, headers } => {
                    Connector::Http(HttpUpstream::new(url, headers.clone(), CONNECT_TIMEOUT)?)
                }
                Transport::LegacySse { url, headers } => Connector::LegacySse(
                    LegacySseUpstream::new(url, headers.clone(), CONNECT_TIMEOUT)?,
                ),
            };
        Ok(ServerRuntime {
            name: settings.name.clone(),
            settings: settings.clone(),
            policy: ArcSwap::new(settings.policy.clone()),
            tools_cache: Default::default(),
            connector,
        })
    }

    /// Opens a new link for the client session `session`.
    pub async fn connect(&self, session: &str) -> Result<UpstreamLink, UpstreamError> {
        match &self.connector {
            Connector::Stdio(spec) => PipeLink::stdio(spec).map(UpstreamLink::Pipe),
            Connector::SharedStdio(sup) => {
                Ok(UpstreamLink::Shared(SharedLink::new(sup.clone(), session)))
            }
            Connector::Http(http) => Ok(UpstreamLink::Http(HttpLink::new(http.clone()))),
            Connector::LegacySse(sse) => PipeLink::legacy_sse(sse, &self.name)
                .await
                .map(UpstreamLink::Pipe),
        }
    }

    /// The state of a shared stdio server (`None` for other transports).
    pub fn status(&self) -> Option<UpstreamStatus> {
        match &self.connector {
            Connector::SharedStdio(sup) => Some(sup.status()),
            _ => None,
        }
    }

    /// Stops what the server holds for every session (the shared child and its process group).
    pub async fn stop(&self) {
        if let Connector::SharedStdio(sup) = &self.connector {
            sup.stop().await;
        }
    }
}
