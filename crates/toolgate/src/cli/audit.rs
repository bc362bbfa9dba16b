//! `toolgate audit verify|query|export|tail`: the hash-chained audit streams read back from the
//! store. `verify` walks a whole chain and names the first broken record; `query` filters the
//! request stream; `export` writes JSONL that can be verified offline; `tail -f` follows new
//! records by sequence number.

use super::{Failure, StoreArgs, format_ms, now_ms, parse_time};
use crate::cli::grant::print_table;
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use toolgate_store::audit::{
    AdminEvent, AdminQuery, AuditDecision, AuditQuery, AuditRecord, AuditStream, CallView, Chained,
    RecordPhase, export_admin_jsonl, export_jsonl,
};

/// Records read from the store per round trip.
const PAGE: u32 = 1_000;
/// How often `tail -f` asks the store for new records.
const TAIL_POLL: Duration = Duration::from_millis(500);

#[derive(Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StreamArg {
    /// One record per request.
    Requests,
    /// One event per admin change.
    Admin,
}

impl From<StreamArg> for AuditStream {
    fn from(s: StreamArg) -> AuditStream {
        match s {
            StreamArg::Requests => AuditStream::Requests,
            StreamArg::Admin => AuditStream::Admin,
        }
    }
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain; exit 0 when intact, 1 naming the first broken record.
    Verify {
        /// One stream (default: both).
        #[arg(long)]
        stream: Option<StreamArg>,
        /// Also check the chain against the signed checkpoints in this file (JSONL, as the
        /// gateway publishes them): no record a checkpoint covers was cut or rewritten.
        #[arg(long, value_name = "FILE")]
        checkpoints: Option<PathBuf>,
    },
    /// Request records matching every filter given, oldest first.
    Query(QueryArgs),
    /// Every record of a stream as JSONL (with seq, prev_hash and hash, verifiable offline).
    Export {
        #[arg(long, value_enum, default_value = "requests")]
        stream: StreamArg,
        /// Write to this file instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// The latest records; with -f, then every new one as it arrives (until Ctrl-C).
    Tail {
        #[arg(long, value_enum, default_value = "requests")]
        stream: StreamArg,
        /// Keep printing new records.
        #[arg(short, long)]
        follow: bool,
        /// How many of the latest records to print first.
        #[arg(short = 'n', long, default_value_t = 10)]
        lines: u32,
        /// JSONL instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct QueryArgs {
    /// At or after this time: a duration before now (`1h`, `7d`) or an RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Before this time (same forms).
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long)]
    pub agent: Option<String>,
    #[arg(long)]
    pub server: Option<String>,
    #[arg(long)]
    pub tool: Option<String>,
    /// allow, deny, hidden, rate_limited, approval_required, error or held.
    #[arg(long)]
    pub decision: Option<String>,
    /// At most this many records: the latest ones (0 for all).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// JSONL (one record per line, as `export` writes) instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: AuditArgs) -> ExitCode {
    super::finish(match args.command {
        AuditCommand::Verify {
            stream,
            checkpoints,
        } => verify(&args.store, stream, checkpoints).await,
        AuditCommand::Query(q) => query(&args.store, q).await,
        AuditCommand::Export { stream, output } => export(&args.store, stream, output).await,
        AuditCommand::Tail {
            stream,
            follow,
            lines,
            json,
        } => tail(&args.store, stream.into(), follow, lines, json).await,
    })
}

async fn verify(
    store: &StoreArgs,
    stream: Option<StreamArg>,
    checkpoints: Option<PathBuf>,
) -> Result<(), Failure> {
    let opened = store.open().await?;
    let streams = match stream {
        Some(s) => vec![AuditStream::from(s)],
        None => vec![AuditStream::Requests, AuditStream::Admin],
    };
    let mut broken = false;
    for s in streams {
        let report = opened.stores.audit.verify(s).await?;
        let from = if report.anchor.seq > 0 {
            format!(
                " (from the retention checkpoint after record {})",
                report.anchor.seq
            )
        } else {
            String::new()
        };
        let keyed = match report.keyed {
            0 => String::new(),
            k if k == report.checked => String::new(),
            k => format!(
                " ({k} keyed, {} sealed before the audit key)",
                report.checked - k
            ),
        };
        match &report.broken {
            None => {
                println!("{s}: intact: {} records{from}{keyed}", report.checked);
                if opened.key.is_some() && report.keyed == 0 && report.checked > 0 {
                    println!(
                        "{s}: note: no record is sealed with the audit key: written before the key existed, or re-sealed by someone without it (check them against signed checkpoints: --checkpoints)"
                    );
                }
                if s == AuditStream::Requests {
                    print_unfinished(&opened.stores).await?;
                }
            }
            Some(b) => {
                broken = true;
                println!(
                    "{s}: BROKEN at record {}: {b} ({} records before it verified{from})",
                    b.seq(),
                    report.checked
                );
            }
        }
    }
    if let Some(file) = checkpoints {
        let wanted = stream.map(AuditStream::from);
        broken |= !check_checkpoints(&opened, &file, wanted).await?;
    }
    if broken {
        Err(Failure::runtime(
            "error: the audit log was tampered with (or damaged)",
        ))
    } else {
        Ok(())
    }
}

/// The hash of record `seq` of `stream` as the store has it; `None` when there is none.
async fn stored_hash(
    stores: &toolgate_store::Stores,
    stream: AuditStream,
    seq: u64,
) -> Result<Option<String>, Failure> {
    let after = Some(seq.saturating_sub(1));
    let found = match stream {
        AuditStream::Requests => stores
            .audit
            .query(&AuditQuery {
                after_seq: after,
                limit: 1,
                ..AuditQuery::default()
            })
            .await?
            .into_iter()
            .map(|r| (r.seq, r.hash))
            .next(),
        AuditStream::Admin => stores
            .audit
            .query_admin(&AdminQuery {
                after_seq: after,
                limit: 1,
                ..AdminQuery::default()
            })
            .await?
            .into_iter()
            .map(|r| (r.seq, r.hash))
            .next(),
    };
    Ok(found.filter(|(s, _)| *s == seq).map(|(_, h)| h))
}

/// Checks the chain against every checkpoint in `file` (of `only` stream, if given): each must
/// be signed with the audit key, and name a record the store still has, with the same hash (the
/// chain walk has shown that everything before it links up to it). Prints one line per failure
/// and a summary; `false` when any failed.
async fn check_checkpoints(
    opened: &super::Opened,
    file: &std::path::Path,
    only: Option<AuditStream>,
) -> Result<bool, Failure> {
    let Some(key) = &opened.key else {
        return Err(Failure::runtime(
            "error: checking checkpoints needs the audit key (TOOLGATE_AUDIT_KEY, [audit] key_file or --audit-key)",
        ));
    };
    let all = toolgate_store::audit::Checkpoint::read_all(file)
        .map_err(|e| Failure::runtime(format!("error: {e}")))?;
    let public_key = key.public_key();
    let (mut checked, mut failed) = (0u64, 0u64);
    let mut latest: [Option<u64>; 2] = [None, None];
    for (i, c) in all.iter().enumerate() {
        if only.is_some_and(|s| s != c.stream) {
            continue;
        }
        let name = format!(
            "checkpoint {} ({} record {}, signed {})",
            i + 1,
            c.stream,
            c.seq,
            format_ms(c.time_ms)
        );
        let problem = if let Err(e) = c.check(&public_key) {
            Some(format!(
                "{e}: it was not signed with this audit key ({})",
                key.id()
            ))
        } else {
            match stored_hash(&opened.stores, c.stream, c.seq).await? {
                None => Some(format!(
                    "record {} is missing: records the checkpoint covers were cut",
                    c.seq
                )),
                Some(h) if h != c.head_hash => Some(format!(
                    "record {} is not the record that was signed (hash {h}, signed {}): the records up to it were rewritten",
                    c.seq, c.head_hash
                )),
                Some(_) => None,
            }
        };
        checked += 1;
        match problem {
            Some(p) => {
                failed += 1;
                println!("{}: BROKEN at {name}: {p}", c.stream);
            }
            None => {
                let slot = usize::from(c.stream == AuditStream::Admin);
                latest[slot] = latest[slot].max(Some(c.seq));
            }
        }
    }
    let covers: Vec<String> = [AuditStream::Requests, AuditStream::Admin]
        .into_iter()
        .zip(latest)
        .filter_map(|(s, l)| l.map(|seq| format!("{s} up to record {seq}")))
        .collect();
    println!(
        "checkpoints: {checked} checked in {}, {failed} failed{}",
        file.display(),
        if covers.is_empty() {
            String::new()
        } else {
            format!("; the log matches them for {}", covers.join(" and "))
        }
    );
    Ok(failed == 0)
}

/// The calls whose request record has no outcome (strict durability): they may have run while
/// the gateway stopped. Printed as a note, not a break: the chain itself is sound.
async fn print_unfinished(stores: &toolgate_store::Stores) -> Result<(), Failure> {
    const SHOWN: u32 = 20;
    let (count, seqs) = unfinished(stores, SHOWN).await?;
    if count > 0 {
        let more = if count > u64::from(SHOWN) {
            ", …"
        } else {
            ""
        };
        println!(
            "requests: {} without an outcome (forwarded when the gateway stopped; they may have run): records {}{more}",
            crate::plural(count as usize, "call"),
            seqs.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    Ok(())
}

/// How many calls have no outcome, and the first `shown` of their request records' numbers.
async fn unfinished(
    stores: &toolgate_store::Stores,
    shown: u32,
) -> Result<(u64, Vec<u64>), Failure> {
    let mut q = AuditQuery {
        view: CallView::Unfinished,
        limit: PAGE,
        ..AuditQuery::default()
    };
    let (mut count, mut seqs) = (0, Vec::new());
    loop {
        let page = stores.audit.query(&q).await?;
        count += page.len() as u64;
        seqs.extend(page.iter().map(|r| r.seq));
        match page.last() {
            Some(last) if page.len() == PAGE as usize => q.after_seq = Some(last.seq),
            _ => break,
        }
    }
    seqs.truncate(shown as usize);
    Ok((count, seqs))
}

fn audit_query(q: &QueryArgs) -> Result<AuditQuery, Failure> {
    let now = now_ms();
    let decision = q
        .decision
        .as_deref()
        .map(|d| {
            d.parse::<AuditDecision>().map_err(|e| {
                Failure::usage(format!(
                    "{e}; use one of {}",
                    AuditDecision::ALL.map(AuditDecision::as_str).join(", ")
                ))
            })
        })
        .transpose()?;
    Ok(AuditQuery {
        from_ms: q.since.as_deref().map(|s| parse_time(s, now)).transpose()?,
        to_ms: q.until.as_deref().map(|s| parse_time(s, now)).transpose()?,
        agent: q.agent.clone(),
        server: q.server.clone(),
        tool: q.tool.clone(),
        decision,
        view: CallView::Calls,
        ..AuditQuery::default()
    })
}

async fn query(store: &StoreArgs, q: QueryArgs) -> Result<(), Failure> {
    let mut filter = audit_query(&q)?;
    let opened = store.open().await?;
    // The latest `limit` records: page newest first, then print oldest first.
    let want = if q.limit == 0 {
        u64::MAX
    } else {
        u64::from(q.limit)
    };
    filter.newest_first = true;
    let mut found: Vec<Chained<AuditRecord>> = Vec::new();
    loop {
        let left = want - found.len() as u64;
        filter.limit = PAGE.min(u32::try_from(left).unwrap_or(u32::MAX));
        let page = opened.stores.audit.query(&filter).await?;
        let full = page.len() == filter.limit as usize;
        filter.before_seq = page.last().map(|r| r.seq);
        found.extend(page);
        if !full || found.len() as u64 >= want {
            break;
        }
    }
    found.reverse();
    let mut out = std::io::stdout().lock();
    if q.json {
        for r in &found {
            write_json(&mut out, r)?;
        }
    } else if found.is_empty() {
        eprintln!("no matching records");
    } else {
        let rows: Vec<_> = found.iter().map(request_row).collect();
        drop(out);
        print_table(&REQUEST_HEADER, &rows);
    }
    Ok(())
}

const REQUEST_HEADER: [&str; 8] = [
    "SEQ",
    "TIME",
    "AGENT",
    "GRANT",
    "SERVER",
    "CALL",
    "DECISION",
    "RULE / MESSAGE",
];

fn request_row(r: &Chained<AuditRecord>) -> [String; 8] {
    let a = &r.record;
    let call = match &a.tool {
        Some(t) => t.clone(),
        None => a.method.clone(),
    };
    let why = match (&a.rule, &a.message) {
        (Some(rule), Some(m)) => format!("{rule} {m}"),
        (Some(rule), None) => rule.clone(),
        (None, Some(m)) => m.clone(),
        (None, None) if a.phase == Some(RecordPhase::Request) => {
            "no outcome: the gateway stopped while it ran".to_owned()
        }
        (None, None) => a.upstream_status.clone().unwrap_or_default(),
    };
    [
        r.seq.to_string(),
        format_ms(a.time_ms),
        a.agent.clone(),
        a.grant.clone().unwrap_or_else(|| "-".into()),
        a.server.clone(),
        call,
        a.decision.to_string(),
        why,
    ]
}

const ADMIN_HEADER: [&str; 6] = ["SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "DETAILS"];

fn admin_row(r: &Chained<AdminEvent>) -> [String; 6] {
    let e = &r.record;
    [
        r.seq.to_string(),
        format_ms(e.time_ms),
        e.actor.clone(),
        e.action.clone(),
        e.target.clone(),
        e.details.to_string(),
    ]
}

fn write_json<T: serde::Serialize>(out: &mut impl Write, record: &T) -> Result<(), Failure> {
    serde_json::to_writer(&mut *out, record)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(|e| Failure::runtime(format!("cannot write: {e}")))
}

async fn export(
    store: &StoreArgs,
    stream: StreamArg,
    output: Option<PathBuf>,
) -> Result<(), Failure> {
    let opened = store.open().await?;
    let mut sink: Box<dyn Write> = match &output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| Failure::runtime(format!("cannot create {}: {e}", path.display())))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let audit = opened.stores.audit.as_ref();
    let written = match stream {
        StreamArg::Requests => export_jsonl(audit, &AuditQuery::default(), &mut sink).await,
        StreamArg::Admin => export_admin_jsonl(audit, &AdminQuery::default(), &mut sink).await,
    }
    .map_err(|e| Failure::runtime(e.to_string()))?;
    drop(sink);
    let to = output.map_or_else(|| "stdout".to_owned(), |p| p.display().to_string());
    eprintln!(
        "exported {} of the {} stream to {to}",
        crate::plural(written as usize, "record"),
        AuditStream::from(stream)
    );
    if matches!(stream, StreamArg::Requests) {
        let (count, _) = unfinished(&opened.stores, 0).await?;
        if count > 0 {
            eprintln!(
                "{} without an outcome: their \"phase\": \"request\" record has no \"phase\": \"outcome\" record with the same request_id (forwarded when the gateway stopped)",
                crate::plural(count as usize, "call")
            );
        }
    }
    Ok(())
}

/// A stream `tail` can follow: its records after a sequence number (or the latest few), and how
/// they print.
trait Tailed: Sized {
    async fn after(
        stores: &toolgate_store::Stores,
        after: Option<u64>,
        latest: Option<u32>,
    ) -> Result<Vec<Chained<Self>>, Failure>;
    fn print(records: &[Chained<Self>], json: bool, header: bool) -> Result<(), Failure>;
}

impl Tailed for AuditRecord {
    async fn after(
        stores: &toolgate_store::Stores,
        after: Option<u64>,
        latest: Option<u32>,
    ) -> Result<Vec<Chained<Self>>, Failure> {
        let q = AuditQuery {
            after_seq: after,
            newest_first: latest.is_some(),
            limit: latest.unwrap_or(PAGE),
            ..AuditQuery::default()
        };
        let mut page = stores.audit.query(&q).await?;
        if latest.is_some() {
            page.reverse();
        }
        Ok(page)
    }

    fn print(records: &[Chained<Self>], json: bool, header: bool) -> Result<(), Failure> {
        print_records(records, json, header, &REQUEST_HEADER, request_row)
    }
}

impl Tailed for AdminEvent {
    async fn after(
        stores: &toolgate_store::Stores,
        after: Option<u64>,
        latest: Option<u32>,
    ) -> Result<Vec<Chained<Self>>, Failure> {
        let q = AdminQuery {
            after_seq: after,
            newest_first: latest.is_some(),
            limit: latest.unwrap_or(PAGE),
            ..AdminQuery::default()
        };
        let mut page = stores.audit.query_admin(&q).await?;
        if latest.is_some() {
            page.reverse();
        }
        Ok(page)
    }

    fn print(records: &[Chained<Self>], json: bool, header: bool) -> Result<(), Failure> {
        print_records(records, json, header, &ADMIN_HEADER, admin_row)
    }
}

/// One record per line: JSONL, or tab-separated columns (a header first when `header`).
fn print_records<T: serde::Serialize, const N: usize>(
    records: &[Chained<T>],
    json: bool,
    header: bool,
    names: &[&str; N],
    row: fn(&Chained<T>) -> [String; N],
) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| Failure::runtime(format!("cannot write: {e}"));
    if json {
        for r in records {
            write_json(&mut out, r)?;
        }
    } else {
        if header {
            writeln!(out, "{}", names.join("\t")).map_err(io)?;
        }
        for r in records {
            writeln!(out, "{}", row(r).join("\t")).map_err(io)?;
        }
    }
    out.flush().map_err(io)
}

async fn tail(
    store: &StoreArgs,
    stream: AuditStream,
    follow: bool,
    lines: u32,
    json: bool,
) -> Result<(), Failure> {
    match stream {
        AuditStream::Requests => tail_stream::<AuditRecord>(store, follow, lines, json).await,
        AuditStream::Admin => tail_stream::<AdminEvent>(store, follow, lines, json).await,
    }
}

async fn tail_stream<T: Tailed>(
    store: &StoreArgs,
    follow: bool,
    lines: u32,
    json: bool,
) -> Result<(), Failure> {
    let opened = store.open().await?;
    let stores = &opened.stores;
    let mut header = !json;
    let mut last: Option<u64> = None;
    if lines > 0 {
        let latest = T::after(stores, None, Some(lines)).await?;
        T::print(&latest, json, header)?;
        header &= latest.is_empty();
        last = latest.last().map(|r| r.seq);
    }
    if !follow {
        return Ok(());
    }
    if last.is_none() {
        // Start after whatever exists now (nothing printed, or -n 0).
        last = T::after(stores, None, Some(1))
            .await?
            .last()
            .map(|r| r.seq)
            .or(Some(0));
    }
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let poll = async {
            loop {
                let page = T::after(stores, last, None).await?;
                if page.is_empty() {
                    return Ok::<_, Failure>(());
                }
                T::print(&page, json, header)?;
                header = false;
                last = page.last().map(|r| r.seq);
            }
        };
        tokio::select! {
            _ = &mut interrupted => return Ok(()),
            r = poll => r?,
        }
        tokio::select! {
            _ = &mut interrupted => return Ok(()),
            () = tokio::time::sleep(TAIL_POLL) => {}
        }
    }
}
