//! Smoke test of the benchmark tooling (not a timed test): `bench-upstream http` answers a
//! one-second `loadgen` run with two workers, for `tools/call` and `tools/list`, without errors.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Upstream(Child);

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_upstream() -> (Upstream, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bench-upstream"))
        .args(["http", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start bench-upstream");
    let stdout = child.stdout.take().expect("piped stdout");
    let guard = Upstream(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the listening line");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (guard, url)
}

fn loadgen(url: &str, method: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--url", url, "--concurrency", "2", "--duration", "1"])
        .args(["--warmup", "0.2", "--method", method])
        .output()
        .expect("run loadgen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "loadgen failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line expected: {stdout}");
    serde_json::from_str(lines[0]).expect("a JSON line")
}

#[test]
fn loadgen_against_bench_upstream() {
    let (_upstream, url) = start_upstream();
    let call = loadgen(&url, "call");
    assert!(call["requests"].as_u64().unwrap() > 0, "{call}");
    // One initialize per session (one session by default) plus the warm-up and measured calls.
    assert!(
        call["sent"].as_u64().unwrap() > call["requests"].as_u64().unwrap(),
        "{call}"
    );
    assert_eq!(call["errors"], 0, "{call}");
    assert_eq!(call["concurrency"], 2);
    for key in ["rps", "p50_us", "p90_us", "p99_us", "p999_us", "max_us"] {
        assert!(call[key].as_f64().unwrap() > 0.0, "{key}: {call}");
    }
    let list = loadgen(&url, "list");
    assert!(list["requests"].as_u64().unwrap() > 0, "{list}");
    assert_eq!(list["errors"], 0, "{list}");
    assert_eq!(list["list_tools"], 220, "{list}");
}
