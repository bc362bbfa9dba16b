//! End to end: the web UI in a real browser (Debian's Chromium, driven by playwright-core from
//! `tests/ui/acceptance.mjs`) against the real `toolgate` binary in front of the Twenty-like
//! 219-tool server, with the official Python SDK as the agent. An operator signs in with the admin
//! token, finds `deleteOneCompany` by search and sees it Destructive, builds a policy (deny one
//! tool with a reason, limit another to 2 a minute, hold a third) and saves it; the Python SDK then
//! gets exactly those decisions; its held call appears in Approvals without a reload and is
//! approved there, the client gets the server's real result, and the decision reaches the open
//! audit page; an invalid raw edit shows its error at its line; a form posted from another site is
//! refused; axe-core finds no serious accessibility violation.

mod common;

use common::{Toolgate, stdout_lines, toml_array, toml_str};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};
use toolgate_testkit::{ChildGuard, McpClient, peers_dir, repo_root, twenty_stdio_command};

const ADMIN_TOKEN: &str = "tg_ui-admin-token-for-tests";

/// Every tool the scenario touches starts allowed.
const POLICY: &str = "\
# The policy the operator starts from; the builder edits it.
version: \"1\"
default: deny
tools:
  findMany*: {}  # reads
  createOneCompany: {}
  createOneConnectedAccount: {}
  deleteOneCompany: {}
";

/// Longest one browser step may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);

fn start() -> Toolgate {
    let twenty = twenty_stdio_command();
    let config = format!(
        "[admin]\ntoken_sha256 = \"{}\"\n\n[servers.crm]\ncommand = {}\nargs = {}\npolicy = \"crm.yaml\"\n",
        toolgate_store::token::hash(ADMIN_TOKEN).to_hex(),
        toml_str(&twenty[0]),
        toml_array(&twenty[1..]),
    );
    Toolgate::start(&config, &[("crm.yaml", POLICY)])
}

/// A running browser step: its stdout lines as they come.
struct Step {
    guard: ChildGuard,
    lines: Receiver<String>,
    started: Instant,
}

fn browser_step(gw: &Toolgate, step: &str) -> Step {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Chromium is not installed: apt-get install chromium (as .ci/run does)"
    );
    let script = repo_root().join("crates/toolgate/tests/ui/acceptance.mjs");
    let shots = std::env::var("TOOLGATE_UI_SCREENSHOTS").unwrap_or_default();
    let mut cmd = Command::new("node");
    cmd.arg(script)
        .args([step, &gw.admin, ADMIN_TOKEN, &shots])
        .env("TOOLGATE_PEERS_DIR", peers_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut guard = ChildGuard::spawn(format!("browser {step}"), &mut cmd).expect("start node");
    let lines = stdout_lines(&mut guard);
    Step {
        guard,
        lines,
        started: Instant::now(),
    }
}

impl Step {
    /// Waits for a line starting with `prefix`; returns the rest of it.
    fn wait_for(&mut self, prefix: &str, gw: &Toolgate) -> String {
        loop {
            let left = STEP_TIMEOUT.saturating_sub(self.started.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.trim().to_owned();
                    }
                    eprintln!("browser: {line}");
                }
                Err(_) => {
                    self.guard.terminate(Duration::from_secs(2));
                    panic!(
                        "the browser step never printed {prefix:?} within {STEP_TIMEOUT:?}; gateway log:\n{}",
                        gw.log()
                    );
                }
            }
        }
    }

    fn result(mut self, gw: &Toolgate) -> Value {
        let r: Value = serde_json::from_str(&self.wait_for("RESULT", gw)).expect("RESULT is JSON");
        assert!(
            r["error"].is_null(),
            "the browser step failed: {}\nlog:\n{}",
            r["error"].as_str().unwrap_or(""),
            gw.log()
        );
        assert_eq!(r["pageErrors"], json!([]), "JavaScript errors in the pages");
        r
    }
}

fn text_of(result: &Value) -> String {
    result["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn an_operator_builds_a_policy_approves_a_held_call_and_watches_the_audit_in_the_browser() {
    let gw = start();

    // Sign in, find the tool, build and save the policy, see an invalid raw edit located.
    let built = browser_step(&gw, "build").result(&gw);
    assert_eq!(built["signedIn"], true);
    assert_eq!(built["searchRows"], 1, "{built}");
    assert_eq!(built["searchTool"], "deleteOneCompany");
    assert_eq!(built["searchRisk"], "Destructive");
    assert!(
        built["saved"]
            .as_str()
            .unwrap()
            .starts_with("Saved and applied"),
        "{built}"
    );
    let diff = built["diff"].as_str().unwrap();
    assert!(
        diff.contains("reason: Credentials are managed by IT."),
        "{diff}"
    );
    assert_eq!(
        built["rawError"]["line"], built["rawError"]["expectedLine"],
        "{built}"
    );
    assert!(
        built["rawError"]["text"]
            .as_str()
            .unwrap()
            .contains("maybe"),
        "{built}"
    );
    assert!(
        built["simulated"].as_str().unwrap().contains("deny"),
        "{built}"
    );

    // What the builder wrote is what a person would have: the untouched lines are still there.
    let written = std::fs::read_to_string(gw.path("crm.yaml")).unwrap();
    assert!(
        written.starts_with("# The policy the operator starts from; the builder edits it.\n"),
        "{written}"
    );
    assert!(written.contains("  findMany*: {}  # reads\n"), "{written}");

    // The Python SDK now gets exactly those decisions.
    let url = gw.url("crm");
    let denied = McpClient::python_http(&url)
        .no_list()
        .call(
            "createOneConnectedAccount",
            json!({"requestBody": {"handle": "x"}}),
        )
        .run();
    let r = &denied.events_named("result")[0];
    assert_eq!(r["result"]["isError"], true, "{denied}");
    assert_eq!(text_of(r), "[POLICY DENIED] Credentials are managed by IT.");
    let limited = McpClient::python_http(&url)
        .no_list()
        .call("createOneCompany", json!({"requestBody": {"name": "Acme"}}))
        .repeat(3)
        .run();
    let results = limited.events_named("result");
    assert_eq!(results.len(), 3, "{limited}");
    assert!(
        results[..2].iter().all(|r| r["result"]["isError"] != true),
        "{limited}"
    );
    assert_eq!(results[2]["result"]["isError"], true, "{limited}");
    assert!(
        text_of(&results[2]).contains("[POLICY DENIED]"),
        "{limited}"
    );

    // A held call appears in Approvals without a reload, is approved there, and the client gets
    // the server's own answer; the open audit page shows the decision.
    let mut approving = browser_step(&gw, "approve");
    approving.wait_for("READY", &gw);
    let held = std::thread::spawn({
        let url = url.clone();
        move || {
            McpClient::python_http(&url)
                .no_list()
                .call(
                    "deleteOneCompany",
                    json!({"id": "20202020-0000-4000-8000-000000000001"}),
                )
                .timeout(Duration::from_secs(60))
                .run()
        }
    });
    let approved = approving.result(&gw);
    assert_eq!(approved["sameDocument"], true, "the page was reloaded");
    assert!(
        approved["pendingRow"]
            .as_str()
            .unwrap()
            .contains("20202020-0000-4000-8000-000000000001"),
        "{approved}"
    );
    assert!(
        approved["history"].as_str().unwrap().contains("approved"),
        "{approved}"
    );
    assert!(
        approved["history"]
            .as_str()
            .unwrap()
            .contains("ui:admin-token"),
        "{approved}"
    );
    assert!(
        approved["adminLive"]
            .as_str()
            .unwrap()
            .contains("ui:admin-token"),
        "{approved}"
    );
    let held = held.join().unwrap();
    held.assert_exit(0);
    let r = &held.events_named("result")[0];
    assert_ne!(r["result"]["isError"], true, "{held}");
    assert!(!text_of(r).contains("POLICY"), "{held}");

    // A cross-site form post changes nothing; axe-core finds nothing serious.
    let guarded = browser_step(&gw, "guard").result(&gw);
    let status = guarded["crossSiteStatus"].as_u64().unwrap();
    assert!(status == 401 || status == 403, "{guarded}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let switches: Value = runtime
        .block_on(async {
            reqwest::Client::new()
                .get(gw.api_url("/kill-switches"))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await?
                .json()
                .await
        })
        .expect("kill switches");
    assert_eq!(
        switches["kill_switches"],
        json!([]),
        "a cross-site post engaged a kill switch"
    );
    for (page, violations) in guarded["axe"].as_object().unwrap() {
        assert_eq!(violations, &json!([]), "axe-core on {page}");
    }
}
