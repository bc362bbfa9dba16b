//! `toolgate catalog [<server>]`: what every server's tools do, by risk, as the gateway last
//! listed them (from the store it writes), with each tool's pin state. A server the store knows
//! nothing about yet is listed live, over a short session of its own.

use super::{Failure, StoreArgs};
use crate::cli::grant::print_table;
use clap::Args;
use serde_json::json;
use std::collections::BTreeMap;
use std::process::ExitCode;
use toolgate_catalog::Category;
use toolgate_gateway::catalogue::{fetch, refresh};
use toolgate_gateway::server::ServerRuntime;
use toolgate_store::catalogue::{CatalogueEntry, EntryKind};

#[derive(Args)]
pub struct CatalogArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Only this server's tools.
    pub server: Option<String>,
    /// The full entries (definitions, digests, every reason) as one JSON array.
    #[arg(long)]
    pub json: bool,
}

/// A tool as the table shows it: from the store, or listed live (no pin yet).
struct Row {
    server: String,
    tool: String,
    classification: toolgate_catalog::Classification,
    state: String,
}

pub async fn run(args: CatalogArgs) -> ExitCode {
    super::finish(catalog(args).await)
}

async fn catalog(args: CatalogArgs) -> Result<(), Failure> {
    let opened = args.store.open().await?;
    let mut entries = opened
        .stores
        .catalogue
        .entries(args.server.as_deref())
        .await?;
    // The catalogue of tools: a server's pinned instructions are for `toolgate pins`.
    entries.retain(|e| e.kind == EntryKind::Tool);
    let configured: Vec<String> = match &opened.settings {
        Some(s) => s.servers.iter().map(|s| s.name.clone()).collect(),
        None => Vec::new(),
    };
    if let Some(server) = &args.server
        && entries.is_empty()
        && !configured.contains(server)
    {
        return Err(Failure::runtime(format!(
            "error: no server {server:?} in the catalogue or in {}",
            args.store.config.display()
        )));
    }
    // Servers the gateway has not listed yet: list them now.
    let mut live = Vec::new();
    if let Some(settings) = &opened.settings {
        for s in &settings.servers {
            let wanted = args.server.as_deref().is_none_or(|w| w == s.name);
            if wanted && !entries.iter().any(|e| e.server == s.name) {
                eprintln!(
                    "{}: not in the store yet (the gateway has not listed it); listing it live",
                    s.name
                );
                match list_live(s, settings.upstream_connect_timeout).await {
                    Ok(rows) => live.extend(rows),
                    Err(e) => eprintln!("{}: cannot list its tools: {e}", s.name),
                }
            }
        }
    }
    if args.json {
        entries.sort_by(|a, b| (&a.server, &a.tool).cmp(&(&b.server, &b.tool)));
        let mut all: Vec<_> = entries.iter().map(CatalogueEntry::to_json).collect();
        all.extend(live.iter().map(|r| {
            json!({"server": r.server, "tool": r.tool, "state": r.state, "classification": r.classification})
        }));
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        return Ok(());
    }
    let mut rows: Vec<Row> = entries
        .into_iter()
        .filter_map(|e| {
            Some(Row {
                state: e.state.to_string(),
                server: e.server,
                tool: e.tool,
                classification: e.classification?,
            })
        })
        .collect();
    rows.extend(live);
    print_rows(&rows);
    Ok(())
}

async fn list_live(
    s: &toolgate_gateway::settings::ServerSettings,
    timeout: std::time::Duration,
) -> Result<Vec<Row>, String> {
    let runtime = ServerRuntime::new(s).map_err(|e| e.to_string())?;
    let listed = fetch::list_tools(&runtime, timeout).await;
    runtime.stop().await;
    let tools = listed.map_err(|e| e.to_string())?;
    Ok(refresh::observe(&tools, &s.risk)
        .into_iter()
        .map(|t| Row {
            server: s.name.clone(),
            tool: t.definition.name().to_owned(),
            classification: t.classification,
            state: "unpinned".into(),
        })
        .collect())
}

fn print_rows(rows: &[Row]) {
    let table: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let reasons: Vec<&str> = r
                .classification
                .reasons
                .iter()
                .take(2)
                .map(String::as_str)
                .collect();
            [
                r.server.clone(),
                r.tool.clone(),
                r.classification.category.to_string(),
                r.classification.severity.to_string(),
                r.state.clone(),
                reasons.join("; "),
            ]
        })
        .collect();
    print_table(
        &["SERVER", "TOOL", "CATEGORY", "SEVERITY", "PIN", "REASONS"],
        &table,
    );
    let mut counts: BTreeMap<Category, usize> = BTreeMap::new();
    for r in rows {
        *counts.entry(r.classification.category).or_default() += 1;
    }
    let by_category: Vec<String> = Category::ALL
        .iter()
        .map(|c| format!("{} {c}", counts.get(c).copied().unwrap_or(0)))
        .collect();
    let waiting = rows
        .iter()
        .filter(|r| r.state == "changed" || r.state == "new")
        .count();
    println!(
        "\n{}: {}; {waiting} waiting for approval",
        crate::plural(rows.len(), "tool"),
        by_category.join(", ")
    );
}
