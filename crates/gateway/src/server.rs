//! One configured upstream server at run time: its policy in force (swapped atomically on
//! reload) and how to open a link to it for a new client session (pooled HTTP clients and the
//! pool of stdio children live here).

use crate::settings::{ServerSettings, Transport};
use crate::upstream::stdio_pool::StdioPool;
use crate::upstream::{HttpLink, Opener, OwnPipe, UpstreamLink};
use arc_swap::ArcSwap;
use std::time::Duration;
use toolgate_mcp::upstream::http::HttpUpstream;
use toolgate_mcp::upstream::legacy_sse::LegacySseUpstream;
use toolgate_mcp::upstream::supervisor::UpstreamStatus;
use toolgate_mcp::upstream::{PeerLimits, UpstreamError};
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
    /// stdio children: one per grant, or per session (see [`StdioPool`]).
    Stdio(StdioPool),
    Http(HttpUpstream),
    LegacySse(LegacySseUpstream),
    /// Every session shares one server scripted in memory (the router's in-process tests).
    #[cfg(test)]
    Scripted(crate::upstream::scripted::ScriptedLink),
}

impl ServerRuntime {
    /// [`ServerRuntime::limited`] with the default limits (the CLI's one-off listings).
    pub fn new(settings: &ServerSettings) -> Result<Self, UpstreamError> {
        Self::limited(settings, PeerLimits::default())
    }

    /// The server's runtime, holding at most `limits` for it (`[limits]`, see
    /// [`crate::settings::Limits::peers`]).
    pub fn limited(settings: &ServerSettings, limits: PeerLimits) -> Result<Self, UpstreamError> {
        let max = limits.max_message_bytes;
        let connector = match &settings.transport {
            Transport::Stdio(spec) => {
                Connector::Stdio(StdioPool::new(spec.clone(), settings.children, limits))
            }
            Transport::Http { url, headers } => Connector::Http(
                HttpUpstream::new(url, headers.clone(), CONNECT_TIMEOUT)?
                    .with_max_message_bytes(max),
            ),
            Transport::LegacySse { url, headers } => Connector::LegacySse(
                LegacySseUpstream::new(url, headers.clone(), CONNECT_TIMEOUT)?
                    .with_max_message_bytes(max),
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

    /// Opens a new link for a session: who it is for decides whether a stdio child is shared.
    pub async fn connect(&self, opener: &Opener<'_>) -> Result<UpstreamLink, UpstreamError> {
        match &self.connector {
            Connector::Stdio(pool) => pool.connect(opener).await,
            Connector::Http(http) => Ok(UpstreamLink::Http(HttpLink::new(http.clone()))),
            Connector::LegacySse(sse) => OwnPipe::legacy_sse(sse, &self.name)
                .await
                .map(UpstreamLink::Own),
            #[cfg(test)]
            Connector::Scripted(link) => Ok(UpstreamLink::Scripted(link.clone())),
        }
    }

    /// The server `settings` names, answered by `link` instead of its transport.
    #[cfg(test)]
    pub(crate) fn scripted(
        settings: &ServerSettings,
        link: crate::upstream::scripted::ScriptedLink,
    ) -> Self {
        ServerRuntime {
            name: settings.name.clone(),
            settings: settings.clone(),
            policy: ArcSwap::new(settings.policy.clone()),
            tools_cache: Default::default(),
            connector: Connector::Scripted(link),
        }
    }

    /// The state of a stdio server's shared children (`None` for other transports).
    pub fn status(&self) -> Option<UpstreamStatus> {
        match &self.connector {
            Connector::Stdio(pool) => Some(pool.status()),
            _ => None,
        }
    }

    /// How many stdio children the server runs now (0 for other transports).
    pub fn children(&self) -> usize {
        match &self.connector {
            Connector::Stdio(pool) => pool.children(),
            _ => 0,
        }
    }

    /// Stops what the server holds for every session (the shared children and their process
    /// groups).
    pub async fn stop(&self) {
        if let Connector::Stdio(pool) = &self.connector {
            pool.stop().await;
        }
    }
}
