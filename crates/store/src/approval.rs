//! The approval store contract: tool calls held for a human's decision (`action: "require_approval"`).
//!
//! An approval covers exactly one call: its [`ApprovalBinding`] (grant, agent, server, tool, the digest of
//! the canonicalised arguments, the policy version) and its expiry. It is created `Pending`; an operator
//! approves or denies it (from the CLI or the admin API, possibly in another process) before it expires;
//! a pending one past its expiry becomes `Expired` ([`ApprovalStore::expire_due`]). A hold-mode approval
//! is consumed by the request that waits for it ([`ApprovalStore::mark_used`]). Once its caller has left
//! — at once in retry mode; in hold mode when the hold ran out or the client went away
//! ([`ApprovalStore::caller_left`]) — an approved approval is consumed by the one identical retry that
//! [`ApprovalStore::take_approved`] finds (single use, atomic across processes), and a pending hold-mode
//! one can be waited on again by that retry ([`ApprovalStore::rejoin`]).
//!
//! Every change (creation, decision, expiry, use) gives the approval a new, strictly increasing change
//! sequence number, so that a gateway can poll for what other processes did:
//! [`ApprovalStore::changed_since`] with the highest [`Approval::seq`] it has seen.

use std::fmt;

use futures_util::future::BoxFuture;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::StoreError;

/// Every approval id starts with this.
pub const APPROVAL_ID_PREFIX: &str = "apv_";

/// Characters after the prefix: 16 base62 characters carry ≈ 95 bits.
const APPROVAL_ID_CHARS: usize = 16;

/// A new random approval id: `apv_` followed by 16 base62 characters from the thread-local CSPRNG.
pub fn new_approval_id() -> String {
    let mut id = String::with_capacity(APPROVAL_ID_PREFIX.len() + APPROVAL_ID_CHARS);
    id.push_str(APPROVAL_ID_PREFIX);
    id.extend(
        rand::rng()
            .sample_iter(Alphanumeric)
            .take(APPROVAL_ID_CHARS)
            .map(char::from),
    );
    id
}

/// The hex SHA-256 of the canonical JSON of a call's arguments: object keys sorted (by their UTF-8
/// bytes) at every depth, no whitespace, strings and numbers as serde_json writes them. Two argument
/// values that differ only in key order or formatting have the same digest; `1` and `1.0` do not.
pub fn args_digest(arguments: &Value) -> String {
    let mut canonical = Vec::with_capacity(128);
    crate::audit::canonical::write_canonical(arguments, &mut canonical);
    hex::encode(Sha256::digest(&canonical))
}

/// [`args_digest`] of the arguments exactly as the client sent them (`None`: it sent none, `{}`):
/// numbers are hashed as written, so an approval of `{"n": 18446744073709551616}` is not one of
/// `{"n": 18446744073709551617}`, which a float would confuse. For arguments whose numbers are
/// plain integers or as serde_json writes them, the two digests are the same.
pub fn args_digest_exact(
    arguments: Option<&serde_json::value::RawValue>,
) -> Result<String, serde_json::Error> {
    let mut canonical = Vec::with_capacity(128);
    match arguments {
        Some(raw) if raw.get().trim_ascii() != "null" => {
            crate::audit::canonical::write_canonical_exact(raw, &mut canonical)?
        }
        _ => canonical.extend_from_slice(b"{}"),
    }
    Ok(hex::encode(Sha256::digest(&canonical)))
}

/// How the client waits for the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalMode {
    /// The client's request stays open until the decision or the timeout.
    Hold,
    /// The client is told at once that approval is pending, and retries the identical call once approved.
    Retry,
}

impl ApprovalMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalMode::Hold => "hold",
            ApprovalMode::Retry => "retry",
        }
    }

    /// The inverse of [`ApprovalMode::as_str`].
    pub fn parse(s: &str) -> Option<ApprovalMode> {
        match s {
            "hold" => Some(ApprovalMode::Hold),
            "retry" => Some(ApprovalMode::Retry),
            _ => None,
        }
    }
}

impl fmt::Display for ApprovalMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an approval is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for a decision.
    Pending,
    /// Approved, not used yet.
    Approved,
    /// Denied by an operator.
    Denied,
    /// No decision before the expiry: a denial with its own reason.
    Expired,
    /// Approved and consumed by its one call.
    Used,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
            ApprovalStatus::Used => "used",
        }
    }

    /// The inverse of [`ApprovalStatus::as_str`].
    pub fn parse(s: &str) -> Option<ApprovalStatus> {
        match s {
            "pending" => Some(ApprovalStatus::Pending),
            "approved" => Some(ApprovalStatus::Approved),
            "denied" => Some(ApprovalStatus::Denied),
            "expired" => Some(ApprovalStatus::Expired),
            "used" => Some(ApprovalStatus::Used),
            _ => None,
        }
    }

    /// Denied, expired or used: nothing can happen to it any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ApprovalStatus::Denied | ApprovalStatus::Expired | ApprovalStatus::Used
        )
    }
}

impl fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Exactly which call an approval covers. A call matches only when every field is equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ApprovalBinding {
    /// The grant (label) the call was made with; `None` for `toolgate wrap` (no grants).
    pub grant: Option<String>,
    pub agent: String,
    pub server: String,
    pub tool: String,
    /// [`args_digest`] of the call's arguments.
    pub args_digest: String,
    /// The version of the policy that asked for the approval; a reload invalidates the approval.
    pub policy_version: String,
}

/// What the gateway records when a call needs approval.
#[derive(Debug, Clone, PartialEq)]
pub struct NewApproval {
    pub mode: ApprovalMode,
    pub binding: ApprovalBinding,
    /// The rule that asked for approval (a JSON pointer into the policy).
    pub rule: String,
    /// The arguments as the audit settings allow them to be kept (redacted, or `None`).
    pub arguments: Option<Value>,
    pub created_at_ms: u64,
    /// No decision by then is a denial; an approved call must be used before then too.
    pub expires_at_ms: u64,
}

/// A stored approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// `apv_` + 16 base62 characters ([`new_approval_id`]).
    pub id: String,
    /// The change sequence number of its last change (see [`ApprovalStore::changed_since`]).
    pub seq: u64,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
    pub mode: ApprovalMode,
    pub status: ApprovalStatus,
    pub binding: ApprovalBinding,
    pub rule: String,
    pub arguments: Option<Value>,
    /// Who approved or denied it.
    pub decided_by: Option<String>,
    /// The approver's note (shown to the agent on a denial).
    pub note: Option<String>,
    pub decided_at_ms: Option<u64>,
    /// When its call consumed it.
    pub used_at_ms: Option<u64>,
    /// When its caller stopped waiting for the decision: at creation in retry mode; in hold mode when
    /// the hold ran out (the caller was told to retry) or the client went away. `None` while a held
    /// call waits. From then on, once approved, the identical retry may use it.
    #[serde(default)]
    pub caller_left_at_ms: Option<u64>,
}

impl Approval {
    /// A pending approval made from `new`.
    pub fn from_new(id: String, seq: u64, new: NewApproval) -> Approval {
        Approval {
            id,
            seq,
            created_at_ms: new.created_at_ms,
            expires_at_ms: new.expires_at_ms,
            mode: new.mode,
            status: ApprovalStatus::Pending,
            binding: new.binding,
            rule: new.rule,
            arguments: new.arguments,
            decided_by: None,
            note: None,
            decided_at_ms: None,
            used_at_ms: None,
            // A retry-mode caller is answered at once: it has left as the approval is made.
            caller_left_at_ms: (new.mode == ApprovalMode::Retry).then_some(new.created_at_ms),
        }
    }

    /// Expired at `now_ms` (an approval expires AT `expires_at_ms`), whatever its status says.
    pub fn is_expired_at(&self, now_ms: u64) -> bool {
        now_ms >= self.expires_at_ms
    }

    /// Where the approval stands at `now_ms`, as an approver reads it.
    pub fn state_at(&self, now_ms: u64) -> ApprovalState {
        let left = self.caller_left_at_ms.is_some();
        match self.status {
            ApprovalStatus::Pending | ApprovalStatus::Approved if self.is_expired_at(now_ms) => {
                ApprovalState::Expired
            }
            ApprovalStatus::Pending if left => ApprovalState::PendingCallerLeft,
            ApprovalStatus::Pending => ApprovalState::Pending,
            ApprovalStatus::Approved if left => ApprovalState::ApprovedAwaitingRetry,
            ApprovalStatus::Approved => ApprovalState::Approved,
            ApprovalStatus::Used => ApprovalState::Used,
            ApprovalStatus::Denied => ApprovalState::Denied,
            ApprovalStatus::Expired => ApprovalState::Expired,
        }
    }
}

/// Where an approval stands for the person who decides it: its [`ApprovalStatus`] at a given time,
/// with whether a caller still waits for it ([`Approval::state_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApprovalState {
    /// A held call waits for the decision.
    Pending,
    /// No one waits: the caller was told to retry, or went away. Approved, its identical retry passes.
    PendingCallerLeft,
    /// Approved; the call that waited for it is going ahead.
    Approved,
    /// Approved after its caller left: the identical retry passes, once, until it expires.
    ApprovedAwaitingRetry,
    /// Approved and consumed by its one call.
    Used,
    Denied,
    /// Not decided in time, or approved and never retried in time.
    Expired,
}

impl ApprovalState {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::PendingCallerLeft => "pending (caller left)",
            ApprovalState::Approved => "approved",
            ApprovalState::ApprovedAwaitingRetry => "approved (waiting for retry)",
            ApprovalState::Used => "used",
            ApprovalState::Denied => "denied",
            ApprovalState::Expired => "expired",
        }
    }
}

impl fmt::Display for ApprovalState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which approvals [`ApprovalStore::list`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalFilter {
    /// Only approvals in this status.
    pub status: Option<ApprovalStatus>,
    /// Only approvals covering exactly this call.
    pub binding: Option<ApprovalBinding>,
    /// At most this many, newest first.
    pub limit: usize,
}

impl Default for ApprovalFilter {
    fn default() -> ApprovalFilter {
        ApprovalFilter {
            status: None,
            binding: None,
            limit: 100,
        }
    }
}

impl ApprovalFilter {
    /// Approvals in `status`, newest first, at most `limit`.
    pub fn status(status: ApprovalStatus, limit: usize) -> ApprovalFilter {
        ApprovalFilter {
            status: Some(status),
            binding: None,
            limit,
        }
    }
}

/// Approvals shared by every gateway process and the CLI (through the database).
pub trait ApprovalStore: Send + Sync + 'static {
    /// Stores a new pending approval under a fresh id; returns it.
    fn create(&self, approval: NewApproval) -> BoxFuture<'_, Result<Approval, StoreError>>;

    /// The approval with this id, in any status.
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Approval>, StoreError>>;

    /// Approvals matching `filter`, newest first (by creation time, then id).
    fn list(&self, filter: ApprovalFilter) -> BoxFuture<'_, Result<Vec<Approval>, StoreError>>;

    /// Approves (`approve`) or denies a pending approval, recording who and their note.
    ///
    /// [`StoreError::ApprovalNotFound`]; [`StoreError::ApprovalExpired`] when it is past its expiry at
    /// `now_ms` (a pending one is marked `Expired` on the way); [`StoreError::ApprovalNotPending`] when
    /// it was already decided, expired or used.
    fn decide<'a>(
        &'a self,
        id: &'a str,
        approve: bool,
        by: &'a str,
        note: Option<&'a str>,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Approval, StoreError>>;

    /// How many approvals of `grant` (`None`: the anonymous caller's) are pending and not expired
    /// at `now_ms`: what a grant's cap on pending approvals counts.
    fn count_pending<'a>(
        &'a self,
        grant: Option<&'a str>,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<usize, StoreError>>;

    /// Marks every pending approval whose expiry is at or before `now_ms` as `Expired`; returns them
    /// (with their new status), oldest first. Approved, unused ones are left as they are.
    fn expire_due(&self, now_ms: u64) -> BoxFuture<'_, Result<Vec<Approval>, StoreError>>;

    /// The retry of an approved call: atomically finds an `Approved` approval whose caller has left
    /// ([`Approval::caller_left_at_ms`]: every retry-mode one, a hold-mode one after
    /// [`ApprovalStore::caller_left`]) with exactly this binding that has not expired at `now_ms`, marks
    /// it `Used` and returns it. `None` when there is none. Of several concurrent callers (in any
    /// process), exactly one gets a given approval.
    fn take_approved<'a>(
        &'a self,
        binding: &'a ApprovalBinding,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<Approval>, StoreError>>;

    /// Notes that the caller of a held call stopped waiting at `now_ms` (it was told to retry, or went
    /// away); from then on the identical retry may use the approval once approved
    /// ([`ApprovalStore::take_approved`]) or wait for it again ([`ApprovalStore::rejoin`]). Returns the
    /// approval; unchanged when its caller had left already or it is denied, expired or used.
    /// [`StoreError::ApprovalNotFound`].
    fn caller_left<'a>(
        &'a self,
        id: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Approval, StoreError>>;

    /// The identical retry of a held call whose caller left waits for the same decision: atomically
    /// finds a `Pending`, hold-mode approval with exactly this binding whose caller has left and which
    /// has not expired at `now_ms`, clears its [`Approval::caller_left_at_ms`] and returns it. `None` when
    /// there is none. Of several concurrent callers (in any process), exactly one gets a given approval.
    fn rejoin<'a>(
        &'a self,
        binding: &'a ApprovalBinding,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<Approval>, StoreError>>;

    /// Marks an approved approval `Used` (the held call that waited for it is going ahead).
    /// [`StoreError::ApprovalNotFound`], or [`StoreError::ApprovalNotPending`] unless it is `Approved`.
    fn mark_used<'a>(
        &'a self,
        id: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Approval, StoreError>>;

    /// Approvals changed (created, decided, expired, used) after change sequence number `after_seq`, in
    /// change order, at most `limit`. Poll with the highest [`Approval::seq`] seen so far (`0` at first,
    /// or [`ApprovalStore::last_seq`] to skip the past).
    fn changed_since(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Approval>, StoreError>>;

    /// The highest change sequence number so far (`0` when there are no approvals).
    fn last_seq(&self) -> BoxFuture<'_, Result<u64, StoreError>>;
}

/// Checks that a decision on `approval` may be made at `now_ms` (the shared rules of every backend).
/// `Err` carries the error to return and whether the approval must be marked `Expired` first.
pub(crate) fn check_decidable(approval: &Approval, now_ms: u64) -> Result<(), (StoreError, bool)> {
    if approval.status == ApprovalStatus::Pending && approval.is_expired_at(now_ms) {
        return Err((
            StoreError::ApprovalExpired {
                id: approval.id.clone(),
                expired_at_ms: approval.expires_at_ms,
            },
            true,
        ));
    }
    if approval.status == ApprovalStatus::Expired {
        return Err((
            StoreError::ApprovalExpired {
                id: approval.id.clone(),
                expired_at_ms: approval.expires_at_ms,
            },
            false,
        ));
    }
    if approval.status != ApprovalStatus::Pending {
        return Err((
            StoreError::ApprovalNotPending {
                id: approval.id.clone(),
                status: approval.status,
            },
            false,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod exact_digest_tests {
    use super::*;
    use serde_json::value::RawValue;

    fn exact(json: &str) -> String {
        args_digest_exact(Some(&RawValue::from_string(json.into()).unwrap())).unwrap()
    }

    #[test]
    fn integers_beyond_64_bits_keep_their_digits() {
        let a = exact(r#"{"n": 18446744073709551616}"#);
        let b = exact(r#"{"n": 18446744073709551617}"#);
        assert_ne!(a, b);
        // Parsed into a Value first, both are the same float.
        let lossy = |j: &str| args_digest(&serde_json::from_str(j).unwrap());
        assert_eq!(
            lossy(r#"{"n": 18446744073709551616}"#),
            lossy(r#"{"n": 18446744073709551617}"#)
        );
        assert_ne!(exact(r#"{"n": 1e2}"#), exact(r#"{"n": 100}"#));
        assert_ne!(exact(r#"{"n": -0}"#), exact(r#"{"n": 0}"#));
    }

    #[test]
    fn ordinary_arguments_keep_the_digest_they_had() {
        for json in [
            r#"{"b": 1, "a": "x\u00e9\n", "c": [true, null, {"z": -3, "y": 2.5}]}"#,
            r#"{}"#,
            r#"{"id": 1}"#,
        ] {
            let value: serde_json::Value = serde_json::from_str(json).unwrap();
            assert_eq!(exact(json), args_digest(&value), "{json}");
        }
        assert_eq!(
            args_digest_exact(None).unwrap(),
            args_digest(&serde_json::json!({}))
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ids_are_prefixed_base62_and_distinct() {
        let a = new_approval_id();
        let b = new_approval_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 20);
        assert!(a.starts_with("apv_"));
        assert!(a[4..].chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn args_digest_ignores_key_order_and_whitespace() {
        let a: Value =
            serde_json::from_str(r#"{"b": [1, {"y": 2, "x": "é"}], "a": null}"#).unwrap();
        let b = json!({"a": null, "b": [1, {"x": "é", "y": 2}]});
        assert_eq!(args_digest(&a), args_digest(&b));
        assert_eq!(args_digest(&a).len(), 64);
        // The canonical text is `{"a":null,"b":[1,{"x":"é","y":2}]}`.
        let expected = hex::encode(Sha256::digest(r#"{"a":null,"b":[1,{"x":"é","y":2}]}"#));
        assert_eq!(args_digest(&a), expected);
        // Any change to a value, or to array order, changes the digest.
        assert_ne!(
            args_digest(&b),
            args_digest(&json!({"a": null, "b": [1, {"x": "é", "y": 3}]}))
        );
        assert_ne!(args_digest(&json!([1, 2])), args_digest(&json!([2, 1])));
        assert_ne!(args_digest(&json!({})), args_digest(&Value::Null));
    }

    #[test]
    fn statuses_and_modes_round_trip() {
        for s in [
            ApprovalStatus::Pending,
            ApprovalStatus::Approved,
            ApprovalStatus::Denied,
            ApprovalStatus::Expired,
            ApprovalStatus::Used,
        ] {
            assert_eq!(ApprovalStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                Value::String(s.as_str().into())
            );
        }
        for m in [ApprovalMode::Hold, ApprovalMode::Retry] {
            assert_eq!(ApprovalMode::parse(m.as_str()), Some(m));
        }
        assert_eq!(ApprovalStatus::parse("maybe"), None);
    }
}
