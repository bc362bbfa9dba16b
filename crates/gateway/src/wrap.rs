//! `toolgate wrap`: one local stdio server behind a policy, speaking stdio to the client that
//! spawned us. The same decisions as the HTTP gateway (relay::plan_request), with one anonymous
//! local identity; signals go to the server, and its exit code becomes ours.

use crate::enforce::Enforcer;
use crate::identity::Caller;
use crate::kill_switch::KillSwitches;
use crate::relay::{NotificationPlan, Pending, Plan, Relay};
use crate::screen::Methods;
use crate::telemetry::{CallRecord, Telemetry};
use bytes::Bytes;
use nix::sys::signal::Signal;
use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Mutex, mpsc};
use toolgate_mcp::jsonrpc::{self, Kind, Message, codes};
use toolgate_mcp::upstream::stdio::{StdioChild, StdioSpec};
use toolgate_policy::{Identity, Policy};
use toolgate_store::CounterStore;

/// The session id `wrap` uses for `session`-scoped limits: one process, one session.
const WRAP_SESSION: &str = "stdio";

/// Runs until the server exits or stdin closes; returns the process exit code.
pub async fn run(spec: StdioSpec, policy: Arc<Policy>, counters: Arc<dyn CounterStore>) -> i32 {
    let enforcer = Enforcer::new(counters, Arc::new(KillSwitches::default()));
    let relay = Arc::new(Relay::new(enforcer, Telemetry::default(), None));
    let caller = Arc::new(Caller {
        identity: Identity {
            agent: "local".into(),
            grant: "local".into(),
            tags: Vec::new(),
        },
        servers: Vec::new(),
        policies: Default::default(),
    });
    let (child, mut from_child) = match StdioChild::spawn(&spec) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("toolgate wrap: {e}");
            return 127;
        }
    };
    let child = Arc::new(child);
    let pending: Arc<Mutex<HashMap<String, Pending>>> = Arc::default();

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

    // Server → client: responses get their pending work applied; the rest passes through.
    let relay_out = {
        let pending = pending.clone();
        let relay = relay.clone();
        let out_tx = out_tx.clone();
        tokio::spawn(async move {
            while let Some(msg) = from_child.recv().await {
                let waiting = match Message::parse(&msg) {
                    Ok(m) if m.is_response() => match m.id {
                        Some(id) => pending.lock().await.remove(id.get()),
                        None => None,
                    },
                    _ => None,
                };
                let msg = match waiting {
                    Some(p) => relay.finish(p, msg).await,
                    None => msg,
                };
                if out_tx.send(msg).await.is_err() {
                    break;
                }
            }
        })
    };

    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut line = Vec::with_capacity(4096);
    let mut sigint = signal(SignalKind::interrupt()).ok();
    let mut sigterm = signal(SignalKind::terminate()).ok();
    let mut sighup = signal(SignalKind::hangup()).ok();
    let mut relay_out = relay_out;
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
                handle_client_line(&relay, &policy, &spec.server, &caller, &child, &pending, &out_tx, bytes).await;
            }
            _ = &mut relay_out => { server_done = true; break; }
            _ = recv(&mut sigint) => child.kill_group(Signal::SIGINT),
            _ = recv(&mut sigterm) => child.kill_group(Signal::SIGTERM),
            _ = recv(&mut sighup) => child.kill_group(Signal::SIGHUP),
        }
    }
    if !server_done {
        // stdin closed: the client is done; let the server finish politely.
        child.close_stdin().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut relay_out).await;
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

async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[allow(clippy::too_many_arguments)]
async fn handle_client_line(
    relay: &Relay,
    policy: &Arc<Policy>,
    server: &str,
    caller: &Arc<Caller>,
    child: &StdioChild,
    pending: &Mutex<HashMap<String, Pending>>,
    out: &mpsc::Sender<Bytes>,
    bytes: Bytes,
) {
    let msg = match Message::parse(&bytes) {
        Ok(m) => m,
        Err(e) => {
            let _ = out
                .send(jsonrpc::error_response(None, e.code(), &e.to_string()).into())
                .await;
            return;
        }
    };
    if msg.kind == Kind::Notification {
        let record = || {
            let version = policy.version_hash();
            CallRecord::new(caller, WRAP_SESSION, server, msg.method(), version)
        };
        let plan = relay.plan_notification(record, &msg, Methods::default());
        match plan {
            NotificationPlan::Forward => {}
            NotificationPlan::Drop => return,
            NotificationPlan::Refuse(answer) => {
                let _ = out.send(answer.into()).await;
                return;
            }
        }
    }
    if msg.kind != Kind::Request {
        drop(msg);
        if let Err(e) = child.send(&bytes).await {
            tracing::warn!(error = %e, "cannot pass a message to the server");
        }
        return;
    }
    let id = msg.id.map(|i| i.to_owned());
    match relay
        .plan_request(
            policy,
            server,
            caller,
            WRAP_SESSION,
            &msg,
            Methods::default(),
        )
        .await
    {
        // `wrap` has no store, so nothing is ever held; a held call would be refused.
        Plan::Hold(held) => {
            let answer = relay.resume(held).await.err().unwrap_or_default();
            let _ = out.send(answer.into()).await;
        }
        Plan::Answer(answer) => {
            let _ = out.send(answer.into()).await;
        }
        Plan::Forward(p) => {
            let Some(id) = id else { return };
            pending.lock().await.insert(id.get().to_owned(), p);
            drop(msg);
            if let Err(e) = child.send(&bytes).await {
                if let Some(p) = pending.lock().await.remove(id.get()) {
                    relay.abandon(p).await;
                }
                let err =
                    jsonrpc::error_response(Some(&id), codes::UPSTREAM_UNAVAILABLE, &e.to_string());
                let _ = out.send(err.into()).await;
            }
        }
    }
}
