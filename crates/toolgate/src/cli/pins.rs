//! `toolgate pins list|diff|approve`: the operator's side of pinning. A tool whose definition
//! changed since it was pinned (or that is new on a pinned server) is hidden and denied by the
//! gateway until approved here, and a server whose instructions changed has its clients given
//! the pinned ones (`--instructions`); a changed prompt, resource or resource template
//! (`--prompt`, `--resource`, `--resource-template`) is withheld from its list and refused until
//! approved. A running gateway reads the store every second, so an approval counts within about
//! a second.

use super::{ACTOR, Failure, StoreArgs, format_opt_ms, now_ms};
use crate::cli::grant::print_table;
use clap::{Args, Subcommand};
use serde_json::json;
use std::process::ExitCode;
use toolgate_store::StoreError;
use toolgate_store::catalogue::{CatalogueEntry, EntryKind};

#[derive(Args)]
pub struct PinsArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: PinsCommand,
}

#[derive(Subcommand)]
pub enum PinsCommand {
    /// Every pin (of one server) and its state; `--quarantined` for those waiting for approval.
    List {
        server: Option<String>,
        /// Only changed and new tools.
        #[arg(long)]
        quarantined: bool,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The pinned definition of a tool (or of the server's instructions, a prompt, a resource or
    /// a resource template) against its current one, line by line.
    Diff {
        server: String,
        /// The tool (a prompt's name, a resource's URI or template with their flag; none with
        /// `--instructions`).
        #[arg(
            value_name = "NAME",
            required_unless_present = "instructions",
            conflicts_with = "instructions"
        )]
        tool: Option<String>,
        #[command(flatten)]
        kind: KindArgs,
        #[arg(long)]
        json: bool,
    },
    /// Make a tool's current definition (or the server's current instructions, a prompt's, a
    /// resource's or a resource template's) its pin: listed and callable again.
    Approve {
        server: String,
        /// The tool (a prompt's name, a resource's URI or template with their flag; none with
        /// `--instructions` or `--all`).
        #[arg(
            value_name = "NAME",
            required_unless_present_any = ["all", "instructions"],
            conflicts_with_all = ["all", "instructions"]
        )]
        tool: Option<String>,
        #[command(flatten)]
        kind: KindArgs,
        /// Every changed and new entry of the server (tools, instructions, prompts, resources,
        /// resource templates).
        #[arg(
            long,
            conflicts_with_all = ["instructions", "prompt", "resource", "resource_template"]
        )]
        all: bool,
        /// Approve only if the current definition still has this digest (from `pins diff`).
        #[arg(long)]
        digest: Option<String>,
    },
}

/// Which kind of entry a command names (a tool unless one of these is given).
#[derive(Args)]
#[group(multiple = false)]
pub struct KindArgs {
    /// The server's instructions (from `initialize`) instead of a tool.
    #[arg(long)]
    instructions: bool,
    /// NAME is a prompt's (of `prompts/list`).
    #[arg(long)]
    prompt: bool,
    /// NAME is a resource's URI (of `resources/list`).
    #[arg(long)]
    resource: bool,
    /// NAME is a resource template's URI template (of `resources/templates/list`).
    #[arg(long)]
    resource_template: bool,
}

impl KindArgs {
    fn kind(&self) -> EntryKind {
        if self.instructions {
            EntryKind::Instructions
        } else if self.prompt {
            EntryKind::Prompt
        } else if self.resource {
            EntryKind::Resource
        } else if self.resource_template {
            EntryKind::ResourceTemplate
        } else {
            EntryKind::Tool
        }
    }
}

pub async fn run(args: PinsArgs) -> ExitCode {
    super::finish(match args.command {
        PinsCommand::List {
            server,
            quarantined,
            json,
        } => list(&args.store, server.as_deref(), quarantined, json).await,
        PinsCommand::Diff {
            server,
            tool,
            kind,
            json,
        } => {
            let (kind, name) = entry_key(tool, &kind);
            diff(&args.store, &server, kind, &name, json).await
        }
        PinsCommand::Approve {
            server,
            tool,
            kind,
            all,
            digest,
        } => {
            let only = (!all).then(|| entry_key(tool, &kind));
            approve(&args.store, &server, only, digest.as_deref()).await
        }
    })
}

/// The entry a command names: a tool, the server's instructions, a prompt, a resource or a
/// resource template.
fn entry_key(tool: Option<String>, kind: &KindArgs) -> (EntryKind, String) {
    match kind.kind() {
        EntryKind::Instructions => (EntryKind::Instructions, String::new()),
        other => (other, tool.unwrap_or_default()),
    }
}

fn short(digest: &str) -> String {
    digest.chars().take(12).collect()
}

async fn list(
    store: &StoreArgs,
    server: Option<&str>,
    quarantined: bool,
    as_json: bool,
) -> Result<(), Failure> {
    let opened = store.open().await?;
    let entries = if quarantined {
        opened.stores.catalogue.quarantined(server).await?
    } else {
        opened.stores.catalogue.entries(server).await?
    };
    if as_json {
        let all: Vec<_> = entries.iter().map(CatalogueEntry::to_json).collect();
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        return Ok(());
    }
    if entries.is_empty() {
        eprintln!(
            "no pins{}",
            if quarantined {
                " waiting for approval"
            } else {
                ""
            }
        );
        return Ok(());
    }
    let rows: Vec<[String; 6]> = entries
        .iter()
        .map(|e| {
            [
                e.server.clone(),
                e.label(),
                e.state.to_string(),
                e.changed_fields().join(", "),
                e.pinned.as_ref().map_or("-".into(), |p| short(&p.digest)),
                e.approved_by.as_ref().map_or("-".into(), |by| {
                    format!("{by} {}", format_opt_ms(e.approved_at_ms))
                }),
            ]
        })
        .collect();
    print_table(
        &["SERVER", "ENTRY", "STATE", "CHANGED", "PINNED", "APPROVED"],
        &rows,
    );
    Ok(())
}

fn not_found(e: StoreError) -> Failure {
    Failure::runtime(format!("error: {e}"))
}

async fn diff(
    store: &StoreArgs,
    server: &str,
    kind: EntryKind,
    tool: &str,
    as_json: bool,
) -> Result<(), Failure> {
    let opened = store.open().await?;
    let entry = opened
        .stores
        .catalogue
        .entry_of(server, kind, tool)
        .await?
        .ok_or_else(|| {
            not_found(StoreError::PinNotFound {
                server: server.into(),
                tool: kind.label(tool),
            })
        })?;
    if as_json {
        let mut v = entry.to_json();
        v["diff"] = json!(entry.diff());
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    let fields = entry.changed_fields();
    let state = match entry.state {
        toolgate_store::catalogue::PinState::Changed => {
            format!("changed since it was pinned ({})", fields.join(", "))
        }
        toolgate_store::catalogue::PinState::New => {
            format!("new since the server's {}s were pinned", kind.noun())
        }
        toolgate_store::catalogue::PinState::Pinned => {
            "pinned; the current definition is the pinned one".into()
        }
    };
    println!("{}: {state}", describe(server, kind, tool));
    if let Some(p) = &entry.pinned {
        println!("--- pinned  {}", p.digest);
    }
    println!("+++ current {}", entry.current.digest);
    print!("{}", entry.diff());
    if entry.is_quarantined() {
        let digest = short(&entry.current.digest);
        eprintln!(
            "approve it with: {}",
            toolgate_gateway::catalogue::approve_entry_command(server, kind, tool, Some(&digest))
        );
    }
    Ok(())
}

/// How messages name an entry: `tool "add" on server "fast"`, `instructions of server "fast"`.
fn describe(server: &str, kind: EntryKind, name: &str) -> String {
    match kind {
        EntryKind::Instructions => format!("instructions of server {server:?}"),
        other => format!("{} {name:?} on server {server:?}", other.noun()),
    }
}

/// Approves one entry (`only`), or every entry of `server` waiting for approval.
async fn approve(
    store: &StoreArgs,
    server: &str,
    only: Option<(EntryKind, String)>,
    digest: Option<&str>,
) -> Result<(), Failure> {
    let opened = store.open().await?;
    let keys: Vec<(EntryKind, String)> = match only {
        Some(key) => vec![key],
        None => {
            let waiting = opened.stores.catalogue.quarantined(Some(server)).await?;
            if waiting.is_empty() {
                eprintln!("nothing of server {server:?} is waiting for approval");
                return Ok(());
            }
            waiting.into_iter().map(|e| (e.kind, e.tool)).collect()
        }
    };
    for (kind, tool) in keys {
        let what = match kind {
            EntryKind::Instructions => format!("the {}", describe(server, kind, &tool)),
            _ => describe(server, kind, &tool),
        };
        let current = opened
            .stores
            .catalogue
            .entry_of(server, kind, &tool)
            .await?;
        // A short digest (as `pins diff` prints it) names the current one if it is its prefix.
        let expected = match (digest, &current) {
            (Some(d), Some(c)) if c.current.digest.starts_with(d) => Some(c.current.digest.clone()),
            (Some(d), _) => Some(d.to_owned()),
            (None, _) => None,
        };
        let done = opened
            .stores
            .catalogue
            .approve_pin(server, kind, &tool, ACTOR, expected.as_deref(), now_ms())
            .await
            .map_err(not_found)?;
        if !done.changed {
            eprintln!("{what} is already pinned at its current definition");
            continue;
        }
        let effect = match kind {
            EntryKind::Tool => "lists and allows it",
            EntryKind::Instructions => "gives them to its clients",
            EntryKind::Prompt | EntryKind::Resource | EntryKind::ResourceTemplate => {
                "lists it and lets it be read"
            }
        };
        eprintln!(
            "approved {what} ({}); a running gateway {effect} within a second",
            short(&done.entry.current.digest)
        );
        opened
            .audit_admin(
                "pin.approved",
                &format!("{server}/{}", kind.label(&tool)),
                json!({ "server": server, "tool": tool, "entry": kind.as_str(),
                        "digest": done.entry.current.digest }),
            )
            .await?;
    }
    Ok(())
}
