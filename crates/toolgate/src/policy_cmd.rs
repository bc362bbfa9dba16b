//! `toolgate policy explain` and `toolgate policy test`: a policy's decisions off the wire. `explain`
//! shows the decision for one call, the rule that made it and why (every matched key and evaluated
//! condition); `test` runs a file of cases (call → expected decision) for CI. Both use the same engine
//! as the gateway (`Policy::decide`), and `test` the same in-memory counter store.

mod cases;
mod explain;
mod test;

use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use toolgate_gateway::settings::Settings;
use toolgate_policy::Policy;

/// Exit code for a command line that cannot be acted on (clap's own usage errors use it too).
const EXIT_USAGE: u8 = 2;
/// The anonymous identity the gateway gives callers when no grant is configured.
const ANONYMOUS: &str = toolgate_gateway::identity::ANONYMOUS;

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Show the decision for one call (allow, deny, hidden, require_approval), the rule that made it,
    /// what the agent would see, the counters it would reserve, and why.
    Explain(ExplainArgs),
    /// Run a file of cases (call → expected decision) against a policy; exit 1 on any mismatch, 78
    /// on an invalid policy or case file.
    Test(TestArgs),
}

/// Where the policy comes from: a policy file, or a server of a config file.
#[derive(Args)]
pub struct PolicySource {
    /// The policy file (JSON or YAML).
    #[arg(long, conflicts_with = "config")]
    pub policy: Option<PathBuf>,
    /// A toolgate.toml: the policy of the server the call goes to. `${ENV}` references need not be
    /// set (nothing is contacted).
    #[arg(short, long)]
    pub config: Option<PathBuf>,
}

#[derive(Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub source: PolicySource,
    /// The server the call goes to: selects its policy with -c, and is what `server` conditions
    /// see (default: the only server of the config, or the policy file's name without extension).
    #[arg(long)]
    pub server: Option<String>,
    /// The tool's name.
    #[arg(long)]
    pub tool: String,
    /// The call's arguments, a JSON object.
    #[arg(long, default_value = "{}")]
    pub args: String,
    /// The calling agent.
    #[arg(long, default_value = ANONYMOUS)]
    pub agent: String,
    /// The grant's label.
    #[arg(long, default_value = ANONYMOUS)]
    pub grant: String,
    /// A tag of the grant (repeat for several).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// The MCP session id (subject of `scope: session` counters).
    #[arg(long, default_value = "explain")]
    pub session: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct TestArgs {
    /// The case file (JSON, or YAML for .yaml/.yml).
    pub file: PathBuf,
    /// Overrides the case file's `policy`.
    #[command(flatten)]
    pub source: PolicySource,
}

pub fn run(command: PolicyCommand) -> ExitCode {
    match command {
        PolicyCommand::Explain(args) => explain::run(&args),
        PolicyCommand::Test(args) => test::run(&args),
    }
}

/// Why a command could not run: printed to stderr, then the exit code.
struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    fn config(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: crate::EXIT_CONFIG,
        }
    }

    fn usage(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: EXIT_USAGE,
        }
    }

    fn exit(self) -> ExitCode {
        eprintln!("{}", self.message);
        ExitCode::from(self.code)
    }
}

/// Policies to decide with: one file, or the servers of a config.
// One value per command run: boxing either variant would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Loaded {
    File { policy: Policy, server: String },
    Config { settings: Settings, path: PathBuf },
}

impl Loaded {
    fn load(policy: &Path) -> Result<Loaded, Failure> {
        let compiled = crate::config::load_policy(policy).map_err(Failure::config)?;
        Ok(Loaded::File {
            policy: compiled,
            server: policy.file_stem().map_or_else(
                || "wrapped".to_owned(),
                |s| s.to_string_lossy().into_owned(),
            ),
        })
    }

    /// A config checked as `validate` does, except that `${ENV}` references resolve to "" (a policy
    /// test in CI has no upstream secrets, and nothing is contacted).
    fn load_config(path: &Path) -> Result<Loaded, Failure> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::config(format!(
                "{}: cannot read the configuration file: {e}",
                path.display()
            ))
        })?;
        let settings = crate::config::parse(&text, path, &|_| Some(String::new()))
            .map_err(|e| Failure::config(e.to_string()))?;
        Ok(Loaded::Config {
            settings,
            path: path.to_owned(),
        })
    }

    /// The server a call goes to when none is named.
    fn default_server(&self) -> Result<&str, String> {
        match self {
            Loaded::File { server, .. } => Ok(server),
            Loaded::Config { settings, path } => match settings.servers.as_slice() {
                [only] => Ok(&only.name),
                servers => Err(format!(
                    "{} defines {}: name the server the call goes to ({})",
                    path.display(),
                    crate::plural(servers.len(), "server"),
                    server_names(settings)
                )),
            },
        }
    }

    /// The policy that governs calls to `server`.
    fn policy_for(&self, server: &str) -> Result<&Policy, String> {
        match self {
            Loaded::File { policy, .. } => Ok(policy),
            Loaded::Config { settings, path } => {
                settings.server(server).map(|s| &*s.policy).ok_or_else(|| {
                    format!(
                        "{} has no server {server:?} (servers: {})",
                        path.display(),
                        server_names(settings)
                    )
                })
            }
        }
    }
}

fn server_names(settings: &Settings) -> String {
    if settings.servers.is_empty() {
        return "none".to_owned();
    }
    settings
        .servers
        .iter()
        .map(|s| format!("{:?}", s.name))
        .collect::<Vec<_>>()
        .join(", ")
}
