//! The hash chain that makes the audit log tamper-evident, and the walk that checks it.
//!
//! Each stream is its own chain. Record `seq` stores `prev_hash` (the hash of record `seq - 1`, or
//! [`GENESIS_HASH`] for `seq = 1`) and
//!
//! ```text
//! hash = hex(SHA-256(prev_hash as 64 lowercase hex characters ‖ canonical JSON of the record))
//! ```
//!
//! where the canonical JSON is the record's serde form with a `"seq"` member added, object keys sorted
//! by their bytes at every depth, no whitespace, strings escaped as serde_json escapes them. Including
//! `seq` binds each record to its position; including `prev_hash` binds it to everything before it.
//! An exported JSONL file carries `seq`, `prev_hash` and `hash`, so it can be checked offline with
//! [`ChainVerifier`] too.
//!
//! Retention deletes a prefix of a chain and keeps a [`ChainAnchor`] (the last deleted record's
//! sequence number and hash); verification then starts from the anchor instead of the genesis.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::StoreError;
use crate::audit::canonical::Canonical;
use crate::audit::{AuditStream, Chained};

/// The `prev_hash` of a stream's first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where a chain starts: the genesis, or the last record deleted by retention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainAnchor {
    /// The sequence number of the last record before the chain (0 for the genesis).
    pub seq: u64,
    /// Its hash ([`GENESIS_HASH`] for the genesis).
    pub hash: String,
}

impl ChainAnchor {
    pub fn genesis() -> ChainAnchor {
        ChainAnchor {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }
}

/// `hex(SHA-256(prev_hash ‖ the canonical JSON of record at seq))` (see [`Canonical`]).
pub fn link_hash<T: Canonical + ?Sized>(
    prev_hash: &str,
    seq: u64,
    record: &T,
) -> Result<String, StoreError> {
    hash_with(&mut Vec::new(), prev_hash, seq, record)
}

/// [`link_hash`] writing the canonical JSON into `buf` (cleared first), so that a batch reuses one
/// buffer.
fn hash_with<T: Canonical + ?Sized>(
    buf: &mut Vec<u8>,
    prev_hash: &str,
    seq: u64,
    record: &T,
) -> Result<String, StoreError> {
    buf.clear();
    record.write_canonical_json(seq, buf)?;
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(&buf[..]);
    Ok(hex::encode(hasher.finalize()))
}

/// A record's place in its chain, as [`seal`] computes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub seq: u64,
    pub prev_hash: String,
    pub hash: String,
}

impl Link {
    /// The record with its place in the chain.
    pub fn chain<T>(self, record: T) -> Chained<T> {
        Chained {
            seq: self.seq,
            prev_hash: self.prev_hash,
            hash: self.hash,
            record,
        }
    }
}

/// Seals `records` onto a chain whose last record is `head`: consecutive sequence numbers from
/// `head.seq + 1`, each linked to the one before. The links come back in the records' order.
pub fn seal<T: Canonical>(head: &ChainAnchor, records: &[T]) -> Result<Vec<Link>, StoreError> {
    let mut buf = Vec::with_capacity(1024);
    let mut prev = head.hash.clone();
    let mut out = Vec::with_capacity(records.len());
    for (i, record) in records.iter().enumerate() {
        let seq = head.seq + 1 + i as u64;
        let hash = hash_with(&mut buf, &prev, seq, record)?;
        out.push(Link {
            seq,
            prev_hash: std::mem::replace(&mut prev, hash.clone()),
            hash,
        });
    }
    Ok(out)
}

/// The first broken link of a chain. Every variant names the sequence number where the chain stops
/// being trustworthy ([`ChainBreak::seq`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChainBreak {
    /// The record at `expected` is missing: the next record found is `found` (records deleted), or
    /// `found` comes before `expected` (records duplicated or renumbered).
    UnexpectedSeq { expected: u64, found: u64 },
    /// Record `seq` does not point at the record before it: records were reordered, or the one before
    /// was replaced.
    PrevHashMismatch {
        seq: u64,
        expected: String,
        found: String,
    },
    /// Record `seq`'s content does not hash to its stored hash: it was edited.
    HashMismatch {
        seq: u64,
        stored: String,
        computed: String,
    },
    /// Record `seq` cannot even be read back (a field edited to something no record can hold).
    Unreadable { seq: u64, message: String },
    /// The chain ends at `last_seq` but the store's head says it reached `head_seq`: records at the end
    /// were deleted.
    Truncated { last_seq: u64, head_seq: u64 },
    /// The chain's last hash is not the head the store recorded: the last records were rewritten.
    HeadMismatch {
        seq: u64,
        head_hash: String,
        found: String,
    },
}

impl ChainBreak {
    /// The first sequence number that cannot be trusted.
    pub fn seq(&self) -> u64 {
        match self {
            ChainBreak::UnexpectedSeq { expected, .. } => *expected,
            ChainBreak::PrevHashMismatch { seq, .. }
            | ChainBreak::HashMismatch { seq, .. }
            | ChainBreak::Unreadable { seq, .. }
            | ChainBreak::HeadMismatch { seq, .. } => *seq,
            ChainBreak::Truncated { last_seq, .. } => last_seq + 1,
        }
    }
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainBreak::UnexpectedSeq { expected, found } if found > expected => write!(
                f,
                "record {expected} is missing (the next record is {found}): records were deleted"
            ),
            ChainBreak::UnexpectedSeq { expected, found } => write!(
                f,
                "record {found} appears where record {expected} should be: records were duplicated or renumbered"
            ),
            ChainBreak::PrevHashMismatch {
                seq,
                expected,
                found,
            } => write!(
                f,
                "record {seq} does not follow record {}: its prev_hash is {found}, expected {expected} (records reordered or replaced)",
                seq - 1
            ),
            ChainBreak::HashMismatch {
                seq,
                stored,
                computed,
            } => write!(
                f,
                "record {seq} was edited: its stored hash is {stored} but its content hashes to {computed}"
            ),
            ChainBreak::Unreadable { seq, message } => {
                write!(f, "record {seq} is unreadable: {message}")
            }
            ChainBreak::Truncated { last_seq, head_seq } => write!(
                f,
                "the chain ends at record {last_seq} but reached record {head_seq}: records at the end were deleted"
            ),
            ChainBreak::HeadMismatch {
                seq,
                head_hash,
                found,
            } => write!(
                f,
                "record {seq} ends the chain with hash {found}, but the recorded head is {head_hash}"
            ),
        }
    }
}

/// The result of verifying one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainReport {
    pub stream: AuditStream,
    /// Where verification started (the genesis, or a retention checkpoint).
    pub anchor: ChainAnchor,
    /// Records whose links were checked before the first break (all of them when intact).
    pub checked: u64,
    /// The last record checked and found sound.
    pub last_seq: u64,
    /// The first broken link; `None` when the chain is intact.
    pub broken: Option<ChainBreak>,
}

impl ChainReport {
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// Walks a chain record by record, in sequence order, stopping at the first broken link.
#[derive(Debug)]
pub struct ChainVerifier {
    stream: AuditStream,
    anchor: ChainAnchor,
    last_seq: u64,
    last_hash: String,
    checked: u64,
    broken: Option<ChainBreak>,
}

impl ChainVerifier {
    pub fn new(stream: AuditStream, anchor: ChainAnchor) -> ChainVerifier {
        ChainVerifier {
            stream,
            last_seq: anchor.seq,
            last_hash: anchor.hash.clone(),
            anchor,
            checked: 0,
            broken: None,
        }
    }

    /// True once a break was found; later records are ignored.
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Checks the next record; returns `false` (and remembers why) at the first broken link.
    pub fn check<T: Canonical>(&mut self, record: &Chained<T>) -> bool {
        self.check_parts(record.seq, &record.prev_hash, &record.hash, &record.record)
    }

    /// [`ChainVerifier::check`] for a record held in pieces.
    pub fn check_parts<T: Canonical>(
        &mut self,
        seq: u64,
        prev_hash: &str,
        hash: &str,
        record: &T,
    ) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let expected = self.last_seq + 1;
        let broken = if seq != expected {
            Some(ChainBreak::UnexpectedSeq {
                expected,
                found: seq,
            })
        } else if prev_hash != self.last_hash {
            Some(ChainBreak::PrevHashMismatch {
                seq,
                expected: self.last_hash.clone(),
                found: prev_hash.to_owned(),
            })
        } else {
            match link_hash(prev_hash, seq, record) {
                Ok(computed) if computed == hash => None,
                Ok(computed) => Some(ChainBreak::HashMismatch {
                    seq,
                    stored: hash.to_owned(),
                    computed,
                }),
                Err(e) => Some(ChainBreak::Unreadable {
                    seq,
                    message: e.to_string(),
                }),
            }
        };
        self.settle(seq, hash, broken)
    }

    /// Records that record `seq` (expected next) could not be read back.
    pub fn unreadable(&mut self, seq: u64, message: impl Into<String>) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let expected = self.last_seq + 1;
        let broken = if seq != expected {
            ChainBreak::UnexpectedSeq {
                expected,
                found: seq,
            }
        } else {
            ChainBreak::Unreadable {
                seq,
                message: message.into(),
            }
        };
        self.settle(seq, "", Some(broken))
    }

    fn settle(&mut self, seq: u64, hash: &str, broken: Option<ChainBreak>) -> bool {
        match broken {
            Some(b) => {
                self.broken = Some(b);
                false
            }
            None => {
                self.last_seq = seq;
                self.last_hash.clear();
                self.last_hash.push_str(hash);
                self.checked += 1;
                true
            }
        }
    }

    /// After walking records up to `seq` (a prefix about to be deleted by retention): the anchor they
    /// leave behind, or [`StoreError::ChainBroken`] when they do not verify up to `seq` (retention never
    /// launders tampering).
    pub fn prefix_end(&self, seq: u64) -> Result<ChainAnchor, StoreError> {
        let broken = match &self.broken {
            Some(b) => Some(b.clone()),
            None if self.last_seq != seq => Some(ChainBreak::Truncated {
                last_seq: self.last_seq,
                head_seq: seq,
            }),
            None => None,
        };
        match broken {
            Some(broken) => Err(StoreError::ChainBroken {
                stream: self.stream,
                broken: Box::new(broken),
            }),
            None => Ok(ChainAnchor {
                seq,
                hash: self.last_hash.clone(),
            }),
        }
    }

    /// The report, comparing the end of the chain with the store's recorded head when there is one.
    pub fn finish(mut self, head: Option<&ChainAnchor>) -> ChainReport {
        if let (None, Some(head)) = (&self.broken, head) {
            if head.seq > self.last_seq {
                self.broken = Some(ChainBreak::Truncated {
                    last_seq: self.last_seq,
                    head_seq: head.seq,
                });
            } else if head.seq == self.last_seq && head.hash != self.last_hash {
                self.broken = Some(ChainBreak::HeadMismatch {
                    seq: self.last_seq,
                    head_hash: head.hash.clone(),
                    found: self.last_hash.clone(),
                });
            }
        }
        ChainReport {
            stream: self.stream,
            anchor: self.anchor,
            checked: self.checked,
            last_seq: self.last_seq,
            broken: self.broken,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn seal_then_verify_and_each_kind_of_tampering() {
        let records: Vec<_> = (0..5).map(|i| json!({ "n": i })).collect();
        let chain: Vec<Chained<Value>> = seal(&ChainAnchor::genesis(), &records)
            .unwrap()
            .into_iter()
            .zip(records)
            .map(|(link, r)| link.chain(r))
            .collect();
        assert_eq!(chain[0].prev_hash, GENESIS_HASH);
        assert_eq!(chain[1].prev_hash, chain[0].hash);
        let head = ChainAnchor {
            seq: 5,
            hash: chain[4].hash.clone(),
        };
        let run = |c: &[Chained<Value>]| {
            let mut v = ChainVerifier::new(AuditStream::Requests, ChainAnchor::genesis());
            for r in c {
                if !v.check(r) {
                    break;
                }
            }
            v.finish(Some(&head))
        };
        assert!(run(&chain).is_intact());

        let mut edited = chain.clone();
        edited[2].record = json!({ "n": 99 });
        assert!(matches!(
            run(&edited).broken,
            Some(ChainBreak::HashMismatch { seq: 3, .. })
        ));

        let mut deleted = chain.clone();
        deleted.remove(1);
        assert_eq!(
            run(&deleted).broken,
            Some(ChainBreak::UnexpectedSeq {
                expected: 2,
                found: 3
            })
        );

        let mut swapped = chain.clone();
        swapped.swap(1, 2);
        swapped[1].seq = 2;
        swapped[2].seq = 3;
        assert!(matches!(
            run(&swapped).broken,
            Some(ChainBreak::PrevHashMismatch { seq: 2, .. })
        ));

        let report = run(&chain[..4]);
        assert_eq!(
            report.broken,
            Some(ChainBreak::Truncated {
                last_seq: 4,
                head_seq: 5
            })
        );
        assert_eq!(report.broken.unwrap().seq(), 5);
    }
}
