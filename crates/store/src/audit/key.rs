//! The audit log's key, kept outside the store (a file of mode 0600, or an environment variable):
//! the chain's links are HMACs under it, so that someone who can write the database but not read
//! the key cannot re-seal records they edited; and the checkpoints published outside the
//! database are signed with an Ed25519 key derived from it, which anyone holding its public half
//! can check. One secret, three uses, each under its own derivation label.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// HMAC-SHA-256, the keyed chain's link function.
pub type LinkMac = Hmac<Sha256>;

/// Why a key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {reason}")]
    Invalid { origin: String, reason: String },
}

/// The secret, and what is derived from it.
#[derive(Clone)]
pub struct ChainKey {
    link: [u8; 32],
    id: String,
    signing: SigningKey,
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn derive(secret: &[u8; 32], label: &str) -> [u8; 32] {
    let mut mac = LinkMac::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().into()
}

impl ChainKey {
    pub fn from_secret(secret: [u8; 32]) -> ChainKey {
        let id = hex::encode(&Sha256::digest(derive(&secret, "toolgate audit key id"))[..8]);
        ChainKey {
            link: derive(&secret, "toolgate audit chain links"),
            signing: SigningKey::from_bytes(&derive(&secret, "toolgate audit checkpoints")),
            id,
        }
    }

    /// A new random key.
    pub fn generate() -> (ChainKey, String) {
        let secret: [u8; 32] = rand::random();
        (ChainKey::from_secret(secret), hex::encode(secret))
    }

    /// The key written as 64 hex digits (surrounding whitespace ignored); `origin` names where it
    /// came from in errors.
    pub fn parse(text: &str, origin: &str) -> Result<ChainKey, KeyError> {
        let invalid = |reason: &str| KeyError::Invalid {
            origin: origin.to_owned(),
            reason: reason.to_owned(),
        };
        let bytes = hex::decode(text.trim())
            .map_err(|_| invalid("an audit key is 64 hexadecimal digits"))?;
        let secret: [u8; 32] = bytes
            .try_into()
            .map_err(|_| invalid("an audit key is 64 hexadecimal digits (32 bytes)"))?;
        Ok(ChainKey::from_secret(secret))
    }

    /// Reads the key file at `path`, which only its owner may read (as ssh insists for its keys).
    pub fn load(path: &Path) -> Result<ChainKey, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(KeyError::Invalid {
                    origin: path.display().to_string(),
                    reason: format!(
                        "the audit key file is readable by others (mode {:o}); run chmod 600 on it",
                        mode & 0o777
                    ),
                });
            }
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        ChainKey::parse(&text, &path.display().to_string())
    }

    /// Reads the key file at `path`, or creates it with a new key (mode 0600) when there is none;
    /// `true` when it was created.
    pub fn load_or_create(path: &Path) -> Result<(ChainKey, bool), KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(path) {
            Ok(mut file) => {
                let (key, text) = ChainKey::generate();
                file.write_all(format!("{text}\n").as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(io)?;
                Ok((key, true))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok((ChainKey::load(path)?, false))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// A short public name of the key (16 hex digits), recorded with every link it seals, so that
    /// a record sealed with another key is named as such instead of looking edited.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A MAC ready to take one link's input.
    pub fn link_mac(&self) -> LinkMac {
        LinkMac::new_from_slice(&self.link).expect("HMAC takes any key length")
    }

    /// The public half of the checkpoint signing key, in hex.
    pub fn public_key(&self) -> String {
        hex::encode(self.signing.verifying_key().as_bytes())
    }

    /// An Ed25519 signature of `message`, in hex.
    pub fn sign(&self, message: &[u8]) -> String {
        hex::encode(self.signing.sign(message).to_bytes())
    }
}

/// Checks an Ed25519 `signature` (hex) of `message` under `public_key` (hex).
pub fn check_signature(public_key: &str, message: &[u8], signature: &str) -> Result<(), String> {
    let key: [u8; 32] = hex::decode(public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the public key is not 64 hexadecimal digits")?;
    let key = VerifyingKey::from_bytes(&key).map_err(|e| format!("invalid public key: {e}"))?;
    let signature: [u8; 64] = hex::decode(signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the signature is not 128 hexadecimal digits")?;
    key.verify(message, &ed25519_dalek::Signature::from_bytes(&signature))
        .map_err(|_| "the signature does not match".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivations_are_stable_and_distinct() {
        let key = ChainKey::from_secret([7; 32]);
        assert_eq!(key.id().len(), 16);
        assert_eq!(key.id(), ChainKey::from_secret([7; 32]).id());
        assert_ne!(key.id(), ChainKey::from_secret([8; 32]).id());
        let sig = key.sign(b"checkpoint");
        assert_eq!(
            check_signature(&key.public_key(), b"checkpoint", &sig),
            Ok(())
        );
        assert!(check_signature(&key.public_key(), b"checkpoinT", &sig).is_err());
        let other = ChainKey::from_secret([8; 32]);
        assert!(check_signature(&other.public_key(), b"checkpoint", &sig).is_err());
    }

    #[test]
    fn a_key_file_is_created_once_owner_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        let (key, created) = ChainKey::load_or_create(&path).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, created) = ChainKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(again.id(), key.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = ChainKey::load(&path).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");
        }
        assert!(ChainKey::parse("abc", "env").is_err());
    }
}
