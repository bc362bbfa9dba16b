//! `toolgate wrap`: one local stdio server behind a policy, speaking stdio to the client that
//! spawned us. A front like the HTTP ones: each line from the client goes through the same
//! pipeline ([`Pipeline::handle`]) with one anonymous local identity, and what it replies goes
//! out one message per line; the server's own messages are passed on as they come. Signals go to
//! the server, and its exit code becomes ours.

use crate::identity::Caller;
use crate::pipeline::{Context, Direct, Pipeline, Target, streams};
use crate::upstream::{PipeLink, UpstreamLink};
use bytes::Bytes;
use futures_util::StreamExt;
use nix::sys::signal::Signal;
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Semaphore, mpsc};
use toolgate_mcp::jsonrpc::{self, Kind, Message};
use toolgate_mcp::upstream::stdio::{StdioChild, StdioSpec};
use toolgate_policy::{Identity, Policy};
use toolgate_store::CounterStore;

/// The session id `wrap` uses for `session`-scoped limits: one process, one session.
const WRAP_SESSION: &str = "stdio";

/// How long the server may take to answer one request.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(300);

/// Requests in flight at once; the next line is read when one ends.
const MAX_IN_FLIGHT: usize = 256;

/// Runs until the server exits or stdin closes; returns the process exit code.
pub async fn run(spec: StdioSpec, policy: Arc<Policy>, counters: Arc<dyn CounterStore>) -> i32 {
    let pipeline = Arc::new(Pipeline::without_store(counters));
    let caller = Arc::new(Caller {
        identity: Identity {
            agent: "local".into(),
            grant: "local".into(),
            tags: Vec::new(),
        },
        servers: Vec::new(),
        policies: Default::default(),
    });
    let link = match PipeLink::stdio(&spec) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("toolgate wrap: {e}");
            return 127;
        }
    };
    let server = Arc::new(Direct {
        name: spec.server.clone(),
        link: UpstreamLink::Pipe(link),
        policy,
    });

    let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(256);
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(msg) = out_rx.recv().await {
            let ok = async {
                stdout.write_all(&msg).await?;
                stdout.write_all(b"\n").await?;
                stdout.flush().await
            }
            .await;
            if ok.is_err() {
                break;
            }
        }
    });

    // The server's own messages (outside any request); the stream ends when its output does.
    let own = streams::of_direct(&server).await;
    let mut server_output = {
        let out_tx = out_tx.clone();
        tokio::spawn(async move {
            let Some(mut own) = own else { return };
            while let Some(msg) = own.next().await {
                if out_tx.send(msg).await.is_err() {
                    break;
                }
            }
        })
    };

    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut line = Vec::with_capacity(4096);
    let mut sigint = signal(SignalKind::interrupt()).ok();
    let mut sigterm = signal(SignalKind::terminate()).ok();
    let mut sighup = signal(SignalKind::hangup()).ok();
    let child = child_of(&server);
    let mut server_done = false;
    loop {
        tokio::select! {
            // `line` is cleared only once a whole line is taken: a signal arriving mid-line
            // cancels this read, and what it had read must stay for the next one.
            read = stdin.read_until(b'\n', &mut line) => {
                match read {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let bytes = Bytes::copy_from_slice(line.trim_ascii());
                line.clear();
                if bytes.is_empty() {
                    continue;
                }
                let Ok(slot) = in_flight.clone().acquire_owned().await else { break };
                let line = Line { pipeline: pipeline.clone(), caller: caller.clone(), server: server.clone(), out: out_tx.clone() };
                if is_request(&bytes) {
                    // Requests run side by side (an answer may wait on the client's own
                    // answer to a server request); everything else in order.
                    tokio::spawn(async move {
                        line.handle(bytes).await;
                        drop(slot);
                    });
                } else {
                    line.handle(bytes).await;
                }
            }
            _ = &mut server_output => { server_done = true; break; }
            _ = recv(&mut sigint) => child.kill_group(Signal::SIGINT),
            _ = recv(&mut sigterm) => child.kill_group(Signal::SIGTERM),
            _ = recv(&mut sighup) => child.kill_group(Signal::SIGHUP),
        }
    }
    if !server_done {
        // stdin closed: the client is done; let the server finish politely.
        child.close_stdin().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut server_output).await;
    }
    let status = match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
        Ok(s) => s,
        Err(_) => child.shutdown(Duration::ZERO).await,
    };
    drop(out_tx);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    match status {
        Some(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
        None => 1,
    }
}

/// The wrapped server's process.
fn child_of(server: &Direct) -> &StdioChild {
    server.stdio_child().expect("wrap runs a stdio child")
}

fn is_request(bytes: &[u8]) -> bool {
    Message::parse(bytes).is_ok_and(|m| m.kind == Kind::Request)
}

async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// One line from the client and what it needs to go through the pipeline.
struct Line {
    pipeline: Arc<Pipeline>,
    caller: Arc<Caller>,
    server: Arc<Direct>,
    out: mpsc::Sender<Bytes>,
}

impl Line {
    async fn handle(self, bytes: Bytes) {
        let msg = match Message::parse(&bytes) {
            Ok(m) => m,
            Err(e) => {
                let error = jsonrpc::error_response(None, e.code(), &e.to_string());
                let _ = self.out.send(error.into()).await;
                return;
            }
        };
        let cx = Context {
            caller: &self.caller,
            session: WRAP_SESSION,
            streams: true,
            upstream_timeout: UPSTREAM_TIMEOUT,
            target: Target::Direct(&self.server),
        };
        let reply = match self
            .pipeline
            .too_long(&self.caller, &self.server.name, &msg)
        {
            Some(refused) => refused,
            None => self.pipeline.handle(&cx, &msg, bytes.clone()).await,
        };
        let mut messages = reply.into_messages();
        while let Some(m) = messages.next().await {
            if self.out.send(m).await.is_err() {
                break;
            }
        }
    }
}
