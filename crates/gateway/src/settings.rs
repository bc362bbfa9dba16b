//! The gateway's validated settings: what the binary's config loader produces and the runtime
//! consumes. Plain data; parsing and validation of the TOML file live in the binary.

use crate::telemetry::redact::Redaction;
use http::HeaderMap;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use toolgate_mcp::upstream::PeerLimits;
use toolgate_mcp::upstream::stdio::StdioSpec;
use toolgate_policy::Policy;

#[derive(Debug, Clone)]
pub struct Settings {
    /// The data plane's address (`/mcp…`, `/healthz`, `/readyz`).
    pub listen: SocketAddr,
    /// The admin plane's address (`/api`, `/ui`, `/metrics`); `None`: [`Settings::admin_address`]'s
    /// default.
    pub admin_listen: Option<SocketAddr>,
    pub servers: Vec<ServerSettings>,
    pub grants: Vec<GrantSettings>,
    /// Origins allowed to call the gateway from a browser, besides loopback ones.
    pub allowed_origins: Vec<String>,
    /// `Host` names the data plane answers to besides loopback ones (when it listens on loopback
    /// or every address) and the address it listens on (`*`: any).
    pub allowed_hosts: Vec<String>,
    /// Largest request body accepted on `/mcp`.
    pub max_body_bytes: usize,
    /// A session with no request for this long is closed (and its stdio child stopped).
    pub session_idle_timeout: Duration,
    /// How long one upstream request may take before the client gets an error.
    pub upstream_timeout: Duration,
    /// How long the gateway waits for an upstream's handshake or list on `/mcp` before going on
    /// without it.
    pub upstream_connect_timeout: Duration,
    /// Between a server's prefix and a tool's name on `/mcp` (`crm__findManyPeople`).
    pub name_separator: String,
    /// Items per page of the merged lists on `/mcp` (0: one page).
    pub list_page_size: usize,
    /// Where grants, the audit log and kill switches live (`sqlite://…`, `memory:`); `None`:
    /// nowhere (config grants only, no audit log).
    pub store: Option<String>,
    pub audit: AuditSettings,
    pub approvals: ApprovalSettings,
    /// `[limits]`: connections, timeouts and per-grant caps.
    pub limits: Limits,
    /// How long a stopping gateway lets in-flight calls finish (`[gateway] shutdown_grace`).
    pub shutdown_grace: Duration,
}

/// `[limits]`: how much one peer, grant or session may hold, and how long the gateway waits for
/// a slow client. Each default is far above what a real team uses and far below what exhausts
/// the machine; `docs/operations.md` says why each is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open connections to the data plane at most (further ones are refused with a 503).
    pub max_connections: usize,
    /// Open connections to the data plane from one peer address at most.
    pub max_connections_per_address: usize,
    /// Open connections to the admin plane at most, apart from the data plane's.
    pub admin_max_connections: usize,
    /// From a connection's first byte of a request (or its accept) to the end of the headers.
    pub header_read_timeout: Duration,
    /// From the end of a request's headers to the end of its body.
    pub body_read_timeout: Duration,
    /// A connection with no request in flight and no byte arriving is closed after this long.
    pub idle_timeout: Duration,
    /// Open sessions (on `/mcp/<server>` and `/mcp` together) per grant at most.
    pub sessions_per_grant: usize,
    /// Standalone GET streams per session at most.
    pub streams_per_session: usize,
    /// Approvals waiting for a decision per grant at most.
    pub pending_approvals_per_grant: usize,
    /// The largest message a server may send (a stdio line, an HTTP body, an SSE event); also
    /// what may wait for the client of one request before the request is cut off.
    pub max_upstream_message_bytes: usize,
    /// A peer that takes no byte of what the gateway writes to it for this long is cut off: a
    /// client's connection is closed, a stdio server stopped (a shared one restarted).
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            max_connections_per_address: 512,
            admin_max_connections: 128,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            sessions_per_grant: 1000,
            streams_per_session: 8,
            pending_approvals_per_grant: 100,
            max_upstream_message_bytes: toolgate_mcp::upstream::DEFAULT_MAX_MESSAGE_BYTES,
            write_timeout: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// What the gateway holds for one upstream server, and how long it waits for one to read.
    pub fn peers(&self) -> PeerLimits {
        PeerLimits {
            max_message_bytes: self.max_upstream_message_bytes,
            write_timeout: self.write_timeout,
            ..PeerLimits::default()
        }
    }
}

/// `[approvals]`: how long a held call's request stays open, how approval notifications are
/// signed and where their links point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalSettings {
    /// The HMAC key of webhook notifications (`X-Toolgate-Signature`); `None`: unsigned, unless
    /// `TOOLGATE_WEBHOOK_SECRET` is set.
    pub webhook_secret: Option<String>,
    /// The gateway's admin base URL, for the approve/deny links of notifications; `None`: no links.
    pub public_url: Option<String>,
    /// How long a held call's request stays open before the client is asked to retry (a policy's
    /// `approval.hold_max` overrides it).
    pub hold_max: Duration,
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        ApprovalSettings {
            webhook_secret: None,
            public_url: None,
            hold_max: crate::approvals::DEFAULT_HOLD_MAX,
        }
    }
}

/// What the audit log keeps.
#[derive(Debug, Clone, Default)]
pub struct AuditSettings {
    /// Record argument values (redacted) and not only their names.
    pub values: bool,
    pub redaction: Redaction,
    /// Records older than this are deleted (the chain stays verifiable).
    pub retention: Option<Duration>,
    /// What happens when the log cannot be written, and how durably it is written.
    pub policy: crate::telemetry::audit_policy::AuditPolicy,
    /// The chain's key and its signed checkpoints.
    pub chain: crate::telemetry::checkpoints::ChainSettings,
}

impl Settings {
    /// Where the admin plane listens: `[admin] listen`, else the data plane's address with the
    /// next port (any free port when the data plane takes any free port).
    pub fn admin_address(&self) -> SocketAddr {
        self.admin_listen.unwrap_or_else(|| {
            let port = match self.listen.port() {
                0 | u16::MAX => 0,
                p => p + 1,
            };
            SocketAddr::new(self.listen.ip(), port)
        })
    }

    pub fn server(&self, name: &str) -> Option<&ServerSettings> {
        self.servers.iter().find(|s| s.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub name: String,
    pub transport: Transport,
    pub policy: Arc<Policy>,
    /// The prefix of this server's names on `/mcp` (default: its name).
    pub prefix: Option<String>,
    /// stdio only: who shares a child, how many there may be, how long an unused one lives.
    pub children: StdioChildren,
    /// stdio only: list the server's tools when the gateway starts rather than on first use.
    pub eager_start: bool,
    /// Where the policy came from, for logs and reloads; `None` means allow-all.
    pub policy_path: Option<PathBuf>,
    /// `[servers.<name>.risk]`: the operator's category for a tool, which beats the classifier.
    pub risk: BTreeMap<String, toolgate_catalog::Category>,
    /// `extra_methods`: JSON-RPC request methods beyond MCP's that this server may be sent
    /// (experimental extensions); still audited.
    pub extra_methods: Vec<String>,
    /// How its tools are held to their pins (`[gateway]` defaults, `[servers.<name>]` overrides).
    pub pinning: crate::catalogue::rules::PinRules,
}

impl ServerSettings {
    /// A server reached over `transport` under `policy`, with every other setting at its
    /// default (no prefix, children shared per grant, started on first use, no risk overrides
    /// or extra methods, the gateway's pinning), as a config that names only these would give.
    pub fn new(name: &str, transport: Transport, policy: Policy) -> Self {
        ServerSettings {
            name: name.to_owned(),
            transport,
            policy: Arc::new(policy),
            prefix: None,
            children: Default::default(),
            eager_start: false,
            policy_path: None,
            risk: Default::default(),
            extra_methods: Vec::new(),
            pinning: Default::default(),
        }
    }
}

/// Which sessions share a stdio server's child (`[servers.<name>] share`). A child is never
/// shared across grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Share {
    /// The sessions of one grant whose clients declare no capability share one child; a session
    /// whose client declares any (roots, sampling, elicitation, …) gets its own.
    #[default]
    Grant,
    /// Every session gets its own child.
    Session,
}

impl Share {
    pub fn as_str(self) -> &'static str {
        match self {
            Share::Grant => "grant",
            Share::Session => "session",
        }
    }

    pub fn parse(text: &str) -> Option<Share> {
        match text {
            "grant" => Some(Share::Grant),
            "session" => Some(Share::Session),
            _ => None,
        }
    }
}

/// How a stdio server's children are shared, bounded and reaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StdioChildren {
    pub share: Share,
    /// Children of this server at most, shared and per-session together.
    pub max_children: usize,
    /// A shared child no session has used for this long is stopped.
    pub idle_timeout: Duration,
}

impl Default for StdioChildren {
    fn default() -> Self {
        StdioChildren {
            share: Share::Grant,
            max_children: 64,
            idle_timeout: Duration::from_secs(5 * 60),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    Stdio(StdioSpec),
    /// MCP Streamable HTTP.
    Http {
        url: String,
        headers: HeaderMap,
    },
    /// The legacy HTTP+SSE transport (protocol 2024-11-05): a GET stream and a POST endpoint.
    LegacySse {
        url: String,
        headers: HeaderMap,
    },
}

/// A credential from `[grants.<label>]`: whoever presents the token acts as `agent`.
#[derive(Debug, Clone)]
pub struct GrantSettings {
    pub label: String,
    pub agent: String,
    /// SHA-256 of the bearer token; the token itself is never stored.
    pub token_sha256: [u8; 32],
    /// Servers this grant may reach; empty means all.
    pub servers: Vec<String>,
    pub tags: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: None,
            servers: Vec::new(),
            grants: Vec::new(),
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            max_body_bytes: 4 * 1024 * 1024,
            session_idle_timeout: Duration::from_secs(30 * 60),
            upstream_timeout: Duration::from_secs(300),
            upstream_connect_timeout: Duration::from_secs(10),
            name_separator: "__".into(),
            list_page_size: 500,
            store: None,
            audit: AuditSettings::default(),
            approvals: ApprovalSettings::default(),
            limits: Limits::default(),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}
