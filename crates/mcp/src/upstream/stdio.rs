//! A stdio MCP server as a child process of one session (or of `wrap`): newline-delimited
//! JSON-RPC on its stdin and stdout; the process itself (its group, its stderr) is a
//! [`ChildProcess`], as for the supervised shared child.

use super::UpstreamError;
use super::process::ChildProcess;
use bytes::Bytes;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::ChildStdin;
use tokio::sync::{Mutex, mpsc};

/// How to start a stdio server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdioSpec {
    /// The server's name, used to tag its log lines.
    pub server: String,
    pub command: String,
    pub args: Vec<String>,
    /// Set for the child, over what it inherits.
    pub env: Vec<(String, String)>,
    /// Variables of the gateway's environment the child gets besides the allow-list
    /// ([`super::child_env`]); a `TOOLGATE_*` name is never honoured.
    pub inherit_env: Vec<String>,
    pub cwd: Option<PathBuf>,
}

/// A running child with its stdin for writing and a task reading its stdout. Dropping it kills
/// the child's process group (see [`ChildProcess`]).
#[derive(Debug)]
pub struct StdioChild {
    stdin: Mutex<Option<ChildStdin>>,
    process: Mutex<ChildProcess>,
    pid: Option<u32>,
    server: String,
}

impl StdioChild {
    /// Starts the child. Messages it writes to stdout arrive on the returned receiver, one
    /// complete JSON text per item; the receiver ends when the child closes stdout.
    pub fn spawn(spec: &StdioSpec) -> Result<(StdioChild, mpsc::Receiver<Bytes>), UpstreamError> {
        let (process, pipes) = ChildProcess::spawn(spec, 0)?;
        let (tx, rx) = mpsc::channel(256);
        let server = spec.server.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::with_capacity(64 * 1024, pipes.stdout);
            let mut line = Vec::with_capacity(4096);
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(server = %server, error = %e, "reading from stdio server failed");
                        break;
                    }
                }
                let text = trim_line(&line);
                if text.is_empty() {
                    continue;
                }
                if tx.send(Bytes::copy_from_slice(text)).await.is_err() {
                    break;
                }
            }
        });
        let pid = process.pid();
        Ok((
            StdioChild {
                stdin: Mutex::new(Some(pipes.stdin)),
                process: Mutex::new(process),
                pid,
                server: spec.server.clone(),
            },
            rx,
        ))
    }

    /// Writes one message (a JSON text without newlines) followed by a newline.
    pub async fn send(&self, message: &[u8]) -> Result<(), UpstreamError> {
        let mut guard = self.stdin.lock().await;
        let Some(stdin) = guard.as_mut() else {
            return Err(UpstreamError::Closed(format!(
                "stdin of {} is closed",
                self.server
            )));
        };
        let mut framed = Vec::with_capacity(message.len() + 1);
        framed.extend_from_slice(message);
        framed.push(b'\n');
        let result = async {
            stdin.write_all(&framed).await?;
            stdin.flush().await
        }
        .await;
        result.map_err(|e| UpstreamError::Closed(format!("{}: {e}", self.server)))
    }

    /// Waits for the child to exit.
    pub async fn wait(&self) -> Option<std::process::ExitStatus> {
        self.process.lock().await.wait().await
    }

    /// Closes the child's stdin: a stdio server's signal to finish.
    pub async fn close_stdin(&self) {
        self.stdin.lock().await.take();
    }

    /// Closes stdin (the polite way to end a stdio server), waits up to `grace`, then ends the
    /// whole process group. Returns the exit status when known.
    pub async fn shutdown(&self, grace: Duration) -> Option<std::process::ExitStatus> {
        self.close_stdin().await;
        self.process.lock().await.shutdown(grace).await
    }

    /// Sends a signal to the child's whole process group (its own children included).
    pub fn kill_group(&self, signal: Signal) {
        if let Some(pid) = self.pid {
            let _ = killpg(Pid::from_raw(pid as i32), signal);
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }
}

fn trim_line(line: &[u8]) -> &[u8] {
    let mut s = line;
    while let Some((last, rest)) = s.split_last() {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let Some((first, rest)) = s.split_first() {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(script: &str) -> StdioSpec {
        StdioSpec {
            server: "t".into(),
            command: "sh".into(),
            args: vec!["-c".into(), script.into()],
            env: vec![],
            inherit_env: vec![],
            cwd: None,
        }
    }

    #[tokio::test]
    async fn echoes_lines_and_ends_with_stdout() {
        let (child, mut rx) = StdioChild::spawn(&spec("cat")).unwrap();
        child.send(br#"{"a":1}"#).await.unwrap();
        assert_eq!(rx.recv().await.unwrap(), Bytes::from_static(br#"{"a":1}"#));
        let status = child.shutdown(Duration::from_secs(2)).await.unwrap();
        assert!(status.success());
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn shutdown_kills_a_child_that_ignores_stdin_and_its_grandchildren() {
        let (child, _rx) = StdioChild::spawn(&spec("sleep 30 & sleep 30; wait")).unwrap();
        let pgid = child.pid().unwrap() as i32;
        let status = child.shutdown(Duration::from_millis(100)).await;
        assert!(status.is_some());
        // No process of the group remains (the orphaned grandchild is reaped by init).
        let mut gone = false;
        for _ in 0..50 {
            if killpg(Pid::from_raw(pgid), None).is_err() {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(gone, "process group {pgid} still has members");
    }

    #[tokio::test]
    async fn spawn_error_names_the_command() {
        let err = StdioChild::spawn(&StdioSpec {
            command: "/nonexistent/server".into(),
            ..spec("")
        })
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/server"));
    }
}
