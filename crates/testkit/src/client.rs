//! Third-party MCP clients as tests use them: the official Python SDK and TypeScript SDK clients from
//! `peers/`, the Inspector CLI and the conformance suite, each run once under a deadline.
//!
//! The SDK clients print one JSON object per line (see `peers/peer_client.py`); [`crate::PeerOutput`] parses
//! them. Their exit code is 0 when all went well, 2 when a tool result had `isError: true`, 3 when a request
//! got a JSON-RPC error, 1 on anything else.

use std::time::Duration;

use serde_json::Value;

use crate::command::{DEFAULT_TIMEOUT, PeerCommand};
use crate::paths::{node22_bin, peers_dir, python_bin};

/// Which SDK speaks, and over what.
#[derive(Debug, Clone)]
enum Flavour {
    PythonHttp(String),
    PythonStdio(Vec<String>),
    TypeScriptHttp(String),
    TypeScriptStdio(Vec<String>),
}

/// One run of an SDK client: initialize, list tools (unless [`McpClient::no_list`]), then optionally call a
/// tool one or more times in the same session.
#[derive(Debug, Clone)]
pub struct McpClient {
    flavour: Flavour,
    call: Option<(String, Value)>,
    repeat: u32,
    progress: bool,
    list: bool,
    token: Option<String>,
    headers: Vec<(String, String)>,
    read_resource: Option<String>,
    get_prompt: Option<(String, Value)>,
    env: Vec<(String, String)>,
    timeout: Duration,
    sampling: Option<String>,
    elicit: Option<Value>,
    roots: Option<String>,
    extensions: Vec<String>,
    log_level: Option<String>,
    linger: Option<Duration>,
    also_calls: Vec<(String, Value)>,
    call_then_list: bool,
}

impl McpClient {
    fn new(flavour: Flavour) -> Self {
        Self {
            flavour,
            call: None,
            repeat: 1,
            progress: false,
            list: true,
            token: None,
            headers: Vec::new(),
            read_resource: None,
            get_prompt: None,
            env: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            sampling: None,
            elicit: None,
            roots: None,
            extensions: Vec::new(),
            log_level: None,
            linger: None,
            also_calls: Vec::new(),
            call_then_list: false,
        }
    }

    /// The Python SDK (`mcp` 2.x `ClientSession`) over Streamable HTTP.
    pub fn python_http(url: &str) -> Self {
        Self::new(Flavour::PythonHttp(url.to_owned()))
    }

    /// The Python SDK over stdio, spawning `server_command` (the child inherits the client's environment).
    pub fn python_stdio(server_command: &[String]) -> Self {
        Self::new(Flavour::PythonStdio(server_command.to_vec()))
    }

    /// The TypeScript SDK (`@modelcontextprotocol/sdk` 1.x `Client`) over Streamable HTTP.
    pub fn ts_http(url: &str) -> Self {
        Self::new(Flavour::TypeScriptHttp(url.to_owned()))
    }

    /// The TypeScript SDK over stdio, spawning `server_command`.
    pub fn ts_stdio(server_command: &[String]) -> Self {
        Self::new(Flavour::TypeScriptStdio(server_command.to_vec()))
    }

    /// Call `tool` with `arguments` after listing.
    pub fn call(mut self, tool: &str, arguments: Value) -> Self {
        self.call = Some((tool.to_owned(), arguments));
        self
    }

    /// Another call, after the [`McpClient::call`] ones, in the same session; its `"call"` number counts on
    /// from theirs (Python clients only).
    pub fn also_call(mut self, tool: &str, arguments: Value) -> Self {
        self.also_calls.push((tool.to_owned(), arguments));
        self
    }

    /// After the calls, wait for a `notifications/tools/list_changed` (each one is printed as
    /// `{"event":"list_changed"}`), then list the tools again: `{"event":"tools_after","count":N,"names":[…]}`.
    /// No notification within 10 s is fatal (exit 1). Python clients only.
    pub fn call_then_list(mut self) -> Self {
        self.call_then_list = true;
        self
    }

    /// Make the call `n` times in the one session; each answer is its own event, `"call": 1..=n`.
    pub fn repeat(mut self, n: u32) -> Self {
        self.repeat = n;
        self
    }

    /// Send a progress token and print each `notifications/progress` as a `"progress"` event.
    pub fn progress(mut self) -> Self {
        self.progress = true;
        self
    }

    /// Skip `tools/list`.
    pub fn no_list(mut self) -> Self {
        self.list = false;
        self
    }

    /// Send `Authorization: Bearer <token>` (HTTP only).
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    /// Send an extra HTTP header (Python HTTP client only).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `resources/read` this URI after the call (Python clients only).
    pub fn read_resource(mut self, uri: &str) -> Self {
        self.read_resource = Some(uri.to_owned());
        self
    }

    /// `prompts/get` this prompt with `arguments` after the call (Python clients only).
    pub fn get_prompt(mut self, name: &str, arguments: Value) -> Self {
        self.get_prompt = Some((name.to_owned(), arguments));
        self
    }

    /// An environment variable for the client (and so for a stdio server it spawns).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Declare the `sampling` capability and answer every `sampling/createMessage` with an assistant text
    /// message `text`; each request is printed as `{"event":"sampling","request":{...params...}}`.
    pub fn sampling(mut self, text: &str) -> Self {
        self.sampling = Some(text.to_owned());
        self
    }

    /// Declare the `elicitation` capability and accept every `elicitation/create` with `content`; each
    /// request is printed as `{"event":"elicitation","request":{...params...}}`.
    pub fn elicit(mut self, content: Value) -> Self {
        self.elicit = Some(content);
        self
    }

    /// Declare the `roots` capability and answer `roots/list` with the one root `uri`; each request is
    /// printed as `{"event":"roots"}`.
    pub fn roots(mut self, uri: &str) -> Self {
        self.roots = Some(uri.to_owned());
        self
    }

    /// Declare the extension `id` (`capabilities.extensions`, empty settings) at `initialize` (Python
    /// clients only).
    pub fn extension(mut self, id: &str) -> Self {
        self.extensions.push(id.to_owned());
        self
    }

    /// Send `logging/setLevel` with `level` right after initializing. Every `notifications/message` is
    /// printed as `{"event":"log","level":...,"logger":...,"data":...}`, with or without this.
    pub fn log_level(mut self, level: &str) -> Self {
        self.log_level = Some(level.to_owned());
        self
    }

    /// Stay connected this long after the last request, to catch notifications sent after it.
    pub fn linger(mut self, time: Duration) -> Self {
        self.linger = Some(time);
        self
    }

    /// The deadline for the whole run (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The command this client runs, to adjust further or to run asynchronously.
    ///
    /// # Panics
    /// When an option the chosen client does not support was set.
    pub fn command(&self) -> PeerCommand {
        let peers = peers_dir();
        let python = matches!(
            self.flavour,
            Flavour::PythonHttp(_) | Flavour::PythonStdio(_)
        );
        assert!(
            python || self.headers.is_empty(),
            "header() is supported by the Python HTTP client only"
        );
        assert!(
            python || self.read_resource.is_none(),
            "read_resource() is supported by the Python clients only"
        );
        assert!(
            python || self.extensions.is_empty(),
            "extension() is supported by the Python clients only"
        );
        assert!(
            python || (self.also_calls.is_empty() && !self.call_then_list),
            "also_call() and call_then_list() are supported by the Python clients only"
        );
        let mut options: Vec<String> = Vec::new();
        if let Some((tool, arguments)) = &self.call {
            if python {
                // Flags, so that no positional can be mistaken for the URL or the server command.
                options.extend([
                    "--tool".to_owned(),
                    tool.clone(),
                    "--args".to_owned(),
                    arguments.to_string(),
                ]);
            } else {
                options.extend([tool.clone(), arguments.to_string()]);
            }
        }
        for (tool, arguments) in &self.also_calls {
            options.extend([
                "--also-call".to_owned(),
                tool.clone(),
                arguments.to_string(),
            ]);
        }
        if self.call_then_list {
            options.push("--call-then-list".to_owned());
        }
        if let Some(uri) = &self.read_resource {
            options.extend(["--read-resource".to_owned(), uri.clone()]);
        }
        if let Some((name, arguments)) = &self.get_prompt {
            options.extend([
                "--get-prompt".to_owned(),
                name.clone(),
                "--prompt-args".to_owned(),
                arguments.to_string(),
            ]);
        }
        if self.repeat != 1 {
            options.extend(["--repeat".to_owned(), self.repeat.to_string()]);
        }
        if self.progress {
            options.push("--progress".to_owned());
        }
        if !self.list {
            options.push("--no-list".to_owned());
        }
        if let Some(text) = &self.sampling {
            options.extend(["--sampling".to_owned(), text.clone()]);
        }
        if let Some(content) = &self.elicit {
            options.extend(["--elicit".to_owned(), content.to_string()]);
        }
        if let Some(uri) = &self.roots {
            options.extend(["--roots".to_owned(), uri.clone()]);
        }
        for id in &self.extensions {
            options.extend(["--extension".to_owned(), id.clone()]);
        }
        if let Some(level) = &self.log_level {
            options.extend(["--log-level".to_owned(), level.clone()]);
        }
        if let Some(linger) = self.linger {
            options.extend(["--linger".to_owned(), linger.as_secs_f64().to_string()]);
        }
        let per_request = self.timeout.as_secs().max(1).to_string();
        options.extend(["--timeout".to_owned(), per_request]);

        let mut command = match &self.flavour {
            Flavour::PythonHttp(url) => {
                let mut c = PeerCommand::new(python_bin())
                    .arg(peers.join("client_http.py"))
                    .arg(url);
                for (name, value) in &self.headers {
                    c = c.arg("--header").arg(format!("{name}: {value}"));
                }
                c
            }
            Flavour::PythonStdio(_) => {
                PeerCommand::new(python_bin()).arg(peers.join("client_stdio.py"))
            }
            Flavour::TypeScriptHttp(url) => PeerCommand::new("node")
                .arg(peers.join("client_ts.mjs"))
                .arg(url),
            Flavour::TypeScriptStdio(server) => {
                let server = serde_json::to_string(server).expect("strings serialise");
                PeerCommand::new("node")
                    .arg(peers.join("client_ts.mjs"))
                    .arg("--stdio")
                    .arg(server)
            }
        };
        command = command.args(&options);
        if let Flavour::PythonStdio(server) = &self.flavour {
            command = command.arg("--").args(server);
        }
        if let Some(token) = &self.token {
            command = command.env("TOKEN", token);
        }
        for (key, value) in &self.env {
            command = command.env(key, value);
        }
        command.current_dir(&peers).timeout(self.timeout)
    }

    /// Runs the client to completion (blocking). See [`crate::PeerOutput::events_named`].
    pub fn run(&self) -> crate::PeerOutput {
        self.command().run()
    }

    /// [`McpClient::run`] without blocking the async runtime.
    pub async fn run_async(&self) -> crate::PeerOutput {
        self.command().run_async().await
    }
}

/// The MCP Inspector in CLI mode (`npx --no-install @modelcontextprotocol/inspector --cli ARGS…`, run in the
/// peers folder), e.g. `inspector_cli(&[url, "--transport", "http", "--method", "tools/list"])`. It prints
/// the JSON result, pretty-printed.
pub fn inspector_cli(args: &[&str]) -> PeerCommand {
    PeerCommand::new("npx")
        .args(["--no-install", "@modelcontextprotocol/inspector", "--cli"])
        .args(args)
        .current_dir(peers_dir())
}

/// The official conformance CLI under Node 22, e.g.
/// `conformance(&["server", "--url", url, "--scenario", "tools-list"])`. Exits 1 when a scenario fails;
/// prints `✓|✗ <scenario>: N passed, M failed` lines and a `Total:` line.
pub fn conformance(args: &[&str]) -> PeerCommand {
    let peers = peers_dir();
    PeerCommand::new(node22_bin())
        .arg(peers.join("node_modules/@modelcontextprotocol/conformance/dist/index.js"))
        .args(args)
        .current_dir(&peers)
        .timeout(Duration::from_secs(300))
}
