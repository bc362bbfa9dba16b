//! The audit log: record types, the hash chain and its key, signed checkpoints, the store
//! contracts and the JSONL export.

pub mod canonical;
pub mod chain;
pub mod checkpoint;
mod export;
pub mod key;
mod query;
mod record;
mod sink;

pub use chain::{ChainAnchor, ChainBreak, ChainReport, ChainVerifier, GENESIS_HASH};
pub use checkpoint::Checkpoint;
pub use export::{ExportError, export_admin_jsonl, export_jsonl};
pub use key::ChainKey;
pub use query::{AdminQuery, AuditQuery, CallView};
pub use record::{
    AdminEvent, Appended, AuditDecision, AuditRecord, AuditStream, Chained, RecordPhase,
    UnknownDecision,
};
pub use sink::{AuditSink, AuditStore, Retention};
