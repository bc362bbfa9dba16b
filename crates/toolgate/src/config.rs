//! `toolgate.toml` in two stages: the raw TOML shape (serde, read so that every unknown key and
//! unreadable value is found in one run), then validation into the gateway's [`Settings`],
//! collecting every error (config and each policy it names) before failing, each with its
//! location, the key it is about and a hint.

mod admin;
mod errors;
mod keys;
mod tolerant;
mod wording;

pub use admin::AdminAccess;
pub use errors::ConfigErrors;
use errors::Ctx;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;
use toolgate_gateway::catalogue::rules::{NewTools, PinRules, PinningMode};
use toolgate_gateway::settings::{
    ApprovalSettings, AuditSettings, GrantSettings, Limits, ServerSettings, Settings, Share,
    StdioChildren, Transport,
};
use toolgate_gateway::telemetry::audit_policy::{AuditPolicy, Durability, OnFailure};
use toolgate_gateway::telemetry::checkpoints::ChainSettings;
use toolgate_mcp::upstream::child_env;
use toolgate_mcp::upstream::stdio::StdioSpec;
use toolgate_policy::{Policy, SourceFormat};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    gateway: RawGateway,
    #[serde(default)]
    servers: BTreeMap<String, Spanned<RawServer>>,
    #[serde(default)]
    grants: BTreeMap<String, Spanned<RawGrant>>,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    admin: RawAdmin,
    #[serde(default)]
    approvals: RawApprovals,
    #[serde(default)]
    limits: RawLimits,
}

/// `[limits]`: connections, read timeouts and per-grant caps (defaults in
/// `toolgate_gateway::settings::Limits`, reasons in docs/operations.md).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_connections: Option<Spanned<usize>>,
    max_connections_per_address: Option<Spanned<usize>>,
    admin_max_connections: Option<Spanned<usize>>,
    header_read_timeout: Option<Spanned<String>>,
    body_read_timeout: Option<Spanned<String>>,
    idle_timeout: Option<Spanned<String>>,
    sessions_per_grant: Option<Spanned<usize>>,
    streams_per_session: Option<Spanned<usize>>,
    pending_approvals_per_grant: Option<Spanned<usize>>,
    max_upstream_message_bytes: Option<Spanned<usize>>,
    write_timeout: Option<Spanned<String>>,
}

/// `[approvals]`: the webhook signing secret (`${ENV}` expanded) and the gateway's public admin
/// URL for the approve/deny links.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApprovals {
    webhook_secret: Option<Spanned<String>>,
    public_url: Option<Spanned<String>>,
    /// How long a held call's request stays open before the client is asked to retry.
    hold_max: Option<Spanned<String>>,
}

/// `[admin]`: where the admin plane listens, its token as its SHA-256 (or
/// `TOOLGATE_ADMIN_TOKEN` in the environment), role tokens and the web UI's mode
/// ([`admin`]).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    listen: Option<Spanned<String>>,
    token_sha256: Option<Spanned<String>>,
    /// `read-write` (default) or `read-only`.
    ui: Option<Spanned<String>>,
    /// `[admin.tokens.<label>]`: `role` and `token_sha256`.
    #[serde(default)]
    tokens: BTreeMap<String, Spanned<admin::RawAdminToken>>,
}

impl RawAdmin {
    fn access(&self) -> admin::RawAccess<'_> {
        admin::RawAccess {
            token_sha256: self.token_sha256.as_ref(),
            ui: self.ui.as_ref(),
            tokens: &self.tokens,
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    /// `keys` (default) or `values`.
    arguments: Option<Spanned<String>>,
    redact_keys: Option<Vec<String>>,
    #[serde(default)]
    redact_patterns: Vec<Spanned<String>>,
    retention: Option<Spanned<String>>,
    /// `refuse` (default) or `continue`: tool calls while the log cannot be written.
    on_failure: Option<Spanned<String>>,
    /// `batched` or `strict`: whether a call's record is on disk before it is forwarded.
    durability: Option<Spanned<String>>,
    /// How long the store may fail before the log counts as failing.
    max_lag: Option<Spanned<String>>,
    /// Records waiting to be written, at most.
    max_queue: Option<Spanned<usize>>,
    /// The audit key's file (default `toolgate.audit.key` beside this config).
    key_file: Option<Spanned<String>>,
    /// Where signed checkpoints are appended (default `toolgate.audit.checkpoints.jsonl`).
    checkpoints: Option<Spanned<String>>,
    /// A checkpoint after this many records of a stream.
    checkpoint_every: Option<Spanned<u64>>,
    /// And at least this often while records arrive.
    checkpoint_interval: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    listen: Option<Spanned<String>>,
    #[serde(default)]
    allowed_origins: Vec<String>,
    /// Host names the data plane answers to besides loopback and its own address.
    #[serde(default)]
    allowed_hosts: Vec<String>,
    max_body_bytes: Option<usize>,
    session_idle_timeout: Option<Spanned<String>>,
    upstream_timeout: Option<Spanned<String>>,
    upstream_connect_timeout: Option<Spanned<String>>,
    name_separator: Option<Spanned<String>>,
    list_page_size: Option<usize>,
    /// `sqlite://path` (default `sqlite://toolgate.db` beside the config), `memory:` or `none`.
    store: Option<Spanned<String>>,
    /// `enforce` (default), `warn` or `off`: what a tool whose definition changed since it was
    /// pinned gets.
    pinning: Option<Spanned<String>>,
    /// `quarantine` (default) or `allow`: what a tool new on an already pinned server gets.
    new_tools: Option<Spanned<String>>,
    /// How long a stopping gateway lets in-flight calls finish.
    shutdown_grace: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// stdio: variables of the gateway's environment the child gets besides the allow-list
    /// (never a `TOOLGATE_*` one).
    #[serde(default)]
    inherit_env: Vec<Spanned<String>>,
    cwd: Option<String>,
    url: Option<Spanned<String>>,
    /// For `url` servers: `streamable-http` (default) or `sse` (the legacy HTTP+SSE transport).
    transport: Option<Spanned<String>>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    policy: Option<Spanned<String>>,
    /// The prefix of this server's names on `/mcp` (default: its name).
    prefix: Option<Spanned<String>>,
    /// stdio: `true` is `share = "session"` (the older spelling).
    per_session: Option<Spanned<bool>>,
    /// stdio: `grant` (default: the sessions of one grant whose clients declare no capability
    /// share a child) or `session` (a child per session).
    share: Option<Spanned<String>>,
    /// JSON-RPC request methods beyond MCP's that this server may be sent.
    #[serde(default)]
    extra_methods: Vec<Spanned<String>>,
    /// stdio: the most children the server may run at once.
    max_children: Option<Spanned<usize>>,
    /// stdio: a shared child no session has used for this long is stopped.
    child_idle_timeout: Option<Spanned<String>>,
    /// stdio: `lazy` (default: on first use) or `eager` (with the gateway).
    start: Option<Spanned<String>>,
    /// Operator overrides of the catalogue's risk class, tool name → category.
    #[serde(default)]
    risk: BTreeMap<String, Spanned<String>>,
    /// Overrides `[gateway] pinning` for this server.
    pinning: Option<Spanned<String>>,
    /// Overrides `[gateway] new_tools` for this server.
    new_tools: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    agent: String,
    token_sha256: Spanned<String>,
    servers: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    tags: Vec<String>,
}

/// The store URL: relative SQLite paths are resolved against the config's folder.
fn store_url(cx: &mut Ctx<'_>, base: &Path, raw: Option<&Spanned<String>>) -> Option<String> {
    let Some(raw) = raw else {
        return Some(format!("sqlite://{}", base.join("toolgate.db").display()));
    };
    let url = raw.get_ref();
    if url == "none" {
        return None;
    }
    if url.starts_with("memory:") {
        return Some(url.clone());
    }
    match url.strip_prefix("sqlite://") {
        Some(path) if !path.is_empty() => {
            let path = if Path::new(path).is_absolute() {
                PathBuf::from(path)
            } else {
                base.join(path)
            };
            Some(format!("sqlite://{}", path.display()))
        }
        _ => {
            cx.at(
                raw.span(),
                format!("invalid store {url:?}"),
                Some("use \"sqlite://toolgate.db\" (a file, relative to this config), \"memory:\" or \"none\""),
            );
            None
        }
    }
}

fn approval_settings(
    cx: &mut Ctx<'_>,
    raw: &RawApprovals,
    env: &dyn Fn(&str) -> Option<String>,
) -> ApprovalSettings {
    let mut out = ApprovalSettings::default();
    if let Some(secret) = &raw.webhook_secret {
        match expand_env(secret.get_ref(), env) {
            // Empty: as if unset (unsigned, or `TOOLGATE_WEBHOOK_SECRET`).
            Ok(v) => out.webhook_secret = (!v.is_empty()).then_some(v),
            Err(missing) => cx.at(
                secret.span(),
                format!("approvals.webhook_secret refers to ${{{missing}}}, which is not set"),
                Some("set the variable in the gateway's environment"),
            ),
        }
    }
    if let Some(url) = &raw.public_url {
        let u = url.get_ref();
        match is_http_url(u) {
            true => out.public_url = Some(u.clone()),
            false => cx.at(
                url.span(),
                format!("approvals.public_url {u:?} is not an http(s) URL"),
                Some("write the gateway's admin base URL as reached by approvers, e.g. \"https://toolgate.example.com\""),
            ),
        }
    }
    if let Some(v) = &raw.hold_max {
        match parse_duration(v.get_ref()) {
            Some(d) if !d.is_zero() => out.hold_max = d,
            _ => cx.at(
                v.span(),
                format!(
                    "approvals.hold_max {:?} is not a duration longer than zero",
                    v.get_ref()
                ),
                Some("use e.g. \"45s\" or \"2m\": under the time your clients wait for a request"),
            ),
        }
    }
    out
}

/// An absolute http(s) URL with a host.
fn is_http_url(u: &str) -> bool {
    let rest = u
        .strip_prefix("http://")
        .or_else(|| u.strip_prefix("https://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !u.chars().any(char::is_whitespace)
    })
}

fn audit_settings(cx: &mut Ctx<'_>, raw: &RawAudit) -> AuditSettings {
    let mut audit = AuditSettings::default();
    match raw
        .arguments
        .as_ref()
        .map(|a| (a.get_ref().as_str(), a.span()))
    {
        None | Some(("keys", _)) => {}
        Some(("values", _)) => audit.values = true,
        Some((other, span)) => cx.at(
            span,
            format!("audit.arguments {other:?} is not a choice"),
            Some("use \"keys\" (argument names only) or \"values\" (names and redacted values)"),
        ),
    }
    if let Some(keys) = &raw.redact_keys {
        audit.redaction.keys = keys.clone();
    }
    for p in &raw.redact_patterns {
        match regex::Regex::new(p.get_ref()) {
            Ok(re) => audit.redaction.patterns.push(re),
            Err(e) => cx.at(
                p.span(),
                format!("audit.redact_patterns: invalid regex: {e}"),
                None,
            ),
        }
    }
    if let Some(r) = &raw.retention {
        match parse_duration(r.get_ref()) {
            Some(d) => audit.retention = Some(d),
            None => cx.at(
                r.span(),
                format!("invalid duration {:?}", r.get_ref()),
                Some("use e.g. \"30d\" or \"12h\""),
            ),
        }
    }
    audit_policy(cx, raw, &mut audit.policy);
    audit
}

/// `[audit] key_file`, `checkpoints`, `checkpoint_every`, `checkpoint_interval`; relative paths
/// are beside the config.
fn chain_settings(cx: &mut Ctx<'_>, base: &Path, raw: &RawAudit) -> ChainSettings {
    let mut chain = ChainSettings::default();
    let beside = |p: &Path| base.join(p);
    chain.key_file = beside(&chain.key_file);
    chain.checkpoint_file = beside(&chain.checkpoint_file);
    if let Some(v) = &raw.key_file {
        chain.key_file = beside(Path::new(v.get_ref()));
    }
    if let Some(v) = &raw.checkpoints {
        chain.checkpoint_file = beside(Path::new(v.get_ref()));
    }
    if let Some(v) = &raw.checkpoint_every {
        match *v.get_ref() {
            0 => cx.at(
                v.span(),
                "audit.checkpoint_every must be at least 1".into(),
                Some("e.g. 1000 records"),
            ),
            n => chain.checkpoint_every = n,
        }
    }
    if let Some(v) = &raw.checkpoint_interval {
        match parse_duration(v.get_ref()) {
            Some(d) if !d.is_zero() => chain.checkpoint_interval = d,
            _ => cx.at(
                v.span(),
                format!(
                    "audit.checkpoint_interval {:?} is not a duration longer than zero",
                    v.get_ref()
                ),
                Some("use e.g. \"5m\""),
            ),
        }
    }
    chain
}

/// `[audit] on_failure`, `durability`, `max_lag`, `max_queue`.
fn audit_policy(cx: &mut Ctx<'_>, raw: &RawAudit, policy: &mut AuditPolicy) {
    if let Some(v) = &raw.on_failure {
        match OnFailure::parse(v.get_ref()) {
            Some(o) => policy.on_failure = o,
            None => cx.at(
                v.span(),
                format!("audit.on_failure {:?} is not a choice", v.get_ref()),
                Some("use \"refuse\" (tool calls are refused while the audit log cannot record them) or \"continue\" (they run, logged as errors)"),
            ),
        }
    }
    if let Some(v) = &raw.durability {
        match Durability::parse(v.get_ref()) {
            Some(d) => policy.durability = d,
            None => cx.at(
                v.span(),
                format!("audit.durability {:?} is not a choice", v.get_ref()),
                Some("use \"strict\" (a call's record is on disk before the call is forwarded) or \"batched\" (records are written in batches just after)"),
            ),
        }
    }
    if let Some(v) = &raw.max_lag {
        match parse_duration(v.get_ref()) {
            Some(d) if !d.is_zero() => policy.max_lag = d,
            _ => cx.at(
                v.span(),
                format!(
                    "audit.max_lag {:?} is not a duration longer than zero",
                    v.get_ref()
                ),
                Some("use e.g. \"5s\""),
            ),
        }
    }
    if let Some(v) = &raw.max_queue {
        match *v.get_ref() {
            n if n >= 100 => policy.queue_capacity = n,
            n => cx.at(
                v.span(),
                format!("audit.max_queue {n} is too small"),
                Some("use at least 100 records (default 65536)"),
            ),
        }
    }
}

/// `[limits]`: every count at least 1, every timeout longer than zero.
fn limit_settings(cx: &mut Ctx<'_>, raw: &RawLimits) -> Limits {
    let mut limits = Limits::default();
    for (key, field, target) in [
        (
            "max_connections",
            &raw.max_connections,
            &mut limits.max_connections,
        ),
        (
            "max_connections_per_address",
            &raw.max_connections_per_address,
            &mut limits.max_connections_per_address,
        ),
        (
            "admin_max_connections",
            &raw.admin_max_connections,
            &mut limits.admin_max_connections,
        ),
        (
            "sessions_per_grant",
            &raw.sessions_per_grant,
            &mut limits.sessions_per_grant,
        ),
        (
            "streams_per_session",
            &raw.streams_per_session,
            &mut limits.streams_per_session,
        ),
        (
            "pending_approvals_per_grant",
            &raw.pending_approvals_per_grant,
            &mut limits.pending_approvals_per_grant,
        ),
        (
            "max_upstream_message_bytes",
            &raw.max_upstream_message_bytes,
            &mut limits.max_upstream_message_bytes,
        ),
    ] {
        match field.as_ref().map(|v| (*v.get_ref(), v.span())) {
            None => {}
            Some((0, span)) => cx.at(
                span,
                format!("limits.{key} must be at least 1"),
                Some("every limit is on; raise it rather than turn it off"),
            ),
            Some((n, _)) => *target = n,
        }
    }
    for (key, field, target) in [
        (
            "header_read_timeout",
            &raw.header_read_timeout,
            &mut limits.header_read_timeout,
        ),
        (
            "body_read_timeout",
            &raw.body_read_timeout,
            &mut limits.body_read_timeout,
        ),
        ("idle_timeout", &raw.idle_timeout, &mut limits.idle_timeout),
        (
            "write_timeout",
            &raw.write_timeout,
            &mut limits.write_timeout,
        ),
    ] {
        if let Some(v) = field {
            match parse_duration(v.get_ref()) {
                Some(d) if !d.is_zero() => *target = d,
                _ => cx.at(
                    v.span(),
                    format!(
                        "limits.{key} {:?} is not a duration longer than zero",
                        v.get_ref()
                    ),
                    Some("use e.g. \"10s\" or \"2m\""),
                ),
            }
        }
    }
    limits
}

/// Reads and validates a configuration file and every policy it names.
pub fn load(path: &Path) -> Result<Settings, ConfigErrors> {
    parse_with(&read(path)?, path, &|name| std::env::var(name).ok(), false)
}

/// Like [`load`], but a `policy` file that does not exist yet is taken as allow-all: `toolgate
/// init` reads the servers of a configuration whose policy it is about to write.
pub fn load_before_policies_exist(path: &Path) -> Result<Settings, ConfigErrors> {
    parse_with(&read(path)?, path, &|name| std::env::var(name).ok(), true)
}

fn read(path: &Path) -> Result<String, ConfigErrors> {
    std::fs::read_to_string(path).map_err(|e| ConfigErrors::unreadable(path, e))
}

/// Validates configuration text; `path` locates relative policy files and names the file in
/// errors, `env` resolves `${NAME}` references.
pub fn parse(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigErrors> {
    parse_with(text, path, env, false)
}

fn parse_with(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    missing_policy_is_allow_all: bool,
) -> Result<Settings, ConfigErrors> {
    let file = path.display().to_string();
    let mut cx = Ctx::new(&file, text, missing_policy_is_allow_all);
    let raw: RawConfig = match tolerant::read(text) {
        Err(syntax) => {
            cx.syntax(&syntax);
            return Err(cx.finish().expect_err("a syntax error was recorded"));
        }
        Ok(reading) => {
            cx.structure(&reading.problems);
            match reading.value {
                Some(raw) => raw,
                None => return Err(cx.finish().expect_err("the problems were recorded")),
            }
        }
    };
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut settings = Settings::default();

    if let Some(listen) = &raw.gateway.listen {
        match listen.get_ref().parse::<SocketAddr>() {
            Ok(a) => settings.listen = a,
            Err(_) => cx.at(
                listen.span(),
                format!("invalid listen address {:?}", listen.get_ref()),
                Some(
                    "use HOST:PORT with an IP address, e.g. \"127.0.0.1:8080\" or \"0.0.0.0:8080\"",
                ),
            ),
        }
    }
    settings.allowed_origins = raw.gateway.allowed_origins.clone();
    settings.allowed_hosts = raw.gateway.allowed_hosts.clone();
    if let Some(n) = raw.gateway.max_body_bytes {
        settings.max_body_bytes = n;
    }
    for (field, target) in [
        (
            &raw.gateway.session_idle_timeout,
            &mut settings.session_idle_timeout,
        ),
        (
            &raw.gateway.upstream_timeout,
            &mut settings.upstream_timeout,
        ),
        (
            &raw.gateway.upstream_connect_timeout,
            &mut settings.upstream_connect_timeout,
        ),
    ] {
        if let Some(v) = field {
            match parse_duration(v.get_ref()) {
                Some(d) => *target = d,
                None => cx.at(
                    v.span(),
                    format!("invalid duration {:?}", v.get_ref()),
                    Some("use e.g. \"90s\", \"30m\", \"2h\""),
                ),
            }
        }
    }

    if let Some(n) = raw.gateway.list_page_size {
        settings.list_page_size = n;
    }
    settings.store = store_url(&mut cx, &base, raw.gateway.store.as_ref());
    settings.audit = audit_settings(&mut cx, &raw.audit);
    settings.audit.chain = chain_settings(&mut cx, &base, &raw.audit);
    settings.approvals = approval_settings(&mut cx, &raw.approvals, env);
    settings.limits = limit_settings(&mut cx, &raw.limits);
    if let Some(v) = &raw.gateway.shutdown_grace {
        match parse_duration(v.get_ref()) {
            Some(d) => settings.shutdown_grace = d,
            None => cx.at(
                v.span(),
                format!("invalid duration {:?}", v.get_ref()),
                Some("use e.g. \"30s\": how long in-flight calls may take to finish when the gateway stops"),
            ),
        }
    }
    if let Some(sep) = &raw.gateway.name_separator {
        if toolgate_gateway::aggregate::names::is_valid(sep.get_ref()) && sep.get_ref().len() <= 4 {
            settings.name_separator = sep.get_ref().clone();
        } else {
            cx.at(
                sep.span(),
                format!("invalid name_separator {:?}", sep.get_ref()),
                Some("use 1 to 4 characters from [a-zA-Z0-9_-], e.g. \"__\" or \"-\""),
            );
        }
    }

    admin_listen(&mut cx, &raw, &mut settings, env);
    admin::access(&mut cx, &raw.admin.access());
    // In document order, so that errors come out in the order of the file.
    let mut servers: Vec<_> = raw.servers.iter().collect();
    servers.sort_by_key(|(_, s)| s.span().start);
    let default_pins = pin_rules(
        &mut cx,
        "gateway",
        PinRules::default(),
        (&raw.gateway.pinning, &raw.gateway.new_tools),
    );
    for (name, server) in servers {
        if let Some(mut s) = validate_server(&mut cx, &base, name, server, env) {
            let raw = server.get_ref();
            let table = format!("servers.{name}");
            s.pinning = pin_rules(
                &mut cx,
                &table,
                default_pins,
                (&raw.pinning, &raw.new_tools),
            );
            settings.servers.push(s);
        }
    }
    settings.servers.sort_by(|a, b| a.name.cmp(&b.name));
    for (label, grant) in &raw.grants {
        let g = grant.get_ref();
        let hash = g.token_sha256.get_ref();
        let mut token_sha256 = [0u8; 32];
        if hex::decode_to_slice(hash, &mut token_sha256).is_err() {
            cx.at(
                g.token_sha256.span(),
                format!("grants.{label}.token_sha256 is not a SHA-256 in hex"),
                Some("write the 64 hex digits of sha256(token), e.g. `printf %s \"$TOKEN\" | sha256sum`"),
            );
        }
        let servers = g
            .servers
            .as_ref()
            .map(|s| s.get_ref().clone())
            .unwrap_or_default();
        for s in &servers {
            if !raw.servers.contains_key(s) && !cx.was_left_out(&keys::child_path("servers", s)) {
                let span = g.servers.as_ref().map_or(grant.span(), Spanned::span);
                let known: Vec<String> = raw.servers.keys().map(|k| format!("{k:?}")).collect();
                let help = if known.is_empty() {
                    "this file defines no servers; add a [servers.<name>] table".to_owned()
                } else {
                    format!("servers defined in this file: {}", known.join(", "))
                };
                cx.at(
                    span,
                    format!("grants.{label} names unknown server {s:?}"),
                    Some(&help),
                );
            }
        }
        settings.grants.push(GrantSettings {
            label: label.clone(),
            agent: g.agent.clone(),
            token_sha256,
            servers,
            tags: g.tags.clone(),
        });
    }
    cx.finish()?;
    Ok(settings)
}

fn validate_server(
    cx: &mut Ctx<'_>,
    base: &Path,
    name: &str,
    server: &Spanned<RawServer>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<ServerSettings> {
    let s = server.get_ref();
    let valid_name = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid_name {
        cx.at(
            server.span(),
            format!("invalid server name {name:?}"),
            Some("server names are used in URLs: letters, digits, '-' and '_' only"),
        );
    }
    let transport = match (&s.command, &s.url) {
        (Some(_), Some(url)) => {
            cx.at(
                url.span(),
                format!("servers.{name} has both `command` and `url`"),
                Some("a server is either a stdio command or an HTTP url"),
            );
            None
        }
        (None, None) => {
            cx.at(
                server.span(),
                format!("servers.{name} needs `command` (stdio) or `url` (Streamable HTTP)"),
                Some("add command = \"...\" to run a local stdio server, or url = \"https://...\" for a remote one"),
            );
            None
        }
        (Some(command), None) => {
            let mut env_pairs = Vec::new();
            for (k, v) in &s.env {
                if let Some(own) = env_references(v).find(|n| child_env::is_gateway_own(n)) {
                    cx.at(
                        server.span(),
                        format!("servers.{name}.env.{k} refers to ${{{own}}}, one of toolgate's own variables"),
                        Some("toolgate's own variables (its tokens and secrets) never reach a server; give the server a credential of its own"),
                    );
                    continue;
                }
                match expand_env(v, env) {
                    Ok(v) => env_pairs.push((k.clone(), v)),
                    Err(missing) => cx.at(
                        server.span(),
                        format!(
                            "servers.{name}.env.{k} refers to ${{{missing}}}, which is not set"
                        ),
                        Some("set the variable in the gateway's environment"),
                    ),
                }
            }
            Some(Transport::Stdio(StdioSpec {
                server: name.to_owned(),
                command: command.clone(),
                args: s.args.clone(),
                env: env_pairs,
                inherit_env: inherit_env(cx, name, &s.inherit_env),
                cwd: s.cwd.as_ref().map(|c| base.join(c)),
            }))
        }
        (None, Some(url)) => {
            let u = url.get_ref();
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                cx.at(
                    url.span(),
                    format!("servers.{name}.url must start with http:// or https://"),
                    Some("write the full URL of the server's MCP endpoint, e.g. \"https://mcp.example.com/mcp\""),
                );
            }
            let mut headers = HeaderMap::new();
            for (k, v) in &s.headers {
                let value = match expand_env(v, env) {
                    Ok(v) => v,
                    Err(missing) => {
                        cx.at(
                            url.span(),
                            format!("servers.{name}.headers.{k} refers to ${{{missing}}}, which is not set"),
                            Some("set the variable in the gateway's environment"),
                        );
                        continue;
                    }
                };
                match (
                    HeaderName::try_from(k.as_str()),
                    HeaderValue::try_from(value),
                ) {
                    (Ok(hn), Ok(hv)) => {
                        headers.insert(hn, hv);
                    }
                    _ => cx.at(
                        url.span(),
                        format!("servers.{name}.headers.{k} is not a valid HTTP header"),
                        Some("header names are letters, digits and -; values are visible ASCII without line breaks"),
                    ),
                }
            }
            match s
                .transport
                .as_ref()
                .map(|t| (t.get_ref().as_str(), t.span()))
            {
                None | Some(("streamable-http" | "http", _)) => Some(Transport::Http {
                    url: u.clone(),
                    headers,
                }),
                Some(("sse", _)) => Some(Transport::LegacySse {
                    url: u.clone(),
                    headers,
                }),
                Some((other, span)) => {
                    cx.at(
                        span,
                        format!("servers.{name}.transport {other:?} is not a transport"),
                        Some("use \"streamable-http\" (the default) or \"sse\" (legacy HTTP+SSE)"),
                    );
                    None
                }
            }
        }
    };
    let (policy, policy_path) = match &s.policy {
        None => (Arc::new(Policy::allow_all()), None),
        Some(p) => {
            let path = base.join(p.get_ref());
            match read_policy(&path) {
                Ok(policy) => (Arc::new(policy), Some(path)),
                Err(PolicyError::Read(e))
                    if e.kind() == std::io::ErrorKind::NotFound
                        && cx.missing_policy_is_allow_all =>
                {
                    (Arc::new(Policy::allow_all()), Some(path))
                }
                Err(PolicyError::Read(e)) => {
                    cx.at(
                        p.span(),
                        format!(
                            "servers.{name}.policy: cannot read {}: {e}",
                            path.display()
                        ),
                        Some("a relative policy path is resolved against the folder of this configuration file"),
                    );
                    return None;
                }
                Err(PolicyError::Invalid(d)) => {
                    cx.policy(p.span(), d);
                    return None;
                }
            }
        }
    };
    let prefix = match &s.prefix {
        Some(p) if toolgate_gateway::aggregate::names::is_valid(p.get_ref()) => {
            Some(p.get_ref().clone())
        }
        Some(p) => {
            cx.at(
                p.span(),
                format!(
                    "servers.{name}.prefix {:?} is not a valid name prefix",
                    p.get_ref()
                ),
                Some("use characters from [a-zA-Z0-9_-] only"),
            );
            None
        }
        None => None,
    };
    if s.command.is_none() {
        for (key, span) in [
            ("per_session", s.per_session.as_ref().map(Spanned::span)),
            ("share", s.share.as_ref().map(Spanned::span)),
            ("max_children", s.max_children.as_ref().map(Spanned::span)),
            (
                "child_idle_timeout",
                s.child_idle_timeout.as_ref().map(Spanned::span),
            ),
            ("start", s.start.as_ref().map(Spanned::span)),
            ("inherit_env", s.inherit_env.first().map(Spanned::span)),
        ] {
            if let Some(span) = span {
                cx.at(
                    span,
                    format!("servers.{name}.{key} applies to stdio servers only"),
                    Some("remove it, or give the server a `command`"),
                );
            }
        }
    }
    if s.command.is_some() {
        if let Some(t) = &s.transport {
            cx.at(
                t.span(),
                format!("servers.{name}.transport applies to `url` servers only"),
                None,
            );
        }
    }
    let eager_start = match s.start.as_ref().map(|v| (v.get_ref().as_str(), v.span())) {
        None | Some(("lazy", _)) => false,
        Some(("eager", _)) => true,
        Some((other, span)) => {
            cx.at(
                span,
                format!("servers.{name}.start {other:?} is not a start mode"),
                Some("use \"lazy\" or \"eager\""),
            );
            false
        }
    };
    let mut risk = BTreeMap::new();
    for (tool, category) in &s.risk {
        match toolgate_catalog::Category::parse(category.get_ref()) {
            Some(c) => {
                risk.insert(tool.clone(), c);
            }
            None => cx.at(
                category.span(),
                format!(
                    "servers.{name}.risk.{tool} {:?} is not a risk category",
                    category.get_ref()
                ),
                Some("use \"read\", \"write\", \"execute\", \"destructive\" or \"financial\""),
            ),
        }
    }
    Some(ServerSettings {
        extra_methods: extra_methods(cx, name, s),
        children: stdio_children(cx, name, s),
        risk,
        pinning: PinRules::default(),
        eager_start,
        name: name.to_owned(),
        transport: transport?,
        policy,
        prefix,
        policy_path,
    })
}

/// `extra_methods` of a server: method names (no spaces or control characters) that are not
/// MCP's own, since those are forwarded anyway.
fn extra_methods(cx: &mut Ctx<'_>, name: &str, s: &RawServer) -> Vec<String> {
    let mut methods = Vec::new();
    for m in &s.extra_methods {
        let method = m.get_ref();
        let known = toolgate_mcp::methods::classify(method, None, &[])
            != toolgate_mcp::methods::MethodKind::Unknown;
        let valid = !method.is_empty()
            && method.len() <= 128
            && method.bytes().all(|b| b.is_ascii_graphic());
        if !valid || known {
            cx.at(
                m.span(),
                format!("servers.{name}.extra_methods: {method:?} is not an extra method"),
                Some(if known {
                    "MCP's own methods are forwarded already: list only experimental ones"
                } else {
                    "write the method as the server expects it, e.g. \"x/search\" (printable ASCII, no spaces, at most 128 bytes)"
                }),
            );
        } else {
            methods.push(method.clone());
        }
    }
    methods
}

/// `share` (or the older `per_session`), `max_children` and `child_idle_timeout` of a server.
fn stdio_children(cx: &mut Ctx<'_>, name: &str, s: &RawServer) -> StdioChildren {
    let mut children = StdioChildren::default();
    match (&s.share, &s.per_session) {
        (Some(share), Some(_)) => cx.at(
            share.span(),
            format!("servers.{name} has both `share` and `per_session`"),
            Some("per_session = true is share = \"session\": keep `share` only"),
        ),
        (Some(share), None) => match Share::parse(share.get_ref()) {
            Some(mode) => children.share = mode,
            None => cx.at(
                share.span(),
                format!("servers.{name}.share {:?} is not a sharing mode", share.get_ref()),
                Some("use \"grant\" (the sessions of one grant share a child; clients that declare capabilities get their own) or \"session\" (a child per session)"),
            ),
        },
        (None, Some(per_session)) if *per_session.get_ref() => children.share = Share::Session,
        (None, _) => {}
    }
    if let Some(max) = &s.max_children {
        match *max.get_ref() {
            0 => cx.at(
                max.span(),
                format!("servers.{name}.max_children must be at least 1"),
                None,
            ),
            n => children.max_children = n,
        }
    }
    if let Some(idle) = &s.child_idle_timeout {
        match parse_duration(idle.get_ref()) {
            Some(d) if !d.is_zero() => children.idle_timeout = d,
            _ => cx.at(
                idle.span(),
                format!("invalid duration {:?}", idle.get_ref()),
                Some("use e.g. \"5m\" or \"90s\""),
            ),
        }
    }
    children
}

/// `pinning` and `new_tools` of one table over `defaults`.
fn pin_rules(
    cx: &mut Ctx<'_>,
    table: &str,
    defaults: PinRules,
    (pinning, new_tools): (&Option<Spanned<String>>, &Option<Spanned<String>>),
) -> PinRules {
    let mut rules = defaults;
    if let Some(v) = pinning {
        match PinningMode::parse(v.get_ref()) {
            Some(mode) => rules.mode = mode,
            None => cx.at(
                v.span(),
                format!("{table}.pinning {:?} is not a pinning mode", v.get_ref()),
                Some("use \"enforce\", \"warn\" or \"off\""),
            ),
        }
    }
    if let Some(v) = new_tools {
        match NewTools::parse(v.get_ref()) {
            Some(n) => rules.new_tools = n,
            None => cx.at(
                v.span(),
                format!("{table}.new_tools {:?} is not a choice", v.get_ref()),
                Some("use \"quarantine\" or \"allow\""),
            ),
        }
    }
    rules
}

/// Why a policy file could not be used.
enum PolicyError {
    Read(std::io::Error),
    Invalid(toolgate_policy::Diagnostics),
}

fn read_policy(path: &Path) -> Result<Policy, PolicyError> {
    let text = std::fs::read_to_string(path).map_err(PolicyError::Read)?;
    let origin = path.display().to_string();
    toolgate_policy::compile(&text, &origin, SourceFormat::from_path(&origin))
        .map_err(PolicyError::Invalid)
}

/// Reads and compiles one policy file; the error lists every diagnostic.
pub fn load_policy(path: &Path) -> Result<Policy, String> {
    read_policy(path).map_err(|e| match e {
        PolicyError::Read(e) => format!("{}: cannot read policy: {e}", path.display()),
        PolicyError::Invalid(d) => d.to_string(),
    })
}

/// `[admin] listen`; and the admin plane on a non-loopback address needs a token, since only a
/// loopback listener may serve without one.
fn admin_listen(
    cx: &mut Ctx<'_>,
    raw: &RawConfig,
    settings: &mut Settings,
    env: &dyn Fn(&str) -> Option<String>,
) {
    if let Some(listen) = &raw.admin.listen {
        match listen.get_ref().parse::<SocketAddr>() {
            Ok(a) => settings.admin_listen = Some(a),
            Err(_) => {
                cx.at(
                    listen.span(),
                    format!("invalid admin listen address {:?}", listen.get_ref()),
                    Some("write an IP address and port, e.g. \"127.0.0.1:8081\""),
                );
                return;
            }
        }
    }
    let has_token = raw.admin.token_sha256.is_some()
        || !raw.admin.tokens.is_empty()
        || env("TOOLGATE_ADMIN_TOKEN").is_some_and(|t| !t.is_empty());
    let address = settings.admin_address();
    if address.ip().is_loopback() || has_token {
        return;
    }
    let span = match (&raw.admin.listen, &raw.gateway.listen) {
        (Some(l), _) | (None, Some(l)) => l.span(),
        (None, None) => 0..0,
    };
    cx.at(
        span,
        format!(
            "the admin plane would listen on {address}, which is not a loopback address, without an admin token"
        ),
        Some(
            "set [admin] token_sha256 (or TOOLGATE_ADMIN_TOKEN), or keep the admin plane on loopback with [admin] listen = \"127.0.0.1:8081\"",
        ),
    );
}

/// The admin credentials and UI mode of a configuration that [`load`] accepted; `None` if it
/// cannot be read any more.
pub fn admin_access(path: &Path) -> Option<AdminAccess> {
    let text = std::fs::read_to_string(path).ok()?;
    let raw: RawConfig = toml::from_str(&text).ok()?;
    let file = path.display().to_string();
    let mut cx = Ctx::new(&file, &text, false);
    let access = admin::access(&mut cx, &raw.admin.access());
    cx.finish().ok()?;
    Some(access)
}

/// `servers.<name>.inherit_env`: variable names, none of them toolgate's own.
fn inherit_env(cx: &mut Ctx<'_>, server: &str, names: &[Spanned<String>]) -> Vec<String> {
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let name = n.get_ref();
        if child_env::is_gateway_own(name) {
            cx.at(
                n.span(),
                format!("servers.{server}.inherit_env names {name:?}, one of toolgate's own variables"),
                Some("toolgate's own variables (its tokens and secrets) never reach a server; remove it, and give the server what it needs under `env`"),
            );
        } else if !child_env::is_valid_name(name) {
            cx.at(
                n.span(),
                format!("servers.{server}.inherit_env: {name:?} is not a variable name"),
                Some("use the variable's exact name: letters, digits and _"),
            );
        } else {
            out.push(name.clone());
        }
    }
    out
}

/// The names a value refers to as `${NAME}`.
fn env_references(value: &str) -> impl Iterator<Item = &str> {
    value
        .split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
}

/// Expands `${NAME}` references; returns the first missing name on failure.
fn expand_env(value: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &after[..end];
        out.push_str(&env(name).ok_or_else(|| name.to_owned())?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `"90s"`, `"30m"`, `"2h"`, `"1d"` or plain seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().ok()?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        "ms" => return Some(Duration::from_millis(n)),
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> String {
        parse(text, Path::new("toolgate.toml"), &|n| {
            (n == "TOKEN").then(|| "t0k".into())
        })
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn reads_servers_and_grants() {
        let s = parse(
            r#"
[gateway]
listen = "127.0.0.1:0"
upstream_timeout = "30s"
[servers.everything]
url = "http://127.0.0.1:3001/mcp"
headers = { "X-Api-Key" = "k-${TOKEN}" }
[servers.files]
command = "node"
args = ["server.js", "/tmp"]
env = { A = "${TOKEN}" }
[grants.alice-laptop]
agent = "alice"
token_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
servers = ["everything"]
"#,
            Path::new("/etc/toolgate/toolgate.toml"),
            &|n| (n == "TOKEN").then(|| "t0k".into()),
        )
        .unwrap();
        assert_eq!(s.listen.port(), 0);
        assert_eq!(s.upstream_timeout, Duration::from_secs(30));
        let Transport::Http { headers, .. } = &s.server("everything").unwrap().transport else {
            panic!()
        };
        assert_eq!(headers["x-api-key"], "k-t0k");
        let Transport::Stdio(spec) = &s.server("files").unwrap().transport else {
            panic!()
        };
        assert_eq!(spec.env, vec![("A".into(), "t0k".into())]);
        assert_eq!(s.grants[0].agent, "alice");
    }

    #[test]
    fn pinning_defaults_and_overrides() {
        let s = parse(
            "[gateway]\npinning = \"warn\"\n[servers.a]\ncommand = \"x\"\n\
             [servers.b]\ncommand = \"y\"\npinning = \"enforce\"\nnew_tools = \"allow\"\n",
            Path::new("t.toml"),
            &|_| None,
        )
        .unwrap();
        let a = s.server("a").unwrap().pinning;
        assert_eq!(
            (a.mode, a.new_tools),
            (PinningMode::Warn, NewTools::Quarantine)
        );
        let b = s.server("b").unwrap().pinning;
        assert_eq!(
            (b.mode, b.new_tools),
            (PinningMode::Enforce, NewTools::Allow)
        );
        let e = errors(
            "[gateway]\npinning = \"strict\"\n[servers.a]\ncommand = \"x\"\nnew_tools = \"maybe\"\n",
        );
        assert!(
            e.contains(":2:11: gateway.pinning \"strict\" is not a pinning mode"),
            "{e}"
        );
        assert!(
            e.contains("servers.a.new_tools \"maybe\" is not a choice"),
            "{e}"
        );
    }

    #[test]
    fn reports_every_error_with_its_line() {
        let e = errors(
            r#"[gateway]
listen = "localhost"
[servers.a]
command = "x"
url = "http://y"
[servers.b]
args = []
[grants.g]
agent = "x"
token_sha256 = "nothex"
servers = ["nope"]
"#,
        );
        assert!(
            e.contains("toolgate.toml:2:10: invalid listen address"),
            "{e}"
        );
        assert!(e.contains("has both `command` and `url`"), "{e}");
        assert!(e.contains("servers.b needs `command`"), "{e}");
        assert!(
            e.contains("toolgate.toml:10:16: grants.g.token_sha256 is not a SHA-256"),
            "{e}"
        );
        assert!(e.contains("unknown server \"nope\""), "{e}");
    }

    #[test]
    fn unknown_keys_and_missing_env_are_errors() {
        let e = errors("[gateway]\nlisten_addr = \"x\"\n");
        assert_eq!(
            e,
            "toolgate.toml:2:1: unknown key \"listen_addr\"\n  at: gateway.listen_addr\n  help: did you mean \"listen\"?"
        );
        let e = errors("[servers.a]\ncommand = \"x\"\nenv = { K = \"${MISSING}\" }\n");
        assert!(e.contains("${MISSING}"), "{e}");
    }

    #[test]
    fn inherit_env_never_names_toolgate_s_own_variables() {
        let s = parse(
            "[servers.a]\ncommand = \"x\"\nenv = { FOO = \"bar\" }\ninherit_env = [\"INHERITED_X\", \"GITHUB_TOKEN\"]\n",
            Path::new("toolgate.toml"),
            &|_| None,
        )
        .unwrap();
        let Transport::Stdio(spec) = &s.server("a").unwrap().transport else {
            panic!()
        };
        assert_eq!(spec.inherit_env, ["INHERITED_X", "GITHUB_TOKEN"]);
        assert_eq!(spec.env, [("FOO".to_owned(), "bar".to_owned())]);

        let e = errors(
            "[servers.a]\ncommand = \"x\"\ninherit_env = [\"PATH\", \"TOOLGATE_ADMIN_TOKEN\", \"A-B\"]\n",
        );
        assert!(
            e.contains("toolgate.toml:3:24: servers.a.inherit_env names \"TOOLGATE_ADMIN_TOKEN\", one of toolgate's own variables"),
            "{e}"
        );
        assert!(
            e.contains("toolgate.toml:3:48: servers.a.inherit_env: \"A-B\" is not a variable name"),
            "{e}"
        );
        let e =
            errors("[servers.a]\ncommand = \"x\"\nenv = { K = \"${TOOLGATE_WEBHOOK_SECRET}\" }\n");
        assert!(
            e.contains("servers.a.env.K refers to ${TOOLGATE_WEBHOOK_SECRET}, one of toolgate's own variables"),
            "{e}"
        );
        let e = errors("[servers.a]\nurl = \"http://x/mcp\"\ninherit_env = [\"HOME\"]\n");
        assert!(
            e.contains("toolgate.toml:3:16: servers.a.inherit_env applies to stdio servers only"),
            "{e}"
        );
    }

    /// Unknown keys, wrong types and bad values anywhere come out in one run, in file order,
    /// with what is wrong with the rest of the file; a key that could not be read is not
    /// reported again as missing.
    #[test]
    fn structural_and_semantic_errors_come_out_together() {
        let e = errors(
            "[gateway]\nlisten = \"127.0.0.1:0\"\nmax_body_bytes = \"1MB\"\n\
             [servers.a]\ncommand = 5\nperr_session = true\n\
             [servers.b]\nurl = \"http://x/mcp\"\ntransport = \"grpc\"\n\
             [grants.g]\ntoken_sha256 = \"00\"\nservers = [\"a\"]\n",
        );
        let heads: Vec<&str> = e.lines().filter(|l| !l.starts_with("  ")).collect();
        assert_eq!(
            heads,
            [
                "toolgate.toml:3:18: wrong type for \"max_body_bytes\": expected a non-negative integer, found a string",
                "toolgate.toml:5:11: wrong type for \"command\": expected a string, found an integer",
                "toolgate.toml:6:1: unknown key \"perr_session\"",
                "toolgate.toml:9:13: servers.b.transport \"grpc\" is not a transport",
                "toolgate.toml:10:1: [grants.g] is missing the required key \"agent\"",
            ],
            "{e}"
        );
        assert!(
            e.contains("\n  at: servers.a.perr_session\n  help: did you mean \"per_session\"?"),
            "{e}"
        );
    }

    #[test]
    fn limits_default_to_far_above_a_team_and_each_can_be_set() {
        let s = parse("", Path::new("toolgate.toml"), &|_| None).unwrap();
        assert_eq!(s.limits, Limits::default());
        assert_eq!(s.shutdown_grace, Duration::from_secs(30));
        let s = parse(
            "[gateway]\nshutdown_grace = \"5s\"\n\
             [limits]\nmax_connections = 100\nmax_connections_per_address = 10\nadmin_max_connections = 5\n\
             header_read_timeout = \"2s\"\nbody_read_timeout = \"3s\"\nidle_timeout = \"4s\"\n\
             sessions_per_grant = 6\nstreams_per_session = 7\npending_approvals_per_grant = 8\n\
             max_upstream_message_bytes = 1048576\nwrite_timeout = \"9s\"\n",
            Path::new("toolgate.toml"),
            &|_| None,
        )
        .unwrap();
        assert_eq!(s.shutdown_grace, Duration::from_secs(5));
        assert_eq!(
            s.limits,
            Limits {
                max_connections: 100,
                max_connections_per_address: 10,
                admin_max_connections: 5,
                header_read_timeout: Duration::from_secs(2),
                body_read_timeout: Duration::from_secs(3),
                idle_timeout: Duration::from_secs(4),
                sessions_per_grant: 6,
                streams_per_session: 7,
                pending_approvals_per_grant: 8,
                max_upstream_message_bytes: 1 << 20,
                write_timeout: Duration::from_secs(9),
            }
        );
        let e = errors(
            "[gateway]\nshutdown_grace = \"soon\"\n\
             [limits]\nsessions_per_grant = 0\nheader_read_timeout = \"0s\"\nmax_sessions = 3\n",
        );
        for expected in [
            "toolgate.toml:2:18: invalid duration \"soon\"",
            "toolgate.toml:4:22: limits.sessions_per_grant must be at least 1",
            "toolgate.toml:5:23: limits.header_read_timeout \"0s\" is not a duration longer than zero",
            "toolgate.toml:6:1: unknown key \"max_sessions\"",
        ] {
            assert!(e.contains(expected), "{expected}\n---\n{e}");
        }
    }

    #[test]
    fn stdio_children_are_shared_per_grant_by_default_and_bounded() {
        let s = parse(
            "[servers.a]\ncommand = \"x\"\n\
             [servers.b]\ncommand = \"x\"\nshare = \"session\"\nmax_children = 3\nchild_idle_timeout = \"90s\"\n\
             [servers.c]\ncommand = \"x\"\nper_session = true\n",
            Path::new("toolgate.toml"),
            &|_| None,
        )
        .unwrap();
        assert_eq!(s.server("a").unwrap().children, StdioChildren::default());
        assert_eq!(StdioChildren::default().share, Share::Grant);
        assert_eq!(
            s.server("b").unwrap().children,
            StdioChildren {
                share: Share::Session,
                max_children: 3,
                idle_timeout: Duration::from_secs(90),
            }
        );
        assert_eq!(s.server("c").unwrap().children.share, Share::Session);

        let e = errors(
            "[servers.a]\ncommand = \"x\"\nshare = \"all\"\nmax_children = 0\nchild_idle_timeout = \"soon\"\n\
             [servers.b]\ncommand = \"x\"\nshare = \"grant\"\nper_session = true\n\
             [servers.c]\nurl = \"http://x/mcp\"\nshare = \"grant\"\n",
        );
        for expected in [
            "toolgate.toml:3:9: servers.a.share \"all\" is not a sharing mode",
            "toolgate.toml:4:16: servers.a.max_children must be at least 1",
            "toolgate.toml:5:22: invalid duration \"soon\"",
            "toolgate.toml:8:9: servers.b has both `share` and `per_session`",
            "toolgate.toml:12:9: servers.c.share applies to stdio servers only",
        ] {
            assert!(e.contains(expected), "{expected}\n---\n{e}");
        }
    }

    #[test]
    fn approvals_table() {
        let env = |n: &str| (n == "HOOK").then(|| "s3cret".to_owned());
        let s = parse(
            "[approvals]\nwebhook_secret = \"k-${HOOK}\"\npublic_url = \"https://gw.example/\"\n",
            Path::new("toolgate.toml"),
            &env,
        )
        .unwrap();
        assert_eq!(s.approvals.webhook_secret.as_deref(), Some("k-s3cret"));
        assert_eq!(
            s.approvals.public_url.as_deref(),
            Some("https://gw.example/")
        );
        let s = parse("", Path::new("toolgate.toml"), &env).unwrap();
        assert_eq!(s.approvals, ApprovalSettings::default());
        let e = errors("[approvals]\nwebhook_secret = \"${NOPE}\"\n");
        assert!(
            e.contains("toolgate.toml:2:18") && e.contains("${NOPE}"),
            "{e}"
        );
        let e = errors("[approvals]\npublic_url = \"gw.example\"\n");
        assert!(e.contains("approvals.public_url"), "{e}");
        assert!(errors("[approvals]\nsecret = \"x\"\n").contains("unknown key \"secret\""));
        let hold_max = |text: &str| {
            parse(text, Path::new("toolgate.toml"), &env).map(|s| s.approvals.hold_max)
        };
        assert_eq!(hold_max("").unwrap(), Duration::from_secs(45));
        assert_eq!(
            hold_max("[approvals]\nhold_max = \"2m\"\n").unwrap(),
            Duration::from_secs(120)
        );
        for bad in ["soon", "0s"] {
            let e = errors(&format!("[approvals]\nhold_max = \"{bad}\"\n"));
            assert!(
                e.contains("toolgate.toml:2:12") && e.contains("approvals.hold_max"),
                "{e}"
            );
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("15"), Some(Duration::from_secs(15)));
        assert_eq!(parse_duration("soon"), None);
    }
}
