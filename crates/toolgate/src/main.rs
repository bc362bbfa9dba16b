//! The `toolgate` command: parses the command line, loads configuration, wires the gateway
//! together and maps failures to exit codes (0 ok, 78 invalid configuration, 1 runtime failure).

mod audit_chain;
mod cli;
mod config;
mod connect;
mod demo;
mod init;
mod logging;
mod policy_cmd;
mod reload;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use toolgate_gateway::Gateway;
use toolgate_gateway::serve::Listeners;
use toolgate_mcp::upstream::stdio::StdioSpec;
use toolgate_policy::Policy;
use toolgate_store::MemoryCounterStore;

/// Exit code for an invalid configuration (EX_CONFIG).
const EXIT_CONFIG: u8 = 78;

#[derive(Parser)]
#[command(
    name = "toolgate",
    version,
    about = "An MCP policy gateway: every tool call allowed, denied, rate-limited or held, by your policy"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway in front of the servers of a config file.
    Serve {
        #[arg(short, long, default_value = "toolgate.toml")]
        config: PathBuf,
    },
    /// Check a config file and every policy it names; exit 78 with all errors if invalid.
    Validate {
        #[arg(short, long, default_value = "toolgate.toml")]
        config: PathBuf,
    },
    /// Run one stdio MCP server behind a policy, speaking stdio: put this in a client's config
    /// instead of the server's own command.
    Wrap {
        /// The policy file (JSON or YAML); without one every call is allowed.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// The server's name, for logs and `server` conditions.
        #[arg(long, default_value = "wrapped")]
        name: String,
        /// A variable for the server, `NAME=VALUE` (repeatable). The server starts with a clean
        /// environment: PATH, HOME, USER, LOGNAME, SHELL, LANG, LANGUAGE, LC_*, TZ, TMPDIR, these
        /// and the `--inherit-env` ones.
        #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_env_pair)]
        env: Vec<(String, String)>,
        /// A variable of this process's environment to pass on to the server (repeatable), e.g.
        /// `--inherit-env GITHUB_TOKEN`; never a TOOLGATE_* one.
        #[arg(long = "inherit-env", value_name = "NAME", value_parser = parse_inherit_name)]
        inherit_env: Vec<String>,
        /// The server command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Speak stdio to a client and Streamable HTTP to a gateway endpoint: put this in a client's
    /// config to reach a remote `/mcp` or `/mcp/<server>` from a client that only spawns commands.
    Connect {
        /// The endpoint, e.g. http://127.0.0.1:8080/mcp.
        url: String,
        /// The grant's bearer token.
        #[arg(long, env = "TOOLGATE_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Explain a policy's decision for one call, or run a file of test cases against a policy.
    Policy {
        #[command(subcommand)]
        command: policy_cmd::PolicyCommand,
    },
    /// Create, list, revoke and rotate grants (bearer credentials) in the store; set their expiry.
    Grant(cli::grant::GrantArgs),
    /// Verify, query, export and tail the audit log.
    Audit(cli::audit::AuditArgs),
    /// Engage, release and list kill switches (global, per server, per grant).
    Kill(cli::kill::KillArgs),
    /// List, show, approve and deny tool calls held for a person's approval.
    Approvals(cli::approvals::ApprovalsArgs),
    /// Every server's tools by risk (category, severity, reasons) and pin state.
    Catalog(cli::catalog::CatalogArgs),
    /// Pinned tool definitions: list them, diff a changed one, approve its new version.
    Pins(cli::pins::PinsArgs),
    /// List a server's tools, classify them by risk and write a starter policy (deny by default,
    /// reads allowed, writes and executes rate-limited, destructive and financial held for approval).
    Init(init::InitArgs),
    /// The newcomer's one command: a built-in Twenty-like CRM server (219 tools) behind a starter
    /// policy, with a store, a demo grant and a ready client config.
    Demo(demo::DemoArgs),
    /// The demo's built-in Twenty-like MCP server, over stdio (what `toolgate demo` runs).
    #[command(hide = true)]
    DemoServer,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = matches!(
        cli.command,
        Command::Wrap { .. }
            | Command::Connect { .. }
            | Command::Grant(_)
            | Command::Audit(_)
            | Command::Kill(_)
            | Command::Approvals(_)
            | Command::Catalog(_)
            | Command::Pins(_)
            | Command::Init(_)
            | Command::Demo(_)
            | Command::DemoServer
    );
    logging::init(if quiet { "warn" } else { "info" });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("toolgate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(cli));
    // Do not wait for blocked reads (`wrap` reads stdin on a blocking thread that never returns).
    runtime.shutdown_background();
    code
}

/// `1 error`, `2 errors`.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `--env NAME=VALUE` of `toolgate wrap`.
fn parse_env_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if toolgate_mcp::upstream::child_env::is_valid_name(name) => {
            Ok((name.to_owned(), value.to_owned()))
        }
        _ => Err(format!(
            "{text:?} is not NAME=VALUE (a name of letters, digits and _)"
        )),
    }
}

/// `--inherit-env NAME` of `toolgate wrap`: a variable's name, never one of the gateway's own.
fn parse_inherit_name(name: &str) -> Result<String, String> {
    use toolgate_mcp::upstream::child_env::{is_gateway_own, is_valid_name};
    if is_gateway_own(name) {
        Err(format!(
            "{name} is one of toolgate's own variables, which never reach the server"
        ))
    } else if is_valid_name(name) {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "{name:?} is not a variable name (letters, digits and _)"
        ))
    }
}

async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Validate { config } => match config::load(&config) {
            Ok(s) => {
                println!(
                    "{}: ok ({}, {})",
                    config.display(),
                    plural(s.servers.len(), "server"),
                    plural(s.grants.len(), "grant")
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                eprintln!(
                    "error: {} is invalid ({})",
                    config.display(),
                    plural(e.items.len(), "error")
                );
                ExitCode::from(EXIT_CONFIG)
            }
        },
        Command::Serve { config } => {
            let settings = match config::load(&config) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    eprintln!("error: {} is invalid; not starting", config.display());
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            match serve(settings, config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("toolgate: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Wrap {
            policy,
            name,
            env,
            inherit_env,
            command,
        } => {
            let policy = match policy {
                Some(p) => match config::load_policy(&p) {
                    Ok(p) => p,
                    Err(e) => {
                        eprintln!("{e}");
                        return ExitCode::from(EXIT_CONFIG);
                    }
                },
                None => Policy::allow_all(),
            };
            let spec = StdioSpec {
                server: name,
                command: command[0].clone(),
                args: command[1..].to_vec(),
                env,
                inherit_env,
                cwd: None,
            };
            let code = toolgate_gateway::wrap::run(
                spec,
                Arc::new(policy),
                Arc::new(MemoryCounterStore::new()),
            )
            .await;
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        Command::Connect { url, token } => {
            let code = connect::run(&url, token.as_deref()).await;
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        Command::Policy { command } => policy_cmd::run(command),
        Command::Grant(args) => cli::grant::run(args).await,
        Command::Audit(args) => cli::audit::run(args).await,
        Command::Kill(args) => cli::kill::run(args).await,
        Command::Approvals(args) => cli::approvals::run(args).await,
        Command::Catalog(args) => cli::catalog::run(args).await,
        Command::Pins(args) => cli::pins::run(args).await,
        Command::Init(args) => init::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::DemoServer => demo::serve_demo_server().await,
    }
}

async fn serve(
    settings: toolgate_gateway::settings::Settings,
    config: PathBuf,
) -> anyhow::Result<()> {
    let listen = settings.listen;
    let (stores, checkpoints) = audit_chain::open_stores(&settings).await?;
    if let Some(s) = &stores {
        tracing::info!(
            backend = s.backend,
            url = settings.store.as_deref().unwrap_or(""),
            "store opened"
        );
    }
    let gateway = Gateway::new(settings, Arc::new(MemoryCounterStore::new()), stores)
        .await
        .context("cannot start the gateway")?;
    if gateway.is_open() {
        tracing::warn!(
            "no grants configured: every caller shares the anonymous identity; add [grants.*] to require tokens"
        );
    }
    let admin_listen = gateway.state().settings.admin_address();
    let listeners = Listeners {
        data: bind(listen).await?,
        admin: bind(admin_listen).await?,
    };
    let addr = listeners.data.local_addr()?;
    for s in &gateway.state().settings.servers {
        tracing::info!(server = %s.name, url = %format!("http://{addr}/mcp/{}", s.name), "serving");
    }
    println!("toolgate listening on http://{addr}");
    println!(
        "toolgate admin plane on http://{} (/api, /ui, /metrics)",
        listeners.admin.local_addr()?
    );
    let served = serve_gateway(gateway, listeners, config, None).await;
    // The audit log is written out by now: sign where it ends.
    if let Some(c) = checkpoints {
        c.publish_due();
    }
    served
}

/// A listener on `address`, or an error that says which address could not be taken.
async fn bind(address: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(address).await {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => anyhow::bail!(
            "{address} is already in use (another toolgate, or another program, listens there)\n  help: the admin plane takes the port after [gateway] listen unless [admin] listen says otherwise; pick free addresses"
        ),
        Err(e) => Err(e).with_context(|| format!("cannot listen on {address}")),
    }
}

/// Serves `gateway`'s data plane and admin plane (the admin API at `/api`, the web UI at `/ui`,
/// `/metrics`), with the config watched for changes, until SIGINT or SIGTERM. `one_time_login`:
/// a sign-in link for the UI that works once (the demo's).
async fn serve_gateway(
    gateway: Arc<Gateway>,
    listeners: Listeners,
    config: PathBuf,
    one_time_login: Option<toolgate_admin::OneTimeLogin>,
) -> anyhow::Result<()> {
    let access = config::admin_access(&config).with_context(|| {
        format!(
            "cannot read the admin credentials of {} any more",
            config.display()
        )
    })?;
    let ui = toolgate_admin::UiOptions {
        one_time_login,
        mcp_address: listeners.data.local_addr().ok(),
    };
    let access = toolgate_admin::LiveAccess::new(admin_access(&access));
    let api = toolgate_admin::admin_plane(gateway.clone(), access.clone(), ui);
    let watcher = tokio::spawn(reload::watch(gateway.clone(), config, access));
    raise_open_file_limit();
    toolgate_gateway::trim::map_large_buffers();
    let served = gateway.serve(listeners, api, stop_signals()?).await;
    watcher.abort();
    served.context("serving failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// Who may use the admin plane and how the UI is offered, as `access` (the config's `[admin]`)
/// says; put in force at start and on every reload.
fn admin_access(access: &config::AdminAccess) -> toolgate_admin::Access {
    toolgate_admin::Access {
        auth: admin_auth(access),
        ui_read_only: access.ui_read_only,
    }
}

/// The admin plane's credentials: the admin token — `TOOLGATE_ADMIN_TOKEN` (hashed here), else
/// `[admin] token_sha256` — and the role tokens of `[admin.tokens.*]`; with none, the admin
/// plane answers loopback clients only.
fn admin_auth(access: &config::AdminAccess) -> toolgate_admin::AdminAuth {
    use toolgate_admin::{AdminAuth, AdminCredential};
    let admin = if let Some(token) = std::env::var("TOOLGATE_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
    {
        tracing::info!("admin plane: admin token from TOOLGATE_ADMIN_TOKEN");
        AdminAuth::from_token(&token)
    } else if let Some(hash) = access.admin_token_sha256 {
        tracing::info!("admin plane: admin token from [admin] token_sha256");
        AdminAuth::from_sha256(hash)
    } else {
        AdminAuth::LoopbackOnly
    };
    let roles = access
        .role_tokens
        .iter()
        .map(|(label, role, hash)| AdminCredential {
            label: label.clone(),
            role: *role,
            token_sha256: toolgate_store::TokenHash(*hash),
        });
    let auth = admin.with(roles);
    if auth.is_loopback_only() {
        tracing::warn!(
            "no admin token configured: the admin plane (on loopback) answers local clients only, without authentication; set [admin] token_sha256 or TOOLGATE_ADMIN_TOKEN to reach it from elsewhere"
        );
    } else if !access.role_tokens.is_empty() {
        tracing::info!(
            tokens = access.role_tokens.len(),
            "admin plane: role tokens from [admin.tokens.*]"
        );
    }
    auth
}

/// Each SIGTERM or SIGINT, as a message: the first drains the gateway, a second stops it at once.
fn stop_signals() -> anyhow::Result<tokio::sync::mpsc::Receiver<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tokio::spawn(async move {
        loop {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            };
            tracing::info!(signal = name, "shutting down");
            if tx.send(()).await.is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

/// Raises the soft limit on open files to the hard limit (connections, children and the store
/// each take descriptors; the gateway sizes its connection caps to what is left).
fn raise_open_file_limit() {
    match toolgate_gateway::conn::fd_limit::raise() {
        Ok(n) => tracing::debug!(open_files = n, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
}
