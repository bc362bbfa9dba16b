//! `toolgate grant create|list|revoke|rotate|expiry`: bearer credentials in the store. A token is
//! printed once (alone on stdout) and only its SHA-256 is stored; a running gateway honours a new,
//! revoked or rotated grant, and a changed expiry, on the next request.

use super::{Failure, StoreArgs, format_ms, format_opt_ms, now_ms};
use clap::{ArgGroup, Args, Subcommand};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use toolgate_policy::SourceFormat;
use toolgate_store::{Grant, NewGrant, StoreError, token};

#[derive(Args)]
pub struct GrantArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: GrantCommand,
}

#[derive(Subcommand)]
pub enum GrantCommand {
    /// Create a grant and print its token, once.
    Create(CreateArgs),
    /// List the grants (never their tokens).
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a grant: its token is refused from the next request on.
    Revoke {
        /// The grant's label.
        label: String,
    },
    /// Give a grant a new token (printed once); the old one stops working at once.
    Rotate {
        /// The grant's label.
        label: String,
    },
    /// Change when a grant stops working: a past instant (or `0s`) stops it at once, a later one
    /// or `--never` makes an expired grant work again.
    Expiry(ExpiryArgs),
}

#[derive(Args)]
#[command(group(ArgGroup::new("when").required(true).args(["expires", "never"])))]
pub struct ExpiryArgs {
    /// The grant's label.
    pub label: String,
    /// The grant stops working after this long from now (`30d`, `12h`; `0s`: at once) or at this
    /// RFC 3339 time.
    #[arg(long)]
    pub expires: Option<String>,
    /// The grant never expires.
    #[arg(long)]
    pub never: bool,
}

#[derive(Args)]
pub struct CreateArgs {
    /// The agent the grant belongs to.
    #[arg(long)]
    pub agent: String,
    /// A unique name for the grant (`alice-laptop`).
    #[arg(long)]
    pub label: String,
    /// A server the grant may reach (repeat for several).
    #[arg(long = "server", required = true)]
    pub servers: Vec<String>,
    /// The grant's policy: `FILE` for every --server, or `SERVER=FILE` for one (repeatable).
    #[arg(long = "policy", value_name = "[SERVER=]FILE")]
    pub policies: Vec<String>,
    /// The grant stops working after this long (`30d`, `12h`) or at this RFC 3339 time.
    #[arg(long)]
    pub expires: Option<String>,
    /// A tag (repeat for several), seen by `identity.tags` conditions.
    #[arg(long = "tag")]
    pub tags: Vec<String>,
}

pub async fn run(args: GrantArgs) -> ExitCode {
    super::finish(match args.command {
        GrantCommand::Create(c) => create(&args.store, c).await,
        GrantCommand::List { json } => list(&args.store, json).await,
        GrantCommand::Revoke { label } => revoke(&args.store, &label).await,
        GrantCommand::Rotate { label } => rotate(&args.store, &label).await,
        GrantCommand::Expiry(e) => set_expiry(&args.store, e).await,
    })
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
}

/// The format the gateway reads a stored policy text in (see `identity::Authenticator`).
fn stored_format(text: &str) -> SourceFormat {
    if text.trim_start().starts_with('{') {
        SourceFormat::Json
    } else {
        SourceFormat::Yaml
    }
}

/// Reads and compiles a policy file; every diagnostic, located, on failure.
fn read_policy(path: &Path) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::config(format!("{}: cannot read policy: {e}", path.display())))?;
    let origin = path.display().to_string();
    let by_name = SourceFormat::from_path(&origin);
    let mut formats = vec![by_name];
    if stored_format(&text) != by_name {
        // The gateway will read the stored text by its first character: check it that way too.
        formats.push(stored_format(&text));
    }
    for format in formats {
        if let Err(d) = toolgate_policy::compile(&text, &origin, format) {
            return Err(Failure::config(format!(
                "{d}\nerror: {origin} is invalid ({}); no grant created",
                crate::plural(d.len(), "error")
            )));
        }
    }
    Ok(text)
}

/// Which policy file goes with which server.
fn assign_policies(
    servers: &[String],
    specs: &[String],
) -> Result<BTreeMap<String, PathBuf>, Failure> {
    let mut every: Option<PathBuf> = None;
    let mut each = BTreeMap::new();
    for spec in specs {
        match spec.split_once('=') {
            Some((server, file)) if servers.iter().any(|s| s == server) => {
                if each
                    .insert(server.to_owned(), PathBuf::from(file))
                    .is_some()
                {
                    return Err(Failure::usage(format!(
                        "--policy names server {server:?} twice"
                    )));
                }
            }
            Some((server, _)) if !Path::new(spec).exists() => {
                return Err(Failure::usage(format!(
                    "--policy {spec}: {server:?} is not one of the grant's --server values ({})",
                    servers.join(", ")
                )));
            }
            _ => {
                if every.replace(PathBuf::from(spec)).is_some() {
                    return Err(Failure::usage(
                        "--policy FILE (for every server) given twice; use --policy SERVER=FILE for one server",
                    ));
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    for s in servers {
        if let Some(p) = each.remove(s).or_else(|| every.clone()) {
            out.insert(s.clone(), p);
        }
    }
    Ok(out)
}

/// When a new grant expires: `--expires 30d` (from now) or an RFC 3339 time not yet past.
fn expiry(spec: &str, now: u64) -> Result<u64, Failure> {
    let (at, given_as_time) = instant(spec, now)?;
    if given_as_time && at <= now {
        return Err(Failure::usage(format!("--expires {spec:?} is in the past")));
    }
    Ok(at)
}

/// `--expires`: a duration from `now` or an RFC 3339 time, and whether it was a time.
fn instant(spec: &str, now: u64) -> Result<(u64, bool), Failure> {
    if let Some(d) = crate::config::parse_duration(spec) {
        return Ok((now.saturating_add(d.as_millis() as u64), false));
    }
    let at = super::parse_rfc3339(spec).ok_or_else(|| {
        Failure::usage(format!(
            "--expires {spec:?}: use a duration (\"30d\", \"12h\") or an RFC 3339 time"
        ))
    })?;
    Ok((at, true))
}

/// The SHA-256 of a policy's text, to tell versions apart in the admin stream.
fn digest(text: &str) -> String {
    token::hash(text).to_hex()
}

async fn create(store: &StoreArgs, c: CreateArgs) -> Result<(), Failure> {
    if !valid_name(&c.label) {
        return Err(Failure::usage(format!(
            "invalid label {:?}: letters, digits, '-', '_', '.' and '@' only",
            c.label
        )));
    }
    if c.agent.trim().is_empty() {
        return Err(Failure::usage("--agent must not be empty"));
    }
    let mut servers: Vec<String> = Vec::new();
    for s in &c.servers {
        if !servers.contains(s) {
            servers.push(s.clone());
        }
    }
    let files = assign_policies(&servers, &c.policies)?;
    let mut policies = BTreeMap::new();
    for (server, path) in &files {
        policies.insert(server.clone(), read_policy(path)?);
    }
    let now = now_ms();
    let expires_at_ms = c.expires.as_deref().map(|e| expiry(e, now)).transpose()?;
    let opened = store.open().await?;
    if let Some(settings) = &opened.settings {
        let unknown: Vec<&String> = servers
            .iter()
            .filter(|s| settings.server(s).is_none())
            .collect();
        if !unknown.is_empty() {
            let known: Vec<&str> = settings.servers.iter().map(|s| s.name.as_str()).collect();
            return Err(Failure::usage(format!(
                "{} has no server {} (servers: {})",
                store.config.display(),
                unknown
                    .iter()
                    .map(|s| format!("{s:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
    }
    let secret = token::generate();
    let new = NewGrant {
        label: c.label.clone(),
        agent: c.agent.clone(),
        token_sha256: secret.hash(),
        servers: servers.clone(),
        policies: policies.clone(),
        tags: c.tags.clone(),
        expires_at_ms,
        created_at_ms: now,
    };
    let grant = opened
        .stores
        .grants
        .create(new)
        .await
        .map_err(|e| match e {
            StoreError::GrantExists { .. } => Failure::runtime(format!(
                "{e}; labels are never reused, even after a revocation: choose another"
            )),
            e => Failure::from(e),
        })?;
    let details = json!({
        "agent": grant.agent,
        "servers": grant.servers,
        "tags": grant.tags,
        "expires_at_ms": grant.expires_at_ms,
        "policies": policies.iter().map(|(s, t)| (s.clone(), json!({ "sha256": digest(t) }))).collect::<serde_json::Map<_, _>>(),
    });
    // The token goes out first: whatever happens next, it must not be lost.
    println!("{}", secret.as_str());
    eprintln!(
        "created grant {:?} for agent {:?} (servers: {}{}{}).",
        grant.label,
        grant.agent,
        grant.servers.join(", "),
        if grant.tags.is_empty() {
            String::new()
        } else {
            format!("; tags: {}", grant.tags.join(", "))
        },
        match grant.expires_at_ms {
            Some(at) => format!("; expires {}", format_ms(at)),
            None => String::new(),
        }
    );
    eprintln!("The token above is shown this once; only its SHA-256 is stored.");
    for s in &grant.servers {
        match files.get(s) {
            Some(p) => eprintln!("  {s}: policy {}", p.display()),
            None => eprintln!("  {s}: no policy of its own"),
        }
    }
    opened
        .audit_admin("grant.create", &grant.label, details)
        .await
}

fn grant_json(g: &Grant, now: u64) -> serde_json::Value {
    json!({
        "label": g.label,
        "agent": g.agent,
        "servers": g.servers,
        "policies": g.policies.keys().collect::<Vec<_>>(),
        "tags": g.tags,
        "created": format_ms(g.created_at_ms),
        "expires": g.expires_at_ms.map(format_ms),
        "rotated": g.rotated_at_ms.map(format_ms),
        "revoked": g.revoked_at_ms.map(format_ms),
        "active": g.is_active(now),
    })
}

async fn list(store: &StoreArgs, as_json: bool) -> Result<(), Failure> {
    let opened = store.open().await?;
    let grants = opened.stores.grants.list().await?;
    let now = now_ms();
    if as_json {
        let all: Vec<_> = grants.iter().map(|g| grant_json(g, now)).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&all).expect("JSON values serialise")
        );
        return Ok(());
    }
    if grants.is_empty() {
        eprintln!("no grants in {}", opened.url);
        return Ok(());
    }
    let rows: Vec<[String; 7]> = grants
        .iter()
        .map(|g| {
            let status = if g.revoked_at_ms.is_some() {
                format!("revoked {}", format_opt_ms(g.revoked_at_ms))
            } else if !g.is_active(now) {
                "expired".to_owned()
            } else {
                "active".to_owned()
            };
            [
                g.label.clone(),
                g.agent.clone(),
                g.servers.join(","),
                if g.tags.is_empty() {
                    "-".to_owned()
                } else {
                    g.tags.join(",")
                },
                format_ms(g.created_at_ms),
                format_opt_ms(g.expires_at_ms),
                status,
            ]
        })
        .collect();
    print_table(
        &[
            "LABEL", "AGENT", "SERVERS", "TAGS", "CREATED", "EXPIRES", "STATUS",
        ],
        &rows,
    );
    Ok(())
}

/// Left-aligned columns, two spaces apart.
pub fn print_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) {
    let mut widths: [usize; N] = header.map(|h| h.chars().count());
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}  "));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

async fn revoke(store: &StoreArgs, label: &str) -> Result<(), Failure> {
    let opened = store.open().await?;
    let before = opened.stores.grants.get(label).await?;
    let grant = opened.stores.grants.revoke(label, now_ms()).await?;
    if before.is_some_and(|b| b.revoked_at_ms.is_some()) {
        eprintln!(
            "grant {label:?} was already revoked at {}",
            format_opt_ms(grant.revoked_at_ms)
        );
        return Ok(());
    }
    eprintln!(
        "revoked grant {label:?} (agent {:?}): its token is refused from the next request on",
        grant.agent
    );
    opened
        .audit_admin("grant.revoke", label, json!({ "agent": grant.agent }))
        .await
}

async fn rotate(store: &StoreArgs, label: &str) -> Result<(), Failure> {
    let opened = store.open().await?;
    let secret = token::generate();
    let grant = opened
        .stores
        .grants
        .rotate(label, secret.hash(), now_ms())
        .await?;
    println!("{}", secret.as_str());
    eprintln!(
        "rotated grant {label:?} (agent {:?}): the token above is shown this once; the old token no longer works",
        grant.agent
    );
    opened
        .audit_admin("grant.rotate", label, json!({ "agent": grant.agent }))
        .await
}

async fn set_expiry(store: &StoreArgs, e: ExpiryArgs) -> Result<(), Failure> {
    let now = now_ms();
    // `--never` or `--expires` (clap allows exactly one). An instant already past is allowed
    // here: it stops the grant at once.
    let expires_at_ms = e
        .expires
        .as_deref()
        .map(|spec| instant(spec, now).map(|(at, _)| at))
        .transpose()?;
    let opened = store.open().await?;
    let label = e.label.as_str();
    let previous = opened
        .stores
        .grants
        .get(label)
        .await?
        .ok_or_else(|| {
            Failure::from(StoreError::GrantNotFound {
                label: label.to_owned(),
            })
        })?
        .expires_at_ms;
    let grant = opened
        .stores
        .grants
        .set_expiry(label, expires_at_ms)
        .await?;
    match grant.expires_at_ms {
        None => eprintln!("grant {label:?} (agent {:?}) never expires", grant.agent),
        Some(at) if at <= now_ms() => eprintln!(
            "grant {label:?} (agent {:?}) expired at {}: its token is refused from the next request on",
            grant.agent,
            format_ms(at)
        ),
        Some(at) => eprintln!(
            "grant {label:?} (agent {:?}) now expires {}",
            grant.agent,
            format_ms(at)
        ),
    }
    let details = json!({
        "agent": grant.agent,
        "previous_expires_at_ms": previous,
        "expires_at_ms": grant.expires_at_ms,
    });
    opened.audit_admin("grant.expiry", label, details).await
}
