//! Running a peer program to completion under a deadline, capturing what it printed.
//!
//! The program runs in its own process group; when it exits or its time is up the whole group is killed, so a
//! server it spawned cannot keep the test waiting on a pipe.

use std::ffi::OsStr;
use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::child::ChildGuard;

/// How long a peer may run unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A program to run once, with a deadline. Build it with the helpers ([`crate::McpClient`],
/// [`crate::inspector_cli`], [`crate::conformance`]) or [`PeerCommand::new`].
#[derive(Debug)]
pub struct PeerCommand {
    command: Command,
    timeout: Duration,
    stdin: Option<Vec<u8>>,
}

/// What a finished (or killed) peer printed, and how it ended.
#[derive(Debug, Clone)]
pub struct PeerOutput {
    /// The command line, for messages.
    pub command: String,
    /// The exit code; `None` when a signal ended it (always the case after a timeout).
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The deadline passed and the peer was killed.
    pub timed_out: bool,
    pub elapsed: Duration,
}

impl PeerCommand {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Self {
            command: Command::new(program),
            timeout: DEFAULT_TIMEOUT,
            stdin: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// Kill the peer (and its process group) if it runs longer than this.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Bytes written to the peer's stdin, which is then closed (otherwise stdin is empty).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// The command line as it would be typed (for messages).
    pub fn display(&self) -> String {
        let mut line = self.command.get_program().to_string_lossy().into_owned();
        for arg in self.command.get_args() {
            line.push(' ');
            line.push_str(&arg.to_string_lossy());
        }
        line
    }

    /// Runs the peer to completion or to its deadline. Blocks the calling thread.
    ///
    /// # Panics
    /// When the program cannot be started at all.
    pub fn run(mut self) -> PeerOutput {
        let line = self.display();
        let started = Instant::now();
        self.command
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut guard = ChildGuard::spawn(line.clone(), &mut self.command)
            .unwrap_or_else(|e| panic!("cannot start `{line}`: {e}"));
        let child = guard.child_mut();
        let stdin = child.stdin.take();
        let stdout = Capture::start(child.stdout.take());
        let stderr = Capture::start(child.stderr.take());
        if let (Some(mut pipe), Some(bytes)) = (stdin, self.stdin.take()) {
            std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
        }

        let deadline = started + self.timeout;
        let mut timed_out = false;
        while guard.try_status().is_none() {
            if Instant::now() >= deadline {
                timed_out = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let status = guard.kill();
        PeerOutput {
            command: line,
            status: if timed_out {
                None
            } else {
                status.and_then(|s| s.code())
            },
            stdout: stdout.finish(),
            stderr: stderr.finish(),
            timed_out,
            elapsed: started.elapsed(),
        }
    }

    /// [`PeerCommand::run`] on tokio's blocking pool, for async tests whose server runs in the same runtime.
    pub async fn run_async(self) -> PeerOutput {
        tokio::task::spawn_blocking(move || self.run())
            .await
            .expect("the peer runner panicked")
    }
}

/// Collects one pipe on a thread; [`Capture::finish`] waits briefly for the end of the stream, then takes what
/// arrived (a process outside the killed group could otherwise keep the pipe open forever).
struct Capture {
    buffer: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
}

impl Capture {
    fn start(pipe: Option<impl Read + Send + 'static>) -> Self {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let reader = pipe.map(|mut pipe| {
            let buffer = Arc::clone(&buffer);
            std::thread::spawn(move || {
                let mut chunk = [0u8; 8192];
                while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                    buffer
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend_from_slice(&chunk[..n]);
                }
            })
        });
        Self { buffer, reader }
    }

    fn finish(mut self) -> String {
        if let Some(reader) = self.reader.take() {
            let deadline = Instant::now() + Duration::from_secs(2);
            while !reader.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
        let bytes = std::mem::take(&mut *self.buffer.lock().unwrap_or_else(|e| e.into_inner()));
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl PeerOutput {
    /// Exited on its own with code 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// Every stdout line that is a JSON object, in order (other lines are skipped).
    pub fn events(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| l.trim_start().starts_with('{'))
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(Value::is_object)
            .collect()
    }

    /// The JSON-line events whose `"event"` is `name` (`"result"`, `"error"`, `"progress"`, `"tools"`, …).
    pub fn events_named(&self, name: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == name)
            .collect()
    }

    /// The names of the tools the client listed, in order (events `{"event":"tool","name":…}`).
    pub fn tool_names(&self) -> Vec<String> {
        self.events_named("tool")
            .iter()
            .filter_map(|e| e["name"].as_str().map(str::to_owned))
            .collect()
    }

    /// Panics, showing everything the peer printed, unless it exited on its own with `code`.
    #[track_caller]
    pub fn assert_exit(&self, code: i32) -> &Self {
        assert!(
            self.status == Some(code),
            "expected exit code {code}\n{self}"
        );
        self
    }

    /// Panics, showing everything the peer printed, unless it exited with 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        self.assert_exit(0)
    }
}

impl fmt::Display for PeerOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ended = match (self.timed_out, self.status) {
            (true, _) => "timed out and was killed".to_owned(),
            (false, Some(code)) => format!("exited with {code}"),
            (false, None) => "was killed by a signal".to_owned(),
        };
        writeln!(f, "`{}` {ended} after {:.1?}", self.command, self.elapsed)?;
        writeln!(f, "--- stdout\n{}", tail(&self.stdout))?;
        write!(f, "--- stderr\n{}", tail(&self.stderr))
    }
}

/// The last 16 KiB of `text`: enough to see why a peer failed, without flooding the test log.
fn tail(text: &str) -> &str {
    const KEEP: usize = 16 * 1024;
    if text.len() <= KEEP {
        return text;
    }
    let mut start = text.len() - KEEP;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_exit_code() {
        let out = PeerCommand::new("sh")
            .arg("-c")
            .arg("echo '{\"event\":\"x\",\"n\":1}'; echo plain; echo err >&2; exit 3")
            .run();
        assert_eq!(out.status, Some(3));
        assert_eq!(out.events_named("x")[0]["n"], 1);
        assert_eq!(out.events().len(), 1);
        assert_eq!(out.stderr, "err\n");
    }

    #[test]
    fn kills_a_hung_peer_and_its_children_at_the_deadline() {
        let started = Instant::now();
        let out = PeerCommand::new("sh")
            .arg("-c")
            .arg("sleep 30 & echo started; sleep 30")
            .timeout(Duration::from_millis(300))
            .run();
        assert!(out.timed_out && out.status.is_none(), "{out}");
        assert_eq!(out.stdout, "started\n");
        assert!(started.elapsed() < Duration::from_secs(5), "{out}");
    }

    #[test]
    fn feeds_stdin() {
        let out = PeerCommand::new("cat").stdin("hello").run();
        assert_eq!(out.stdout, "hello");
    }
}
