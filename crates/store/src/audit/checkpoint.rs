//! Signed checkpoints: "the `stream` chain reached record `seq`, whose hash is `head_hash`, at
//! `time_ms`", signed with the audit key's Ed25519 half and published outside the database (a
//! JSONL file, the log). The chain's HMAC stops anyone without the key from re-sealing edited
//! records; a checkpoint also stops them from cutting records it covers, or from replacing the
//! whole chain with plain re-sealed links, because the head it signed is no longer there.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::audit::AuditStream;
use crate::audit::key::{ChainKey, check_signature};

/// One published checkpoint: one line of the checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub stream: AuditStream,
    /// The last record the chain had.
    pub seq: u64,
    /// Its hash.
    pub head_hash: String,
    /// When the checkpoint was made, ms since the Unix epoch.
    pub time_ms: u64,
    /// The audit key whose links the chain had.
    pub key_id: String,
    /// The signing key's public half (hex), for reference: check against a copy kept elsewhere.
    pub public_key: String,
    /// Ed25519 over [`Checkpoint::signed_bytes`], hex.
    pub signature: String,
}

/// Why a checkpoint file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a checkpoint: {message}")]
    Unreadable {
        path: String,
        line: usize,
        message: String,
    },
}

impl Checkpoint {
    /// A checkpoint of `stream` at record `seq` with hash `head_hash`, signed with `key`.
    pub fn sign(
        key: &ChainKey,
        stream: AuditStream,
        seq: u64,
        head_hash: &str,
        time_ms: u64,
    ) -> Checkpoint {
        let mut c = Checkpoint {
            stream,
            seq,
            head_hash: head_hash.to_owned(),
            time_ms,
            key_id: key.id().to_owned(),
            public_key: key.public_key(),
            signature: String::new(),
        };
        c.signature = key.sign(&c.signed_bytes());
        c
    }

    /// What the signature covers: every field but the public key and the signature itself.
    fn signed_bytes(&self) -> Vec<u8> {
        format!(
            "toolgate-audit-checkpoint-v1\n{}\n{}\n{}\n{}\n{}",
            self.stream, self.seq, self.head_hash, self.time_ms, self.key_id
        )
        .into_bytes()
    }

    /// Checks the signature under `public_key` (hex), the key the verifier trusts — never the
    /// one the checkpoint names about itself.
    pub fn check(&self, public_key: &str) -> Result<(), String> {
        check_signature(public_key, &self.signed_bytes(), &self.signature)
    }

    /// Appends this checkpoint as one line to the file at `path` (created if missing), synced.
    pub fn append_to(&self, path: &Path) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        file.write_all(&line)?;
        file.sync_data()
    }

    /// Every checkpoint in the file at `path`, in file order.
    pub fn read_all(path: &Path) -> Result<Vec<Checkpoint>, CheckpointError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CheckpointError::Io {
            path: name.clone(),
            source,
        })?;
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| CheckpointError::Unreadable {
                    path: name.clone(),
                    line: i + 1,
                    message: e.to_string(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_checks_under_its_key_and_not_once_changed() {
        let key = ChainKey::from_secret([9; 32]);
        let c = Checkpoint::sign(&key, AuditStream::Requests, 42, "ab", 1_700_000_000_000);
        assert_eq!(c.check(&key.public_key()), Ok(()));
        let mut moved = c.clone();
        moved.seq = 41;
        assert!(moved.check(&key.public_key()).is_err());
        let mut rehashed = c.clone();
        rehashed.head_hash = "cd".into();
        assert!(rehashed.check(&key.public_key()).is_err());
        // Re-signed with another key: fails under the trusted one, whatever it says about itself.
        let forger = ChainKey::from_secret([1; 32]);
        let forged = Checkpoint::sign(&forger, AuditStream::Requests, 41, "cd", c.time_ms);
        assert!(forged.check(&key.public_key()).is_err());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.jsonl");
        c.append_to(&path).unwrap();
        forged.append_to(&path).unwrap();
        assert_eq!(Checkpoint::read_all(&path).unwrap(), vec![c, forged]);
        std::fs::write(&path, "{}\n").unwrap();
        let err = Checkpoint::read_all(&path).unwrap_err().to_string();
        assert!(err.contains(":1: not a checkpoint"), "{err}");
    }
}
