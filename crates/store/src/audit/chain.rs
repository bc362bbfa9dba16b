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
//!
//! Keyed links (the current version): with the audit key ([`ChainKey`]), a record is sealed with
//!
//! ```text
//! hash = hex(HMAC-SHA-256(link key, "toolgate-audit-link-v2" ‖ prev_hash ‖ canonical JSON))
//! ```
//!
//! and carries the key's id (`key_id`), so that nobody without the key can re-seal a record they
//! edited. Records sealed before the store had a key keep their plain SHA-256 links and verify as
//! before; a plain link after a keyed one is a break (re-sealed without the key).

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::StoreError;
use crate::audit::canonical::Canonical;
use crate::audit::key::ChainKey;
use crate::audit::{AuditStream, Chained};
use hmac::Mac;

/// What a keyed link's MAC starts with (the link version).
const KEYED_LINK: &[u8] = b"toolgate-audit-link-v2";

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
    hash_with(&mut Vec::new(), prev_hash, seq, record, None)
}

/// The keyed link of `record` at `seq` after `prev_hash`.
pub fn keyed_link_hash<T: Canonical + ?Sized>(
    key: &ChainKey,
    prev_hash: &str,
    seq: u64,
    record: &T,
) -> Result<String, StoreError> {
    hash_with(&mut Vec::new(), prev_hash, seq, record, Some(key))
}

/// [`link_hash`] writing the canonical JSON into `buf` (cleared first), so that a batch reuses one
/// buffer.
fn hash_with<T: Canonical + ?Sized>(
    buf: &mut Vec<u8>,
    prev_hash: &str,
    seq: u64,
    record: &T,
    key: Option<&ChainKey>,
) -> Result<String, StoreError> {
    buf.clear();
    record.write_canonical_json(seq, buf)?;
    Ok(match key {
        None => {
            let mut hasher = Sha256::new();
            hasher.update(prev_hash.as_bytes());
            hasher.update(&buf[..]);
            hex::encode(hasher.finalize())
        }
        Some(key) => {
            let mut mac = key.link_mac();
            mac.update(KEYED_LINK);
            mac.update(prev_hash.as_bytes());
            mac.update(&buf[..]);
            hex::encode(mac.finalize().into_bytes())
        }
    })
}

/// A record's place in its chain, as [`seal`] computes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub seq: u64,
    pub prev_hash: String,
    pub hash: String,
    /// The id of the key that sealed it; `None`: a plain SHA-256 link.
    pub key_id: Option<String>,
}

impl Link {
    /// The record with its place in the chain.
    pub fn chain<T>(self, record: T) -> Chained<T> {
        Chained {
            seq: self.seq,
            prev_hash: self.prev_hash,
            hash: self.hash,
            key_id: self.key_id,
            record,
        }
    }
}

/// Seals `records` onto a chain whose last record is `head`: consecutive sequence numbers from
/// `head.seq + 1`, each linked to the one before, keyed with `key` when there is one. The links
/// come back in the records' order.
pub fn seal<T: Canonical>(
    head: &ChainAnchor,
    records: &[T],
    key: Option<&ChainKey>,
) -> Result<Vec<Link>, StoreError> {
    let mut buf = Vec::with_capacity(1024);
    let mut prev = head.hash.clone();
    let mut out = Vec::with_capacity(records.len());
    for (i, record) in records.iter().enumerate() {
        let seq = head.seq + 1 + i as u64;
        let hash = hash_with(&mut buf, &prev, seq, record, key)?;
        out.push(Link {
            seq,
            prev_hash: std::mem::replace(&mut prev, hash.clone()),
            hash,
            key_id: key.map(|k| k.id().to_owned()),
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
    /// Record `seq` was sealed with the key `key_id`, and no key was given to check it.
    KeyMissing { seq: u64, key_id: String },
    /// Record `seq` was sealed with the key `key_id`, not with the key given (`given`).
    OtherKey {
        seq: u64,
        key_id: String,
        given: String,
    },
    /// Record `seq` has a plain link after keyed ones: re-sealed by someone without the key.
    Unkeyed { seq: u64 },
}

impl ChainBreak {
    /// The first sequence number that cannot be trusted.
    pub fn seq(&self) -> u64 {
        match self {
            ChainBreak::UnexpectedSeq { expected, .. } => *expected,
            ChainBreak::PrevHashMismatch { seq, .. }
            | ChainBreak::HashMismatch { seq, .. }
            | ChainBreak::Unreadable { seq, .. }
            | ChainBreak::HeadMismatch { seq, .. }
            | ChainBreak::KeyMissing { seq, .. }
            | ChainBreak::OtherKey { seq, .. }
            | ChainBreak::Unkeyed { seq } => *seq,
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
            ChainBreak::KeyMissing { seq, key_id } => write!(
                f,
                "record {seq} is sealed with audit key {key_id}, and no key was given to check it (TOOLGATE_AUDIT_KEY, [audit] key_file or --audit-key)"
            ),
            ChainBreak::OtherKey { seq, key_id, given } => write!(
                f,
                "record {seq} is sealed with audit key {key_id}, not with the key given ({given})"
            ),
            ChainBreak::Unkeyed { seq } => write!(
                f,
                "record {seq} has a plain link after keyed records: the chain was re-sealed without the audit key"
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
    /// How many of them are keyed links (the others were sealed before the store had a key).
    #[serde(default)]
    pub keyed: u64,
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
    keyed: u64,
    key: Option<ChainKey>,
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
            keyed: 0,
            key: None,
            broken: None,
        }
    }

    /// Checks keyed links with `key` (without one, a keyed link is a [`ChainBreak::KeyMissing`]).
    pub fn with_key(mut self, key: Option<ChainKey>) -> ChainVerifier {
        self.key = key;
        self
    }

    /// True once a break was found; later records are ignored.
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Checks the next record; returns `false` (and remembers why) at the first broken link.
    pub fn check<T: Canonical>(&mut self, record: &Chained<T>) -> bool {
        self.check_parts(
            record.seq,
            &record.prev_hash,
            &record.hash,
            record.key_id.as_deref(),
            &record.record,
        )
    }

    /// [`ChainVerifier::check`] for a record held in pieces.
    pub fn check_parts<T: Canonical>(
        &mut self,
        seq: u64,
        prev_hash: &str,
        hash: &str,
        key_id: Option<&str>,
        record: &T,
    ) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let key = match (key_id, &self.key) {
            (None, _) if self.keyed > 0 => {
                return self.settle(seq, hash, Some(ChainBreak::Unkeyed { seq }));
            }
            (None, _) => None,
            (Some(id), None) => {
                let key_id = id.to_owned();
                return self.settle(seq, hash, Some(ChainBreak::KeyMissing { seq, key_id }));
            }
            (Some(id), Some(k)) if id != k.id() => {
                let broken = ChainBreak::OtherKey {
                    seq,
                    key_id: id.to_owned(),
                    given: k.id().to_owned(),
                };
                return self.settle(seq, hash, Some(broken));
            }
            (Some(_), Some(k)) => Some(k.clone()),
        };
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
            match hash_with(&mut Vec::new(), prev_hash, seq, record, key.as_ref()) {
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
        if broken.is_none() && key.is_some() {
            self.keyed += 1;
        }
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
            keyed: self.keyed,
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
        let chain: Vec<Chained<Value>> = seal(&ChainAnchor::genesis(), &records, None)
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

    fn sealed(
        head: &ChainAnchor,
        records: &[Value],
        key: Option<&ChainKey>,
    ) -> Vec<Chained<Value>> {
        seal(head, records, key)
            .unwrap()
            .into_iter()
            .zip(records.iter().cloned())
            .map(|(link, r)| link.chain(r))
            .collect()
    }

    fn verify(chain: &[Chained<Value>], key: Option<&ChainKey>) -> ChainReport {
        let mut v = ChainVerifier::new(AuditStream::Requests, ChainAnchor::genesis())
            .with_key(key.cloned());
        for r in chain {
            if !v.check(r) {
                break;
            }
        }
        v.finish(None)
    }

    #[test]
    fn a_plain_prefix_then_keyed_links_verify_with_the_key_only() {
        let key = ChainKey::from_secret([1; 32]);
        let records: Vec<_> = (0..6).map(|i| json!({ "n": i })).collect();
        let mut chain = sealed(&ChainAnchor::genesis(), &records[..3], None);
        let head = ChainAnchor {
            seq: 3,
            hash: chain[2].hash.clone(),
        };
        chain.extend(sealed(&head, &records[3..], Some(&key)));
        assert_eq!(chain[3].key_id.as_deref(), Some(key.id()));
        assert_ne!(
            chain[3].hash,
            link_hash(&head.hash, 4, &records[3]).unwrap()
        );

        let report = verify(&chain, Some(&key));
        assert!(report.is_intact(), "{report:?}");
        assert_eq!((report.checked, report.keyed), (6, 3));

        assert_eq!(
            verify(&chain, None).broken,
            Some(ChainBreak::KeyMissing {
                seq: 4,
                key_id: key.id().to_owned()
            })
        );
        let other = ChainKey::from_secret([2; 32]);
        assert!(matches!(
            verify(&chain, Some(&other)).broken,
            Some(ChainBreak::OtherKey { seq: 4, .. })
        ));
    }

    #[test]
    fn keyed_records_cannot_be_resealed_without_the_key() {
        let key = ChainKey::from_secret([1; 32]);
        let records: Vec<_> = (0..5).map(|i| json!({ "n": i })).collect();
        let chain = sealed(&ChainAnchor::genesis(), &records, Some(&key));

        // Edited and re-sealed from record 3 on with plain links: a plain link after keyed ones.
        let mut edited = records.clone();
        edited[2] = json!({ "n": 99 });
        let head = ChainAnchor {
            seq: 2,
            hash: chain[1].hash.clone(),
        };
        let mut forged = chain[..2].to_vec();
        forged.extend(sealed(&head, &edited[2..], None));
        assert_eq!(
            verify(&forged, Some(&key)).broken,
            Some(ChainBreak::Unkeyed { seq: 3 })
        );
        // Or still marked keyed, hashed with a guessed key: edited.
        let guess = ChainKey::from_secret([3; 32]);
        let mut forged = chain[..2].to_vec();
        forged.extend(
            sealed(&head, &edited[2..], Some(&guess))
                .into_iter()
                .map(|mut r| {
                    r.key_id = Some(key.id().to_owned());
                    r
                }),
        );
        assert!(matches!(
            verify(&forged, Some(&key)).broken,
            Some(ChainBreak::HashMismatch { seq: 3, .. })
        ));
    }
}
