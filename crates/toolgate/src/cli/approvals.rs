//! `toolgate approvals list|show|approve|deny`: tool calls held for a person's decision
//! (`action: "require_approval"`), read and decided on the store. A running gateway polls the
//! store, so a decision made here releases (or refuses) a held call within a fraction of a second,
//! and an approval whose caller left (retry mode, or a hold that ran out) lets the next identical
//! retry pass, once. `list` and `show` say which of these an approval waits for. The decider is recorded as
//! `cli` (`cli:<user>` when `$USER` is set), and every decision is written to the admin audit
//! stream (`approval.approve` / `approval.deny`).

use super::{Failure, Opened, StoreArgs, format_ms, format_opt_ms, now_ms};
use crate::cli::grant::print_table;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use std::process::ExitCode;
use toolgate_store::audit::AdminEvent;
use toolgate_store::{Approval, ApprovalFilter, ApprovalStatus, StoreError};

#[derive(Args)]
pub struct ApprovalsArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: ApprovalsCommand,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Pending,
    Approved,
    Denied,
    Expired,
    Used,
}

impl From<StatusArg> for ApprovalStatus {
    fn from(s: StatusArg) -> ApprovalStatus {
        match s {
            StatusArg::Pending => ApprovalStatus::Pending,
            StatusArg::Approved => ApprovalStatus::Approved,
            StatusArg::Denied => ApprovalStatus::Denied,
            StatusArg::Expired => ApprovalStatus::Expired,
            StatusArg::Used => ApprovalStatus::Used,
        }
    }
}

#[derive(Subcommand)]
pub enum ApprovalsCommand {
    /// Approvals, newest first.
    List {
        /// Only approvals in this status.
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One approval in full: the call it covers, its arguments as `[audit] arguments` allows
    /// (names, or values redacted as redact_keys and redact_patterns say), its decision and
    /// whether a caller still waits.
    Show {
        id: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Let a held call go ahead (or, when its caller left, its identical retry pass, once).
    Approve {
        id: String,
        /// Recorded with the decision.
        #[arg(long)]
        note: Option<String>,
    },
    /// Refuse a held call; the agent is told who denied it and the note.
    Deny {
        id: String,
        /// Shown to the agent.
        #[arg(long)]
        note: Option<String>,
    },
}

pub async fn run(args: ApprovalsArgs) -> ExitCode {
    super::finish(match args.command {
        ApprovalsCommand::List {
            status,
            limit,
            json,
        } => list(&args.store, status.map(Into::into), limit, json).await,
        ApprovalsCommand::Show { id, json } => show(&args.store, &id, json).await,
        ApprovalsCommand::Approve { id, note } => decide(&args.store, &id, true, note).await,
        ApprovalsCommand::Deny { id, note } => decide(&args.store, &id, false, note).await,
    })
}

/// Who decides: `cli`, or `cli:<user>` when `$USER` is set.
pub fn decider() -> String {
    match std::env::var("USER") {
        Ok(u) if !u.trim().is_empty() => format!("{}:{}", super::ACTOR, u.trim()),
        _ => super::ACTOR.to_owned(),
    }
}

/// The status an approval has now: a pending one past its expiry is expired, whether or not a
/// gateway has marked it so yet.
fn status_now(a: &Approval, now: u64) -> ApprovalStatus {
    if a.status == ApprovalStatus::Pending && a.is_expired_at(now) {
        ApprovalStatus::Expired
    } else {
        a.status
    }
}

/// An approval as `list --json` and `show --json` print it: `state` says whether a caller waits
/// for it (`pending (caller left)`, `approved (waiting for retry)`).
pub fn approval_json(a: &Approval, now: u64) -> Value {
    let mut v = serde_json::to_value(a).expect("approvals serialise");
    v["status"] = status_now(a, now).as_str().into();
    v["state"] = a.state_at(now).as_str().into();
    v["created"] = format_ms(a.created_at_ms).into();
    v["expires"] = format_ms(a.expires_at_ms).into();
    v["decided"] = a.decided_at_ms.map(format_ms).into();
    v
}

async fn list(
    store: &StoreArgs,
    status: Option<ApprovalStatus>,
    limit: usize,
    as_json: bool,
) -> Result<(), Failure> {
    let opened = store.open().await?;
    let now = now_ms();
    // Pending approvals past their expiry are expired: mark them so (as a gateway would) so
    // that the status filter sees them where they belong.
    opened.stores.approvals.expire_due(now).await?;
    let approvals = opened
        .stores
        .approvals
        .list(ApprovalFilter {
            status,
            binding: None,
            limit: if limit == 0 { 1_000_000 } else { limit },
        })
        .await?;
    let shown = arguments_shown(&opened);
    let approvals: Vec<Approval> = approvals
        .into_iter()
        .filter(|a| status.is_none_or(|s| status_now(a, now) == s))
        .map(|a| as_shown(a, shown))
        .collect();
    if as_json {
        let all: Vec<Value> = approvals.iter().map(|a| approval_json(a, now)).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&all).expect("JSON values serialise")
        );
        return Ok(());
    }
    if approvals.is_empty() {
        eprintln!("no approvals");
        return Ok(());
    }
    let rows: Vec<[String; 8]> = approvals
        .iter()
        .map(|a| {
            [
                a.id.clone(),
                a.state_at(now).as_str().to_owned(),
                a.mode.as_str().to_owned(),
                a.binding.server.clone(),
                a.binding.tool.clone(),
                a.binding.agent.clone(),
                format_ms(a.created_at_ms),
                format_ms(a.expires_at_ms),
            ]
        })
        .collect();
    print_table(
        &[
            "ID", "STATE", "MODE", "SERVER", "TOOL", "AGENT", "CREATED", "EXPIRES",
        ],
        &rows,
    );
    Ok(())
}

/// Whether argument values may be shown: `[audit] arguments = "values"` in the config.
fn arguments_shown(opened: &Opened) -> bool {
    opened.settings.as_ref().is_some_and(|s| s.audit.values)
}

/// An approval with its arguments as the audit settings allow: their names only unless values
/// may be shown (an approval kept with values before the setting changed included).
fn as_shown(mut a: Approval, values: bool) -> Approval {
    if !values {
        a.arguments = a.arguments.as_ref().map(toolgate_gateway::argument_names);
    }
    a
}

async fn get(opened: &Opened, id: &str) -> Result<Approval, Failure> {
    opened
        .stores
        .approvals
        .get(id)
        .await?
        .ok_or_else(|| Failure::runtime(format!("no approval {id:?}")))
}

async fn show(store: &StoreArgs, id: &str, as_json: bool) -> Result<(), Failure> {
    let opened = store.open().await?;
    let a = as_shown(get(&opened, id).await?, arguments_shown(&opened));
    let now = now_ms();
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&approval_json(&a, now)).expect("JSON values serialise")
        );
        return Ok(());
    }
    let b = &a.binding;
    let dash = |s: Option<&str>| s.unwrap_or("-").to_owned();
    let fields = [
        ("id", a.id.clone()),
        ("state", a.state_at(now).as_str().to_owned()),
        ("mode", a.mode.as_str().to_owned()),
        ("server", b.server.clone()),
        ("tool", b.tool.clone()),
        ("agent", b.agent.clone()),
        ("grant", dash(b.grant.as_deref())),
        ("rule", a.rule.clone()),
        (
            "arguments",
            a.arguments
                .as_ref()
                .map_or_else(|| "(not kept)".to_owned(), Value::to_string),
        ),
        ("args digest", b.args_digest.clone()),
        ("policy version", b.policy_version.clone()),
        ("created", format_ms(a.created_at_ms)),
        ("expires", format_ms(a.expires_at_ms)),
        ("decided by", dash(a.decided_by.as_deref())),
        ("decided", format_opt_ms(a.decided_at_ms)),
        ("note", dash(a.note.as_deref())),
        ("used", format_opt_ms(a.used_at_ms)),
        ("caller left", format_opt_ms(a.caller_left_at_ms)),
    ];
    for (k, v) in fields {
        println!("{:<15} {v}", format!("{k}:"));
    }
    Ok(())
}

async fn decide(
    store: &StoreArgs,
    id: &str,
    approve: bool,
    note: Option<String>,
) -> Result<(), Failure> {
    let opened = store.open().await?;
    let note = note.filter(|n| !n.trim().is_empty());
    let by = decider();
    let decided = opened
        .stores
        .approvals
        .decide(id, approve, &by, note.as_deref(), now_ms())
        .await
        .map_err(|e| decide_error(e, approve))?;
    let verb = if approve { "approved" } else { "denied" };
    eprintln!(
        "approval {} {verb} by {by}: {} on {}{}",
        decided.id,
        decided.binding.tool,
        decided.binding.server,
        match (decided.caller_left_at_ms, approve) {
            (None, _) => "; the held call is released within a second",
            (Some(_), true) => "; the identical retry passes once, until the approval expires",
            (Some(_), false) => "",
        }
    );
    let event = AdminEvent {
        time_ms: now_ms(),
        actor: by,
        action: if approve {
            "approval.approve"
        } else {
            "approval.deny"
        }
        .to_owned(),
        target: decided.id.clone(),
        details: json!({
            "server": decided.binding.server,
            "tool": decided.binding.tool,
            "agent": decided.binding.agent,
            "grant": decided.binding.grant,
            "mode": decided.mode,
            "note": decided.note,
        }),
    };
    opened
        .stores
        .audit_sink
        .append_admin(std::slice::from_ref(&event))
        .await
        .map_err(|e| {
            Failure::runtime(format!(
                "the decision was made, but writing it to the admin audit stream failed: {e}"
            ))
        })?;
    Ok(())
}

/// A decision that cannot be made, said plainly (exit 1).
fn decide_error(e: StoreError, approve: bool) -> Failure {
    let verb = if approve { "approve" } else { "deny" };
    match e {
        StoreError::ApprovalNotFound { id } => {
            Failure::runtime(format!("no approval {id:?}; see `toolgate approvals list`"))
        }
        StoreError::ApprovalExpired { id, expired_at_ms } => Failure::runtime(format!(
            "cannot {verb} approval {id}: it expired at {} and its call was denied",
            format_ms(expired_at_ms)
        )),
        StoreError::ApprovalNotPending { id, status } => Failure::runtime(format!(
            "cannot {verb} approval {id}: it is {status} already"
        )),
        other => Failure::from(other),
    }
}
