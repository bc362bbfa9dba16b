//! `toolgate init <server>`: asks a configured server for its tools, classifies them (the
//! operator's `[servers.<name>.risk]` overrides win) and writes the starter policy an operator
//! reviews before relying on it — to stdout, or to a file it never overwrites unless told to.

use crate::cli::{Failure, finish};
use clap::Args;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use toolgate_catalog::starter_policy::{Provenance, StarterPolicy, Treatment};
use toolgate_catalog::{Category, ToolDefinition};
use toolgate_gateway::server::ServerRuntime;
use toolgate_policy::SourceFormat;

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The server, by its name in the config (`[servers.<name>]`).
    pub server: String,
    #[arg(short, long, default_value = "toolgate.toml")]
    pub config: PathBuf,
    /// Write the policy to this file instead of stdout: commented YAML when its name ends in
    /// .yaml or .yml, JSON otherwise (as the gateway reads it).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write JSON (no comments) instead of commented YAML; what `-o FILE.json` writes anyway.
    #[arg(long)]
    pub json: bool,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// How long to wait for the server to start and list its tools.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub timeout: String,
}

pub async fn run(args: InitArgs) -> ExitCode {
    finish(init(args).await)
}

async fn init(args: InitArgs) -> Result<(), Failure> {
    let format = output_format(&args)?;
    let timeout = crate::config::parse_duration(&args.timeout).ok_or_else(|| {
        Failure::usage(format!(
            "--timeout {:?} is not a duration; use e.g. 30s or 2m",
            args.timeout
        ))
    })?;
    let settings = crate::config::load_before_policies_exist(&args.config).map_err(|e| {
        Failure::config(format!(
            "{e}\nerror: {} is invalid ({}); init reads the server from it",
            args.config.display(),
            crate::plural(e.items.len(), "error")
        ))
    })?;
    let Some(server) = settings.server(&args.server) else {
        let names: Vec<&str> = settings.servers.iter().map(|s| s.name.as_str()).collect();
        return Err(Failure::usage(if names.is_empty() {
            format!(
                "{} defines no servers; add a [servers.{}] table first",
                args.config.display(),
                args.server
            )
        } else {
            format!(
                "{} has no server {:?}; its servers: {}",
                args.config.display(),
                args.server,
                names.join(", ")
            )
        }));
    };
    let tools = list_tools(server, timeout).await?;
    let policy = starter_policy(&server.name, &tools, &server.risk);
    let command = format!("toolgate init {}", server.name);
    let text = render(&policy, format, &command);
    if let Err(d) = toolgate_policy::compile(&text, "generated policy", format) {
        return Err(Failure::runtime(format!(
            "the generated policy does not compile (a bug in toolgate init):\n{d}"
        )));
    }
    if let Some(note) = sharing_note(server) {
        eprintln!("{note}");
    }
    match &args.output {
        None => {
            print!("{text}");
            eprintln!("{}", summary_line(&server.name, &policy));
        }
        Some(path) => {
            write_new(path, &text, args.force)?;
            let summary = summary_line(&server.name, &policy);
            let enforced = server
                .policy_path
                .as_ref()
                .is_some_and(|p| same_file(p, path));
            if enforced {
                eprintln!(
                    "{summary}\nwrote {}, the policy of [servers.{}]: a running gateway applies it within a second",
                    path.display(),
                    server.name
                );
            } else {
                eprintln!(
                    "{summary}\nwrote {}; to enforce it, set `policy = {:?}` under [servers.{}] in {}",
                    path.display(),
                    path.display().to_string(),
                    server.name,
                    args.config.display()
                );
            }
        }
    }
    Ok(())
}

/// Whether two paths name the same file (both exist once init has written it).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The policy's syntax: what the output file's name says, since the gateway reads it by its name
/// (YAML for .yaml/.yml, JSON for any other); `--json` (refused for a YAML name); else commented
/// YAML on stdout.
fn output_format(args: &InitArgs) -> Result<SourceFormat, Failure> {
    let named = args
        .output
        .as_ref()
        .map(|path| (path, SourceFormat::from_path(&path.display().to_string())));
    match (args.json, named) {
        (true, Some((path, SourceFormat::Yaml))) => Err(Failure::usage(format!(
            "{} would be read as YAML, but --json writes JSON\n  help: name it e.g. {}.json, or leave out --json",
            path.display(),
            stem(path)
        ))),
        (true, _) => Ok(SourceFormat::Json),
        // The file's name says how the gateway will read it, so that is what is written.
        (false, Some((_, named))) => Ok(named),
        (false, None) => Ok(SourceFormat::Yaml),
    }
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map_or_else(|| "policy".into(), |s| s.to_string_lossy().into_owned())
}

/// The server's tools, listed over a short session of their own.
pub async fn list_tools(
    server: &toolgate_gateway::settings::ServerSettings,
    timeout: Duration,
) -> Result<Vec<ToolDefinition>, Failure> {
    let runtime = ServerRuntime::new(server)
        .map_err(|e| Failure::runtime(format!("cannot set up server {:?}: {e}", server.name)))?;
    let listed = toolgate_gateway::catalogue::fetch::list_tools(&runtime, timeout).await;
    runtime.stop().await;
    let listed = listed.map_err(|e| {
        Failure::runtime(format!(
            "cannot list the tools of server {:?}: {e}\n  help: check that the server starts on its own ({})",
            server.name,
            describe_transport(&server.transport)
        ))
    })?;
    Ok(listed
        .iter()
        .filter_map(ToolDefinition::from_value)
        .collect())
}

fn describe_transport(transport: &toolgate_gateway::settings::Transport) -> String {
    use toolgate_gateway::settings::Transport;
    match transport {
        Transport::Stdio(spec) => {
            let mut line = spec.command.clone();
            for a in &spec.args {
                line.push(' ');
                line.push_str(a);
            }
            format!("command: {line}")
        }
        Transport::Http { url, .. } | Transport::LegacySse { url, .. } => format!("url: {url}"),
    }
}

/// Classifies every tool (an operator's category wins) into a starter policy.
pub fn starter_policy(
    server: &str,
    tools: &[ToolDefinition],
    risk: &BTreeMap<String, Category>,
) -> StarterPolicy {
    StarterPolicy::new(
        server,
        tools.iter().map(|t| {
            let judged = toolgate_catalog::classify_with_override(t, risk.get(&t.name).copied());
            (t.name.clone(), judged)
        }),
    )
}

/// The policy's text in `format`, YAML with a header naming `command` and the time.
pub fn render(policy: &StarterPolicy, format: SourceFormat, command: &str) -> String {
    match format {
        SourceFormat::Json => policy.to_json(),
        SourceFormat::Yaml => policy.to_yaml(&Provenance {
            command,
            generated_at: &crate::cli::format_ms(crate::cli::now_ms()),
        }),
    }
}

/// For a stdio server: who shares its children, and what a child costs.
fn sharing_note(server: &toolgate_gateway::settings::ServerSettings) -> Option<String> {
    use toolgate_gateway::settings::{Share, Transport};
    let Transport::Stdio(_) = server.transport else {
        return None;
    };
    let c = server.children;
    let name = &server.name;
    let who = match c.share {
        Share::Grant => format!(
            "{name}: share = \"grant\": the sessions of one grant whose clients declare no capability share one child; a client that declares roots, sampling or elicitation gets a child of its own (share = \"session\" gives every session its own)."
        ),
        Share::Session => {
            format!("{name}: share = \"session\": every client session gets a child of its own.")
        }
    };
    Some(format!(
        "{who}\n{name}: each child costs the server's memory and start-up time, and isolates one grant's or session's state from the others'; at most {} at once (max_children), an unused shared child stops after {}s (child_idle_timeout).",
        c.max_children,
        c.idle_timeout.as_secs()
    ))
}

/// `crm: 219 tools: 95 read (allowed), …`.
fn summary_line(server: &str, policy: &StarterPolicy) -> String {
    let counts = policy.counts();
    let total: usize = counts.values().sum();
    let parts: Vec<String> = counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(t, n)| {
            format!(
                "{n} {} ({})",
                t.group().to_lowercase(),
                treatment_effect(*t)
            )
        })
        .collect();
    format!(
        "{server}: {}: {}",
        crate::plural(total, "tool"),
        if parts.is_empty() {
            "nothing to allow".to_owned()
        } else {
            parts.join(", ")
        }
    )
}

/// What a treatment does, in a few words.
pub fn treatment_effect(t: Treatment) -> String {
    use toolgate_catalog::starter_policy::{EXECUTES_PER_MINUTE, WRITES_PER_MINUTE};
    match t {
        Treatment::Allow => "allowed".into(),
        Treatment::LimitWrites => format!("{WRITES_PER_MINUTE}/min per grant"),
        Treatment::LimitExecutes => format!("{EXECUTES_PER_MINUTE}/min per grant"),
        Treatment::ApproveDestructive | Treatment::ApproveFinancial => "need approval".into(),
        Treatment::DenyCredentials => "denied".into(),
    }
}

/// Writes `text` to a new file (or over an existing one with `force`).
fn write_new(path: &Path, text: &str, force: bool) -> Result<(), Failure> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::usage(format!(
                "{} already exists; pass --force to overwrite it",
                path.display()
            ))
        } else {
            Failure::runtime(format!("cannot write {}: {e}", path.display()))
        }
    })?;
    file.write_all(text.as_bytes())
        .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))
}
