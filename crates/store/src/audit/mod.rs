//! The audit log: record types, the hash chain, the store contracts and the JSONL export.

pub mod canonical;
pub mod chain;
mod export;
mod query;
mod record;
mod sink;

pub use chain::{ChainAnchor, ChainBreak, ChainReport, ChainVerifier, GENESIS_HASH};
pub use export::{ExportError, export_admin_jsonl, export_jsonl};
pub use query::{AdminQuery, AuditQuery, CallView};
pub use record::{
    AdminEvent, Appended, AuditDecision, AuditRecord, AuditStream, Chained, RecordPhase,
    UnknownDecision,
};
pub use sink::{AuditSink, AuditStore, Retention};
