//! A stdio server's process: spawned in its own process group, its stderr logged under the
//! server's name *and* its last lines kept, so that a crash report can say why the server died;
//! the whole group ended with it. Used by the supervised shared child and by
//! [`super::stdio::StdioChild`].

use super::UpstreamError;
use super::child_env;
use super::stdio::StdioSpec;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;

/// A running child. Dropping it kills its whole process group; tokio reaps the leader.
#[derive(Debug)]
pub(crate) struct ChildProcess {
    child: Child,
    pgid: Option<Pid>,
    stderr_task: Option<JoinHandle<()>>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

/// The child's pipes, handed to the tasks that write and read them.
#[derive(Debug)]
pub(crate) struct Pipes {
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
}

impl ChildProcess {
    /// Starts the child with piped stdio; keeps the last `tail_lines` lines of its stderr.
    pub(crate) fn spawn(
        spec: &StdioSpec,
        tail_lines: usize,
    ) -> Result<(ChildProcess, Pipes), UpstreamError> {
        let mut cmd = Command::new(&spec.command);
        // A clean environment: never the gateway's own (see `child_env`).
        cmd.args(&spec.args)
            .env_clear()
            .envs(child_env::for_child(
                std::env::vars_os(),
                &spec.inherit_env,
                &spec.env,
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(cwd) = &spec.cwd {
            cmd.current_dir(cwd);
        }
        let spawn_error = |reason: String| UpstreamError::Spawn {
            command: spec.command.clone(),
            reason,
        };
        let mut child = cmd.spawn().map_err(|e| spawn_error(e.to_string()))?;
        let pgid = child.id().map(|id| Pid::from_raw(id as i32));
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(spawn_error("the child's stdio was not piped".into()));
        };
        let stderr_tail = Arc::new(Mutex::new(VecDeque::with_capacity(tail_lines)));
        let tail = stderr_tail.clone();
        let server = spec.server.clone();
        let stderr_task = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(target: "toolgate::upstream::stderr", server = %server, "{}", crate::secrets::scrub(&line));
                let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
                if tail.len() >= tail_lines {
                    tail.pop_front();
                }
                if tail_lines > 0 {
                    tail.push_back(line);
                }
            }
        });
        Ok((
            ChildProcess {
                child,
                pgid,
                stderr_task: Some(stderr_task),
                stderr_tail,
            },
            Pipes { stdin, stdout },
        ))
    }

    /// The leader's process id, which is also the process group id.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.pgid.map(|p| p.as_raw() as u32)
    }

    /// Waits for the leader to exit and reaps it. Cancel-safe.
    pub(crate) async fn wait(&mut self) -> Option<ExitStatus> {
        self.child.wait().await.ok()
    }

    /// Sends a signal to the whole process group (grandchildren included).
    pub(crate) fn kill_group(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            let _ = killpg(pgid, signal);
        }
    }

    /// Ends the child after its stdin was closed: waits `grace`, then SIGTERM, then SIGKILL,
    /// reaping the leader and killing what is left of the group.
    pub(crate) async fn shutdown(&mut self, grace: Duration) -> Option<ExitStatus> {
        let mut status = tokio::time::timeout(grace, self.wait())
            .await
            .ok()
            .flatten();
        if status.is_none() {
            self.kill_group(Signal::SIGTERM);
            status = tokio::time::timeout(Duration::from_millis(500), self.wait())
                .await
                .ok()
                .flatten();
        }
        self.kill_group(Signal::SIGKILL);
        if status.is_none() {
            status = self.wait().await;
        }
        status
    }

    /// The last lines the child wrote to stderr. Waits up to `settle` for the pipe to close so
    /// that the lines written just before a crash are included.
    pub(crate) async fn stderr_tail(&mut self, settle: Duration) -> Vec<String> {
        if let Some(task) = self.stderr_task.as_mut() {
            if tokio::time::timeout(settle, task).await.is_ok() {
                self.stderr_task = None;
            }
        }
        let tail = self
            .stderr_tail
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        tail.iter().cloned().collect()
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        // The group, not just the leader: `npx` and shell wrappers leave grandchildren otherwise.
        self.kill_group(Signal::SIGKILL);
        if let Some(task) = self.stderr_task.take() {
            task.abort();
        }
    }
}
