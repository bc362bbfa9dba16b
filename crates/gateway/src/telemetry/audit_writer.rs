//! Writes audit records off the hot path: requests hand their record to a bounded queue and go
//! on; one task appends them to the store in batches. A store that fails is retried with backoff
//! until it recovers (the records wait in the queue, counted by the queue-depth gauge); closing
//! the queue flushes everything, so a graceful shutdown loses nothing.
//!
//! The queue also says whether the log can take more ([`AuditQueue::failing`]): not when it is
//! nearly full, nor when the store has failed (or a write has hung on a lock) for longer than
//! `max_lag`. A record that must be on disk before its call goes ahead (strict durability) is
//! written with [`AuditQueue::write_durably`]: it waits for the batch that carries it, and every
//! call waiting at that moment shares the batch's one sync (group commit).

use super::audit_policy::AuditPolicy;
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use toolgate_store::AuditSink;
use toolgate_store::audit::AuditRecord;

/// The largest batch appended in one transaction.
const BATCH: usize = 512;
/// How long the writer waits for more records before appending a batch that is not full (never
/// when a call waits for its record to be durable).
const LINGER: Duration = Duration::from_millis(20);
/// The longest pause between two tries of a failing store.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How often a refusal or a dropped record is logged at most (with a count of the others).
const LOG_EVERY: Duration = Duration::from_secs(5);

/// The metrics the writer keeps.
#[derive(Debug, Clone, Default)]
pub struct AuditGauges {
    /// Records queued and not yet written.
    pub depth: Gauge,
    /// Records dropped because the queue was full.
    pub dropped: Counter,
    /// 1 while the audit log is failing (see [`AuditQueue::failing`]).
    pub failing: Gauge,
}

/// One queued record, and who waits for it to be durable.
struct Queued {
    record: AuditRecord,
    durable: Option<oneshot::Sender<()>>,
}

/// Why the audit log cannot take a call's record now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditUnavailable {
    #[error("the audit store has failed for {seconds}s ({error})")]
    Failing { seconds: u64, error: String },
    #[error("the audit queue is full ({waiting} records waiting to be written)")]
    Full { waiting: usize },
    #[error("the audit log is closed (the gateway is stopping)")]
    Closed,
    #[error("the call's record was not on disk within {seconds}s")]
    NotDurable { seconds: u64 },
}

/// The writer's state, shared with the request path.
#[derive(Debug)]
struct Health {
    started: Instant,
    /// When the append under way began (ms since `started`, +1), while it has not succeeded;
    /// 0: none under way.
    appending_since: AtomicU64,
    last_error: Mutex<String>,
}

impl Health {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64 + 1
    }

    /// How long the append under way has been trying.
    fn stalled_for(&self) -> Duration {
        match self.appending_since.load(Ordering::Acquire) {
            0 => Duration::ZERO,
            since => Duration::from_millis(self.now_ms().saturating_sub(since)),
        }
    }
}

/// The sending side, held by the gateway's telemetry.
#[derive(Debug)]
pub struct AuditQueue {
    tx: Mutex<Option<mpsc::Sender<Queued>>>,
    task: Mutex<Option<JoinHandle<()>>>,
    gauges: AuditGauges,
    health: Arc<Health>,
    policy: AuditPolicy,
    /// When a drop was last logged, and how many since.
    drops: Mutex<(Option<Instant>, u64)>,
}

impl std::fmt::Debug for Queued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queued")
            .field("request", &self.record.request_id)
            .field("durable", &self.durable.is_some())
            .finish()
    }
}

impl AuditQueue {
    /// Starts the writer task.
    pub fn start(sink: Arc<dyn AuditSink>, gauges: AuditGauges, policy: AuditPolicy) -> AuditQueue {
        let (tx, rx) = mpsc::channel(policy.queue_capacity.max(16));
        let health = Arc::new(Health {
            started: Instant::now(),
            appending_since: AtomicU64::new(0),
            last_error: Mutex::new(String::new()),
        });
        let linger = match policy.durability {
            super::audit_policy::Durability::Strict => Duration::ZERO,
            super::audit_policy::Durability::Batched => LINGER,
        };
        let task = tokio::spawn(write_batches(
            sink,
            rx,
            gauges.depth.clone(),
            health.clone(),
            linger,
        ));
        AuditQueue {
            tx: Mutex::new(Some(tx)),
            task: Mutex::new(Some(task)),
            gauges,
            health,
            policy,
            drops: Mutex::new((None, 0)),
        }
    }

    pub fn policy(&self) -> &AuditPolicy {
        &self.policy
    }

    /// Why the log cannot take a call's record now: the store has failed (or a write has hung)
    /// for longer than `max_lag`, or the queue is 90% full. `None`: it can.
    pub fn failing(&self) -> Option<AuditUnavailable> {
        let stalled = self.health.stalled_for();
        let why = if stalled > self.policy.max_lag {
            Some(AuditUnavailable::Failing {
                seconds: stalled.as_secs(),
                error: self.health.last_error.lock().clone(),
            })
        } else {
            let waiting = usize::try_from(self.gauges.depth.get()).unwrap_or(0);
            (waiting >= self.policy.queue_capacity / 10 * 9)
                .then_some(AuditUnavailable::Full { waiting })
        };
        self.gauges.failing.set(i64::from(why.is_some()));
        why
    }

    /// Queues a record; never waits. A record that does not fit is dropped, counted and logged.
    pub fn push(&self, record: AuditRecord) {
        if let Err(e) = self.send(Queued {
            record,
            durable: None,
        }) {
            self.dropped(&e);
        }
    }

    /// Queues a record and waits until it is synced to disk, at most `max_lag`.
    pub async fn write_durably(&self, record: AuditRecord) -> Result<(), AuditUnavailable> {
        if let Some(why) = self.failing() {
            return Err(why);
        }
        let (done, durable) = oneshot::channel();
        self.send(Queued {
            record,
            durable: Some(done),
        })?;
        match tokio::time::timeout(self.policy.max_lag, durable).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(AuditUnavailable::Closed),
            Err(_) => Err(AuditUnavailable::NotDurable {
                seconds: self.policy.max_lag.as_secs(),
            }),
        }
    }

    fn send(&self, queued: Queued) -> Result<(), AuditUnavailable> {
        let tx = self.tx.lock();
        let Some(tx) = tx.as_ref() else {
            return Err(AuditUnavailable::Closed);
        };
        self.gauges.depth.inc();
        match tx.try_send(queued) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.gauges.depth.dec();
                Err(match e {
                    mpsc::error::TrySendError::Full(_) => AuditUnavailable::Full {
                        waiting: self.policy.queue_capacity,
                    },
                    mpsc::error::TrySendError::Closed(_) => AuditUnavailable::Closed,
                })
            }
        }
    }

    fn dropped(&self, why: &AuditUnavailable) {
        self.gauges.dropped.inc();
        let mut drops = self.drops.lock();
        drops.1 += 1;
        if drops.0.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
            tracing::error!(dropped = drops.1, reason = %why, "audit records dropped");
            *drops = (Some(Instant::now()), 0);
        }
    }

    /// Stops taking records and waits until every queued one is written.
    pub async fn close(&self) {
        self.tx.lock().take();
        let task = self.task.lock().take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

async fn write_batches(
    sink: Arc<dyn AuditSink>,
    mut rx: mpsc::Receiver<Queued>,
    depth: Gauge,
    health: Arc<Health>,
    linger: Duration,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut records = Vec::with_capacity(BATCH);
    let mut waiting = Vec::new();
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        // Linger so that a quiet stream of requests still shares transactions (each append is
        // one transaction, and a transaction costs far more than a record) — unless a call is
        // waiting for its record, which then goes at once with whatever came meanwhile.
        if !linger.is_zero() && batch.len() < BATCH && !has_durable(&batch) {
            let until = tokio::time::Instant::now() + linger;
            while batch.len() < BATCH && !has_durable(&batch) {
                let room = BATCH - batch.len();
                tokio::select! {
                    () = tokio::time::sleep_until(until) => break,
                    n = rx.recv_many(&mut batch, room) => if n == 0 { break },
                }
            }
        }
        let durable = has_durable(&batch);
        for q in batch.drain(..) {
            records.push(q.record);
            waiting.extend(q.durable);
        }
        health
            .appending_since
            .store(health.now_ms(), Ordering::Release);
        let mut backoff = Duration::from_millis(20);
        loop {
            let written = if durable {
                sink.append_durable(&records).await
            } else {
                sink.append(&records).await
            };
            match written {
                Ok(_) => break,
                Err(e) => {
                    let message = e.to_string();
                    tracing::error!(error = %message, records = records.len(), "cannot write audit records; retrying");
                    *health.last_error.lock() = message;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        health.appending_since.store(0, Ordering::Release);
        depth.dec_by(records.len() as i64);
        records.clear();
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

fn has_durable(batch: &[Queued]) -> bool {
    batch.iter().any(|q| q.durable.is_some())
}
