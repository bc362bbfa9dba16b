//! The audit log on its worst day, against the real binary in front of the Twenty-like server:
//! a full disk (a small tmpfs), a read-only store (its files made immutable), a store locked by
//! another connection, and SIGKILL in the middle of a burst in strict durability. Each fault must
//! refuse tool calls while records cannot be written (`/readyz` says so), recover by itself once
//! the store does, and lose no record; the kill switch works while the store is locked. Each test
//! prints its figures. These tests mount file systems and change file attributes: they run as
//! root (as CI does) and fail, saying so, when they cannot.

mod common;

use common::{RawSession, Toolgate, ok, stdout, toml_array, toml_str};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use toolgate_testkit::{ChildGuard, twenty_stdio_command};

const TOOL: &str = "findManyCompanies";
/// How long a fault may take to show, or the gateway to recover from it.
const WITHIN: Duration = Duration::from_secs(30);

/// The gateway in front of the Twenty-like server, with `gateway` lines added to `[gateway]`
/// and `audit` lines to `[audit]` (a short `max_lag`, so that the tests are quick).
fn start(gateway: &str, audit: &str) -> Toolgate {
    start_with_command(gateway, audit, &twenty_stdio_command())
}

fn start_with_command(gateway: &str, audit: &str, command: &[String]) -> Toolgate {
    let config = format!(
        "{gateway}\n\n[audit]\nmax_lag = \"1s\"\n{audit}\n\n[servers.crm]\ncommand = {}\nargs = {}\n",
        toml_str(&command[0]),
        toml_array(&command[1..]),
    );
    Toolgate::start(&config, &[])
}

/// How a tool call ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Ok,
    /// Refused because the audit log could not record it.
    Unrecorded,
    /// Refused by the kill switch.
    Stopped,
}

async fn call(s: &RawSession, id: u64, args: Value) -> Seen {
    let (status, answer) = s.call(id, TOOL, args).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{answer}");
    if answer["result"]["content"][0]["text"] == format!("{TOOL} ok") {
        return Seen::Ok;
    }
    let error = answer["error"]["message"].as_str().unwrap_or_default();
    if error.contains("cannot record this call in its audit log") {
        assert_eq!(answer["error"]["code"], -32003, "{answer}");
        return Seen::Unrecorded;
    }
    let text = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    if text.contains("kill switch") {
        return Seen::Stopped;
    }
    panic!("unexpected answer: {answer}");
}

/// `/readyz`: its status, and whether it says the audit log is failing.
async fn readyz(gw: &Toolgate) -> (u16, bool) {
    let resp = reqwest::get(format!("{}/readyz", gw.base)).await.unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["ready"].is_boolean() && body["parked"].is_array(),
        "{body}"
    );
    (status, body["audit"] == "failing")
}

/// Tallies of what the client saw.
#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    unrecorded: u64,
    stopped: u64,
}

impl Tally {
    fn add(&mut self, seen: Seen) {
        match seen {
            Seen::Ok => self.ok += 1,
            Seen::Unrecorded => self.unrecorded += 1,
            Seen::Stopped => self.stopped += 1,
        }
    }

    fn total(&self) -> u64 {
        self.ok + self.unrecorded + self.stopped
    }
}

/// Calls until one is refused for want of an audit record and `/readyz` says so.
async fn until_refused(gw: &Toolgate, s: &RawSession, next: &mut u64, t: &mut Tally, args: &Value) {
    let started = Instant::now();
    loop {
        *next += 1;
        let seen = call(s, *next, args.clone()).await;
        t.add(seen);
        if seen == Seen::Unrecorded && readyz(gw).await == (503, true) {
            eprintln!("  refused after {:?}", started.elapsed());
            return;
        }
        assert!(
            started.elapsed() < WITHIN,
            "calls were never refused ({t:?}); log:\n{}",
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Calls until one goes through again and `/readyz` is back to ready.
async fn until_recovered(gw: &Toolgate, s: &RawSession, next: &mut u64, t: &mut Tally) -> Duration {
    let started = Instant::now();
    loop {
        *next += 1;
        let seen = call(s, *next, json!({"limit": 1})).await;
        t.add(seen);
        if seen == Seen::Ok && readyz(gw).await == (200, false) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < WITHIN,
            "the gateway did not recover ({t:?}); log:\n{}",
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stops the gateway gracefully, then checks that the chain is intact and that every call the
/// client made has its record; returns the number of records of the tool.
fn stop_and_count(gw: &mut Toolgate, store: Option<&str>, t: &Tally) -> u64 {
    let status = gw.stop();
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        gw.log()
    );
    let with_store = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        if let Some(url) = store {
            all.extend(["--store", url]);
        }
        gw.cli(&all)
    };
    let verified = stdout(&ok(with_store(&["audit", "verify"])));
    assert!(verified.contains("requests: intact"), "{verified}");
    let records = stdout(&ok(with_store(&[
        "audit", "query", "--tool", TOOL, "--limit", "0", "--json",
    ])))
    .lines()
    .count() as u64;
    assert_eq!(
        records,
        t.total(),
        "one record per call, none lost ({t:?}); log:\n{}",
        gw.log()
    );
    records
}

/// A tmpfs of `size`, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs at {} (the full-disk test needs root, as CI has): {}",
            dir.path().display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Fills the file system: writes `filler` until no byte fits.
    fn fill(&self) -> u64 {
        let mut f = std::fs::File::create(self.path("filler")).unwrap();
        let chunk = vec![0x5a_u8; 64 * 1024];
        let mut written = 0;
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
        let _ = f.sync_all();
        written
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_calls_until_space_is_freed_and_loses_no_record() {
    let disk = Tmpfs::mount("24m");
    let url = format!("sqlite://{}", disk.path("toolgate.db").display());
    let mut gw = start(
        &format!("store = {}", toml_str(&url)),
        "arguments = \"values\"",
    );
    let s = RawSession::open(&gw.url("crm"), None).await.unwrap();
    let (mut next, mut t) = (0, Tally::default());
    for _ in 0..5 {
        next += 1;
        t.add(call(&s, next, json!({"limit": 1})).await);
    }
    assert_eq!(t.ok, 5);
    let filled = disk.fill();
    // Records of 64 KiB each need new pages at once.
    let big = json!({"limit": 1, "note": "x".repeat(64 * 1024)});
    until_refused(&gw, &s, &mut next, &mut t, &big).await;
    let before = t.total();
    for _ in 0..10 {
        next += 1;
        t.add(call(&s, next, big.clone()).await);
    }
    assert_eq!(t.total() - before, 10);
    assert!(t.unrecorded >= 10, "every call refused while full: {t:?}");
    std::fs::remove_file(disk.path("filler")).unwrap();
    let recovered = until_recovered(&gw, &s, &mut next, &mut t).await;
    let records = stop_and_count(&mut gw, Some(&url), &t);
    eprintln!(
        "full disk: filled {} KiB; {} calls: {} ran, {} refused unrecorded; recovered {:?} after space was freed; {records} records, 0 lost",
        filled / 1024,
        t.total(),
        t.ok,
        t.unrecorded,
        recovered
    );
}

/// `chattr +i`/`-i` on `files` (immutable: not even root can write them, through a descriptor
/// already open or a new one).
fn immutable(files: &[PathBuf], on: bool) {
    let out = Command::new("chattr")
        .arg(if on { "+i" } else { "-i" })
        .args(files)
        .output()
        .expect("run chattr");
    assert!(
        out.status.success(),
        "chattr failed (the read-only test needs root and a file system with the immutable attribute): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_store_refuses_calls_until_writable_and_loses_no_record() {
    let mut gw = start("", "");
    let s = RawSession::open(&gw.url("crm"), None).await.unwrap();
    let (mut next, mut t) = (0, Tally::default());
    for _ in 0..5 {
        next += 1;
        t.add(call(&s, next, json!({"limit": 1})).await);
    }
    // Let those records reach the file, so that the log exists.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let files = [gw.path("toolgate.db"), gw.path("toolgate.db-wal")];
    immutable(&files, true);
    // Undo it even if an assertion fails, or the temporary folder could not be removed.
    struct Writable([PathBuf; 2]);
    impl Drop for Writable {
        fn drop(&mut self) {
            let _ = Command::new("chattr").arg("-i").args(&self.0).status();
        }
    }
    let undo = Writable(files.clone());
    until_refused(&gw, &s, &mut next, &mut t, &json!({"limit": 1})).await;
    for _ in 0..10 {
        next += 1;
        assert_eq!(call(&s, next, json!({"limit": 1})).await, Seen::Unrecorded);
        t.unrecorded += 1;
    }
    immutable(&files, false);
    drop(undo);
    let recovered = until_recovered(&gw, &s, &mut next, &mut t).await;
    let records = stop_and_count(&mut gw, None, &t);
    eprintln!(
        "read-only store: {} calls: {} ran, {} refused unrecorded; recovered {recovered:?} after it was writable; {records} records, 0 lost",
        t.total(),
        t.ok,
        t.unrecorded
    );
}

/// A `sqlite3` process holding an exclusive transaction on `db` until [`Lock::release`].
struct Lock {
    child: ChildGuard,
}

impl Lock {
    fn take(db: &Path) -> Lock {
        let mut cmd = Command::new("sqlite3");
        cmd.arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = ChildGuard::spawn("sqlite3", &mut cmd).expect("run sqlite3");
        let stdin = child.child_mut().stdin.as_mut().unwrap();
        stdin
            .write_all(b"BEGIN EXCLUSIVE;\nINSERT INTO kill_switches (scope, target, reason, engaged_at_ms) VALUES ('server', 'lock-holder', NULL, 0);\nSELECT 'locked';\n")
            .unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        BufReader::new(child.child_mut().stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked", "sqlite3 did not take the lock");
        Lock { child }
    }

    fn release(mut self) {
        let stdin = self.child.child_mut().stdin.as_mut().unwrap();
        stdin.write_all(b"ROLLBACK;\n.quit\n").unwrap();
        drop(self.child.child_mut().stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_status().is_none() {
            assert!(Instant::now() < deadline, "sqlite3 did not quit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_store_refuses_calls_the_kill_switch_still_works_and_no_record_is_lost() {
    let mut gw = start("", "");
    let s = RawSession::open(&gw.url("crm"), None).await.unwrap();
    let (mut next, mut t) = (0, Tally::default());
    for _ in 0..5 {
        next += 1;
        t.add(call(&s, next, json!({"limit": 1})).await);
    }
    let lock = Lock::take(&gw.path("toolgate.db"));
    let locked = Instant::now();
    until_refused(&gw, &s, &mut next, &mut t, &json!({"limit": 1})).await;

    // The kill switch, thrown through the admin API while the store is locked, is in force at once.
    let engage = tokio::spawn(
        reqwest::Client::new()
            .post(gw.api_url("/kill-switches"))
            .json(&json!({"scope": "server", "target": "crm", "reason": "incident 7"}))
            .send(),
    );
    let thrown = Instant::now();
    loop {
        next += 1;
        let seen = call(&s, next, json!({"limit": 1})).await;
        t.add(seen);
        if seen == Seen::Stopped {
            break;
        }
        assert!(
            thrown.elapsed() < Duration::from_secs(5),
            "the kill switch did not stop calls while the store was locked"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let in_force = thrown.elapsed();
    let answered = tokio::time::timeout(WITHIN, engage)
        .await
        .expect("the admin API answered")
        .unwrap()
        .unwrap();
    assert_eq!(answered.status(), reqwest::StatusCode::CREATED);
    let held = locked.elapsed();
    lock.release();

    // Once the store is back, the switch is in the store too: released, calls run again.
    let deadline = Instant::now() + WITHIN;
    loop {
        let list: Value = reqwest::get(gw.api_url("/kill-switches"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if list["kill_switches"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["target"] == "crm")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the switch never reached the store: {list}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let released = reqwest::Client::new()
        .delete(gw.api_url("/kill-switches/server/crm"))
        .send()
        .await
        .unwrap();
    assert_eq!(released.status(), reqwest::StatusCode::OK);
    let recovered = until_recovered(&gw, &s, &mut next, &mut t).await;
    let records = stop_and_count(&mut gw, None, &t);
    eprintln!(
        "locked store: held {held:?}; kill switch in force {in_force:?} after it was thrown; {} calls: {} ran, {} refused unrecorded, {} stopped by the switch; recovered {recovered:?}; {records} records, 0 lost",
        t.total(),
        t.ok,
        t.unrecorded,
        t.stopped
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_burst_in_strict_durability_leaves_no_call_without_a_record() {
    const CLIENTS: u64 = 16;
    // The upstream records every line it is sent before it reads it.
    let seen_dir = tempfile::tempdir().unwrap();
    let seen_log = seen_dir.path().join("upstream.jsonl");
    let twenty = twenty_stdio_command();
    let pipeline = format!(
        "exec /usr/bin/tee -a '{}' | exec '{}' {}",
        seen_log.display(),
        twenty[0],
        twenty[1..].join(" ")
    );
    let mut gw = start_with_command(
        "",
        "durability = \"strict\"\narguments = \"values\"",
        &["/bin/sh".to_owned(), "-c".to_owned(), pipeline],
    );
    let s = RawSession::open(&gw.url("crm"), None).await.unwrap();
    assert_eq!(
        call(&s, 1, json!({"limit": 1, "nonce": "warm-up"})).await,
        Seen::Ok
    );

    let stop = Arc::new(AtomicBool::new(false));
    let answered_ok = Arc::new(Nonces::default());
    let sent = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|w| {
            let (s, stop, ok, sent) = (s.clone(), stop.clone(), answered_ok.clone(), sent.clone());
            tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let nonce = format!("w{w}-{i}");
                    sent.fetch_add(1, Ordering::Relaxed);
                    let body = json!({"limit": 1, "nonce": nonce});
                    let params = json!({"name": TOOL, "arguments": body});
                    // One session for all: ids must not collide while in flight.
                    let id = w * 1_000_000 + i;
                    let req = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params});
                    let resp = s
                        .http
                        .post(&s.url)
                        .header("content-type", "application/json")
                        .header("accept", "application/json, text/event-stream")
                        .header("mcp-session-id", &s.id)
                        .body(req.to_string())
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await;
                    let Ok(resp) = resp else { break };
                    let Ok(text) = resp.text().await else { break };
                    if text.contains(&format!("{TOOL} ok")) {
                        ok.insert(nonce);
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(gw.guard.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let killed = Instant::now();
    while gw.guard.try_status().is_none() {
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "SIGKILL did not stop the gateway"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        tokio::time::timeout(Duration::from_secs(10), w)
            .await
            .expect("a client hung")
            .unwrap();
    }
    // Let the upstream's pipeline see its end of input.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let upstream: HashSet<String> = std::fs::read_to_string(&seen_log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["method"] == "tools/call")
        .filter_map(|m| {
            m["params"]["arguments"]["nonce"]
                .as_str()
                .map(str::to_owned)
        })
        .filter(|n| n != "warm-up")
        .collect();
    assert!(
        upstream.len() > 50,
        "too few calls reached the upstream: {}",
        upstream.len()
    );

    // After the crash: the chain verifies, and every call the upstream saw has a record.
    let verified = stdout(&ok(gw.cli(&["audit", "verify"])));
    assert!(verified.contains("requests: intact"), "{verified}");
    let calls: Vec<Value> =
        stdout(&ok(gw.cli(&[
            "audit", "query", "--tool", TOOL, "--limit", "0", "--json",
        ])))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let recorded: HashSet<String> = calls
        .iter()
        .filter_map(|r| r["args"]["nonce"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        recorded.len(),
        calls.len(),
        "one record per call in the query"
    );
    let unrecorded: Vec<&String> = upstream.difference(&recorded).collect();
    let told_ok = answered_ok.take();
    let ok_unrecorded = told_ok.iter().filter(|n| !recorded.contains(*n)).count();
    let without_outcome = calls.iter().filter(|r| r["phase"] == "request").count();
    let mut outcomes = std::collections::BTreeMap::<String, u64>::new();
    for r in &calls {
        let key = format!("{} {}", r["decision"], r["upstream_status"]);
        *outcomes.entry(key).or_default() += 1;
    }
    eprintln!("  records by decision and upstream status: {outcomes:?}");

    assert!(
        unrecorded.is_empty(),
        "calls the upstream ran without a record: {unrecorded:?}"
    );
    assert_eq!(ok_unrecorded, 0, "calls answered ok without a record");
    // Those without an outcome are named by verify.
    if without_outcome > 0 {
        assert!(verified.contains("without an outcome"), "{verified}");
    }
    eprintln!(
        "SIGKILL mid-burst (strict, {CLIENTS} clients): {} calls sent, {} reached the upstream, {} answered ok; {} recorded ({without_outcome} without an outcome); 0 calls without a record",
        sent.load(Ordering::Relaxed),
        upstream.len(),
        told_ok.len(),
        recorded.len()
    );
}

/// The nonces of the calls answered ok, shared by the burst's clients.
#[derive(Default)]
struct Nonces(std::sync::Mutex<HashSet<String>>);

impl Nonces {
    fn insert(&self, s: String) {
        self.0.lock().unwrap().insert(s);
    }

    fn take(&self) -> HashSet<String> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_rewritten_and_resealed_is_caught_by_the_signed_checkpoints() {
    use toolgate_store::audit::chain::link_hash;
    use toolgate_store::audit::{AuditRecord, Chained, GENESIS_HASH};

    let mut gw = start("", "checkpoint_every = 10");
    let s = RawSession::open(&gw.url("crm"), None).await.unwrap();
    for i in 1..=40 {
        assert_eq!(call(&s, i, json!({"limit": 1})).await, Seen::Ok);
        // Four groups of ten, each written in its own batches: a checkpoint after each.
        if i % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let status = gw.stop();
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let checkpoints = gw.path("toolgate.audit.checkpoints.jsonl");
    let published = std::fs::read_to_string(&checkpoints)
        .unwrap()
        .lines()
        .count();
    // One after each group of ten, and (if records came after the last) one when it stopped.
    assert!(published >= 3, "{published} checkpoints");
    let file = checkpoints.to_str().unwrap();
    let clean = stdout(&ok(gw.cli(&["audit", "verify", "--checkpoints", file])));
    assert!(clean.contains(", 0 failed"), "{clean}");

    // Someone who can write the database but has not the key: edit a record, cut the last one,
    // and re-seal the whole chain with plain links so that it is consistent again.
    let exported = stdout(&ok(gw.cli(&["audit", "export"])));
    let mut records: Vec<Chained<AuditRecord>> = exported
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = records.pop().unwrap().seq;
    let victim = records
        .iter()
        .position(|r| r.record.tool.as_deref() == Some(TOOL))
        .unwrap()
        + 20;
    records[victim].record.tool = Some("deleteManyCompanies".into());
    let victim_seq = records[victim].seq;
    let mut sql = String::from("BEGIN;\n");
    let mut prev = GENESIS_HASH.to_owned();
    for r in &records {
        let hash = link_hash(&prev, r.seq, &r.record).unwrap();
        sql.push_str(&format!(
            "UPDATE audit_records SET prev_hash = '{prev}', hash = '{hash}', key_id = NULL WHERE seq = {};\n",
            r.seq
        ));
        prev = hash;
    }
    sql.push_str(&format!(
        "UPDATE audit_records SET tool = 'deleteManyCompanies' WHERE seq = {victim_seq};\n\
         DELETE FROM audit_records WHERE seq = {last};\n\
         UPDATE audit_heads SET seq = {}, hash = '{prev}' WHERE stream = 'requests';\nCOMMIT;\n",
        last - 1
    ));
    let forged = Command::new("sqlite3")
        .arg(gw.path("toolgate.db"))
        .arg(&sql)
        .output()
        .expect("run sqlite3");
    assert!(
        forged.status.success(),
        "{}",
        String::from_utf8_lossy(&forged.stderr)
    );

    // The chain alone is consistent again: only the missing key gives it away.
    let alone = stdout(&ok(gw.cli(&["audit", "verify", "--stream", "requests"])));
    assert!(alone.contains("requests: intact"), "{alone}");
    assert!(
        alone.contains("no record is sealed with the audit key"),
        "{alone}"
    );
    // The checkpoints, signed outside the database, catch both the rewrite and the cut.
    let caught = gw.cli(&["audit", "verify", "--checkpoints", file]);
    let out = stdout(&caught);
    assert_eq!(caught.status.code(), Some(1), "{out}");
    assert!(out.contains("BROKEN at checkpoint"), "{out}");
    assert!(out.contains("were rewritten"), "{out}");
    assert!(out.contains(&format!("record {last} is missing")), "{out}");
    let failed = out
        .lines()
        .filter(|l| l.contains("BROKEN at checkpoint"))
        .count();
    eprintln!(
        "forged chain: {} records re-sealed without the key, record {victim_seq} edited, record {last} cut; verify alone: intact; verify --checkpoints: {failed} of {published} checkpoints failed, exit 1",
        records.len()
    );
}
