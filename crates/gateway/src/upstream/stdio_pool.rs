//! Which stdio child a new client session talks to. A child is never shared across grants, and a
//! client that declares capabilities never shares one: the sessions of one grant whose clients
//! declare none share that grant's supervised child (initialized by the gateway, declaring no
//! capability, so it can neither list tools that need one nor ask anyone for roots, sampling or
//! elicitation); every other session — a client that declares roots, sampling or elicitation, a
//! server with `share = "session"`, the gateway's own listings — gets a child of its own,
//! initialized with its own `initialize`, and replaced when it dies ([`OwnPipe`]). Children per
//! server are bounded (`max_children`), and a grant's child that no session has used for
//! `child_idle_timeout` is stopped. Every child holds at most `[limits]` for its server
//! ([`PeerLimits`]).

use super::{OwnPipe, SharedLink, UpstreamLink};
use crate::settings::{Share, StdioChildren};
use parking_lot::Mutex;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::time::Instant;
use toolgate_mcp::upstream::client_caps::ClientCapabilities;
use toolgate_mcp::upstream::stdio::StdioSpec;
use toolgate_mcp::upstream::supervisor::{SupervisedStdio, SupervisorOptions, UpstreamStatus};
use toolgate_mcp::upstream::{PeerLimits, UpstreamError};

/// Who a new link is for.
#[derive(Debug, Clone, Copy)]
pub struct Opener<'a> {
    /// The client session (or the gateway's own session) the link belongs to.
    pub session: &'a str,
    /// The grant the session acts for; `None` for the gateway's own sessions (catalogue, admin
    /// listings), which never share.
    pub grant: Option<&'a str>,
    /// The `params` of the session's `initialize`: the client's capabilities decide whether it
    /// may share a child.
    pub init_params: Option<&'a RawValue>,
}

/// The children of one stdio server.
pub struct StdioPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    server: String,
    spec: StdioSpec,
    rules: StdioChildren,
    limits: PeerLimits,
    state: Mutex<PoolState>,
}

#[derive(Default)]
struct PoolState {
    /// The shared child of each grant.
    grants: HashMap<String, GrantChild>,
    /// Children of sessions of their own.
    own: usize,
    /// The reaper of unused grant children runs.
    reaping: bool,
    stopped: bool,
}

struct GrantChild {
    supervisor: Arc<SupervisedStdio>,
    /// Sessions holding a link to it.
    sessions: usize,
    /// Since when no session holds one.
    unused_since: Option<Instant>,
}

impl PoolState {
    fn children(&self) -> usize {
        self.grants.len() + self.own
    }
}

impl std::fmt::Debug for StdioPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.state.lock();
        f.debug_struct("StdioPool")
            .field("server", &self.inner.server)
            .field("grants", &state.grants.len())
            .field("own", &state.own)
            .finish()
    }
}

impl StdioPool {
    pub fn new(spec: StdioSpec, rules: StdioChildren, limits: PeerLimits) -> StdioPool {
        StdioPool {
            inner: Arc::new(PoolInner {
                server: spec.server.clone(),
                spec,
                rules,
                limits,
                state: Mutex::default(),
            }),
        }
    }

    /// A link for a new session: the grant's shared child, or a child of its own. Fails when
    /// the server already runs `max_children` children and none of them is unused.
    pub async fn connect(&self, opener: &Opener<'_>) -> Result<UpstreamLink, UpstreamError> {
        let shares = self.inner.rules.share == Share::Grant
            && !ClientCapabilities::of_initialize(opener.init_params).any();
        match opener.grant {
            Some(grant) if shares => self.grant_child(opener.session, grant),
            _ => self.own_child(),
        }
    }

    fn own_child(&self) -> Result<UpstreamLink, UpstreamError> {
        {
            let mut state = self.inner.state.lock();
            self.inner.make_room(&mut state)?;
            state.own += 1;
        }
        // Given back when the link is dropped, or at once if the child cannot start.
        let lease = ChildLease {
            pool: Arc::downgrade(&self.inner),
            held: Held::Own,
        };
        let child = OwnPipe::start(&self.inner.spec, self.inner.limits, lease)?;
        Ok(UpstreamLink::Own(child))
    }

    fn grant_child(&self, session: &str, grant: &str) -> Result<UpstreamLink, UpstreamError> {
        let mut state = self.inner.state.lock();
        if !state.grants.contains_key(grant) {
            self.inner.make_room(&mut state)?;
            let options = SupervisorOptions {
                limits: self.inner.limits,
                ..SupervisorOptions::default()
            };
            let supervisor = Arc::new(SupervisedStdio::new(self.inner.spec.clone(), options));
            state.grants.insert(
                grant.to_owned(),
                GrantChild {
                    supervisor,
                    sessions: 0,
                    unused_since: None,
                },
            );
            if !state.reaping {
                state.reaping = true;
                tokio::spawn(reap(Arc::downgrade(&self.inner)));
            }
        }
        let child = state.grants.get_mut(grant).expect("inserted above");
        child.sessions += 1;
        child.unused_since = None;
        let supervisor = child.supervisor.clone();
        drop(state);
        let lease = ChildLease {
            pool: Arc::downgrade(&self.inner),
            held: Held::Grant(grant.to_owned()),
        };
        Ok(UpstreamLink::Shared(
            SharedLink::new(supervisor, session).holding(lease),
        ))
    }

    /// The server as a whole: parked when any child is parked (with its reason), else the most
    /// eventful state of its shared children (restarting, starting, running), else idle.
    pub fn status(&self) -> UpstreamStatus {
        let statuses: Vec<UpstreamStatus> = {
            let state = self.inner.state.lock();
            state
                .grants
                .values()
                .map(|c| c.supervisor.status())
                .collect()
        };
        let rank = |s: &UpstreamStatus| match s {
            UpstreamStatus::Parked { .. } => 5,
            UpstreamStatus::Restarting { .. } => 4,
            UpstreamStatus::Starting => 3,
            UpstreamStatus::Running { .. } => 2,
            UpstreamStatus::Idle => 1,
            UpstreamStatus::Stopped => 0,
        };
        statuses
            .into_iter()
            .max_by_key(rank)
            .filter(|s| *s != UpstreamStatus::Stopped)
            .unwrap_or(UpstreamStatus::Idle)
    }

    /// Children running or reserved now: shared ones and sessions' own.
    pub fn children(&self) -> usize {
        self.inner.state.lock().children()
    }

    /// Stops every shared child (sessions' own children end with their sessions) and refuses
    /// new links.
    pub async fn stop(&self) {
        let supervisors: Vec<Arc<SupervisedStdio>> = {
            let mut state = self.inner.state.lock();
            state.stopped = true;
            state.grants.drain().map(|(_, c)| c.supervisor).collect()
        };
        futures_util::future::join_all(supervisors.iter().map(|s| s.stop())).await;
    }
}

impl PoolInner {
    /// Makes sure one more child fits: stops the longest-unused grant child when the server is
    /// at its limit; fails when every child is in use.
    fn make_room(&self, state: &mut PoolState) -> Result<(), UpstreamError> {
        if state.stopped {
            return Err(UpstreamError::Closed(format!(
                "upstream {} is stopped",
                self.server
            )));
        }
        if state.children() < self.rules.max_children {
            return Ok(());
        }
        let unused = state
            .grants
            .iter()
            .filter_map(|(grant, c)| Some((c.unused_since?, grant.clone())))
            .min();
        let Some((_, grant)) = unused else {
            tracing::warn!(server = %self.server, limit = self.rules.max_children, "stdio server at its limit of children; session refused");
            return Err(UpstreamError::TooManyChildren {
                server: self.server.clone(),
                limit: self.rules.max_children,
            });
        };
        if let Some(child) = state.grants.remove(&grant) {
            tracing::info!(server = %self.server, "an unused shared child makes room for a new one");
            tokio::spawn(async move { child.supervisor.stop().await });
        }
        Ok(())
    }

    fn give_back(&self, held: &Held) {
        let mut state = self.state.lock();
        match held {
            Held::Own => state.own = state.own.saturating_sub(1),
            Held::Grant(grant) => {
                if let Some(child) = state.grants.get_mut(grant) {
                    child.sessions = child.sessions.saturating_sub(1);
                    if child.sessions == 0 {
                        child.unused_since = Some(Instant::now());
                    }
                }
            }
        }
    }
}

/// Stops grant children no session has used for the idle timeout, until the pool is gone.
/// A parked child is kept (it holds no process, and its state tells why the server is down).
async fn reap(pool: Weak<PoolInner>) {
    let tick = match pool.upgrade() {
        Some(p) => {
            (p.rules.idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(30))
        }
        None => return,
    };
    loop {
        tokio::time::sleep(tick).await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        let idle = pool.rules.idle_timeout;
        let expired: Vec<GrantChild> = {
            let mut state = pool.state.lock();
            if state.stopped {
                return;
            }
            let now = Instant::now();
            let grants: Vec<String> = state
                .grants
                .iter()
                .filter(|(_, c)| {
                    c.unused_since
                        .is_some_and(|t| now.duration_since(t) >= idle)
                        && !matches!(c.supervisor.status(), UpstreamStatus::Parked { .. })
                })
                .map(|(g, _)| g.clone())
                .collect();
            grants
                .iter()
                .filter_map(|g| state.grants.remove(g))
                .collect()
        };
        for child in expired {
            tracing::info!(server = %pool.server, idle = ?idle, "stopping an unused shared child");
            child.supervisor.stop().await;
        }
    }
}

/// A link's place among its server's children, given back when the link is dropped.
pub struct ChildLease {
    pool: Weak<PoolInner>,
    held: Held,
}

enum Held {
    Own,
    Grant(String),
}

impl Drop for ChildLease {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.upgrade() {
            pool.give_back(&self.held);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(share: Share, max_children: usize, idle: Duration) -> StdioPool {
        StdioPool::new(
            StdioSpec {
                server: "cat".into(),
                command: "cat".into(),
                args: Vec::new(),
                env: Vec::new(),
                inherit_env: Vec::new(),
                cwd: None,
            },
            StdioChildren {
                share,
                max_children,
                idle_timeout: idle,
            },
            PeerLimits::default(),
        )
    }

    fn params(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    fn opener<'a>(session: &'a str, grant: Option<&'a str>, init: &'a RawValue) -> Opener<'a> {
        Opener {
            session,
            grant,
            init_params: Some(init),
        }
    }

    #[tokio::test]
    async fn sessions_of_one_grant_share_and_grants_never_do() {
        let p = pool(Share::Grant, 8, Duration::from_secs(60));
        let plain = params(r#"{"capabilities":{}}"#);
        let a1 = p.connect(&opener("a1", Some("a"), &plain)).await.unwrap();
        let a2 = p.connect(&opener("a2", Some("a"), &plain)).await.unwrap();
        let b1 = p.connect(&opener("b1", Some("b"), &plain)).await.unwrap();
        assert!(matches!(
            (&a1, &a2, &b1),
            (
                UpstreamLink::Shared(_),
                UpstreamLink::Shared(_),
                UpstreamLink::Shared(_)
            )
        ));
        assert_eq!(p.children(), 2, "one child for grant a, one for grant b");
        // A client that declares a capability, and the gateway's own sessions, get their own.
        let roots = params(r#"{"capabilities":{"roots":{}}}"#);
        let own = p.connect(&opener("a3", Some("a"), &roots)).await.unwrap();
        let gateway = p.connect(&opener("cat", None, &plain)).await.unwrap();
        assert!(matches!(
            (&own, &gateway),
            (UpstreamLink::Own(_), UpstreamLink::Own(_))
        ));
        assert_eq!(p.children(), 4);
        drop((own, gateway));
        assert_eq!(
            p.children(),
            2,
            "own children are given back with their links"
        );
        p.stop().await;
    }

    #[tokio::test]
    async fn share_session_gives_every_session_its_own_child() {
        let p = pool(Share::Session, 8, Duration::from_secs(60));
        let plain = params(r#"{"capabilities":{}}"#);
        let a = p.connect(&opener("a1", Some("a"), &plain)).await.unwrap();
        let b = p.connect(&opener("a2", Some("a"), &plain)).await.unwrap();
        assert!(matches!(
            (&a, &b),
            (UpstreamLink::Own(_), UpstreamLink::Own(_))
        ));
        assert_eq!(p.children(), 2);
        p.stop().await;
    }

    #[tokio::test]
    async fn the_limit_is_clear_and_an_unused_shared_child_makes_room() {
        let p = pool(Share::Grant, 2, Duration::from_secs(60));
        let plain = params(r#"{"capabilities":{}}"#);
        let a = p.connect(&opener("a1", Some("a"), &plain)).await.unwrap();
        let _b = p.connect(&opener("b1", Some("b"), &plain)).await.unwrap();
        let err = p
            .connect(&opener("c1", Some("c"), &plain))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains(
                "server cat already runs 2 stdio children, its limit (servers.cat.max_children)"
            ),
            "{err}"
        );
        // Grant a's child is no longer used: it makes room for grant c's.
        drop(a);
        let _c = p.connect(&opener("c1", Some("c"), &plain)).await.unwrap();
        assert_eq!(p.children(), 2);
        p.stop().await;
    }

    #[tokio::test]
    async fn an_unused_shared_child_is_stopped_after_the_idle_timeout() {
        let p = pool(Share::Grant, 8, Duration::from_millis(300));
        let plain = params(r#"{"capabilities":{}}"#);
        let a = p.connect(&opener("a1", Some("a"), &plain)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(p.children(), 1, "in use: kept");
        drop(a);
        let deadline = Instant::now() + Duration::from_secs(5);
        while p.children() > 0 {
            assert!(Instant::now() < deadline, "the unused child was not reaped");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        p.stop().await;
    }
}
