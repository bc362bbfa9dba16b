//! Failures of a store itself (not quota rejections, which are a normal [`crate::ReserveOutcome`]).

/// A store could not do its job; the gateway fails closed on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend (database, Redis, ...) failed or is unreachable.
    #[error("{backend} counter store unavailable: {message}")]
    Unavailable {
        backend: &'static str,
        message: String,
    },
    /// The backend answered something this version cannot interpret.
    #[error("{backend} counter store returned an unexpected reply: {message}")]
    Protocol {
        backend: &'static str,
        message: String,
    },
}
