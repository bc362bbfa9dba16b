//! `loadgen`: MCP load over Streamable HTTP; prints one JSON line (see `toolgate_bench::loadgen`).
//!
//! ```text
//! loadgen --url http://127.0.0.1:PORT/mcp [--sessions 1] [--concurrency 1] [--duration 5]
//!         [--warmup 1] [--method call|list] [--tool echo] [--args '{"text":"hello"}']
//!         [--header 'Authorization: Bearer T']... [--threads 1]
//! loadgen --url URL --sessions N --hold SECONDS [--header 'K: V']...
//! ```
//!
//! With `--hold`, it sends no load: it opens N sessions, prints a JSON line (`"phase":"open"`),
//! keeps them open and idle for SECONDS at most (ended early by SIGTERM or SIGINT), then closes
//! them and prints a second line (`"phase":"closed"`).
//!
//! Exits 0 after a run (even one with errors: read `errors`), 1 when the run could not start
//! (its JSON line then has `"fatal"`), 2 on bad arguments.

use std::process::ExitCode;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use toolgate_bench::loadgen::{Config, Method, Target, hold, run};

const USAGE: &str = "usage: loadgen --url URL [--sessions N] [--concurrency C] [--duration S] [--warmup S] [--method call|list] [--tool NAME] [--args JSON] [--header 'K: V']... [--threads N] [--hold S]";

struct Args {
    cfg: Config,
    url: String,
    threads: usize,
    hold: Option<Duration>,
}

fn parse_args() -> Result<Args, String> {
    let mut url = None;
    let (mut sessions, mut concurrency, mut threads) = (None, 1usize, 1usize);
    let (mut duration, mut warmup) = (5.0f64, 1.0f64);
    let mut method = Method::Call;
    let mut tool = "echo".to_owned();
    let mut args = r#"{"text":"hello"}"#.to_owned();
    let mut headers = Vec::new();
    let mut hold = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |what: &str| format!("{flag}: {what}, got {value:?}");
        match flag.as_str() {
            "--url" => url = Some(value),
            "--sessions" => {
                sessions = Some(
                    value
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad("a positive integer"))?,
                )
            }
            "--concurrency" => {
                concurrency = value
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("a positive integer"))?
            }
            "--threads" => {
                threads = value
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("a positive integer"))?
            }
            "--duration" => {
                duration = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0 && *s < 3600.0)
                    .ok_or_else(|| bad("seconds in (0, 3600)"))?
            }
            "--warmup" => {
                warmup = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s >= 0.0 && *s < 3600.0)
                    .ok_or_else(|| bad("seconds in [0, 3600)"))?
            }
            "--method" => {
                method = match value.as_str() {
                    "call" => Method::Call,
                    "list" => Method::List,
                    _ => return Err(bad("call or list")),
                }
            }
            "--hold" => {
                hold = Some(
                    value
                        .parse()
                        .ok()
                        .filter(|s: &f64| *s > 0.0 && *s < 86_400.0)
                        .map(Duration::from_secs_f64)
                        .ok_or_else(|| bad("seconds in (0, 86400)"))?,
                )
            }
            "--tool" => tool = value,
            "--args" => {
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&value)
                    .map_err(|_| bad("a JSON object"))?;
                args = value;
            }
            "--header" => {
                let (k, v) = value.split_once(':').ok_or_else(|| bad("'Name: value'"))?;
                let k = HeaderName::from_bytes(k.trim().as_bytes())
                    .map_err(|_| bad("a valid header name"))?;
                let v = HeaderValue::from_str(v.trim()).map_err(|_| bad("a valid header value"))?;
                headers.push((k, v));
            }
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    let url = url.ok_or("--url is required")?;
    let target = Target::parse(&url)?;
    Ok(Args {
        cfg: Config {
            target,
            sessions: sessions.unwrap_or(concurrency),
            concurrency,
            duration: Duration::from_secs_f64(duration),
            warmup: Duration::from_secs_f64(warmup),
            method,
            tool,
            args,
            headers,
        },
        url,
        threads,
        hold,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("loadgen: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let url = args.url.clone();
    if let Some(max) = args.hold {
        return runtime.block_on(hold_sessions(args.cfg, &url, max));
    }
    match runtime.block_on(run(args.cfg, &args.url)) {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string(&report).expect("serialise the report")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{}", serde_json::json!({ "url": url, "fatal": e }));
            ExitCode::FAILURE
        }
    }
}

/// `--hold`: opens the sessions, prints the `open` line, waits for SIGTERM/SIGINT or `max`,
/// closes them and prints the `closed` line.
async fn hold_sessions(cfg: Config, url: &str, max: Duration) -> ExitCode {
    use std::io::Write;
    use tokio::signal::unix::{SignalKind, signal};
    let print = |line: String| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            eprintln!("loadgen: cannot listen for signals");
            return ExitCode::FAILURE;
        }
    };
    let stop = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    let opened = |r: &toolgate_bench::loadgen::HoldReport| {
        print(serde_json::to_string(r).expect("serialise the report"))
    };
    match hold(cfg, url, max, stop, opened).await {
        Ok(report) => {
            print(serde_json::to_string(&report).expect("serialise the report"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            print(serde_json::json!({ "url": url, "fatal": e }).to_string());
            ExitCode::FAILURE
        }
    }
}
