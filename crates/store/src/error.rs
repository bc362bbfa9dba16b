//! Failures of a store itself, and the refusals its operations can give (a label already taken, a grant
//! that does not exist). Quota rejections are not errors: they are a normal [`crate::ReserveOutcome`].

/// A store could not do what was asked; the gateway fails closed on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend (database, Redis, ...) failed or is unreachable.
    #[error("{backend} store unavailable: {message}")]
    Unavailable {
        backend: &'static str,
        message: String,
    },
    /// The backend answered something this version cannot interpret.
    #[error("{backend} store returned an unexpected reply: {message}")]
    Protocol {
        backend: &'static str,
        message: String,
    },
    /// The store URL names no store this build can open, or cannot be parsed.
    #[error("store URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The database could not be brought to the current schema.
    #[error("{backend} store migration {version} failed: {message}")]
    Migration {
        backend: &'static str,
        version: i64,
        message: String,
    },
    /// A stored row could not be read back (edited by hand, or written by a newer version).
    #[error("{what} in the store is unreadable: {message}")]
    Corrupt { what: String, message: String },
    /// A value does not fit the store (e.g. a number above `i64::MAX`).
    #[error("{field} cannot be stored: {message}")]
    InvalidInput {
        field: &'static str,
        message: String,
    },
    /// `create` with a label that another grant (live or revoked) already has.
    #[error("a grant labelled {label:?} already exists")]
    GrantExists { label: String },
    /// `create` or `rotate` with a token hash that another grant already has.
    #[error("the token of grant {label:?} is already used by another grant")]
    TokenInUse { label: String },
    /// No grant has this label.
    #[error("no grant labelled {label:?}")]
    GrantNotFound { label: String },
    /// The grant was revoked; it cannot be rotated.
    #[error("grant {label:?} is revoked")]
    GrantRevoked { label: String },
    /// Retention refused: the records it would delete do not verify.
    #[error("{stream} audit chain is broken, nothing deleted: {broken}")]
    ChainBroken {
        stream: crate::audit::AuditStream,
        broken: Box<crate::audit::ChainBreak>,
    },
    /// No approval has this id.
    #[error("no approval {id:?}")]
    ApprovalNotFound { id: String },
    /// The approval expired (at `expired_at_ms`) before it was decided: the call was denied by timeout.
    #[error("approval {id:?} has expired; its call was denied")]
    ApprovalExpired { id: String, expired_at_ms: u64 },
    /// The approval is not in a state that allows this (already decided, or used).
    #[error("approval {id:?} is {status}")]
    ApprovalNotPending {
        id: String,
        status: crate::ApprovalStatus,
    },
    /// The catalogue has no entry for this tool of this server.
    #[error("the catalogue has no tool {tool:?} on server {server:?}")]
    PinNotFound { server: String, tool: String },
    /// An approval named a version of the tool that is no longer the current one.
    #[error(
        "tool {tool:?} on server {server:?} changed again: its current digest is {current}, not {expected}; review it again"
    )]
    PinDigestMismatch {
        server: String,
        tool: String,
        expected: String,
        current: String,
    },
}
