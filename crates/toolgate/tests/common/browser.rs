//! Runs one step of `tests/ui/acceptance.mjs` in a real browser (Debian's Chromium, driven by
//! playwright-core from the peers' Node modules) against a running toolgate, and reads the lines it
//! prints: progress, markers the test waits for (`READY`), and last `RESULT <json>`.
//! Included with `#[path = "common/browser.rs"] mod browser;` by the tests that drive the UI.

#![allow(dead_code)]

use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};
use toolgate_testkit::{ChildGuard, peers_dir, repo_root};

/// Longest one browser step may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);

/// A running browser step: its stdout lines as they come.
pub struct Step {
    guard: ChildGuard,
    lines: Receiver<String>,
    started: Instant,
    /// What to show when the step fails (the gateway's log).
    context: Box<dyn Fn() -> String>,
}

/// Starts `step` against the admin plane at `admin` with `credential` (a token, or for the `once`
/// step the sign-in link). Screenshots go to `TOOLGATE_UI_SCREENSHOTS` when it is set.
pub fn step(
    step: &str,
    admin: &str,
    credential: &str,
    context: impl Fn() -> String + 'static,
) -> Step {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Chromium is not installed: apt-get install chromium (as .ci/run does)"
    );
    let script = repo_root().join("crates/toolgate/tests/ui/acceptance.mjs");
    let shots = std::env::var("TOOLGATE_UI_SCREENSHOTS").unwrap_or_default();
    let mut cmd = Command::new("node");
    cmd.arg(script)
        .args([step, admin, credential, &shots])
        .env("TOOLGATE_PEERS_DIR", peers_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut guard = ChildGuard::spawn(format!("browser {step}"), &mut cmd).expect("start node");
    let stdout = guard.child_mut().stdout.take().expect("piped stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Step {
        guard,
        lines,
        started: Instant::now(),
        context: Box::new(context),
    }
}

impl Step {
    /// Waits for a line starting with `prefix`; returns the rest of it.
    pub fn wait_for(&mut self, prefix: &str) -> String {
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
                        (self.context)()
                    );
                }
            }
        }
    }

    /// The step's `RESULT`, after checking it failed nowhere and no page threw.
    pub fn result(mut self) -> Value {
        let r: Value = serde_json::from_str(&self.wait_for("RESULT")).expect("RESULT is JSON");
        assert!(
            r["error"].is_null(),
            "the browser step failed: {}\nlog:\n{}",
            r["error"].as_str().unwrap_or(""),
            (self.context)()
        );
        assert_eq!(r["pageErrors"], json!([]), "JavaScript errors in the pages");
        r
    }
}
