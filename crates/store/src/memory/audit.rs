//! [`AuditStore`] over two in-memory chains; the same sealing and verification as every backend.

use std::collections::VecDeque;

use futures_util::future::BoxFuture;

use crate::StoreError;
use crate::audit::canonical::Canonical;
use crate::audit::chain::seal;
use crate::audit::{
    AdminEvent, AdminQuery, Appended, AuditQuery, AuditRecord, AuditSink, AuditStore, AuditStream,
    CallView, ChainAnchor, ChainReport, ChainVerifier, Chained, RecordPhase, Retention,
};
use crate::memory::MemoryStore;

/// One stream: where it starts, and its records in sequence order.
#[derive(Debug)]
struct Chain<T> {
    anchor: ChainAnchor,
    records: VecDeque<Chained<T>>,
}

impl<T> Default for Chain<T> {
    fn default() -> Self {
        Chain {
            anchor: ChainAnchor::genesis(),
            records: VecDeque::new(),
        }
    }
}

impl<T: Canonical + Clone> Chain<T> {
    fn head(&self) -> ChainAnchor {
        self.records.back().map_or_else(
            || self.anchor.clone(),
            |r| ChainAnchor {
                seq: r.seq,
                hash: r.hash.clone(),
            },
        )
    }

    fn append(&mut self, batch: &[T]) -> Result<Appended, StoreError> {
        let head = self.head();
        // A log that lives in the process has no one to be kept from outside it: plain links.
        let links = seal(&head, batch, None)?;
        let head_hash = links.last().map_or(head.hash, |l| l.hash.clone());
        let chained = links
            .into_iter()
            .zip(batch)
            .map(|(l, r)| l.chain(r.clone()));
        self.records.extend(chained);
        Ok(Appended {
            first_seq: head.seq + 1,
            count: batch.len() as u64,
            head_hash,
        })
    }

    fn select(
        &self,
        newest_first: bool,
        limit: u32,
        keep: impl Fn(&Chained<T>) -> bool,
    ) -> Vec<Chained<T>> {
        let take = limit as usize;
        if newest_first {
            self.records
                .iter()
                .rev()
                .filter(|r| keep(r))
                .take(take)
                .cloned()
                .collect()
        } else {
            self.records
                .iter()
                .filter(|r| keep(r))
                .take(take)
                .cloned()
                .collect()
        }
    }

    fn verify(&self, stream: AuditStream) -> ChainReport {
        let mut verifier = ChainVerifier::new(stream, self.anchor.clone());
        for r in &self.records {
            if !verifier.check(r) {
                break;
            }
        }
        verifier.finish(None)
    }

    fn delete_before(
        &mut self,
        stream: AuditStream,
        before_ms: u64,
        time: impl Fn(&T) -> u64,
    ) -> Result<Retention, StoreError> {
        let cut = self
            .records
            .iter()
            .position(|r| time(&r.record) >= before_ms)
            .unwrap_or(self.records.len());
        if cut > 0 {
            let mut verifier = ChainVerifier::new(stream, self.anchor.clone());
            for r in self.records.range(..cut) {
                if !verifier.check(r) {
                    break;
                }
            }
            self.anchor = verifier.prefix_end(self.records[cut - 1].seq)?;
            self.records.drain(..cut);
        }
        Ok(Retention {
            deleted: cut as u64,
            anchor: self.anchor.clone(),
        })
    }
}

/// Both streams.
#[derive(Debug, Default)]
pub(super) struct Streams {
    requests: Chain<AuditRecord>,
    admin: Chain<AdminEvent>,
}

fn ready<T: Send + 'static>(v: T) -> BoxFuture<'static, T> {
    Box::pin(std::future::ready(v))
}

impl MemoryStore {
    /// Replaces request record `seq` as it is stored, without resealing: for tests of verification.
    pub fn tamper_with_record(&self, seq: u64, f: impl FnOnce(&mut Chained<AuditRecord>)) -> bool {
        let mut audit = self.audit.lock();
        match audit.requests.records.iter_mut().find(|r| r.seq == seq) {
            Some(r) => {
                f(r);
                true
            }
            None => false,
        }
    }
}

impl AuditSink for MemoryStore {
    fn append<'a>(
        &'a self,
        records: &'a [AuditRecord],
    ) -> BoxFuture<'a, Result<Appended, StoreError>> {
        ready(self.audit.lock().requests.append(records))
    }

    fn append_admin<'a>(
        &'a self,
        events: &'a [AdminEvent],
    ) -> BoxFuture<'a, Result<Appended, StoreError>> {
        ready(self.audit.lock().admin.append(events))
    }
}

impl AuditStore for MemoryStore {
    fn query<'a>(
        &'a self,
        query: &'a AuditQuery,
    ) -> BoxFuture<'a, Result<Vec<Chained<AuditRecord>>, StoreError>> {
        let audit = self.audit.lock();
        let finished: std::collections::HashSet<&str> = match query.view {
            CallView::Records => Default::default(),
            CallView::Calls | CallView::Unfinished => audit
                .requests
                .records
                .iter()
                .filter(|r| r.record.phase == Some(RecordPhase::Outcome))
                .map(|r| r.record.request_id.as_str())
                .collect(),
        };
        ready(Ok(audit.requests.select(
            query.newest_first,
            query.limit,
            |r| {
                query.matches(r.seq, &r.record)
                    && query.view.shows(r.record.phase, || {
                        finished.contains(r.record.request_id.as_str())
                    })
            },
        )))
    }

    fn query_admin<'a>(
        &'a self,
        query: &'a AdminQuery,
    ) -> BoxFuture<'a, Result<Vec<Chained<AdminEvent>>, StoreError>> {
        let audit = self.audit.lock();
        ready(Ok(audit.admin.select(
            query.newest_first,
            query.limit,
            |r| query.matches(r.seq, &r.record),
        )))
    }

    fn verify(&self, stream: AuditStream) -> BoxFuture<'_, Result<ChainReport, StoreError>> {
        let audit = self.audit.lock();
        ready(Ok(match stream {
            AuditStream::Requests => audit.requests.verify(stream),
            AuditStream::Admin => audit.admin.verify(stream),
        }))
    }

    fn delete_before(
        &self,
        stream: AuditStream,
        before_ms: u64,
    ) -> BoxFuture<'_, Result<Retention, StoreError>> {
        let mut audit = self.audit.lock();
        ready(match stream {
            AuditStream::Requests => audit
                .requests
                .delete_before(stream, before_ms, |r| r.time_ms),
            AuditStream::Admin => audit.admin.delete_before(stream, before_ms, |e| e.time_ms),
        })
    }
}
