//! One stdio server shared by every client session, kept alive by the gateway: started lazily (or
//! eagerly), initialized by the gateway itself, restarted with exponential backoff when it exits,
//! and parked after a crash loop until an operator calls [`SupervisedStdio::restart`].
//!
//! The client-facing side (requests, notifications, answers to server requests, all renamed so
//! that sessions do not collide) is in [`super::shared`]; the routing table in [`super::mux`].

use super::client_caps::ClientCapabilities;
use super::lines::LineReader;
use super::mux::Mux;
use super::process::ChildProcess;
use super::stdin_queue::StdinQueue;
use super::stdio::StdioSpec;
use super::{PeerLimits, UpstreamError};
use crate::jsonrpc::{Kind, Message};
use bytes::Bytes;
use nix::sys::signal::Signal;
use std::collections::VecDeque;
use std::fmt;
use std::process::ExitStatus;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::io::BufReader;
use tokio::process::ChildStdout;
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How the gateway runs a shared stdio server.
#[derive(Debug, Clone)]
pub struct SupervisorOptions {
    /// Start the child at once instead of on first use.
    pub eager: bool,
    /// The `protocolVersion` the gateway asks for in its `initialize`.
    pub protocol_version: String,
    /// The `clientInfo` the gateway presents.
    pub client_info: serde_json::Value,
    /// The client `capabilities` the gateway declares: only what every session sharing the
    /// child can honour (by default none). The server requests the child may send are those
    /// these allow; any other is answered with an error.
    pub capabilities: serde_json::Value,
    /// How long the child may take to answer `initialize`.
    pub initialize_timeout: Duration,
    /// How long a request waits for a starting or restarting child before it fails.
    pub ready_timeout: Duration,
    /// First restart delay; doubled after each crash within `crash_window`, up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// This many crashes within `crash_window` park the server.
    pub crash_limit: usize,
    pub crash_window: Duration,
    /// How long a stopping child may take to exit after its stdin closes, before SIGTERM.
    pub stop_grace: Duration,
    /// Lines of stderr kept for the parked reason.
    pub stderr_tail_lines: usize,
    /// Capacity of the broadcast of unsolicited server messages.
    pub events_capacity: usize,
    /// The largest message the child may write, what may wait for one request's client, what
    /// may wait for the child's stdin, and how long the child may take nothing of it.
    pub limits: PeerLimits,
}

impl Default for SupervisorOptions {
    fn default() -> Self {
        SupervisorOptions {
            eager: false,
            protocol_version: "2025-11-25".into(),
            client_info: serde_json::json!({
                "name": "toolgate",
                "version": env!("CARGO_PKG_VERSION"),
            }),
            capabilities: serde_json::json!({}),
            initialize_timeout: Duration::from_secs(30),
            ready_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            crash_limit: 5,
            crash_window: Duration::from_secs(60),
            stop_grace: Duration::from_secs(2),
            stderr_tail_lines: 20,
            events_capacity: 256,
            limits: PeerLimits::default(),
        }
    }
}

/// Where a shared server is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamStatus {
    /// Not started yet: it starts on first use.
    Idle,
    /// Spawning and initializing.
    Starting,
    Running {
        pid: u32,
        since: SystemTime,
    },
    /// It exited; the next start is `retry_in` away. `attempt` counts recent crashes.
    Restarting {
        attempt: u32,
        retry_in: Duration,
    },
    /// It crashed too often; it stays down until [`SupervisedStdio::restart`].
    Parked {
        reason: String,
    },
    /// Stopped for good.
    Stopped,
}

impl fmt::Display for UpstreamStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamStatus::Idle => f.write_str("idle"),
            UpstreamStatus::Starting => f.write_str("starting"),
            UpstreamStatus::Running { pid, .. } => write!(f, "running as pid {pid}"),
            UpstreamStatus::Restarting { attempt, retry_in } => {
                write!(f, "restarting (attempt {attempt}, in {retry_in:?})")
            }
            UpstreamStatus::Parked { reason } => write!(f, "parked: {reason}"),
            UpstreamStatus::Stopped => f.write_str("stopped"),
        }
    }
}

/// Why a shared stdio server could not carry a message. Converted into [`UpstreamError`] at the
/// public API, keeping this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupervisedStdioError {
    /// The reason (the child's last stderr lines) is for operators (the admin API and the
    /// log), never for the client this error reaches.
    #[error(
        "upstream {server} is parked after repeated crashes; the gateway's operator can see why in its log and admin API"
    )]
    Parked { server: String, reason: String },
    #[error("upstream {server} is stopped")]
    Stopped { server: String },
    #[error("upstream {server} did not become ready within {waited:?} ({status})")]
    NotReady {
        server: String,
        waited: Duration,
        status: String,
    },
    #[error("upstream {server} exited while the request was in flight ({exit})")]
    Exited { server: String, exit: String },
    #[error("upstream {server} has exited")]
    Closed { server: String },
    #[error("cannot relay a message to upstream {server}: {reason}")]
    InvalidMessage { server: String, reason: String },
    #[error("upstream {server} has no request with id {id} waiting for an answer")]
    UnknownServerRequest { server: String, id: String },
}

impl From<SupervisedStdioError> for UpstreamError {
    fn from(e: SupervisedStdioError) -> Self {
        match e {
            SupervisedStdioError::InvalidMessage { .. }
            | SupervisedStdioError::UnknownServerRequest { .. } => {
                UpstreamError::Protocol(e.to_string())
            }
            _ => UpstreamError::Closed(e.to_string()),
        }
    }
}

/// A stdio server shared by many client sessions. Dropping it kills the child's process group;
/// [`SupervisedStdio::stop`] ends it politely and waits until it is reaped.
pub struct SupervisedStdio {
    pub(crate) inner: Arc<Inner>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for SupervisedStdio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisedStdio")
            .field("server", &self.inner.server)
            .field("status", &*self.inner.status.borrow())
            .finish()
    }
}

pub(crate) struct Inner {
    pub(crate) server: Arc<str>,
    spec: StdioSpec,
    pub(crate) options: SupervisorOptions,
    pub(crate) next_id: Arc<AtomicU64>,
    pub(crate) status: watch::Sender<UpstreamStatus>,
    /// The running child, set before the status says `Running`, cleared before its table closes.
    pub(crate) current: Mutex<Option<Arc<Run>>>,
    initialize_result: Mutex<Option<Bytes>>,
    pub(crate) events: broadcast::Sender<Bytes>,
    /// Wakes an idle supervisor: first use of a lazy server.
    start: Notify,
    /// Wakes a parked or backing-off supervisor: `restart()`.
    restart: Notify,
    stop: watch::Sender<bool>,
}

/// One run of the child: its routing table and the queue to its stdin.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) mux: Arc<Mux>,
    input: StdinQueue,
}

impl Run {
    /// Queues one message for the child's stdin; refused when the child is not reading and its
    /// queue is full.
    pub(crate) fn send(&self, message: Bytes) -> Result<(), UpstreamError> {
        self.input.send(message)
    }
}

impl SupervisedStdio {
    /// Sets the server up; with `options.eager` it starts at once, otherwise on first use.
    /// Must be called inside a tokio runtime.
    pub fn new(spec: StdioSpec, options: SupervisorOptions) -> SupervisedStdio {
        let (status, _) = watch::channel(UpstreamStatus::Idle);
        let (events, _) = broadcast::channel(options.events_capacity.max(1));
        let (stop, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            server: spec.server.as_str().into(),
            spec,
            options,
            next_id: Arc::new(AtomicU64::new(1)),
            status,
            current: Mutex::new(None),
            initialize_result: Mutex::new(None),
            events,
            start: Notify::new(),
            restart: Notify::new(),
            stop,
        });
        let task = tokio::spawn(supervise(inner.clone()));
        SupervisedStdio {
            inner,
            task: Mutex::new(Some(task)),
        }
    }

    /// The server's configured name.
    pub fn server(&self) -> &str {
        &self.inner.server
    }

    pub fn status(&self) -> UpstreamStatus {
        self.inner.status.borrow().clone()
    }

    /// A receiver of status changes (watch semantics: it always holds the latest status).
    pub fn watch(&self) -> watch::Receiver<UpstreamStatus> {
        self.inner.status.subscribe()
    }

    /// Server messages no request in flight can take (list changes, resource updates, logging
    /// while idle). Server requests never come here: one no single session's call caused is
    /// answered with an error.
    pub fn subscribe(&self) -> broadcast::Receiver<Bytes> {
        self.inner.events.subscribe()
    }

    /// Starts the child if it is idle, and un-parks it (forgetting its crash history) if it is
    /// parked. A restart that is already waiting out its backoff happens at once.
    pub fn restart(&self) {
        match *self.inner.status.borrow() {
            UpstreamStatus::Idle => self.inner.start.notify_one(),
            UpstreamStatus::Parked { .. } | UpstreamStatus::Restarting { .. } => {
                self.inner.restart.notify_one()
            }
            _ => {}
        }
    }

    /// The child's `InitializeResult` (raw JSON of `result`), starting the child if needed.
    /// The gateway answers each client session's `initialize` from it.
    pub async fn initialize_result(&self) -> Result<Bytes, UpstreamError> {
        let deadline = Instant::now() + self.inner.options.ready_timeout;
        self.inner.ready(deadline).await?;
        lock(&self.inner.initialize_result)
            .clone()
            .ok_or_else(|| self.inner.error_closed().into())
    }

    /// Stops the child for good: closes its stdin, waits `stop_grace`, then SIGTERM and SIGKILL
    /// to its process group; returns once it is reaped. Requests in flight get an error.
    pub async fn stop(&self) {
        self.inner.stop.send_replace(true);
        let task = lock(&self.task).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        self.inner.status.send_replace(UpstreamStatus::Stopped);
    }
}

impl Drop for SupervisedStdio {
    fn drop(&mut self) {
        self.inner.stop.send_replace(true);
        if let Some(task) = lock(&self.task).take() {
            // Dropping the task's future drops the child: its group is killed, tokio reaps it.
            task.abort();
        }
    }
}

impl Inner {
    pub(crate) fn error_closed(&self) -> SupervisedStdioError {
        SupervisedStdioError::Closed {
            server: self.server.to_string(),
        }
    }

    fn set_status(&self, status: UpstreamStatus) {
        tracing::info!(server = %self.server, %status, "stdio upstream status");
        self.status.send_replace(status);
    }

    /// The running child, once it is ready. Starts an idle server, waits while it (re)starts
    /// until `deadline`, fails at once when it is parked or stopped.
    pub(crate) async fn ready(&self, deadline: Instant) -> Result<Arc<Run>, SupervisedStdioError> {
        let mut status = self.status.subscribe();
        let started = Instant::now();
        loop {
            let now = status.borrow_and_update().clone();
            match now {
                UpstreamStatus::Idle => self.start.notify_one(),
                UpstreamStatus::Running { .. } => {
                    if let Some(run) = lock(&self.current).clone() {
                        return Ok(run);
                    }
                }
                UpstreamStatus::Parked { reason } => {
                    return Err(SupervisedStdioError::Parked {
                        server: self.server.to_string(),
                        reason,
                    });
                }
                UpstreamStatus::Stopped => {
                    return Err(SupervisedStdioError::Stopped {
                        server: self.server.to_string(),
                    });
                }
                _ => {}
            }
            self.changed(&mut status, deadline, started).await?;
        }
    }

    /// Waits for the status to change; fails when the supervisor is gone or at `deadline`
    /// (having waited since `started`).
    async fn changed(
        &self,
        status: &mut watch::Receiver<UpstreamStatus>,
        deadline: Instant,
        started: Instant,
    ) -> Result<(), SupervisedStdioError> {
        match tokio::time::timeout_at(deadline, status.changed()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(SupervisedStdioError::Stopped {
                server: self.server.to_string(),
            }),
            Err(_) => Err(SupervisedStdioError::NotReady {
                server: self.server.to_string(),
                waited: started.elapsed(),
                status: self.status.borrow().to_string(),
            }),
        }
    }

    /// Waits until `run` is no longer the running child (its input closed: it is going away),
    /// or fails at `deadline`.
    pub(crate) async fn gone(
        &self,
        run: &Arc<Run>,
        deadline: Instant,
    ) -> Result<(), SupervisedStdioError> {
        let mut status = self.status.subscribe();
        let started = Instant::now();
        loop {
            let current = lock(&self.current)
                .as_ref()
                .is_some_and(|c| Arc::ptr_eq(c, run));
            if !current {
                return Ok(());
            }
            self.changed(&mut status, deadline, started).await?;
        }
    }
}

/// How a running child stopped running.
enum Running {
    Exited(Option<ExitStatus>),
    ClosedStdout,
    /// It stopped reading its input.
    CutOff(String),
    Stopped,
}

/// How one run of the child ended.
enum Ended {
    Stopped,
    Crashed(String),
}

async fn supervise(inner: Arc<Inner>) {
    let mut stop = inner.stop.subscribe();
    if !inner.options.eager {
        tokio::select! {
            _ = inner.start.notified() => {}
            _ = stop.wait_for(|s| *s) => return inner.set_status(UpstreamStatus::Stopped),
        }
    }
    let mut crashes: VecDeque<Instant> = VecDeque::new();
    loop {
        inner.set_status(UpstreamStatus::Starting);
        let report = match run_once(&inner, &mut stop).await {
            Ended::Stopped => return inner.set_status(UpstreamStatus::Stopped),
            Ended::Crashed(report) => report,
        };
        let now = Instant::now();
        crashes.push_back(now);
        while crashes
            .front()
            .is_some_and(|t| now.duration_since(*t) > inner.options.crash_window)
        {
            crashes.pop_front();
        }
        let wait = if crashes.len() >= inner.options.crash_limit.max(1) {
            let reason = format!(
                "{report} ({} crashes within {:?})",
                crashes.len(),
                inner.options.crash_window
            );
            tracing::error!(server = %inner.server, %reason, "stdio upstream parked");
            inner.set_status(UpstreamStatus::Parked { reason });
            crashes.clear();
            None
        } else {
            let attempt = crashes.len() as u32;
            let retry_in = backoff(&inner.options, attempt);
            tracing::warn!(server = %inner.server, %report, ?retry_in, "stdio upstream exited; restarting");
            inner.set_status(UpstreamStatus::Restarting { attempt, retry_in });
            Some(retry_in)
        };
        let sleep = async {
            match wait {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            _ = inner.restart.notified() => {}
            _ = stop.wait_for(|s| *s) => return inner.set_status(UpstreamStatus::Stopped),
        }
    }
}

/// `backoff_initial` doubled per recent crash, capped, plus up to 10% jitter.
fn backoff(options: &SupervisorOptions, attempt: u32) -> Duration {
    let doubled = options
        .backoff_initial
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let base = doubled.min(options.backoff_max);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    base + base.mul_f64(f64::from(nanos % 100) / 1000.0)
}

/// Spawns, initializes and watches one run of the child until it exits or is stopped.
async fn run_once(inner: &Arc<Inner>, stop: &mut watch::Receiver<bool>) -> Ended {
    let (mut child, pipes) = match ChildProcess::spawn(&inner.spec, inner.options.stderr_tail_lines)
    {
        Ok(spawned) => spawned,
        Err(e) => return Ended::Crashed(e.to_string()),
    };
    let pid = child.pid().unwrap_or_default();
    let declared = ClientCapabilities::of_value(&inner.options.capabilities.to_string());
    let limits = inner.options.limits;
    let mux = Arc::new(Mux::new(
        inner.server.clone(),
        inner.next_id.clone(),
        declared,
        limits.max_message_bytes,
    ));
    let (input, mut writer) = StdinQueue::start(
        inner.server.clone(),
        pipes.stdin,
        limits.stdin_queue_bytes,
        limits.write_timeout,
    );
    let run = Arc::new(Run {
        mux: mux.clone(),
        input: input.clone(),
    });
    let mut reader = tokio::spawn(read_stdout(
        pipes.stdout,
        mux.clone(),
        input,
        inner.events.clone(),
        limits.max_message_bytes,
    ));

    let exited = |status: Option<ExitStatus>| -> String {
        status.map_or_else(|| "exit status unknown".into(), |s| s.to_string())
    };
    let handshake = tokio::time::timeout(inner.options.initialize_timeout, handshake(inner, &run));
    let failure = tokio::select! {
        result = handshake => match result {
            Ok(Ok(init)) => {
                *lock(&inner.initialize_result) = Some(init);
                None
            }
            Ok(Err(e)) => Some(format!("initialize failed: {e}")),
            Err(_) => Some(format!(
                "no answer to initialize within {:?}",
                inner.options.initialize_timeout
            )),
        },
        status = child.wait() => Some(format!("exited during initialize with {}", exited(status))),
        _ = stop.wait_for(|s| *s) => None,
    };
    if *stop.borrow() {
        return shut_down(inner, &run, &mut child).await;
    }
    if let Some(failure) = failure {
        mux.close(|| inner.error_closed().into());
        child.kill_group(Signal::SIGKILL);
        child.wait().await;
        return Ended::Crashed(with_stderr(failure, &mut child).await);
    }

    *lock(&inner.current) = Some(run.clone());
    inner.set_status(UpstreamStatus::Running {
        pid,
        since: SystemTime::now(),
    });
    let mut writing = true;
    let ended = loop {
        tokio::select! {
            status = child.wait() => break Running::Exited(status),
            _ = &mut reader => break Running::ClosedStdout,
            end = &mut writer, if writing => {
                writing = false;
                if let Some(why) = end.ok().and_then(|e| e.report()) {
                    break Running::CutOff(why);
                }
            }
            _ = stop.wait_for(|s| *s) => break Running::Stopped,
        }
    };
    if *stop.borrow() {
        return shut_down(inner, &run, &mut child).await;
    }
    let exit = match ended {
        Running::Exited(status) => exited(status),
        Running::ClosedStdout => {
            // A server that closed its stdout can never answer again.
            tracing::warn!(server = %inner.server, "stdio upstream closed its stdout; killing it");
            child.kill_group(Signal::SIGKILL);
            exited(child.wait().await)
        }
        Running::CutOff(why) => {
            child.kill_group(Signal::SIGKILL);
            child.wait().await;
            format!("cut off by the gateway: {why}")
        }
        Running::Stopped => return shut_down(inner, &run, &mut child).await,
    };
    lock(&inner.current).take();
    mux.close(|| {
        SupervisedStdioError::Exited {
            server: inner.server.to_string(),
            exit: exit.clone(),
        }
        .into()
    });
    // Grandchildren may outlive the leader; the group goes with it.
    child.kill_group(Signal::SIGKILL);
    Ended::Crashed(with_stderr(format!("exited with {exit}"), &mut child).await)
}

async fn shut_down(inner: &Inner, run: &Run, child: &mut ChildProcess) -> Ended {
    lock(&inner.current).take();
    run.mux.close(|| {
        SupervisedStdioError::Stopped {
            server: inner.server.to_string(),
        }
        .into()
    });
    run.input.close();
    child.shutdown(inner.options.stop_grace).await;
    Ended::Stopped
}

/// `report` with the child's last stderr lines, token-like strings scrubbed out: the result is
/// shown to operators and logged.
async fn with_stderr(report: String, child: &mut ChildProcess) -> String {
    let tail = child.stderr_tail(Duration::from_millis(500)).await;
    if tail.is_empty() {
        format!("{report}; no stderr output")
    } else {
        let tail = tail.join("\n");
        format!(
            "{report}; last stderr lines:\n{}",
            crate::secrets::scrub(&tail)
        )
    }
}

/// The gateway's own `initialize`, then `notifications/initialized`. Returns the raw `result`.
async fn handshake(inner: &Inner, run: &Run) -> Result<Bytes, String> {
    let request = serde_json::json!({
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": inner.options.protocol_version,
            "capabilities": inner.options.capabilities,
            "clientInfo": inner.options.client_info,
        },
    });
    let request = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
    let mut registered = run
        .mux
        .register(None, &request)
        .map_err(|e| e.to_string())?;
    run.send(registered.message).map_err(|e| e.to_string())?;
    let answer = match registered.replies.recv().await {
        Some(Ok(answer)) => answer,
        Some(Err(e)) => return Err(e.to_string()),
        None => return Err("the server went away".into()),
    };
    let parsed = Message::parse(&answer).map_err(|e| e.to_string())?;
    let result = match (parsed.kind, parsed.result, parsed.error) {
        (Kind::Result, Some(result), _) => Bytes::copy_from_slice(result.get().as_bytes()),
        (_, _, Some(error)) => return Err(format!("the server answered {}", error.get())),
        _ => return Err("the server's answer has no result".into()),
    };
    run.send(Bytes::from_static(
        br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    ))
    .map_err(|e| e.to_string())?;
    Ok(result)
}

/// Reads the child's stdout line by line and routes each message.
async fn read_stdout(
    stdout: ChildStdout,
    mux: Arc<Mux>,
    input: StdinQueue,
    events: broadcast::Sender<Bytes>,
    max_message_bytes: usize,
) {
    let server = mux.server().to_owned();
    let mut lines = LineReader::new(
        BufReader::with_capacity(64 * 1024, stdout),
        max_message_bytes,
    );
    while let Ok(Some(message)) = lines.next_message(&server).await {
        for answer in mux.route_from_child(message, &events) {
            let _ = input.send(answer);
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
