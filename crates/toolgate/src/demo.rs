//! `toolgate demo`: the newcomer's one command. Runs the built-in Twenty-like CRM server (219
//! tools, `toolgate demo-server`) behind the starter policy `toolgate init` would write, with an
//! embedded store and a fresh demo grant, and prints what a client needs to connect. Everything
//! lives in one folder the user can read and edit; a second run reuses it (and the policy the user
//! edited) with a new token.

use crate::cli::{format_ms, now_ms};
use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use toolgate_catalog::{Category, ToolDefinition};
use toolgate_policy::{Call, Identity, Policy, SourceFormat, ToolMatch};
use toolgate_store::NewGrant;
use toolgate_store::audit::AdminEvent;
use toolgate_store::{StoreError, Stores};

/// The demo server's name in the demo config: its endpoint is `/mcp/crm`.
const SERVER: &str = "crm";
const POLICY_FILE: &str = "crm.yaml";
/// What the demo's operator knows better than the classifier: in this CRM, creating or updating a
/// workflow run queues the workflow, and an automated trigger arms one — they act (Execute),
/// although their names only say "create" and "update".
const RISK_OVERRIDES: [&str; 6] = [
    "createOneWorkflowRun",
    "createManyWorkflowRuns",
    "UpdateOneWorkflowRun",
    "createOneWorkflowAutomatedTrigger",
    "createManyWorkflowAutomatedTriggers",
    "UpdateOneWorkflowAutomatedTrigger",
];
const CONFIG_FILE: &str = "toolgate.toml";
/// The demo grant's label and agent.
const GRANT: &str = "demo";
/// The actor of the demo's admin audit events.
const ACTOR: &str = "demo";
/// How long the printed sign-in link to the web UI works (once).
const LOGIN_LINK_VALID: std::time::Duration = std::time::Duration::from_secs(15 * 60);

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// The demo's folder: its config, policy and store (default: $XDG_DATA_HOME/toolgate/demo,
    /// else ~/.local/share/toolgate/demo).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Where the gateway listens; 127.0.0.1:0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: SocketAddr,
}

pub async fn run(args: DemoArgs) -> ExitCode {
    match demo(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("toolgate demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `toolgate demo-server`: the Twenty-like server over stdio, until stdin closes.
pub async fn serve_demo_server() -> ExitCode {
    let served = tokio::task::spawn_blocking(|| {
        toolgate_demo_server::stdio::serve(&toolgate_demo_server::TwentyServer::new(None))
    })
    .await;
    match served {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("toolgate demo-server: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("toolgate demo-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let dir_flag = args
        .dir
        .as_ref()
        .map(|d| format!(" --dir {}", shell_word(&d.display().to_string())))
        .unwrap_or_default();
    let dir = match args.dir {
        Some(d) => d,
        None => default_dir()?,
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the demo folder {}", dir.display()))?;
    let tools = demo_tools();
    let policy_path = dir.join(POLICY_FILE);
    let policy_kept = policy_path.exists();
    if !policy_kept {
        let policy = crate::init::starter_policy(SERVER, &tools, &risk_overrides());
        let text = crate::init::render(&policy, SourceFormat::Yaml, "toolgate demo");
        std::fs::write(&policy_path, text)
            .with_context(|| format!("cannot write {}", policy_path.display()))?;
    }
    let config_path = dir.join(CONFIG_FILE);
    let exe = std::env::current_exe().context("cannot find the toolgate binary's own path")?;
    std::fs::write(&config_path, demo_config(&exe, args.listen))
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    let settings = match crate::config::load(&config_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            eprintln!(
                "error: the demo's configuration is invalid ({}); fix {} or delete it to get the starter policy back",
                crate::plural(e.items.len(), "error"),
                policy_path.display()
            );
            return Ok(ExitCode::from(crate::EXIT_CONFIG));
        }
    };
    let store_url = settings
        .store
        .clone()
        .context("the demo config names no store")?;
    let stores = toolgate_store::open(&store_url)
        .await
        .with_context(|| format!("cannot open the store {store_url}"))?;
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => bail!(
            "{} is already in use (another toolgate, or another program, listens there)\n  help: pick another address, e.g. `toolgate demo --listen 127.0.0.1:8081`, or `--listen 127.0.0.1:0` for any free port",
            args.listen
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot listen on {}", args.listen)),
    };
    let admin = crate::bind(settings.admin_address()).await?;
    let addr = listener.local_addr()?;
    let admin_addr = admin.local_addr()?;
    let token = issue_demo_token(&stores).await?;
    let (login_secret, one_time_login) = toolgate_admin::OneTimeLogin::issue(LOGIN_LINK_VALID);
    let login_link = format!(
        "http://{admin_addr}{}",
        toolgate_admin::OneTimeLogin::path(&login_secret)
    );
    let policy = settings
        .server(SERVER)
        .map(|s| s.policy.clone())
        .context("the demo config has no crm server")?;
    let gateway = toolgate_gateway::Gateway::new(
        settings,
        Arc::new(toolgate_store::MemoryCounterStore::new()),
        Some(stores),
    )
    .await
    .context("cannot start the gateway")?;
    print_banner(&Banner {
        dir: &dir,
        addr,
        admin: admin_addr,
        token: &token,
        login_link: &login_link,
        tools: &tools,
        policy: &policy,
        policy_kept,
    });
    let listeners = toolgate_gateway::serve::Listeners {
        data: listener,
        admin,
    };
    crate::serve_gateway(gateway, listeners, config_path, Some(one_time_login)).await?;
    eprintln!(
        "toolgate demo stopped; `{} demo{dir_flag}` starts it again with a new token",
        self_command()
    );
    Ok(ExitCode::SUCCESS)
}

/// `$XDG_DATA_HOME/toolgate/demo`, else `~/.local/share/toolgate/demo`.
fn default_dir() -> anyhow::Result<PathBuf> {
    let nonempty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(data) = nonempty("XDG_DATA_HOME") {
        return Ok(PathBuf::from(data).join("toolgate/demo"));
    }
    match nonempty("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/toolgate/demo")),
        None => bail!("neither XDG_DATA_HOME nor HOME is set\n  help: choose a folder with --dir"),
    }
}

/// `[servers.crm.risk]` of the demo's configuration.
fn risk_overrides() -> BTreeMap<String, Category> {
    RISK_OVERRIDES
        .iter()
        .map(|tool| ((*tool).to_owned(), Category::Execute))
        .collect()
}

/// The demo server's tools, from the catalogue it serves.
fn demo_tools() -> Vec<ToolDefinition> {
    let doc: Value = serde_json::from_str(toolgate_demo_server::FIXTURE)
        .expect("the demo server's catalogue is JSON");
    ToolDefinition::all_from_listing(&doc)
}

/// The demo's toolgate.toml: the built-in server (this very binary) behind the starter policy, an
/// SQLite store beside it.
fn demo_config(exe: &Path, listen: SocketAddr) -> String {
    let quoted = |s: &str| toml::Value::String(s.to_owned()).to_string();
    format!(
        "# Written by `toolgate demo` on every run: edit {POLICY_FILE} (applied within a second), not this file.\n\
         [gateway]\n\
         listen = {}\n\
         store = \"sqlite://toolgate.db\"\n\
         \n\
         # Approvers and the audit log see what a call does: argument values, redacted by key.\n\
         [audit]\n\
         arguments = \"values\"\n\
         \n\
         # The built-in Twenty-like CRM server (219 tools), run by toolgate itself over stdio.\n\
         [servers.{SERVER}]\n\
         command = {}\n\
         args = [\"demo-server\"]\n\
         policy = \"{POLICY_FILE}\"\n\
         \n\
         # Tools that act although their names do not say so: the operator's category wins.\n\
         [servers.{SERVER}.risk]\n\
         {}",
        quoted(&listen.to_string()),
        quoted(&exe.display().to_string()),
        RISK_OVERRIDES
            .iter()
            .map(|tool| format!("{tool} = \"execute\"\n"))
            .collect::<String>(),
    )
}

/// A new token for the demo grant: the grant is created on the first run and rotated on the
/// next ones (the previous token stops working). A revoked demo grant is replaced by a new label.
async fn issue_demo_token(stores: &Stores) -> anyhow::Result<String> {
    let now = now_ms();
    let secret = toolgate_store::token::generate();
    let existing = stores.grants.list().await?;
    let active = existing
        .iter()
        .find(|g| g.agent == GRANT && g.is_active(now));
    let (action, label) = match active {
        Some(g) => {
            stores.grants.rotate(&g.label, secret.hash(), now).await?;
            ("grant.rotate", g.label.clone())
        }
        None => {
            let taken = |l: &str| existing.iter().any(|g| g.label == l);
            let label = (1..)
                .map(|n| {
                    if n == 1 {
                        GRANT.to_owned()
                    } else {
                        format!("{GRANT}-{n}")
                    }
                })
                .find(|l| !taken(l))
                .expect("an unused label");
            let grant = NewGrant {
                label: label.clone(),
                agent: GRANT.to_owned(),
                token_sha256: secret.hash(),
                servers: vec![SERVER.to_owned()],
                policies: BTreeMap::new(),
                tags: vec!["demo".to_owned()],
                expires_at_ms: None,
                created_at_ms: now,
            };
            match stores.grants.create(grant).await {
                Ok(_) => ("grant.create", label),
                Err(e @ StoreError::GrantExists { .. }) => return Err(e.into()),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let event = AdminEvent {
        time_ms: now,
        actor: ACTOR.to_owned(),
        action: action.to_owned(),
        target: label,
        details: json!({"agent": GRANT, "servers": [SERVER]}),
    };
    stores
        .audit_sink
        .append_admin(std::slice::from_ref(&event))
        .await
        .context("cannot write the demo grant to the admin audit stream")?;
    Ok(secret.as_str().to_owned())
}

struct Banner<'a> {
    dir: &'a Path,
    addr: SocketAddr,
    /// The admin plane: `/api`, `/ui`, `/metrics`.
    admin: SocketAddr,
    token: &'a str,
    /// Signs in to the web UI once.
    login_link: &'a str,
    tools: &'a [ToolDefinition],
    policy: &'a Policy,
    /// The policy file was there already (the user's edits are kept).
    policy_kept: bool,
}

/// Prints where to connect, with what, and what the policy does to the catalogue. Every command
/// it prints works when pasted into a new shell: `toolgate` is named by its full path unless
/// that very binary is on `PATH`.
fn print_banner(b: &Banner<'_>) {
    let endpoint = format!("http://{}/mcp/{SERVER}", b.addr);
    let alias = format!("http://{}/servers/{SERVER}/mcp", b.addr);
    let bearer = format!("Authorization: Bearer {}", b.token);
    // By hand, to keep "url" first (serde_json's maps are sorted).
    let client = format!(
        "{{\n  \"mcpServers\": {{\n    \"toolgate-demo\": {{\n      \"url\": {},\n      \"headers\": {{ \"Authorization\": {} }}\n    }}\n  }}\n}}",
        Value::String(endpoint.clone()),
        Value::String(format!("Bearer {}", b.token))
    );
    let toolgate = self_command();
    let config = shell_word(&b.dir.join(CONFIG_FILE).display().to_string());
    let policy_file = b.dir.join(POLICY_FILE);
    println!("toolgate demo: a Twenty-like CRM server behind toolgate's starter policy");
    println!();
    println!("  endpoint: {endpoint}");
    println!("            (also {alias}, for clients that need the path to end in /mcp)");
    println!("  token:    {}", b.token);
    println!(
        "            (grant \"{GRANT}\"; shown once, only its hash is stored; a new one on every run)"
    );
    println!("  web UI:   http://{}/ui (this machine only)", b.admin);
    println!(
        "  sign in:  {} (opens the UI signed in; works once, within {} minutes)",
        b.login_link,
        LOGIN_LINK_VALID.as_secs() / 60
    );
    println!("  admin:    http://{}/api (this machine only)", b.admin);
    println!("  folder:   {}", b.dir.display());
    println!(
        "  policy:   {}{}",
        policy_file.display(),
        if b.policy_kept {
            " (yours, kept from a previous run; delete it to get the starter policy back)"
        } else {
            " (the starter policy `toolgate init` writes; edits apply within a second)"
        }
    );
    println!();
    println!("Connect Cursor, Claude Code or any MCP client that speaks Streamable HTTP:");
    println!("{client}");
    println!("The MCP Inspector (its CLI; the path must end in /mcp):");
    println!(
        "  npx -y {INSPECTOR} --cli {alias} --transport http --header {} --method tools/list",
        shell_word(&bearer)
    );
    println!("Clients that only spawn commands (Claude Desktop), through mcp-remote:");
    println!(
        "  npx -y {MCP_REMOTE} {endpoint} --header {}",
        shell_word(&bearer)
    );
    println!(
        "  or toolgate's own bridge: {toolgate} connect {endpoint} --token {}",
        b.token
    );
    println!();
    for line in catalogue_summary(b.tools, b.policy) {
        println!("{line}");
    }
    println!();
    println!("Try findManyCompanies (allowed), createOneCompany (30 a minute), deleteOneCompany");
    println!("(held until you decide) and createOneConnectedAccount (denied). Held calls:");
    println!("  {toolgate} approvals list -c {config}");
    println!("  {toolgate} approvals approve|deny ID -c {config}");
    println!(
        "Admin API: http://{}/api (this machine only, no token; see /api/openapi.json), e.g. /api/approvals?status=pending",
        b.admin
    );
    println!("Started {}. Ctrl-C stops the demo.", format_ms(now_ms()));
}

/// The Inspector and mcp-remote versions the printed commands name: the ones the end-to-end
/// tests run those commands with.
const INSPECTOR: &str = "@modelcontextprotocol/inspector@0.18.0";
const MCP_REMOTE: &str = "mcp-remote@0.15.1";

/// How a new shell reaches this binary: `toolgate` when that name on `PATH` is this very file,
/// else its full path (as `cargo run` leaves it, in `target/release`).
fn self_command() -> String {
    let Ok(exe) = std::env::current_exe().and_then(std::fs::canonicalize) else {
        return "toolgate".to_owned();
    };
    let on_path = std::env::var_os("PATH").into_iter().any(|paths| {
        std::env::split_paths(&paths)
            .any(|dir| std::fs::canonicalize(dir.join("toolgate")).is_ok_and(|found| found == exe))
    });
    if on_path {
        "toolgate".to_owned()
    } else {
        shell_word(&exe.display().to_string())
    }
}

/// `word` as one POSIX shell word: unchanged when it needs no quoting, else single-quoted.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:@,%".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// What the catalogue holds by risk category, and what the policy in force does with it.
fn catalogue_summary(tools: &[ToolDefinition], policy: &Policy) -> Vec<String> {
    let mut categories: BTreeMap<Category, usize> = Category::ALL.iter().map(|&c| (c, 0)).collect();
    let mut credentials = 0;
    let overrides = risk_overrides();
    let mut outcomes: BTreeMap<Outcome, usize> = BTreeMap::new();
    for tool in tools {
        let judged =
            toolgate_catalog::classify_with_override(tool, overrides.get(&tool.name).copied());
        *categories.entry(judged.category).or_default() += 1;
        credentials += usize::from(judged.credentials);
        *outcomes.entry(outcome(policy, &tool.name)).or_default() += 1;
    }
    let by_category: Vec<String> = categories.iter().map(|(c, n)| format!("{n} {c}")).collect();
    let by_outcome: Vec<String> = Outcome::ALL
        .iter()
        .map(|o| format!("{} {}", outcomes.get(o).copied().unwrap_or(0), o.label()))
        .collect();
    vec![
        format!(
            "Catalogue: {} tools by risk: {}; {credentials} handle credentials.",
            tools.len(),
            by_category.join(", ")
        ),
        format!("Policy:    {}.", by_outcome.join(", ")),
    ]
}

/// What the policy does with a tool, before any argument is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Allowed,
    RateLimited,
    Held,
    Denied,
    Hidden,
}

impl Outcome {
    const ALL: [Outcome; 5] = [
        Outcome::Allowed,
        Outcome::RateLimited,
        Outcome::Held,
        Outcome::Denied,
        Outcome::Hidden,
    ];

    fn label(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::RateLimited => "allowed within rate limits",
            Outcome::Held => "held for approval",
            Outcome::Denied => "denied",
            Outcome::Hidden => "hidden",
        }
    }
}

fn outcome(policy: &Policy, tool: &str) -> Outcome {
    if policy.is_hidden(tool) {
        return Outcome::Hidden;
    }
    let identity = Identity::default();
    let args = json!({});
    let call = Call {
        server: SERVER,
        tool,
        args: &args,
        args_text: None,
        identity: &identity,
        session: "",
    };
    let explained = policy.explain(&call);
    let action = match explained.tool_match {
        ToolMatch::Exact { action, .. } | ToolMatch::Glob { action, .. } => action,
        ToolMatch::Default(toolgate_policy::DefaultAction::Deny) => return Outcome::Denied,
        ToolMatch::Default(toolgate_policy::DefaultAction::Allow) => toolgate_policy::Action::Allow,
    };
    match action {
        toolgate_policy::Action::Deny => Outcome::Denied,
        toolgate_policy::Action::RequireApproval => Outcome::Held,
        toolgate_policy::Action::Allow if explained.decision.reservations().is_empty() => {
            Outcome::Allowed
        }
        toolgate_policy::Action::Allow => Outcome::RateLimited,
    }
}
