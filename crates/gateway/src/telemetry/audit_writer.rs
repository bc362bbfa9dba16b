//! Writes audit records off the hot path: requests hand their record to a queue and go on; one
//! task appends them to the store in batches. A store that fails is retried with backoff (the
//! records wait in the queue, counted by the queue-depth gauge); closing the queue flushes
//! everything, so a graceful shutdown loses nothing.

use prometheus_client::metrics::gauge::Gauge;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use toolgate_store::AuditSink;
use toolgate_store::audit::AuditRecord;

/// The largest batch appended in one transaction.
const BATCH: usize = 512;
/// How long the writer waits for more records before appending a batch that is not full.
const LINGER: Duration = Duration::from_millis(20);

/// The sending side, held by the gateway's telemetry.
#[derive(Debug)]
pub struct AuditQueue {
    tx: parking_lot::Mutex<Option<mpsc::UnboundedSender<AuditRecord>>>,
    task: parking_lot::Mutex<Option<JoinHandle<()>>>,
    depth: Gauge,
}

impl AuditQueue {
    /// Starts the writer task.
    pub fn start(sink: Arc<dyn AuditSink>, depth: Gauge) -> AuditQueue {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(write_batches(sink, rx, depth.clone()));
        AuditQueue {
            tx: parking_lot::Mutex::new(Some(tx)),
            task: parking_lot::Mutex::new(Some(task)),
            depth,
        }
    }

    /// Queues a record; never waits.
    pub fn push(&self, record: AuditRecord) {
        self.depth.inc();
        let sent = self
            .tx
            .lock()
            .as_ref()
            .is_some_and(|tx| tx.send(record).is_ok());
        if !sent {
            self.depth.dec();
            tracing::error!("audit record dropped: the audit log is closed");
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
    mut rx: mpsc::UnboundedReceiver<AuditRecord>,
    depth: Gauge,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        // Linger so that a quiet stream of requests still shares transactions (each append is
        // one transaction, and a transaction costs far more than a record), then take what
        // came meanwhile. The writer sleeps instead of listening while it lingers: records
        // queued then do not wake it one by one.
        if batch.len() < BATCH {
            tokio::time::sleep(LINGER).await;
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(record) => batch.push(record),
                    Err(_) => break,
                }
            }
        }
        let mut backoff = Duration::from_millis(50);
        loop {
            match sink.append(&batch).await {
                Ok(_) => break,
                Err(e) => {
                    tracing::error!(error = %e, records = batch.len(), "cannot write audit records; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        depth.dec_by(batch.len() as i64);
        batch.clear();
    }
}
