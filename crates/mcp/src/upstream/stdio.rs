//! A stdio MCP server as a child process of one session (or of `wrap`): newline-delimited
//! JSON-RPC on its stdin and stdout; the process itself (its group, its stderr) is a
//! [`ChildProcess`], as for the supervised shared child.

use super::bounded::{BoundedReceiver, bounded};
use super::lines::LineReader;
use super::process::ChildProcess;
use super::stdin_queue::{StdinQueue, WriterEnd};
use super::{PeerLimits, UpstreamError};
use bytes::Bytes;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::fmt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::io::BufReader;
use tokio::sync::{oneshot, watch};

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

/// Lines of a child's stderr kept, to log when it dies unasked.
const STDERR_TAIL: usize = 20;

/// How a child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub status: Option<ExitStatus>,
    /// Why the gateway ended it, when it did so without being asked to.
    pub cut_off: Option<String>,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.cut_off, self.status) {
            (Some(why), _) => write!(f, "cut off by the gateway: {why}"),
            (None, Some(status)) => write!(f, "{status}"),
            (None, None) => f.write_str("exit status unknown"),
        }
    }
}

/// A running child with the queue to its stdin and a task reading its stdout; a keeper task
/// waits for it to exit and reaps it, whenever that happens. Dropping it kills the child's
/// process group.
#[derive(Debug)]
pub struct StdioChild {
    input: StdinQueue,
    pid: Option<u32>,
    exit: watch::Receiver<Option<Exit>>,
    /// Asks the keeper to stop the child, with a grace period; dropped, it kills the child.
    stop: Mutex<Option<oneshot::Sender<Duration>>>,
}

impl StdioChild {
    /// [`StdioChild::spawn_limited`] with the default limits.
    pub fn spawn(spec: &StdioSpec) -> Result<(StdioChild, BoundedReceiver<Bytes>), UpstreamError> {
        Self::spawn_limited(spec, PeerLimits::default())
    }

    /// Starts the child. Messages it writes to stdout arrive on the returned receiver, one
    /// complete JSON text per item (a line over `limits.max_message_bytes` never does: a
    /// response is replaced by an error for its request, anything else dropped); the receiver
    /// holds at most that many bytes, and ends when the child closes stdout.
    pub fn spawn_limited(
        spec: &StdioSpec,
        limits: PeerLimits,
    ) -> Result<(StdioChild, BoundedReceiver<Bytes>), UpstreamError> {
        let (process, pipes) = ChildProcess::spawn(spec, STDERR_TAIL)?;
        let (tx, rx) = bounded(limits.max_message_bytes);
        let server: std::sync::Arc<str> = spec.server.as_str().into();
        let reading = server.clone();
        tokio::spawn(async move {
            let stdout = BufReader::with_capacity(64 * 1024, pipes.stdout);
            let mut lines = LineReader::new(stdout, limits.max_message_bytes);
            loop {
                match lines.next_message(&reading).await {
                    Ok(Some(message)) => {
                        if tx.send(message).await.is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(server = %reading, error = %e, "reading from stdio server failed");
                        break;
                    }
                }
            }
        });
        let (input, writer) = StdinQueue::start(
            server.clone(),
            pipes.stdin,
            limits.stdin_queue_bytes,
            limits.write_timeout,
        );
        let pid = process.pid();
        let (exit_tx, exit) = watch::channel(None);
        let (stop, stop_rx) = oneshot::channel();
        tokio::spawn(keep(
            process,
            writer,
            stop_rx,
            input.clone(),
            exit_tx,
            server,
        ));
        Ok((
            StdioChild {
                input,
                pid,
                exit,
                stop: Mutex::new(Some(stop)),
            },
            rx,
        ))
    }

    /// Queues one message (a JSON text without newlines) for the child's stdin. Fails when its
    /// stdin is closed, or when the child is not reading and its queue is full.
    pub async fn send(&self, message: &[u8]) -> Result<(), UpstreamError> {
        self.input.send(Bytes::copy_from_slice(message))
    }

    /// Waits for the child to exit (it is reaped by then).
    pub async fn wait(&self) -> Option<ExitStatus> {
        self.wait_exit().await.status
    }

    /// How the child ended, once it has.
    pub async fn wait_exit(&self) -> Exit {
        let mut exit = self.exit.clone();
        let ended = exit.wait_for(Option::is_some).await.map(|e| e.clone());
        ended.ok().flatten().unwrap_or(Exit {
            status: None,
            cut_off: None,
        })
    }

    /// How the child ended, as it happens: `None` while it runs.
    pub fn exit(&self) -> watch::Receiver<Option<Exit>> {
        self.exit.clone()
    }

    /// Closes the child's stdin: a stdio server's signal to finish.
    pub async fn close_stdin(&self) {
        self.input.close();
    }

    /// Closes stdin (the polite way to end a stdio server), waits up to `grace`, then ends the
    /// whole process group. Returns the exit status when known.
    pub async fn shutdown(&self, grace: Duration) -> Option<std::process::ExitStatus> {
        let stop = self
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(stop) = stop {
            let _ = stop.send(grace);
        }
        self.wait().await
    }

    /// Sends a signal to the child's whole process group (its own children included), while
    /// it runs.
    pub fn kill_group(&self, signal: Signal) {
        if let (Some(pid), None) = (self.pid, self.exit.borrow().as_ref()) {
            let _ = killpg(Pid::from_raw(pid as i32), signal);
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }
}

/// Why the keeper stopped waiting.
enum Ending {
    Exited,
    Asked,
    CutOff(String),
}

/// Waits for the child to exit, to be stopped, or to stop reading its input, and reaps it.
async fn keep(
    mut process: ChildProcess,
    mut writer: tokio::task::JoinHandle<WriterEnd>,
    mut stop: oneshot::Receiver<Duration>,
    input: StdinQueue,
    exit: watch::Sender<Option<Exit>>,
    server: std::sync::Arc<str>,
) {
    let mut writing = true;
    let (status, ending) = loop {
        tokio::select! {
            status = process.wait() => break (status, Ending::Exited),
            asked = &mut stop => {
                input.close();
                let status = match asked {
                    Ok(grace) => process.shutdown(grace).await,
                    // The child's owner is gone: no grace.
                    Err(_) => {
                        process.kill_group(Signal::SIGKILL);
                        process.wait().await
                    }
                };
                break (status, Ending::Asked);
            }
            end = &mut writer, if writing => {
                writing = false;
                if let Some(why) = end.ok().and_then(|e| e.report()) {
                    process.kill_group(Signal::SIGKILL);
                    break (process.wait().await, Ending::CutOff(why));
                }
            }
        }
    };
    // What is left of the group goes with the leader; nothing more is written to it.
    process.kill_group(Signal::SIGKILL);
    input.close();
    let (asked, cut_off) = match ending {
        Ending::Exited => (false, None),
        Ending::Asked => (true, None),
        Ending::CutOff(why) => (false, Some(why)),
    };
    let ended = Exit { status, cut_off };
    if !asked && !status.is_some_and(|s| s.success()) {
        let tail = process.stderr_tail(Duration::from_millis(200)).await;
        let tail = tail.join("\n");
        let tail = crate::secrets::scrub(&tail);
        tracing::warn!(server = %server, exit = %ended, stderr = %tail, "stdio server ended");
    }
    exit.send_replace(Some(ended));
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

    fn limits(max_message_bytes: usize, write_timeout: Duration) -> PeerLimits {
        PeerLimits {
            max_message_bytes,
            stdin_queue_bytes: 256 * 1024,
            write_timeout,
        }
    }

    #[tokio::test]
    async fn a_child_that_exits_by_itself_is_reaped_at_once() {
        let (child, _rx) = StdioChild::spawn(&spec("exit 3")).unwrap();
        let pid = child.pid().unwrap();
        let mut exit = child.exit();
        let ended = tokio::time::timeout(Duration::from_secs(5), exit.wait_for(Option::is_some))
            .await
            .expect("the exit is seen without anyone waiting for it")
            .unwrap()
            .clone()
            .unwrap();
        assert_eq!(ended.status.and_then(|s| s.code()), Some(3));
        assert_eq!(ended.to_string(), "exit status: 3");
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} is still a process (a zombie)"
        );
        assert!(child.send(b"{}").await.is_err());
    }

    #[tokio::test]
    async fn a_child_that_stops_reading_its_input_is_refused_then_cut_off() {
        let (child, _rx) = StdioChild::spawn_limited(
            &spec("sleep 30"),
            limits(1 << 20, Duration::from_millis(300)),
        )
        .unwrap();
        let message = vec![b'x'; 64 * 1024];
        let mut refused = None;
        for _ in 0..64 {
            if let Err(e) = child.send(&message).await {
                refused = Some(e);
                break;
            }
        }
        let refused = refused.expect("the queue filled up");
        assert!(
            matches!(refused, UpstreamError::InputFull { limit: 262_144, .. }),
            "{refused}"
        );
        let ended = tokio::time::timeout(Duration::from_secs(5), child.wait_exit())
            .await
            .expect("cut off");
        let why = ended.to_string();
        assert!(
            why.starts_with(
                "cut off by the gateway: it stopped reading its input: no byte taken for 300ms"
            ),
            "{why}"
        );
    }

    #[tokio::test]
    async fn a_line_over_the_limit_becomes_an_error_for_its_request() {
        let script = r#"printf '{"jsonrpc":"2.0","id":5,"result":"'; head -c 200000 /dev/zero | tr '\0' x; printf '"}\n{"jsonrpc":"2.0","id":6,"result":{}}\n'; sleep 5"#;
        let (child, mut rx) =
            StdioChild::spawn_limited(&spec(script), limits(1000, Duration::from_secs(5))).unwrap();
        let first = rx.recv().await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&first).unwrap();
        assert_eq!(v["id"], 5, "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(
                "server t sent a message of 200036 bytes; this gateway takes at most 1000"
            ),
            "{v}"
        );
        assert_eq!(
            rx.recv().await.unwrap(),
            r#"{"jsonrpc":"2.0","id":6,"result":{}}"#
        );
        child.shutdown(Duration::ZERO).await;
    }
}
