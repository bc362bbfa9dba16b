//! One configured upstream server at run time: its policy in force (swapped atomically on
//! reload) and how to open a link to it for a new client session (pooled HTTP clients live here,
//! shared by every session).

use crate::settings::{ServerSettings, Transport};
use crate::upstream::{HttpLink, PipeLink, UpstreamLink};
use arc_swap::ArcSwap;
use std::time::Duration;
use toolgate_mcp::upstream::UpstreamError;
use toolgate_mcp::upstream::http::HttpUpstream;
use toolgate_mcp::upstream::legacy_sse::LegacySseUpstream;
use toolgate_mcp::upstream::stdio::StdioSpec;
use toolgate_policy::Policy;

/// How long connecting to a remote upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct ServerRuntime {
    pub name: String,
    pub settings: ServerSettings,
    pub policy: ArcSwap<Policy>,
    connector: Connector,
}

#[derive(Debug)]
enum Connector {
    Stdio(StdioSpec),
    Http(HttpUpstream),
    LegacySse(LegacySseUpstream),
}

impl ServerRuntime {
    pub fn new(settings: &ServerSettings) -> Result<Self, UpstreamError> {
        let connector =
            match &settings.transport {
                Transport::Stdio(spec) => Connector::Stdio(spec.clone()),
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
            connector,
        })
    }

    /// Opens a new link for a new client session.
    pub async fn connect(&self) -> Result<UpstreamLink, UpstreamError> {
        match &self.connector {
            Connector::Stdio(spec) => PipeLink::stdio(spec).map(UpstreamLink::Pipe),
            Connector::Http(http) => Ok(UpstreamLink::Http(HttpLink::new(http.clone()))),
            Connector::LegacySse(sse) => PipeLink::legacy_sse(sse, &self.name)
                .await
                .map(UpstreamLink::Pipe),
        }
    }
}
