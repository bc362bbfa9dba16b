//! `toolgate pins list|diff|approve`: the operator's side of pinning. A tool whose definition
//! changed since it was pinned (or that is new on a pinned server) is hidden and denied by the
//! gateway until approved here, and a server whose instructions changed has its clients given
//! the pinned ones (`--instructions`); a running gateway reads the store every second, so an
//! approval counts within about a second.

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
    /// The pinned definition of a tool (or the server's pinned instructions) against its current
    /// one, line by line.
    Diff {
        server: String,
        /// The tool (or `--instructions`).
        #[arg(
            required_unless_present = "instructions",
            conflicts_with = "instructions"
        )]
        tool: Option<String>,
        /// The server's instructions (from `initialize`) instead of a tool.
        #[arg(long)]
        instructions: bool,
        #[arg(long)]
        json: bool,
    },
    /// Make a tool's current definition (or the server's current instructions) its pin: listed
    /// and callable again.
    Approve {
        server: String,
        /// The tool (or `--instructions`, or `--all`).
        #[arg(required_unless_present_any = ["all", "instructions"], conflicts_with_all = ["all", "instructions"])]
        tool: Option<String>,
        /// The server's instructions (from `initialize`) instead of a tool.
        #[arg(long, conflicts_with = "all")]
        instructions: bool,
        /// Every changed and new tool of the server, and its instructions if they changed.
        #[arg(long)]
        all: bool,
        /// Approve only if the current definition still has this digest (from `pins diff`).
        #[arg(long)]
        digest: Option<String>,
    },
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
            instructions,
            json,
        } => {
            let (kind, name) = entry_key(tool, instructions);
            diff(&args.store, &server, kind, &name, json).await
        }
        PinsCommand::Approve {
            server,
            tool,
            instructions,
            all,
            digest,
        } => {
            let only = (!all).then(|| entry_key(tool, instructions));
            approve(&args.store, &server, only, digest.as_deref()).await
        }
    })
}

/// The entry a command names: a tool, or with `--instructions` the server's instructions.
fn entry_key(tool: Option<String>, instructions: bool) -> (EntryKind, String) {
    match (tool, instructions) {
        (_, true) => (EntryKind::Instructions, String::new()),
        (tool, false) => (EntryKind::Tool, tool.unwrap_or_default()),
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
                e.label().to_owned(),
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
        &["SERVER", "TOOL", "STATE", "CHANGED", "PINNED", "APPROVED"],
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
                tool: label(kind, tool).into(),
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
            "new since the server's tools were pinned".into()
        }
        toolgate_store::catalogue::PinState::Pinned => {
            "pinned; the current definition is the pinned one".into()
        }
    };
    match kind {
        EntryKind::Tool => println!("tool {tool:?} on server {server:?}: {state}"),
        EntryKind::Instructions => println!("instructions of server {server:?}: {state}"),
    }
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

/// How messages name an entry: the tool's name, or `(instructions)`.
fn label(kind: EntryKind, tool: &str) -> &str {
    match kind {
        EntryKind::Tool => tool,
        EntryKind::Instructions => "(instructions)",
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
                eprintln!("no tool of server {server:?} is waiting for approval");
                return Ok(());
            }
            waiting.into_iter().map(|e| (e.kind, e.tool)).collect()
        }
    };
    for (kind, tool) in keys {
        let what = match kind {
            EntryKind::Tool => format!("tool {tool:?} on server {server:?}"),
            EntryKind::Instructions => format!("the instructions of server {server:?}"),
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
        };
        eprintln!(
            "approved {what} ({}); a running gateway {effect} within a second",
            short(&done.entry.current.digest)
        );
        opened
            .audit_admin(
                "pin.approved",
                &format!("{server}/{}", label(kind, &tool)),
                json!({ "server": server, "tool": tool, "entry": kind.as_str(),
                        "digest": done.entry.current.digest }),
            )
            .await?;
    }
    Ok(())
}
