//! Where a message goes: the context a front establishes for it (who sent it, on which session,
//! towards which servers) and the route the pipeline resolves from it (the one server, its link,
//! its policy, and the bytes to send with names mapped).

use crate::Gateway;
use crate::aggregate::member::Member;
use crate::aggregate::session::AggregateSession;
use crate::identity::Caller;
use crate::screen::Methods;
use crate::server::ServerRuntime;
use crate::session::Session;
use crate::telemetry::{CallRecord, Outcome};
use crate::upstream::UpstreamLink;
use crate::wire::GatewayAnswer;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use toolgate_mcp::jsonrpc::Message;
use toolgate_policy::Policy;

/// What a front knows about a message before the pipeline takes it.
pub struct Context<'a> {
    pub caller: &'a Arc<Caller>,
    /// The session id (`""` before one exists).
    pub session: &'a str,
    /// Whether the client takes other messages before its answer (an SSE response, a stdio
    /// pipe); otherwise it gets the answer alone.
    pub streams: bool,
    /// How long the server may take to answer.
    pub upstream_timeout: Duration,
    pub target: Target<'a>,
}

/// The servers a session reaches.
pub enum Target<'a> {
    /// `/mcp/<server>`: the session's one server, in the protocol version the request names.
    Session {
        session: &'a Arc<Session>,
        protocol_version: Option<&'a str>,
    },
    /// `/mcp`: the server that owns what the request names.
    Aggregate {
        gw: &'a Arc<Gateway>,
        session: &'a Arc<AggregateSession>,
    },
    /// `toolgate wrap`: one local server under one policy.
    Direct(&'a Arc<Direct>),
}

/// A server reached without a gateway around it (`toolgate wrap`).
#[derive(Debug)]
pub struct Direct {
    pub name: String,
    pub link: UpstreamLink,
    pub policy: Arc<Policy>,
}

impl Direct {
    /// The server's process, when it is a stdio child (`wrap` passes signals on to it and exits
    /// with its code).
    pub fn stdio_child(&self) -> Option<&toolgate_mcp::upstream::stdio::StdioChild> {
        match &self.link {
            UpstreamLink::Pipe(pipe) => pipe.stdio_child(),
            _ => None,
        }
    }
}

/// What holds a route's link open for as long as its request needs it.
#[derive(Debug, Clone)]
pub(crate) enum LinkHolder {
    Session(Arc<Session>),
    Member(Arc<Member>),
    Direct(Arc<Direct>),
}

impl LinkHolder {
    pub(crate) fn link(&self) -> &UpstreamLink {
        match self {
            LinkHolder::Session(s) => &s.link,
            LinkHolder::Member(m) => &m.link,
            LinkHolder::Direct(d) => &d.link,
        }
    }
}

/// A change applied to every message relayed from the server to the client (the aggregate
/// endpoint tags server-request ids and resource URIs with their server).
pub type Rewrite = Arc<dyn Fn(Bytes) -> Bytes + Send + Sync>;

/// One request's way to its server.
pub(crate) struct Route {
    /// The server, as the record names it.
    pub server: String,
    pub link: LinkHolder,
    pub policy: Arc<Policy>,
    /// The bytes to send: the client's own, with only the names it must map spliced in.
    pub body: Bytes,
    /// A tool call's name as the server knows it, when the client used another.
    pub tool: Option<String>,
    pub protocol_version: Option<String>,
    pub rewrite: Option<Rewrite>,
    /// Where a filtered tool list is cached: the server and the session's client key.
    pub cache: Option<(Arc<ServerRuntime>, u64)>,
    /// The aggregate session to tell when the link fails.
    pub aggregate: Option<Arc<AggregateSession>>,
}

/// What resolving a request gives.
pub(crate) enum Resolved {
    /// On to the decision.
    Route(Box<Route>),
    /// Answered before any server is reached (an unknown name, an unreadable call).
    Answer(GatewayAnswer, Outcome),
    /// A request the aggregate endpoint answers itself (lists, `ping`, `logging/setLevel`).
    Local,
}

impl Context<'_> {
    /// The record of a request, opened before anything is decided.
    pub(crate) fn new_record(&self, method: &str) -> CallRecord {
        let (server, version) = match &self.target {
            Target::Session { session, .. } => (
                session.server.name.as_str(),
                self.caller
                    .policy_for(&session.server)
                    .version_hash()
                    .to_owned(),
            ),
            Target::Aggregate { .. } => ("", String::new()),
            Target::Direct(d) => (d.name.as_str(), d.policy.version_hash().to_owned()),
        };
        CallRecord::new(self.caller, self.session, server, method, &version)
    }

    /// The methods the session may use.
    pub(crate) fn methods(&self) -> Methods<'_> {
        match &self.target {
            Target::Session {
                session,
                protocol_version,
            } => Methods {
                version: *protocol_version,
                extra: &session.server.settings.extra_methods,
            },
            Target::Aggregate { session, .. } => Methods {
                version: Some(&session.protocol_version),
                extra: &[],
            },
            Target::Direct(_) => Methods::default(),
        }
    }

    /// Which server a request goes to, and with what bytes.
    pub(crate) async fn resolve(&self, msg: &Message<'_>, body: Bytes) -> Resolved {
        match &self.target {
            Target::Session {
                session,
                protocol_version,
            } => Resolved::Route(Box::new(Route {
                server: session.server.name.clone(),
                link: LinkHolder::Session((*session).clone()),
                policy: self.caller.policy_for(&session.server),
                body,
                tool: None,
                protocol_version: protocol_version.map(str::to_owned),
                rewrite: None,
                cache: Some((session.server.clone(), session.client_key)),
                aggregate: None,
            })),
            Target::Aggregate { gw, session } => {
                crate::aggregate::route::resolve(gw, session, msg, body).await
            }
            Target::Direct(d) => Resolved::Route(Box::new(Route {
                server: d.name.clone(),
                link: LinkHolder::Direct((*d).clone()),
                policy: d.policy.clone(),
                body,
                tool: None,
                protocol_version: None,
                rewrite: None,
                cache: None,
                aggregate: None,
            })),
        }
    }
}
