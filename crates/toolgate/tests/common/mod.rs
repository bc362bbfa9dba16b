//! Starts the real `toolgate` binary for end-to-end tests: writes a config and its policy files
//! into a temporary folder, runs `toolgate serve`, and reads the address it listens on.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use toolgate_testkit::ChildGuard;

pub const TOOLGATE: &str = env!("CARGO_BIN_EXE_toolgate");

/// A running gateway; killed (with its whole process group) when dropped.
pub struct Toolgate {
    pub guard: ChildGuard,
    /// `http://127.0.0.1:PORT`: the data plane (`/mcp…`, `/healthz`, `/readyz`).
    pub base: String,
    /// `http://127.0.0.1:PORT`: the admin plane (`/api`, `/ui`, `/metrics`).
    pub admin: String,
    pub dir: tempfile::TempDir,
}

impl Toolgate {
    /// Starts `toolgate serve` with `config` (TOML; `listen` is added) and `files` written next
    /// to it.
    pub fn start(config: &str, files: &[(&str, &str)]) -> Toolgate {
        Self::start_with_env(config, files, &[])
    }

    /// [`Toolgate::start`] with extra environment variables for the gateway (e.g. the ones its
    /// config refers to as `${NAME}`).
    pub fn start_with_env(config: &str, files: &[(&str, &str)], env: &[(&str, &str)]) -> Toolgate {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write file");
        }
        let config = format!("[gateway]\nlisten = \"127.0.0.1:0\"\n\n{config}");
        let config_path = dir.path().join("toolgate.toml");
        std::fs::write(&config_path, config).expect("write config");
        Self::start_in(dir, env)
    }

    /// Runs `toolgate serve` on the `toolgate.toml` already in `dir` (and so on the same default
    /// store, `toolgate.db` beside it); the log is appended to `toolgate.log`.
    pub fn start_in(dir: tempfile::TempDir, env: &[(&str, &str)]) -> Toolgate {
        Self::start_limited(dir, env, None)
    }

    /// [`Toolgate::start`] with the gateway's limit on open files (soft and hard) at `nofile`.
    pub fn start_with_open_files(config: &str, files: &[(&str, &str)], nofile: u64) -> Toolgate {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write file");
        }
        let config = format!("[gateway]\nlisten = \"127.0.0.1:0\"\n\n{config}");
        std::fs::write(dir.path().join("toolgate.toml"), config).expect("write config");
        Self::start_limited(dir, &[], Some(nofile))
    }

    fn start_limited(
        dir: tempfile::TempDir,
        env: &[(&str, &str)],
        nofile: Option<u64>,
    ) -> Toolgate {
        let config_path = dir.path().join("toolgate.toml");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("toolgate.log"))
            .expect("log file");
        let mut cmd = match nofile {
            None => Command::new(TOOLGATE),
            // The shell sets both limits, then becomes the gateway (same pid).
            Some(n) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(TOOLGATE);
                sh
            }
        };
        cmd.arg("serve")
            .arg("-c")
            .arg(&config_path)
            .env("TOOLGATE_LOG", "info,toolgate=debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut guard = ChildGuard::spawn("toolgate", &mut cmd).expect("start toolgate");
        let rx = stdout_lines(&mut guard);
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) => l,
            Err(_) => panic!("toolgate did not start; its log:\n{}", read_log(dir.path())),
        };
        let base = line
            .strip_prefix("toolgate listening on ")
            .unwrap_or_else(|| panic!("unexpected line {line:?}"))
            .to_owned();
        let admin = match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(l) => l
                .strip_prefix("toolgate admin plane on ")
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap_or_else(|| panic!("unexpected line {l:?}"))
                .to_owned(),
            Err(_) => panic!("toolgate did not say where its admin plane listens"),
        };
        Toolgate {
            guard,
            base,
            admin,
            dir,
        }
    }

    /// Stops the gateway gracefully (SIGTERM; SIGKILL after 10 s) and returns how it exited.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        self.guard.terminate(Duration::from_secs(10))
    }

    /// Stops this gateway and starts a new one on the same folder: same config, same store, a
    /// new port.
    pub fn restart(mut self) -> Toolgate {
        self.stop();
        Self::start_in(self.dir, &[])
    }

    /// Runs a `toolgate` command (`grant create …`, `audit verify`, `kill on …`) against this
    /// gateway's config, and so its store.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(TOOLGATE)
            .args(args)
            .arg("-c")
            .arg(self.path("toolgate.toml"))
            .stdin(Stdio::null())
            .output()
            .expect("run toolgate")
    }

    /// The MCP endpoint of one server.
    pub fn url(&self, server: &str) -> String {
        format!("{}/mcp/{server}", self.base)
    }

    /// An admin API URL: `path` under `/api` on the admin plane (`api_url("/approvals")`).
    pub fn api_url(&self, path: &str) -> String {
        format!("{}/api{path}", self.admin)
    }

    pub fn log(&self) -> String {
        read_log(self.dir.path())
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// The lines a child writes to its (piped) stdout, as they come.
pub fn stdout_lines(child: &mut ChildGuard) -> mpsc::Receiver<String> {
    let stdout = child.child_mut().stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// A command's stdout, as text.
pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A command's stderr, as text.
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The output of a command that must have succeeded; else a panic with both streams.
pub fn ok(o: std::process::Output) -> std::process::Output {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    o
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("toolgate.log")).unwrap_or_default()
}

/// A process's resident memory (`VmRSS`), KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// (pid, state) of every process whose parent is `parent` (`Z`: a zombie).
pub fn children_of(parent: u32) -> Vec<(u32, char)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …; comm may contain spaces, so split after the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r.trim_start()) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid: u32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if ppid == parent {
            out.push((pid, state));
        }
    }
    out
}

/// Polls `attempt` every 200 ms until it reports done, and returns what it saw then; panics
/// after `within` with what it saw last.
pub fn eventually<T: std::fmt::Debug>(
    within: Duration,
    what: &str,
    mut attempt: impl FnMut() -> (bool, T),
) -> T {
    let start = std::time::Instant::now();
    loop {
        let (done, seen) = attempt();
        if done {
            return seen;
        }
        assert!(start.elapsed() < within, "{what}: last seen {seen:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A TOML string literal.
pub fn toml_str(s: &str) -> String {
    format!("{s:?}")
}

/// A TOML array of strings.
pub fn toml_array(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| toml_str(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A hand-driven MCP session over Streamable HTTP (plain reqwest), for tests that need many calls
/// fast or the exact HTTP status of each one.
#[derive(Clone)]
pub struct RawSession {
    pub http: reqwest::Client,
    pub url: String,
    pub token: Option<String>,
    pub id: String,
}

impl RawSession {
    fn post(
        http: &reqwest::Client,
        url: &str,
        token: Option<&str>,
        body: String,
    ) -> reqwest::RequestBuilder {
        let rb = http
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body);
        match token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// Initializes a session at `url`; `Err(status)` when the gateway refuses it.
    pub async fn open(url: &str, token: Option<&str>) -> Result<RawSession, reqwest::StatusCode> {
        let http = reqwest::Client::new();
        let init = serde_json::json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}});
        let resp = Self::post(&http, url, token, init.to_string())
            .send()
            .await
            .expect("initialize");
        if !resp.status().is_success() {
            return Err(resp.status());
        }
        let id = resp.headers()["mcp-session-id"]
            .to_str()
            .expect("session id")
            .to_owned();
        let session = RawSession {
            http,
            url: url.to_owned(),
            token: token.map(str::to_owned),
            id,
        };
        let note = serde_json::json!({"jsonrpc":"2.0","method":"notifications/initialized"});
        let resp = session
            .request(note.to_string())
            .send()
            .await
            .expect("initialized");
        assert_eq!(resp.status(), reqwest::StatusCode::ACCEPTED);
        Ok(session)
    }

    fn request(&self, body: String) -> reqwest::RequestBuilder {
        Self::post(&self.http, &self.url, self.token.as_deref(), body)
            .header("mcp-session-id", &self.id)
    }

    /// Posts `body` as it is (any bytes, e.g. a method written with escapes): the HTTP status,
    /// and the JSON-RPC response (the last `data:` line of an SSE answer) when there is one.
    pub async fn post_raw(&self, body: String) -> (reqwest::StatusCode, serde_json::Value) {
        let resp = self.request(body).send().await.expect("send");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let json = text
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("data:"))
            .unwrap_or(&text);
        (
            status,
            serde_json::from_str(json.trim()).unwrap_or(serde_json::Value::String(text)),
        )
    }

    /// `tools/call`: the HTTP status, and the JSON-RPC response (the last `data:` line of an SSE
    /// answer) when there is one.
    pub async fn call(
        &self,
        id: u64,
        tool: &str,
        arguments: serde_json::Value,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let params = serde_json::json!({"name": tool, "arguments": arguments});
        self.rpc(id, "tools/call", params).await
    }

    /// Any request: the HTTP status, and the JSON-RPC response (the last `data:` line of an SSE
    /// answer) when there is one.
    pub async fn rpc(
        &self,
        id: u64,
        method: &str,
        params: serde_json::Value,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let body = serde_json::json!({"jsonrpc":"2.0","id":id,"method":method,"params":params});
        self.post_raw(body.to_string()).await
    }
}

/// The text of a tool result (`result.content[0].text`).
pub fn result_text(response: &serde_json::Value) -> &str {
    response["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
}

/// The message of a JSON-RPC error (`error.message`); empty when there is none.
pub fn error_message(response: &serde_json::Value) -> &str {
    response["error"]["message"].as_str().unwrap_or_default()
}

/// The gateway's decision on a tool result it made itself (`result._meta["io.toolgate/decision"]`:
/// `decision`, `rule`, `retry_after_s` or `approval_id`); `Null` on a server's own result.
pub fn gateway_decision(response: &serde_json::Value) -> &serde_json::Value {
    &response["result"]["_meta"]["io.toolgate/decision"]
}

/// The hex SHA-256 of a token, as `token_sha256` keys in the config take it.
pub fn sha256_hex(token: &str) -> String {
    toolgate_store::token::hash(token).to_hex()
}
