//! The kill switch contract: flags that stop traffic globally, to one server or for one grant, kept in
//! the store so that they survive a restart and hold on every replica.

use std::fmt;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// What a kill switch stops.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "scope", content = "target", rename_all = "snake_case")]
pub enum KillScope {
    /// Every call through the gateway.
    Global,
    /// Every call to this server.
    Server(String),
    /// Every call made with this grant (by label).
    Grant(String),
}

impl KillScope {
    /// `global`, `server` or `grant`.
    pub fn kind(&self) -> &'static str {
        match self {
            KillScope::Global => "global",
            KillScope::Server(_) => "server",
            KillScope::Grant(_) => "grant",
        }
    }

    /// The server or grant label; empty for [`KillScope::Global`].
    pub fn target(&self) -> &str {
        match self {
            KillScope::Global => "",
            KillScope::Server(t) | KillScope::Grant(t) => t,
        }
    }

    /// The inverse of ([`KillScope::kind`], [`KillScope::target`]); `None` for an unknown kind.
    pub fn from_parts(kind: &str, target: &str) -> Option<KillScope> {
        match kind {
            "global" => Some(KillScope::Global),
            "server" => Some(KillScope::Server(target.to_owned())),
            "grant" => Some(KillScope::Grant(target.to_owned())),
            _ => None,
        }
    }
}

impl fmt::Display for KillScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KillScope::Global => f.write_str("global"),
            KillScope::Server(s) => write!(f, "server {s:?}"),
            KillScope::Grant(g) => write!(f, "grant {g:?}"),
        }
    }
}

/// An engaged kill switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillSwitch {
    #[serde(flatten)]
    pub scope: KillScope,
    /// Shown to the agent whose call it stops.
    pub reason: Option<String>,
    pub engaged_at_ms: u64,
}

/// Kill switches shared by every request of a gateway (or of several, for a shared database).
pub trait KillSwitchStore: Send + Sync + 'static {
    /// Engages the switch for `scope`; engaging an engaged switch replaces its reason and time.
    fn engage(
        &self,
        scope: KillScope,
        reason: Option<String>,
        now_ms: u64,
    ) -> BoxFuture<'_, Result<KillSwitch, StoreError>>;

    /// Releases the switch; `false` when it was not engaged.
    fn release<'a>(&'a self, scope: &'a KillScope) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Every engaged switch, ordered by scope.
    fn list(&self) -> BoxFuture<'_, Result<Vec<KillSwitch>, StoreError>>;
}

/// The switch that stops a call to `server` made with `grant`, if any: the global one first, then the
/// server's, then the grant's.
pub fn blocking<'a>(
    switches: &'a [KillSwitch],
    server: &str,
    grant: Option<&str>,
) -> Option<&'a KillSwitch> {
    let find = |want: &dyn Fn(&KillScope) -> bool| switches.iter().find(|s| want(&s.scope));
    find(&|s| matches!(s, KillScope::Global))
        .or_else(|| find(&|s| matches!(s, KillScope::Server(n) if n == server)))
        .or_else(|| find(&|s| matches!((s, grant), (KillScope::Grant(g), Some(w)) if g == w)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sw(scope: KillScope) -> KillSwitch {
        KillSwitch {
            scope,
            reason: None,
            engaged_at_ms: 0,
        }
    }

    #[test]
    fn blocking_prefers_global_then_server_then_grant() {
        let switches = [
            sw(KillScope::Grant("ci".into())),
            sw(KillScope::Server("crm".into())),
        ];
        assert_eq!(
            blocking(&switches, "crm", Some("ci")).map(|s| &s.scope),
            Some(&KillScope::Server("crm".into()))
        );
        assert_eq!(
            blocking(&switches, "files", Some("ci")).map(|s| &s.scope),
            Some(&KillScope::Grant("ci".into()))
        );
        assert!(blocking(&switches, "files", Some("alice")).is_none());
        assert!(blocking(&switches, "files", None).is_none());
        let mut all = switches.to_vec();
        all.push(sw(KillScope::Global));
        assert_eq!(
            blocking(&all, "files", None).map(|s| &s.scope),
            Some(&KillScope::Global)
        );
    }

    #[test]
    fn scope_round_trips_through_parts() {
        for s in [
            KillScope::Global,
            KillScope::Server("a".into()),
            KillScope::Grant("b".into()),
        ] {
            assert_eq!(KillScope::from_parts(s.kind(), s.target()), Some(s));
        }
        assert_eq!(KillScope::from_parts("planet", ""), None);
    }
}
