//! End-to-end tests of `toolgate policy explain` and `toolgate policy test`: the real binary on the
//! fixtures in `tests/fixtures/policy_cmd/` (run from that folder, so output names stable relative
//! paths), exit codes and output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const TOOLGATE: &str = env!("CARGO_BIN_EXE_toolgate");
const EXIT_CONFIG: i32 = 78;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy_cmd")
}

fn toolgate(args: &[&str]) -> Output {
    Command::new(TOOLGATE)
        .args(args)
        .current_dir(fixtures())
        .env_remove("TOOLGATE_LOG")
        .env_remove("BANK_TOKEN_NOT_SET_IN_TESTS")
        .stdin(Stdio::null())
        .output()
        .expect("run toolgate")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn explain(extra: &[&str]) -> Output {
    let mut args = vec!["policy", "explain", "--policy", "policy.json"];
    args.extend_from_slice(extra);
    toolgate(&args)
}

/// `explain` for a call that succeeds; its stdout.
fn explained(extra: &[&str]) -> String {
    let o = explain(extra);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    stdout(&o)
}

#[test]
fn explain_allow_names_the_glob_and_the_counters() {
    let out = explained(&["--tool", "search_accounts", "--args", r#"{"q":"acme"}"#]);
    insta::assert_snapshot!("explain_allow", out);
    let out = explained(&["--tool", "run_job", "--grant", "ci-runner"]);
    assert!(
        out.contains(
            "  jobs: scope grant, subject \"ci-runner\", window minute (sliding), max 30, amount 1 (/tools/run_job/limits/0)"
        ),
        "{out}"
    );
    assert!(
        out.contains("explain assumes every counter is empty"),
        "{out}"
    );
}

#[test]
fn explain_deny_by_condition_shows_every_condition() {
    let out = explained(&[
        "--tool",
        "transfer",
        "--args",
        r#"{"amount": 5000, "currency": "EUR"}"#,
        "--agent",
        "alice",
        "--grant",
        "alice-laptop",
        "--tag",
        "finance",
        "--tag",
        "eu",
    ]);
    insta::assert_snapshot!("explain_deny_by_condition", out);
    assert!(
        out.contains("agent sees: [POLICY DENIED] Transfers above 1000 need a human.\n"),
        "{out}"
    );
}

#[test]
fn explain_hidden_and_default_deny() {
    insta::assert_snapshot!("explain_hidden", explained(&["--tool", "secret_keys"]));
    insta::assert_snapshot!("explain_default_deny", explained(&["--tool", "drop_table"]));
}

#[test]
fn explain_json_is_one_object() {
    let o = explain(&["--tool", "transfer", "--args", r#"{"amount": 5}"#, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["decision"], "deny");
    assert_eq!(v["rule"], "/tools/transfer/require/0");
    assert!(v["agent_sees"].as_str().unwrap().starts_with(
        "[POLICY DENIED] tool \"transfer\" is denied by rule /tools/transfer/require/0"
    ));
    assert_eq!(v["tool_rule"]["match"], "exact");
    assert_eq!(v["counters_consulted"], false);
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks[0]["rule"], "/tools/transfer/deny_if/0");
    assert_eq!(checks[0]["denies"], false);
    let amount = &checks[0]["conditions"][0];
    assert_eq!(amount["path"], "args.amount");
    assert_eq!(amount["found"], 5);
    assert_eq!(amount["value"], 1000);
    assert_eq!(amount["held"], false);
    let currency = &checks[0]["conditions"][1];
    assert_eq!(currency["missing"], true);
    assert!(currency.get("found").is_none());
    assert_eq!(checks[1]["rule"], "/tools/transfer/require/0");
    assert_eq!(checks[1]["denies"], true);
    assert_eq!(checks[1]["reached"], true);
    assert_eq!(checks[2]["reached"], false);

    let o = explain(&["--tool", "wipe", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["decision"], "require_approval");
    assert_eq!(v["rule"], "/tools/wipe/action");
    assert_eq!(v["approval"]["timeout_ms"], 600_000);
}

#[test]
fn explain_through_a_config_picks_the_servers_policy() {
    // ${BANK_TOKEN_NOT_SET_IN_TESTS} is not set: explain does not need upstream secrets.
    let o = toolgate(&[
        "policy",
        "explain",
        "-c",
        "config.toml",
        "--server",
        "bank",
        "--tool",
        "wipe",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("decision: require_approval\n"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("on server \"bank\""));
    let o = toolgate(&["policy", "explain", "-c", "config.toml", "--tool", "wipe"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("defines 2 servers"), "{}", stderr(&o));
    let o = explain(&["--tool", "x", "--args", "[1]"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--args must be a JSON object"));
}

#[test]
fn explain_refuses_an_invalid_policy_with_78() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"version": "1", "default": "maybe"}"#).unwrap();
    let o = toolgate(&[
        "policy",
        "explain",
        "--policy",
        bad.to_str().unwrap(),
        "--tool",
        "x",
    ]);
    assert_eq!(o.status.code(), Some(EXIT_CONFIG));
    assert!(stderr(&o).contains("bad.json:1:29"), "{}", stderr(&o));
}

#[test]
fn policy_test_passing_file_exits_0() {
    let o = toolgate(&["policy", "test", "passing.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    insta::assert_snapshot!("test_passing", stdout(&o));
}

#[test]
fn policy_test_failing_file_exits_1_with_the_mismatch() {
    let o = toolgate(&["policy", "test", "failing.json"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    insta::assert_snapshot!("test_failing", out);
    assert!(
        out.contains(
            "✗ transfer without memo: expected allow, got deny by /tools/transfer/require/0\n"
        ),
        "{out}"
    );
    assert!(out.ends_with("1 passed, 2 failed\n"), "{out}");
}

#[test]
fn policy_test_invalid_file_exits_78_with_located_errors() {
    let o = toolgate(&["policy", "test", "invalid.yaml"]);
    assert_eq!(o.status.code(), Some(EXIT_CONFIG), "{}", stdout(&o));
    assert!(stdout(&o).is_empty());
    insta::assert_snapshot!("test_invalid", stderr(&o));

    // An invalid policy named by the case file: 78 too.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.json"), r#"{"version": "1"}"#).unwrap();
    std::fs::write(
        dir.path().join("cases.json"),
        r#"{"policy": "p.json", "cases": [{"tool": "x", "expect": "allow"}]}"#,
    )
    .unwrap();
    let o = toolgate(&[
        "policy",
        "test",
        dir.path().join("cases.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(EXIT_CONFIG));
    assert!(stderr(&o).contains("p.json:1:1"), "{}", stderr(&o));
}

#[test]
fn policy_test_repeat_refuses_the_31st_call_of_a_max_30_limit() {
    let o = toolgate(&["policy", "test", "limit.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("✓ the 30th job in a minute runs: allow on call 30 of 30\n"),
        "{out}"
    );
    assert!(
        out.contains("✓ the 31st job in a minute is refused: deny by /tools/run_job/limits/0 on call 31 of 31\n"),
        "{out}"
    );
    assert!(out.ends_with("2 passed, 0 failed\n"), "{out}");
}

#[test]
fn policy_test_against_a_config_uses_each_cases_server() {
    let o = toolgate(&["policy", "test", "config-cases.yaml", "-c", "config.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).ends_with("2 passed, 0 failed\n"));
    // --policy overrides the case file's policy (here with a file that is not a policy: 78).
    let o = toolgate(&[
        "policy",
        "test",
        "passing.yaml",
        "--policy",
        "config-cases.yaml",
    ]);
    assert_eq!(o.status.code(), Some(EXIT_CONFIG), "{}", stderr(&o));
}
