//! Starting MCP servers for tests: the real third-party ones from the peers folder and the Twenty-like mock,
//! over Streamable HTTP on a loopback port (guarded), or as a command line for a stdio upstream config.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::child::ChildGuard;
use crate::net::{free_port, wait_for_port};
use crate::paths::{peers_dir, python_bin};
use crate::twenty_bin::twenty_mcp_bin;

/// How long a server may take to start listening.
const STARTUP: Duration = Duration::from_secs(30);

const EVERYTHING_JS: &str = "node_modules/@modelcontextprotocol/server-everything/dist/index.js";

/// A server listening on 127.0.0.1 for as long as this value lives.
#[derive(Debug)]
pub struct HttpPeer {
    /// The MCP endpoint, `http://127.0.0.1:PORT/mcp`.
    pub url: String,
    pub port: u16,
    pub guard: ChildGuard,
}

/// `@modelcontextprotocol/server-everything` over Streamable HTTP on a free port: 13 tools (4 more when the
/// client declares roots, elicitation or sampling), resources, prompts, progress and SSE responses.
pub fn spawn_server_everything_http() -> HttpPeer {
    let peers = peers_dir();
    let port = free_port();
    let mut command = Command::new("node");
    command
        .arg(peers.join(EVERYTHING_JS))
        .arg("streamableHttp")
        .current_dir(&peers)
        .env("PORT", port.to_string())
        // It listens on every interface unless this preload pins it to loopback.
        .env(
            "NODE_OPTIONS",
            format!("--require {}", peers.join("force-loopback.cjs").display()),
        )
        .stdin(Stdio::null());
    spawn_on_port("server-everything", &mut command, port)
}

/// server-everything as a stdio command line (`node …/index.js stdio`), for an upstream config.
pub fn server_everything_stdio_command() -> Vec<String> {
    vec![
        "node".to_owned(),
        path_string(&peers_dir().join(EVERYTHING_JS)),
        "stdio".to_owned(),
    ]
}

/// The FastMCP peer (`add` read-only, `delete_file` destructive, `fail` → isError) over Streamable HTTP;
/// `page_size` paginates its `tools/list`.
pub fn spawn_fastmcp_http(page_size: Option<usize>) -> HttpPeer {
    let peers = peers_dir();
    let port = free_port();
    let mut command = Command::new(python_bin());
    command
        .arg(peers.join("fastmcp_server.py"))
        .arg("http")
        .arg(port.to_string())
        .current_dir(&peers)
        .stdin(Stdio::null());
    if let Some(n) = page_size {
        command.env("PAGE_SIZE", n.to_string());
    }
    spawn_on_port("fastmcp", &mut command, port)
}

/// The FastMCP peer as a stdio command line (set `PAGE_SIZE` in the upstream's env to paginate).
pub fn fastmcp_stdio_command() -> Vec<String> {
    let peers = peers_dir();
    vec![
        path_string(&python_bin()),
        path_string(&peers.join("fastmcp_server.py")),
        "stdio".to_owned(),
    ]
}

/// The capability peer (`peers/capability_server.py`) over Streamable HTTP: `always` for every client,
/// `roots_tool` only for clients that declare roots, `preview_tool` only for clients that declare the
/// extension `io.example/preview`.
pub fn spawn_capability_server_http() -> HttpPeer {
    let peers = peers_dir();
    let port = free_port();
    let mut command = Command::new(python_bin());
    command
        .arg(peers.join("capability_server.py"))
        .arg("http")
        .arg(port.to_string())
        .current_dir(&peers)
        .stdin(Stdio::null());
    spawn_on_port("capability-server", &mut command, port)
}

/// The capability peer as a stdio command line.
pub fn capability_server_stdio_command() -> Vec<String> {
    vec![
        path_string(&python_bin()),
        path_string(&peers_dir().join("capability_server.py")),
        "stdio".to_owned(),
    ]
}

/// `twenty-mcp http` on a port it picks itself (no race): the URL is read from its first line of output.
/// `page_size` paginates `tools/list`.
pub fn spawn_twenty_http(page_size: Option<usize>) -> HttpPeer {
    let mut command = Command::new(twenty_mcp_bin());
    command.args(["http", "--listen", "127.0.0.1:0"]);
    match page_size {
        Some(n) => command.env("PAGE_SIZE", n.to_string()),
        None => command.env_remove("PAGE_SIZE"),
    };
    spawn_announced("twenty-mcp", &mut command)
}

/// `twenty-mcp http` with `TWENTY_ECHO_HEADERS=1`: every tool result's `structuredContent` carries
/// `"headers": {name: value}`, the (lowercased) headers of the HTTP request that reached it.
pub fn spawn_twenty_http_echoing_headers() -> HttpPeer {
    let mut command = Command::new(twenty_mcp_bin());
    command
        .args(["http", "--listen", "127.0.0.1:0"])
        .env_remove("PAGE_SIZE")
        .env("TWENTY_ECHO_HEADERS", "1");
    spawn_announced("twenty-mcp", &mut command)
}

/// Starts a server that prints its endpoint on stdout (a line containing `http://…`, e.g.
/// `listening on http://127.0.0.1:PORT/mcp`) and returns once it has. Listen on port 0 and let it announce the
/// port: nothing can take the port in between. Later output on stdout is drained and dropped.
pub fn spawn_announced(name: &str, command: &mut Command) -> HttpPeer {
    command.stdin(Stdio::null()).stdout(Stdio::piped());
    let mut guard =
        ChildGuard::spawn(name, command).unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    let stdout = guard.child_mut().stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut announced = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !announced && let Some(at) = line.find("http://") {
                announced = true;
                let url = line[at..]
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let _ = tx.send(url);
            }
        }
    });
    let deadline = Instant::now() + STARTUP;
    let url = loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(url) => break url,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = guard
                    .try_status()
                    .map_or_else(|| "closed stdout".to_owned(), |s| s.to_string());
                panic!("{name} stopped ({status}) before printing its http:// URL");
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(status) = guard.try_status() {
                    panic!("{name} exited ({status}) before printing its http:// URL");
                }
                assert!(
                    Instant::now() < deadline,
                    "{name} printed no http:// URL within {STARTUP:?}"
                );
            }
        }
    };
    let port = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .and_then(|authority| authority.rsplit_once(':'))
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("{name} announced {url:?}, which has no port"));
    HttpPeer { url, port, guard }
}

/// `twenty-mcp stdio` as a command line, for an upstream config.
pub fn twenty_stdio_command() -> Vec<String> {
    vec![path_string(&twenty_mcp_bin()), "stdio".to_owned()]
}

fn spawn_on_port(name: &str, command: &mut Command, port: u16) -> HttpPeer {
    let mut guard =
        ChildGuard::spawn(name, command).unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    let deadline = Instant::now() + STARTUP;
    loop {
        if wait_for_port(port, Duration::from_millis(100)) {
            break;
        }
        if let Some(status) = guard.try_status() {
            panic!("{name} exited ({status}) before listening on port {port}");
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not listen on port {port} within {STARTUP:?}"
        );
    }
    HttpPeer {
        url: format!("http://127.0.0.1:{port}/mcp"),
        port,
        guard,
    }
}

fn path_string(path: &Path) -> String {
    path.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", path.display()))
        .to_owned()
}
