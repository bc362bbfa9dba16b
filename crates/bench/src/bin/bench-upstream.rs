//! `bench-upstream`: a minimal MCP server for gateway benchmarks.
//!
//! ```text
//! bench-upstream http [--listen 127.0.0.1:0] [--threads 1]   Streamable HTTP (JSON) at /mcp
//! bench-upstream stdio                                     newline-delimited JSON-RPC on stdio
//! bench-upstream policy                                    print the realistic benchmark policy
//! ```
//!
//! Tools: `echo` and the 219 tools of the Twenty CRM catalogue; every known tool answers with
//! the same pre-built result.

use std::net::SocketAddr;
use std::process::ExitCode;

const USAGE: &str = "usage: bench-upstream http [--listen ADDR] [--threads N] | stdio | policy";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("http") => {
            let mut listen: SocketAddr = ([127, 0, 0, 1], 0).into();
            let mut threads = 1usize;
            let mut rest = args[1..].iter();
            while let Some(flag) = rest.next() {
                let value = rest.next();
                let ok = match (flag.as_str(), value) {
                    ("--listen", Some(v)) => v.parse().map(|a| listen = a).is_ok(),
                    ("--threads", Some(v)) => v.parse().map(|n| threads = n).is_ok() && threads > 0,
                    _ => false,
                };
                if !ok {
                    eprintln!("bench-upstream: bad argument {flag}\n{USAGE}");
                    return ExitCode::from(2);
                }
            }
            let runtime = if threads == 1 {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
            } else {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(threads)
                    .enable_all()
                    .build()
            };
            let result =
                runtime.and_then(|rt| rt.block_on(toolgate_bench::upstream::http::serve(listen)));
            if let Err(e) = result {
                eprintln!("bench-upstream: {e}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Some("stdio") if args.len() == 1 => match toolgate_bench::upstream::stdio::serve() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench-upstream: {e}");
                ExitCode::FAILURE
            }
        },
        Some("policy") if args.len() == 1 => {
            println!("{}", toolgate_bench::policy::realistic_policy_json());
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
