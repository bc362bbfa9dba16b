//! Publishes signed checkpoints of the audit chain outside the database: every `every` records,
//! every `interval` while records arrive, and when the gateway stops — each one a line of the
//! checkpoint file and a line of the log. [`CheckpointingSink`] sits in front of the store's
//! audit sink and sees every append, so it always knows each stream's head without asking the
//! store (which an attacker may have rewritten since).

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use toolgate_store::audit::{AdminEvent, Appended, AuditRecord, AuditStream, ChainKey, Checkpoint};
use toolgate_store::{AuditSink, StoreError};

/// `[audit]`: where the key lives and where checkpoints go, and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSettings {
    /// The key file (created on first start unless `TOOLGATE_AUDIT_KEY` gives the key).
    pub key_file: PathBuf,
    /// The checkpoint file (JSONL, appended to).
    pub checkpoint_file: PathBuf,
    /// A checkpoint after this many records of a stream.
    pub checkpoint_every: u64,
    /// And at least this often while records arrive.
    pub checkpoint_interval: Duration,
}

impl Default for ChainSettings {
    fn default() -> Self {
        ChainSettings {
            key_file: PathBuf::from("toolgate.audit.key"),
            checkpoint_file: PathBuf::from("toolgate.audit.checkpoints.jsonl"),
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(5 * 60),
        }
    }
}

/// Each stream's head as last appended, and what was last published.
#[derive(Debug, Default, Clone)]
struct Head {
    seq: u64,
    hash: String,
    published: u64,
}

/// The publisher.
#[derive(Debug)]
pub struct Checkpoints {
    key: ChainKey,
    settings: ChainSettings,
    heads: Mutex<[Head; 2]>,
}

fn slot(stream: AuditStream) -> usize {
    match stream {
        AuditStream::Requests => 0,
        AuditStream::Admin => 1,
    }
}

impl Checkpoints {
    pub fn new(key: ChainKey, settings: ChainSettings) -> Arc<Checkpoints> {
        Arc::new(Checkpoints {
            key,
            settings,
            heads: Mutex::default(),
        })
    }

    /// Notes an append; publishes when `every` records have come since the last checkpoint.
    fn appended(&self, stream: AuditStream, appended: &Appended) {
        let Some(last) = appended.last_seq() else {
            return;
        };
        let due = {
            let mut heads = self.heads.lock();
            let head = &mut heads[slot(stream)];
            if last > head.seq {
                head.seq = last;
                head.hash.clone_from(&appended.head_hash);
            }
            head.seq >= head.published + self.settings.checkpoint_every
        };
        if due {
            self.publish(stream);
        }
    }

    /// Publishes a checkpoint of every stream that has records since its last one.
    pub fn publish_due(&self) {
        for stream in [AuditStream::Requests, AuditStream::Admin] {
            self.publish(stream);
        }
    }

    fn publish(&self, stream: AuditStream) {
        let head = {
            let mut heads = self.heads.lock();
            let head = &mut heads[slot(stream)];
            if head.seq <= head.published {
                return;
            }
            head.published = head.seq;
            head.clone()
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let c = Checkpoint::sign(&self.key, stream, head.seq, &head.hash, now);
        tracing::info!(
            %stream,
            seq = c.seq,
            head_hash = %c.head_hash,
            key_id = %c.key_id,
            signature = %c.signature,
            "audit checkpoint"
        );
        if let Err(e) = c.append_to(&self.settings.checkpoint_file) {
            tracing::error!(
                error = %e,
                file = %self.settings.checkpoint_file.display(),
                "cannot write an audit checkpoint to its file (it is in this log)"
            );
        }
    }

    /// Publishes what is due every `interval`, until the process ends.
    pub async fn run(self: Arc<Self>) {
        loop {
            tokio::time::sleep(self.settings.checkpoint_interval).await;
            self.publish_due();
        }
    }
}

/// An [`AuditSink`] that hands every append to [`Checkpoints`].
pub struct CheckpointingSink {
    inner: Arc<dyn AuditSink>,
    checkpoints: Arc<Checkpoints>,
}

impl CheckpointingSink {
    pub fn new(inner: Arc<dyn AuditSink>, checkpoints: Arc<Checkpoints>) -> CheckpointingSink {
        CheckpointingSink { inner, checkpoints }
    }

    fn seen(
        &self,
        stream: AuditStream,
        appended: Result<Appended, StoreError>,
    ) -> Result<Appended, StoreError> {
        if let Ok(a) = &appended {
            self.checkpoints.appended(stream, a);
        }
        appended
    }
}

impl AuditSink for CheckpointingSink {
    fn append<'a>(
        &'a self,
        records: &'a [AuditRecord],
    ) -> BoxFuture<'a, Result<Appended, StoreError>> {
        Box::pin(async move {
            let appended = self.inner.append(records).await;
            self.seen(AuditStream::Requests, appended)
        })
    }

    fn append_durable<'a>(
        &'a self,
        records: &'a [AuditRecord],
    ) -> BoxFuture<'a, Result<Appended, StoreError>> {
        Box::pin(async move {
            let appended = self.inner.append_durable(records).await;
            self.seen(AuditStream::Requests, appended)
        })
    }

    fn append_admin<'a>(
        &'a self,
        events: &'a [AdminEvent],
    ) -> BoxFuture<'a, Result<Appended, StoreError>> {
        Box::pin(async move {
            let appended = self.inner.append_admin(events).await;
            self.seen(AuditStream::Admin, appended)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolgate_store::MemoryStore;
    use toolgate_store::audit::AdminEvent;

    fn event(i: u64) -> AdminEvent {
        AdminEvent {
            time_ms: i,
            actor: "cli".into(),
            action: "grant.create".into(),
            target: format!("g{i}"),
            details: serde_json::Value::Null,
        }
    }

    #[tokio::test]
    async fn a_checkpoint_every_n_records_and_one_for_what_is_left() {
        let file = std::env::temp_dir().join(format!(
            "toolgate-checkpoints-test-{}-{}.jsonl",
            std::process::id(),
            rand::random::<u32>()
        ));
        let key = ChainKey::from_secret([5; 32]);
        let settings = ChainSettings {
            checkpoint_file: file.clone(),
            checkpoint_every: 3,
            ..ChainSettings::default()
        };
        let checkpoints = Checkpoints::new(key.clone(), settings.clone());
        let sink = CheckpointingSink::new(Arc::new(MemoryStore::new()), checkpoints.clone());
        for i in 1..=7 {
            sink.append_admin(&[event(i)]).await.unwrap();
        }
        checkpoints.publish_due();
        checkpoints.publish_due();
        let written = Checkpoint::read_all(&settings.checkpoint_file).unwrap();
        let seqs: Vec<u64> = written.iter().map(|c| c.seq).collect();
        assert_eq!(seqs, vec![3, 6, 7]);
        let _ = std::fs::remove_file(&file);
        assert!(
            written
                .iter()
                .all(|c| c.stream == AuditStream::Admin && c.check(&key.public_key()).is_ok())
        );
    }
}
