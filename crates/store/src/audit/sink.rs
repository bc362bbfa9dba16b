//! The audit contracts: [`AuditSink`], all the hot path needs (append a batch), and [`AuditStore`], what
//! the CLI and admin API need on top (query, verify, retention).

use futures_util::future::BoxFuture;

use crate::StoreError;
use crate::audit::{
    AdminEvent, AdminQuery, Appended, AuditQuery, AuditRecord, AuditStream, ChainAnchor,
    ChainReport, Chained,
};

/// Appends to the audit streams. Each call is one transaction: the whole batch is stored, with
/// consecutive sequence numbers and chained hashes, or none of it is. Concurrent appends are
/// serialised by the store, so the chain stays linear.
pub trait AuditSink: Send + Sync + 'static {
    /// Appends request records to the [`AuditStream::Requests`] stream.
    fn append<'a>(
        &'a self,
        records: &'a [AuditRecord],
    ) -> BoxFuture<'a, Result<Appended, StoreError>>;

    /// [`AuditSink::append`], synced to disk before it returns, so that the records survive a
    /// crash or a power loss of the whole machine (one sync for the whole batch). By default the
    /// same as `append` (a store that keeps nothing on disk).
    fn append_durable<'a>(
        &'a self,
        records: &'a [AuditRecord],
    ) -> BoxFuture<'a, Result<Appended, StoreError>> {
        self.append(records)
    }

    /// Appends admin events to the [`AuditStream::Admin`] stream.
    fn append_admin<'a>(
        &'a self,
        events: &'a [AdminEvent],
    ) -> BoxFuture<'a, Result<Appended, StoreError>>;
}

/// What retention did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// How many records were deleted.
    pub deleted: u64,
    /// Where the stream's chain now starts (unchanged when nothing was deleted).
    pub anchor: ChainAnchor,
}

/// Reads, verifies and trims the audit streams.
pub trait AuditStore: AuditSink {
    /// Request records matching `query`.
    fn query<'a>(
        &'a self,
        query: &'a AuditQuery,
    ) -> BoxFuture<'a, Result<Vec<Chained<AuditRecord>>, StoreError>>;

    /// Admin events matching `query`.
    fn query_admin<'a>(
        &'a self,
        query: &'a AdminQuery,
    ) -> BoxFuture<'a, Result<Vec<Chained<AdminEvent>>, StoreError>>;

    /// Walks the whole stream from its anchor and reports the first broken link. A tampered log is a
    /// report with `broken: Some(..)`, not an `Err`; `Err` means the store could not be read.
    fn verify(&self, stream: AuditStream) -> BoxFuture<'_, Result<ChainReport, StoreError>>;

    /// Deletes the oldest records of `stream`, up to (not including) the first one whose time is at or
    /// after `before_ms`, so that what remains is still one unbroken chain; remembers the last deleted
    /// record as the stream's new anchor so [`AuditStore::verify`] stays meaningful.
    fn delete_before(
        &self,
        stream: AuditStream,
        before_ms: u64,
    ) -> BoxFuture<'_, Result<Retention, StoreError>>;
}
