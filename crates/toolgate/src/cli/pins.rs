//! `toolgate pins list|diff|approve`: the operator's side of pinning. A tool whose definition
//! changed since it was pinned (or that is new on a pinned server) is hidden and denied by the
//! gateway until approved here; a running gateway reads the store every second, so an approval
//! counts within about a second.

use super::{ACTOR, Failure, StoreArgs, format_opt_ms, now_ms};
use crate::cli::grant::print_table;
use clap::{Args, Subcommand};
use serde_json::json;
use std::process::ExitCode;
use toolgate_store::StoreError;
use toolgate_store::catalogue::CatalogueEntry;

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
    /// The pinned definition of a tool against its current one, line by line.
    Diff {
        server: String,
        tool: String,
        #[arg(long)]
        json: bool,
    },
    /// Make a tool's current definition its pin: listed and callable again.
    Approve {
        server: String,
        /// The tool (or `--all`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        tool: Option<String>,
        /// Every changed and new tool of the server.
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
        PinsCommand::Diff { server, tool, json } => diff(&args.store, &server, &tool, json).await,
        PinsCommand::Approve {
            server,
            tool,
            all,
            digest,
        } => {
            approve(
                &args.store,
                &server,
                tool.as_deref(),
                all,
                digest.as_deref(),
            )
            .await
        }
    })
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
                e.tool.clone(),
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

async fn diff(store: &StoreArgs, server: &str, tool: &str, as_json: bool) -> Result<(), Failure> {
    let opened = store.open().await?;
    let entry = opened
        .stores
        .catalogue
        .entry(server, tool)
        .await?
        .ok_or_else(|| {
            not_found(StoreError::PinNotFound {
                server: server.into(),
                tool: tool.into(),
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
    println!("tool {tool:?} on server {server:?}: {state}");
    if let Some(p) = &entry.pinned {
        println!("--- pinned  {}", p.digest);
    }
    println!("+++ current {}", entry.current.digest);
    print!("{}", entry.diff());
    if entry.is_quarantined() {
        let digest = short(&entry.current.digest);
        eprintln!(
            "approve it with: {}",
            toolgate_gateway::catalogue::approve_command(server, tool, Some(&digest))
        );
    }
    Ok(())
}

async fn approve(
    store: &StoreArgs,
    server: &str,
    tool: Option<&str>,
    all: bool,
    digest: Option<&str>,
) -> Result<(), Failure> {
    let opened = store.open().await?;
    let tools: Vec<String> = match tool {
        Some(t) if !all => vec![t.to_owned()],
        _ => {
            let waiting = opened.stores.catalogue.quarantined(Some(server)).await?;
            if waiting.is_empty() {
                eprintln!("no tool of server {server:?} is waiting for approval");
                return Ok(());
            }
            waiting.into_iter().map(|e| e.tool).collect()
        }
    };
    for tool in tools {
        let current = opened.stores.catalogue.entry(server, &tool).await?;
        // A short digest (as `pins diff` prints it) names the current one if it is its prefix.
        let expected = match (digest, &current) {
            (Some(d), Some(c)) if c.current.digest.starts_with(d) => Some(c.current.digest.clone()),
            (Some(d), _) => Some(d.to_owned()),
            (None, _) => None,
        };
        let done = opened
            .stores
            .catalogue
            .approve(server, &tool, ACTOR, expected.as_deref(), now_ms())
            .await
            .map_err(not_found)?;
        if !done.changed {
            eprintln!(
                "tool {tool:?} on server {server:?} is already pinned at its current definition"
            );
            continue;
        }
        eprintln!(
            "approved tool {tool:?} on server {server:?} ({}); a running gateway lists and allows it within a second",
            short(&done.entry.current.digest)
        );
        opened
            .audit_admin(
                "pin.approved",
                &format!("{server}/{tool}"),
                json!({ "server": server, "tool": tool, "digest": done.entry.current.digest }),
            )
            .await?;
    }
    Ok(())
}
