//! End-to-end tests of `toolgate validate -c FILE` (and of `toolgate serve` refusing an invalid
//! configuration): the real binary, real files in a temporary folder, exit codes and output.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const TOOLGATE: &str = env!("CARGO_BIN_EXE_toolgate");

/// EX_CONFIG: what `validate` and `serve` exit with on an invalid configuration.
const EXIT_CONFIG: i32 = 78;

/// A temporary folder holding `files`.
fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write file");
    }
    dir
}

fn toolgate(args: &[&str], config: &Path) -> Command {
    let mut cmd = Command::new(TOOLGATE);
    cmd.args(args)
        .arg("-c")
        .arg(config)
        .env_remove("TOOLGATE_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `cmd` to its end, killing it if it outlives `limit`.
fn output_within(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd.spawn().expect("start toolgate");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait for toolgate").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("toolgate output");
            panic!(
                "toolgate ran past {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("toolgate output")
}

fn validate(config: &Path) -> Output {
    toolgate(&["validate"], config)
        .output()
        .expect("run toolgate validate")
}

/// Output text with the temporary folder replaced by `[DIR]`, so that snapshots are stable.
fn text(bytes: &[u8], dir: &Path) -> String {
    String::from_utf8_lossy(bytes).replace(&dir.display().to_string(), "[DIR]")
}

const JSON_POLICY: &str = r#"{
  "version": "1",
  "default": "deny",
  "hide": ["deleteOne*", "GetOpenApiSchema"],
  "all_tools": { "limits": [ { "counter": "all_calls", "window": "minute", "max": 600, "scope": "grant" } ] },
  "tools": {
    "createOneWorkflowRun": {
      "limits": [ { "counter": "createoneworkflowrun_rate", "window": "minute", "max": 30, "scope": "grant" } ]
    },
    "findMany*": {},
    "UpdateOneOpportunity": {
      "deny_if": [ { "conditions": [ { "path": "args.requestBody.amount.amountMicros", "op": "gt", "value": 1000000000 } ],
                     "on_deny": "Opportunities above 1000 need a human." } ]
    },
    "deleteOneCompany": { "action": "require_approval", "approval": { "timeout": "10m" } },
    "createOneConnectedAccount": { "action": "deny", "reason": "Credentials are managed by IT." },
    "createManyPeople": { "limits": [ { "counter": "people_created", "window": "hour", "max": 500,
                                        "scope": "agent", "increment_from": "args.requestBody.length" } ] }
  }
}
"#;

const YAML_POLICY: &str = r#"version: "1"
default: allow
hide: [move_file]
tools:
  write_file:
    limits:
      - { counter: writes, window: 10m, max: 100, scope: agent }
  read_*:
    rate_limit: { max: 10, window: 60 }
  delete_*:
    action: deny
    reason: Nothing is deleted through the gateway.
"#;

#[test]
fn a_valid_config_with_json_and_yaml_policies_is_ok() {
    let dir = folder(&[
        (
            "toolgate.toml",
            r#"[gateway]
listen = "127.0.0.1:8080"
upstream_timeout = "30s"

[servers.crm]
url = "https://crm.example.com/mcp"
headers = { "X-Api-Key" = "k-123" }
policy = "crm.json"

[servers.files]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-filesystem", "/srv"]
policy = "files.yaml"

[grants.alice-laptop]
agent = "alice"
token_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
servers = ["crm", "files"]
"#,
        ),
        ("crm.json", JSON_POLICY),
        ("files.yaml", YAML_POLICY),
    ]);
    let out = validate(&dir.path().join("toolgate.toml"));
    let stdout = text(&out.stdout, dir.path());
    let stderr = text(&out.stderr, dir.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(stdout, "[DIR]/toolgate.toml: ok (2 servers, 1 grant)\n");
    assert_eq!(stderr, "");
}

const BROKEN_CONFIG: &str = r#"[gateway]
listen = "localhost:8080"
upstream_timeout = "soon"

[servers.crm]
url = "ftp://crm.example.com/mcp"
policy = "crm.json"

[servers.files]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-filesystem", "/srv"]
policy = "files.yaml"

[servers.both]
command = "node"
url = "http://127.0.0.1:3001/mcp"

[servers.nothing]
args = ["--verbose"]

[servers.lost]
command = "node"
policy = "policies/lost.json"

[grants.ci-runner]
agent = "ci"
token_sha256 = "not-a-hash"
servers = ["crm", "filez"]
"#;

/// Unknown op (with the alias an operator would try), bad regex, and a limit nobody checked.
const BROKEN_JSON_POLICY: &str = r#"{
  "version": "1",
  "default": "deny",
  "tools": {
    "UpdateOneOpportunity": {
      "deny_if": [ { "conditions": [ { "path": "args.amount", "op": "greater_than", "value": 1000 } ] } ]
    },
    "findMany*": {
      "require": [ { "conditions": [ { "path": "args.filter", "op": "regex", "value": "([a-z]+" } ] } ]
    },
    "createManyPeople": {
      "limits": [ { "counter": "people", "window": "hour", "max": "500" } ]
    }
  }
}
"#;

/// Bad window, unknown scope, a path into nowhere.
const BROKEN_YAML_POLICY: &str = r#"version: "1"
default: allow
tools:
  write_file:
    limits:
      - counter: writes
        window: fortnight
        max: 10
        scope: grants
    require:
      - conditions:
          - { path: arguments.path, op: starts_with, value: /srv/ }
"#;

#[test]
fn every_error_of_the_config_and_its_policies_is_reported_with_location_and_hint() {
    let dir = folder(&[
        ("toolgate.toml", BROKEN_CONFIG),
        ("crm.json", BROKEN_JSON_POLICY),
        ("files.yaml", BROKEN_YAML_POLICY),
    ]);
    let out = validate(&dir.path().join("toolgate.toml"));
    let stdout = text(&out.stdout, dir.path());
    let stderr = text(&out.stderr, dir.path());
    assert_eq!(
        out.status.code(),
        Some(EXIT_CONFIG),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(stdout, "", "nothing on stdout for an invalid config");

    // One paragraph per error: `FILE:LINE:COL: message`, then indented `at:` / `help:` lines; a
    // summary line last.
    let mut paragraphs: Vec<String> = Vec::new();
    for line in stderr.lines() {
        if line.starts_with("  ") {
            let last = paragraphs
                .last_mut()
                .expect("an indented line follows an error");
            last.push('\n');
            last.push_str(line);
        } else {
            paragraphs.push(line.to_owned());
        }
    }
    let summary = paragraphs.pop().expect("a summary line");
    assert_eq!(
        summary,
        format!(
            "error: [DIR]/toolgate.toml is invalid ({} errors)",
            paragraphs.len()
        )
    );
    for p in &paragraphs {
        let head = p.lines().next().unwrap_or_default();
        let located = ["toolgate.toml", "crm.json", "files.yaml"]
            .iter()
            .any(|file| {
                head.strip_prefix(&format!("[DIR]/{file}:"))
                    .and_then(|rest| {
                        let mut parts = rest.splitn(3, ':');
                        let line = parts.next()?.parse::<u32>().ok()?;
                        let col = parts.next()?.parse::<u32>().ok()?;
                        let message = parts.next()?;
                        (line > 0 && col > 0 && message.starts_with(' ') && message.len() > 1)
                            .then_some(())
                    })
                    .is_some()
            });
        assert!(located, "error without a FILE:LINE:COL location:\n{p}");
        assert!(p.contains("\n  help: "), "error without a hint:\n{p}");
        if head.starts_with("[DIR]/toolgate.toml:") {
            assert!(
                p.contains("\n  at: servers.")
                    || p.contains("\n  at: grants.")
                    || p.contains("\n  at: gateway."),
                "config error without the key it is about:\n{p}"
            );
        } else {
            assert!(
                p.contains("\n  at: /"),
                "policy error without a JSON pointer:\n{p}"
            );
        }
    }
    for needle in [
        "invalid listen address \"localhost:8080\"",
        "invalid duration \"soon\"",
        "servers.crm.url must start with http:// or https://",
        "servers.both has both `command` and `url`",
        "servers.nothing needs `command`",
        "servers.lost.policy: cannot read [DIR]/policies/lost.json",
        "grants.ci-runner.token_sha256 is not a SHA-256 in hex",
        "grants.ci-runner names unknown server \"filez\"",
        "unknown op \"greater_than\"",
        "bad regex \"([a-z]+\"",
        "wrong type for \"max\"",
        "bad window \"fortnight\"",
        "unknown scope \"grants\"",
        "unknown root \"arguments\"",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
    insta::assert_snapshot!("invalid_config_and_policies", stderr);
}

/// Misspelt keys (in `[gateway]` and under a server), values of the wrong type and a value that
/// is not a choice: every one in a single run.
const MISSPELT_CONFIG: &str = r#"[gateway]
listen = "127.0.0.1:8080"
upstream_timout = "30s"

[servers.crm]
url = "https://crm.example.com/mcp"
polcy = "crm.json"
transport = "grpc"

[servers.files]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-filesystem", "/srv"]
per_session = "yes"

[grants.ci]
agent = "ci"
token_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
servers = ["crm", "files"]
tags = "nightly"
"#;

#[test]
fn unknown_keys_wrong_types_and_bad_values_all_come_out_in_one_run() {
    let dir = folder(&[("toolgate.toml", MISSPELT_CONFIG)]);
    let out = validate(&dir.path().join("toolgate.toml"));
    let stdout = text(&out.stdout, dir.path());
    let stderr = text(&out.stderr, dir.path());
    assert_eq!(
        out.status.code(),
        Some(EXIT_CONFIG),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(stdout, "");
    for expected in [
        "[DIR]/toolgate.toml:3:1: unknown key \"upstream_timout\"\n  at: gateway.upstream_timout\n  help: did you mean \"upstream_timeout\"?\n",
        "[DIR]/toolgate.toml:7:1: unknown key \"polcy\"\n  at: servers.crm.polcy\n  help: did you mean \"policy\"?\n",
        "[DIR]/toolgate.toml:8:13: servers.crm.transport \"grpc\" is not a transport\n  at: servers.crm.transport\n",
        "[DIR]/toolgate.toml:13:15: wrong type for \"per_session\": expected true or false, found a string\n  at: servers.files.per_session\n  help: write per_session = true or per_session = false, without quotes\n",
        "[DIR]/toolgate.toml:19:8: wrong type for \"tags\": expected an array, found a string\n  at: grants.ci.tags\n",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    assert!(
        stderr.ends_with("error: [DIR]/toolgate.toml is invalid (5 errors)\n"),
        "{stderr}"
    );
    insta::assert_snapshot!("misspelt_keys_and_wrong_types", stderr);

    // `serve` reads the configuration the same way, and does not start.
    let out = output_within(
        toolgate(&["serve"], &dir.path().join("toolgate.toml")),
        Duration::from_secs(30),
    );
    let serve_stderr = text(&out.stderr, dir.path());
    assert_eq!(out.status.code(), Some(EXIT_CONFIG), "{serve_stderr}");
    assert!(
        serve_stderr.starts_with(stderr.lines().next().unwrap_or("?")),
        "{serve_stderr}"
    );
    assert!(
        serve_stderr.contains("at: servers.files.per_session"),
        "{serve_stderr}"
    );
}

#[test]
fn a_missing_config_file_is_a_config_error() {
    let dir = folder(&[]);
    let out = validate(&dir.path().join("toolgate.toml"));
    let stdout = text(&out.stdout, dir.path());
    let stderr = text(&out.stderr, dir.path());
    assert_eq!(
        out.status.code(),
        Some(EXIT_CONFIG),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(stdout, "");
    assert!(
        stderr.starts_with(
            "[DIR]/toolgate.toml: cannot read the configuration file: No such file or directory"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("\n  help: pass the path of an existing toolgate.toml with -c"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("error: [DIR]/toolgate.toml is invalid (1 error)\n"),
        "{stderr}"
    );
}

#[test]
fn serve_refuses_an_invalid_config_without_listening() {
    // A free port, so that a gateway that started anyway would really listen.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let config = format!(
        "[gateway]\nlisten = \"127.0.0.1:{port}\"\n\n[servers.crm]\nurl = \"http://127.0.0.1:1/mcp\"\npolicy = \"crm.json\"\n"
    );
    let dir = folder(&[("toolgate.toml", &config), ("crm.json", BROKEN_JSON_POLICY)]);
    let mut child = toolgate(&["serve"], &dir.path().join("toolgate.toml"))
        .spawn()
        .expect("start toolgate serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for toolgate") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("toolgate serve kept running with an invalid config");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().expect("toolgate output");
    let stdout = text(&out.stdout, dir.path());
    let stderr = text(&out.stderr, dir.path());
    assert_eq!(
        status.code(),
        Some(EXIT_CONFIG),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(!stdout.contains("listening"), "{stdout}");
    assert!(
        stderr.contains("[DIR]/crm.json:6:69: unknown op \"greater_than\""),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("error: [DIR]/toolgate.toml is invalid; not starting\n"),
        "{stderr}"
    );
}
