//! End to end: `toolgate demo`, the newcomer's one command, run as the real binary on a free port.
//! The endpoint and token it prints are all a real SDK client (Python) needs: the 219 tools are
//! listed (none hidden by the starter policy), a Read call answers, a Destructive call is held
//! (pending in the admin API, then denied there). Ctrl-C stops it cleanly; a second run on the
//! same folder keeps the edited policy and issues a new token, and the old one stops working.

#[path = "common/browser.rs"]
mod browser;
mod common;

use common::{RawSession, TOOLGATE, result_text, stdout_lines};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use toolgate_testkit::{ChildGuard, McpClient};

/// A running `toolgate demo` and what it printed.
struct Demo {
    guard: ChildGuard,
    banner: Vec<String>,
    endpoint: String,
    token: String,
    /// `http://127.0.0.1:PORT`
    base: String,
    /// The admin plane: `http://127.0.0.1:PORT`.
    admin: String,
}

impl Demo {
    fn start(dir: &Path) -> Demo {
        let mut cmd = Command::new(TOOLGATE);
        cmd.args(["demo", "--listen", "127.0.0.1:0", "--dir"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut guard = ChildGuard::spawn("toolgate demo", &mut cmd).expect("start the demo");
        let rx = stdout_lines(&mut guard);
        let mut banner = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    let last = line.ends_with("Ctrl-C stops the demo.");
                    banner.push(line);
                    if last {
                        break;
                    }
                }
                Err(_) => panic!("the demo did not print its banner; so far:\n{banner:#?}"),
            }
        }
        let field = |name: &str| {
            banner
                .iter()
                .find_map(|l| l.trim_start().strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name:?} line in {banner:#?}"))
                .trim()
                .to_owned()
        };
        let endpoint = field("endpoint:");
        let token = field("token:");
        let base = endpoint
            .strip_suffix("/mcp/crm")
            .expect("the endpoint is /mcp/crm")
            .to_owned();
        let admin = field("admin:")
            .split_whitespace()
            .next()
            .and_then(|url| url.strip_suffix("/api"))
            .expect("the admin line names the admin API")
            .to_owned();
        Demo {
            guard,
            banner,
            endpoint,
            token,
            base,
            admin,
        }
    }

    fn line_with(&self, prefix: &str) -> &str {
        self.banner
            .iter()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in {:#?}", self.banner))
    }

    /// Ctrl-C, as a terminal sends it to the whole process group; the demo exits 0.
    fn interrupt(mut self) {
        self.guard.signal(nix::sys::signal::Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.guard.try_status().is_none() {
            assert!(Instant::now() < deadline, "the demo did not stop on Ctrl-C");
            std::thread::sleep(Duration::from_millis(50));
        }
        let status = self.guard.try_status().unwrap();
        assert!(status.success(), "the demo exited with {status}");
    }
}

/// `GET /api/approvals?status=pending` (loopback, no admin token) until one of `tool` shows up.
async fn wait_pending(base: &str, tool: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed: Value = reqwest::get(format!("{base}/api/approvals?status=pending"))
            .await
            .expect("admin API")
            .json()
            .await
            .expect("JSON");
        if let Some(a) = listed["approvals"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["binding"]["tool"] == tool))
        {
            return a.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no pending approval of {tool}: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_serves_the_crm_behind_the_starter_policy() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path());
    assert!(demo.token.starts_with("tg_"), "{:#?}", demo.banner);
    let summary = demo.line_with("Policy:");
    assert!(
        summary.contains("held for approval") && summary.contains("0 hidden"),
        "{summary}"
    );
    assert!(
        demo.line_with("Catalogue: 219 tools")
            .contains("handle credentials"),
        "{:#?}",
        demo.banner
    );
    assert!(
        demo.banner
            .iter()
            .any(|l| l.contains(&format!("\"Authorization\": \"Bearer {}\"", demo.token))),
        "the client snippet carries the token: {:#?}",
        demo.banner
    );
    for file in ["toolgate.toml", "crm.yaml", "toolgate.db"] {
        assert!(dir.path().join(file).exists(), "{file} is in the folder");
    }

    // The printed sign-in link opens the web UI signed in, once.
    let link = demo
        .line_with("  sign in:")
        .split_whitespace()
        .nth(2)
        .expect("the sign-in line names a link")
        .to_owned();
    assert!(
        link.starts_with(&format!("{}/ui/login/once?token=", demo.admin)),
        "{link}"
    );
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let first = no_redirects.get(&link).send().await.unwrap();
    assert_eq!(first.status(), reqwest::StatusCode::SEE_OTHER);
    let cookie = first.headers()[reqwest::header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let overview = no_redirects
        .get(format!("{}/ui", demo.admin))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(overview.status(), reqwest::StatusCode::OK);
    assert!(
        overview
            .text()
            .await
            .unwrap()
            .contains("one-time-link · admin"),
        "signed in by the link"
    );
    let again = no_redirects.get(&link).send().await.unwrap();
    assert_eq!(again.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert!(
        again.text().await.unwrap().contains("used already"),
        "a second use is refused"
    );

    // A real SDK client with the printed URL and token: every tool listed, a read answered.
    let out = McpClient::python_http(&demo.endpoint)
        .token(&demo.token)
        .call("findManyCompanies", json!({}))
        .run();
    out.assert_success();
    assert_eq!(out.events_named("tools")[0]["count"], 219);
    let result = &out.events_named("result")[0];
    assert_eq!(result_text(result), "findManyCompanies ok", "{result}");

    // Without the token: refused.
    assert_eq!(
        RawSession::open(&demo.endpoint, None).await.err(),
        Some(reqwest::StatusCode::UNAUTHORIZED)
    );

    // A destructive call waits for a person; it is pending in the admin API, and denied there.
    let held = McpClient::python_http(&demo.endpoint)
        .token(&demo.token)
        .no_list()
        .call("deleteOneCompany", json!({"id": "c-1"}))
        .timeout(Duration::from_secs(90));
    let held = std::thread::spawn(move || held.run());
    let pending = wait_pending(&demo.admin, "deleteOneCompany").await;
    assert_eq!(pending["binding"]["server"], "crm");
    // The demo keeps argument values (`[audit] arguments = "values"`): the approver sees the call.
    assert_eq!(pending["arguments"], json!({"id": "c-1"}), "{pending}");
    let id = pending["id"].as_str().unwrap();
    let denied = reqwest::Client::new()
        .post(format!("{}/api/approvals/{id}/deny", demo.admin))
        .json(&json!({"note": "not in the demo"}))
        .send()
        .await
        .unwrap();
    assert!(
        denied.status().is_success(),
        "{}",
        denied.text().await.unwrap()
    );
    let out = held.join().unwrap();
    let result = &out.events_named("result")[0];
    assert_eq!(result["isError"], true, "{result}");
    assert!(result_text(result).contains("not in the demo"), "{result}");

    let old_token = demo.token.clone();
    demo.interrupt();

    // A second run: the edited policy is kept, the token is new and the old one is refused.
    let policy = dir.path().join("crm.yaml");
    let edited = std::fs::read_to_string(&policy).unwrap().replace(
        "default: deny\n",
        "default: deny\nhide: [GetOpenApiSchema]\n",
    );
    std::fs::write(&policy, edited).unwrap();
    let demo = Demo::start(dir.path());
    assert_ne!(demo.token, old_token);
    assert!(
        demo.line_with("  policy:")
            .contains("kept from a previous run"),
        "{:#?}",
        demo.banner
    );
    assert!(
        demo.line_with("Policy:").contains("1 hidden"),
        "{:#?}",
        demo.banner
    );
    assert_eq!(
        RawSession::open(&demo.endpoint, Some(&old_token))
            .await
            .err(),
        Some(reqwest::StatusCode::UNAUTHORIZED)
    );
    let out = McpClient::python_http(&demo.endpoint)
        .token(&demo.token)
        .run();
    out.assert_success();
    assert_eq!(out.events_named("tools")[0]["count"], 218);
    demo.interrupt();
}

/// The banner line that starts (after its indent) with `prefix`, as a shell command line.
fn printed_command(demo: &Demo, prefix: &str) -> String {
    demo.banner
        .iter()
        .map(|l| l.trim())
        .find_map(|l| l.starts_with(prefix).then(|| l.to_owned()))
        .unwrap_or_else(|| panic!("no command {prefix:?} in {:#?}", demo.banner))
}

/// `line` with its leading `from` replaced by `to` (the locally installed copy of a peer the
/// printed command fetches with `npx -y`).
fn locally(line: &str, from: &str, to: &str) -> String {
    let rest = line
        .strip_prefix(from)
        .unwrap_or_else(|| panic!("{line:?} does not start with {from:?}"));
    format!("{to}{rest}")
}

#[test]
fn every_command_the_demo_prints_works_from_a_new_shell() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path());
    assert!(
        demo.banner
            .iter()
            .any(|l| l.contains(&format!("{}/servers/crm/mcp", demo.base))),
        "the /mcp-ending alias is printed: {:#?}",
        demo.banner
    );

    // The sign-in link, in a browser: it opens the UI signed in; signed out, it is refused.
    let link = demo
        .line_with("  sign in:")
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_owned();
    let signed = browser::step("once", &demo.admin, &link, String::new).result();
    assert_eq!(signed["firstUrl"], format!("{}/ui", demo.admin), "{signed}");
    assert_eq!(signed["who"], "one-time-link · admin", "{signed}");
    assert_eq!(signed["againStatus"], 401, "{signed}");
    assert!(
        signed["againText"]
            .as_str()
            .unwrap()
            .contains("used already"),
        "{signed}"
    );
    assert!(
        signed["afterwardsUrl"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/ui/login", demo.admin)),
        "{signed}"
    );

    // The operator's commands, in a shell that has no cargo and no toolgate on its PATH.
    let list = demo
        .banner
        .iter()
        .map(|l| l.trim())
        .find(|l| l.contains(" approvals list -c "))
        .expect("the approvals list command")
        .to_owned();
    let out = Command::new("sh")
        .args(["-c", &list])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{list}: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The Inspector's CLI, with the token, as printed (the same version, installed).
    let inspector = locally(
        &printed_command(&demo, "npx -y @modelcontextprotocol/inspector@"),
        "npx -y @modelcontextprotocol/inspector@0.18.0",
        "npx --no-install @modelcontextprotocol/inspector",
    );
    let out = Command::new("sh")
        .args(["-c", &inspector])
        .current_dir(toolgate_testkit::peers_dir())
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && listed.contains("findManyCompanies"),
        "{inspector}: {listed}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // mcp-remote and toolgate's own bridge, spawned by a real client (the TypeScript SDK).
    let proxy = toolgate_testkit::peers_dir().join("node_modules/mcp-remote/dist/proxy.js");
    let remote = locally(
        &printed_command(&demo, "npx -y mcp-remote@"),
        "npx -y mcp-remote@0.15.1",
        &format!("node {}", proxy.display()),
    );
    let bridge = printed_command(&demo, "or toolgate's own bridge: ")
        .trim_start_matches("or toolgate's own bridge: ")
        .to_owned();
    for command in [remote, bridge] {
        let out = McpClient::ts_stdio(&["sh".into(), "-c".into(), command.clone()])
            .env("MCP_REMOTE_CONFIG_DIR", dir.path().to_str().unwrap())
            .call("findManyCompanies", json!({}))
            .run();
        let result = out.events_named("result");
        assert_eq!(
            result.first().map(result_text),
            Some("findManyCompanies ok"),
            "{command}: {:?}",
            out.events()
        );
    }
    demo.interrupt();
}
