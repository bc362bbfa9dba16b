//! Bearer tokens: generated here, shown once, and only ever stored as their SHA-256 ([`TokenHash`]).

use std::fmt;

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

/// Every token this module generates starts with this, so that a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "tg_";

/// Characters after the prefix: 43 base62 characters carry 43 × log2(62) ≈ 256 bits.
const TOKEN_CHARS: usize = 43;

/// A freshly generated token. Its `Debug` does not print it; [`Token::as_str`] is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// The token itself, to be shown to the operator once.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The token itself, owned.
    pub fn into_string(self) -> String {
        self.0
    }

    /// What the store keeps instead of the token.
    pub fn hash(&self) -> TokenHash {
        hash(&self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(tg_…)")
    }
}

/// A new random token: `tg_` followed by 43 base62 characters from the thread-local CSPRNG
/// (ChaCha, seeded by the operating system).
pub fn generate() -> Token {
    let mut token = String::with_capacity(TOKEN_PREFIX.len() + TOKEN_CHARS);
    token.push_str(TOKEN_PREFIX);
    token.extend(
        rand::rng()
            .sample_iter(Alphanumeric)
            .take(TOKEN_CHARS)
            .map(char::from),
    );
    Token(token)
}

/// The SHA-256 of a token's UTF-8 bytes (any token, generated here or not).
pub fn hash(token: &str) -> TokenHash {
    TokenHash(Sha256::digest(token.as_bytes()).into())
}

/// The SHA-256 of a token: what grants are stored and looked up by. Written as 64 lowercase hex
/// characters (the `token_sha256` of the config).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenHash(pub [u8; 32]);

/// A string that is not 64 hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a token hash is 64 hex characters (a SHA-256), got {len} characters{detail}")]
pub struct TokenHashError {
    len: usize,
    detail: &'static str,
}

impl TokenHash {
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters (either case).
    pub fn from_hex(s: &str) -> Result<TokenHash, TokenHashError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| TokenHashError {
            len: s.chars().count(),
            detail: if s.len() == 64 {
                " that are not all hex digits"
            } else {
                ""
            },
        })?;
        Ok(TokenHash(out))
    }
}

impl From<[u8; 32]> for TokenHash {
    fn from(bytes: [u8; 32]) -> TokenHash {
        TokenHash(bytes)
    }
}

impl fmt::Display for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", &self.to_hex()[..12])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_prefixed_base62_and_distinct() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with(TOKEN_PREFIX));
        let body = &a.as_str()[TOKEN_PREFIX.len()..];
        assert_eq!(body.len(), TOKEN_CHARS);
        assert!(body.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(!format!("{a:?}").contains(body));
    }

    #[test]
    fn hash_is_sha256_hex() {
        // sha256("abc")
        assert_eq!(
            hash("abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let h = hash("tg_x");
        assert_eq!(TokenHash::from_hex(&h.to_hex()), Ok(h));
        assert_eq!(
            TokenHash::from_hex(&h.to_hex().to_uppercase()),
            Ok(h),
            "either case"
        );
        assert!(TokenHash::from_hex("abc").is_err());
        assert!(TokenHash::from_hex(&"z".repeat(64)).is_err());
    }
}
