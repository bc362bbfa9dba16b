//! One configured upstream server at run time: its transport, its policy in force (swapped
//! atomically on reload), and the pooled HTTP client when it is remote.

use crate::settings::{ServerSettings, Transport};
use crate::upstream::UpstreamLink;
use arc_swap::ArcSwap;
use std::time::Duration;
use toolgate_mcp::upstream::UpstreamError;
use toolgate_mcp::upstream::http::HttpUpstream;
use toolgate_policy::Policy;

#[derive(Debug)]
pub struct ServerRuntime {
    pub name: String,
    pub transport: Transport,
    pub policy: ArcSwap<Policy>,
    http: Option<HttpUpstream>,
}

impl ServerRuntime {
    pub fn new(settings: &ServerSettings) -> Result<Self, UpstreamError> {
        let http = match &settings.transport {
            Transport::Http { url, headers } => Some(HttpUpstream::new(
                url,
                headers.clone(),
                Duration::from_secs(10),
            )?),
            Transport::Stdio(_) => None,
        };
        Ok(ServerRuntime {
            name: settings.name.clone(),
            transport: settings.transport.clone(),
            policy: ArcSwap::new(settings.policy.clone()),
            http,
        })
    }

    /// Opens a new link for a new client session.
    pub fn connect(&self) -> Result<UpstreamLink, UpstreamError> {
        match (&self.transport, &self.http) {
            (_, Some(http)) => Ok(UpstreamLink::http(http.clone())),
            (Transport::Stdio(spec), None) => UpstreamLink::stdio(spec),
            (Transport::Http { url, .. }, None) => Err(UpstreamError::Connect {
                url: url.clone(),
                reason: "no HTTP client".into(),
            }),
        }
    }
}
