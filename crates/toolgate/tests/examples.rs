//! `examples/` is what a newcomer copies first, so CI runs it with the real binary: every example
//! configuration passes `toolgate validate` (with every policy it names), and every case file in
//! `examples/policy-tests` passes `toolgate policy test` against the policy it names — or,
//! `demo.yaml`, against the starter policy a fresh `toolgate demo` writes.

mod common;

use common::{TOOLGATE, stdout_lines};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use toolgate_testkit::ChildGuard;

/// The one case file that names no policy: it is for the policy `toolgate demo` generates.
const DEMO_CASES: &str = "demo.yaml";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn run(args: &[&str]) -> Output {
    Command::new(TOOLGATE)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run toolgate")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The files of `folder` with one of `extensions`, sorted.
fn files(folder: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| extensions.iter().any(|x| e == *x))
        })
        .collect();
    out.sort();
    out
}

/// Whether a case file names the policy it tests (a top-level `policy`).
fn names_a_policy(case_file: &Path) -> bool {
    let text = std::fs::read_to_string(case_file).expect("read the case file");
    if case_file.extension().is_some_and(|e| e == "json") {
        let doc: serde_json::Value = serde_json::from_str(&text).expect("a JSON case file");
        doc.get("policy").is_some()
    } else {
        text.lines().any(|l| l.starts_with("policy:"))
    }
}

/// `toolgate policy test` passed every case, and there were some.
fn assert_all_passed(o: &Output, what: &str) {
    let stdout = String::from_utf8_lossy(&o.stdout);
    let summary = stdout.lines().last().unwrap_or_default();
    let passed = summary
        .strip_suffix(" passed, 0 failed")
        .and_then(|n| n.parse::<u32>().ok());
    assert!(
        o.status.success() && passed.is_some_and(|n| n > 0),
        "{what}:\n{}",
        text(o)
    );
}

#[test]
fn every_example_config_validates() {
    let configs = files(&examples(), &["toml"]);
    assert!(!configs.is_empty(), "no example configuration");
    for config in configs {
        let o = run(&["validate", "-c", config.to_str().expect("UTF-8 path")]);
        assert!(
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains(": ok ("),
            "{}: {}",
            config.display(),
            text(&o)
        );
    }
}

#[test]
fn every_example_case_file_passes_against_the_policy_it_names() {
    let case_files = files(&examples().join("policy-tests"), &["yaml", "yml", "json"]);
    let mut checked = 0;
    for case_file in &case_files {
        let name = case_file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !names_a_policy(case_file) {
            assert_eq!(
                name,
                DEMO_CASES,
                "{}: a case file names the policy it tests (`policy: ../policies/x.json`); \
                 a policy belongs in examples/policies",
                case_file.display()
            );
            continue;
        }
        let o = run(&["policy", "test", case_file.to_str().expect("UTF-8 path")]);
        assert_all_passed(&o, &case_file.display().to_string());
        checked += 1;
    }
    assert!(checked >= 2, "{case_files:?}");
}

/// `toolgate demo` on a free port and a folder of its own, until its banner is printed.
fn start_demo(dir: &Path) -> ChildGuard {
    let mut cmd = Command::new(TOOLGATE);
    cmd.args(["demo", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut guard = ChildGuard::spawn("toolgate demo", &mut cmd).expect("start the demo");
    let lines = stdout_lines(&mut guard);
    loop {
        match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.ends_with("Ctrl-C stops the demo.") => return guard,
            Ok(_) => {}
            Err(_) => panic!("the demo did not print its banner"),
        }
    }
}

#[test]
fn the_demo_case_file_passes_against_the_policy_the_demo_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = start_demo(dir.path());
    let config = dir.path().join("toolgate.toml");
    let case_file = examples().join("policy-tests").join(DEMO_CASES);
    let o = run(&[
        "policy",
        "test",
        case_file.to_str().expect("UTF-8 path"),
        "-c",
        config.to_str().expect("UTF-8 path"),
    ]);
    demo.terminate(Duration::from_secs(10));
    assert_all_passed(&o, "demo.yaml against the demo's configuration");

    // The other example cases are not the demo's: they name a different policy, and the demo's
    // decides otherwise (the mistake that puts one policy's cases against another's).
    let crm_cases = examples().join("policy-tests/crm.yaml");
    let o = run(&[
        "policy",
        "test",
        crm_cases.to_str().expect("UTF-8 path"),
        "-c",
        config.to_str().expect("UTF-8 path"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}
