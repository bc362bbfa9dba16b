//! `toolgate kill on|off|list`: the emergency stop, kept in the store. A running gateway reads the
//! switches every second, so a switch thrown here stops (or lets through) calls within about a
//! second, and it survives restarts.

use super::{Failure, StoreArgs, format_ms, now_ms};
use crate::cli::grant::print_table;
use clap::{Args, Subcommand};
use serde_json::json;
use std::process::ExitCode;
use toolgate_store::KillScope;

#[derive(Args)]
pub struct KillArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: KillCommand,
}

#[derive(Subcommand)]
pub enum KillCommand {
    /// Stop every call in the scope (the agent is told why).
    On {
        #[command(flatten)]
        scope: ScopeArgs,
        /// Shown to the agent whose call is stopped.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Let calls in the scope through again.
    Off {
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// The engaged switches.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct ScopeArgs {
    /// Every call through the gateway.
    #[arg(long)]
    pub global: bool,
    /// Every call to this server.
    #[arg(long, value_name = "NAME")]
    pub server: Option<String>,
    /// Every call made with this grant.
    #[arg(long, value_name = "LABEL")]
    pub grant: Option<String>,
}

impl ScopeArgs {
    fn scope(&self) -> KillScope {
        match (&self.server, &self.grant) {
            (Some(s), _) => KillScope::Server(s.clone()),
            (_, Some(g)) => KillScope::Grant(g.clone()),
            _ => KillScope::Global,
        }
    }
}

pub async fn run(args: KillArgs) -> ExitCode {
    super::finish(match args.command {
        KillCommand::On { scope, reason } => on(&args.store, scope.scope(), reason).await,
        KillCommand::Off { scope } => off(&args.store, scope.scope()).await,
        KillCommand::List { json } => list(&args.store, json).await,
    })
}

/// The admin event's target: the server or grant, or `*` for the global switch.
fn target(scope: &KillScope) -> &str {
    match scope {
        KillScope::Global => "*",
        s => s.target(),
    }
}

async fn on(store: &StoreArgs, scope: KillScope, reason: Option<String>) -> Result<(), Failure> {
    let opened = store.open().await?;
    match (&scope, &opened.settings) {
        (KillScope::Server(s), Some(settings)) if settings.server(s).is_none() => eprintln!(
            "warning: {} has no server {s:?}; the switch is engaged anyway",
            store.config.display()
        ),
        (KillScope::Grant(g), _) if opened.stores.grants.get(g).await?.is_none() => {
            eprintln!("warning: the store has no grant {g:?}; the switch is engaged anyway")
        }
        _ => {}
    }
    let switch = opened
        .stores
        .kill_switches
        .engage(scope.clone(), reason.clone(), now_ms())
        .await?;
    eprintln!(
        "kill switch engaged: {}{}; a running gateway stops these calls within a second",
        switch.scope,
        reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    opened
        .audit_admin(
            "kill_switch.engage",
            target(&scope),
            json!({ "scope": scope.kind(), "target": scope.target(), "reason": reason }),
        )
        .await
}

async fn off(store: &StoreArgs, scope: KillScope) -> Result<(), Failure> {
    let opened = store.open().await?;
    let released = opened.stores.kill_switches.release(&scope).await?;
    if !released {
        eprintln!("kill switch {scope} was not engaged");
        return Ok(());
    }
    eprintln!(
        "kill switch released: {scope}; a running gateway lets these calls through within a second"
    );
    opened
        .audit_admin(
            "kill_switch.release",
            target(&scope),
            json!({ "scope": scope.kind(), "target": scope.target() }),
        )
        .await
}

async fn list(store: &StoreArgs, as_json: bool) -> Result<(), Failure> {
    let opened = store.open().await?;
    let switches = opened.stores.kill_switches.list().await?;
    if as_json {
        let all: Vec<_> = switches
            .iter()
            .map(|s| {
                json!({
                    "scope": s.scope.kind(),
                    "target": s.scope.target(),
                    "reason": s.reason,
                    "engaged": format_ms(s.engaged_at_ms),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&all).expect("JSON values serialise")
        );
        return Ok(());
    }
    if switches.is_empty() {
        eprintln!("no kill switch engaged");
        return Ok(());
    }
    let rows: Vec<[String; 4]> = switches
        .iter()
        .map(|s| {
            [
                s.scope.kind().to_owned(),
                if s.scope.target().is_empty() {
                    "*".to_owned()
                } else {
                    s.scope.target().to_owned()
                },
                format_ms(s.engaged_at_ms),
                s.reason.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    print_table(&["SCOPE", "TARGET", "ENGAGED", "REASON"], &rows);
    Ok(())
}
