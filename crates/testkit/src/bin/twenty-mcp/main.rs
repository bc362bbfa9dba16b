//! `twenty-mcp`: a Twenty-CRM-like MCP server (219 tools) to stand upstream of the gateway in tests, demos
//! and load benchmarks, over stdio or Streamable HTTP.
//!
//! Usage: `twenty-mcp stdio` | `twenty-mcp http [--listen 127.0.0.1:0]`; env `PAGE_SIZE=N` paginates
//! `tools/list`; env `TWENTY_ECHO_HEADERS=1` (HTTP only) adds the request's headers to every tool result's
//! `structuredContent` as `"headers": {name: value}`.

mod http;

use std::net::SocketAddr;
use std::process::ExitCode;

use toolgate_testkit::twenty::TwentyServer;

const USAGE: &str = "usage: twenty-mcp stdio | twenty-mcp http [--listen 127.0.0.1:0]   (env PAGE_SIZE=N paginates tools/list; TWENTY_ECHO_HEADERS=1 echoes HTTP headers in tool results)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let page_size = match std::env::var("PAGE_SIZE") {
        Ok(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => Some(n),
            _ => return usage(&format!("PAGE_SIZE must be a positive integer, got {v:?}")),
        },
        Err(_) => None,
    };
    let server = TwentyServer::new(page_size);
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["stdio"] => match toolgate_testkit::twenty::stdio::serve(&server) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("twenty-mcp: stdio: {e}");
                ExitCode::FAILURE
            }
        },
        ["http"] => run_http(server, "127.0.0.1:0"),
        ["http", "--listen", addr] => run_http(server, addr),
        ["--help" | "-h"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => usage("expected a transport"),
    }
}

fn run_http(server: TwentyServer, listen: &str) -> ExitCode {
    let addr: SocketAddr = match listen.parse() {
        Ok(a) => a,
        Err(e) => return usage(&format!("--listen {listen:?}: {e}")),
    };
    match http::serve(server, addr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("twenty-mcp: http on {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("twenty-mcp: {problem}\n{USAGE}");
    ExitCode::from(64)
}
