//! Who is calling: the bearer token of a request resolved to a grant and its agent.
//! Tokens are compared by their SHA-256, so the configuration never holds a usable secret.

use crate::settings::GrantSettings;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use toolgate_policy::Identity;

/// The identity used by every caller when no grant is configured.
pub const ANONYMOUS: &str = "anonymous";

/// A resolved caller.
#[derive(Debug)]
pub struct Caller {
    pub identity: Identity,
    /// Servers the caller may reach; empty means all.
    pub servers: Vec<String>,
}

impl Caller {
    pub fn may_reach(&self, server: &str) -> bool {
        self.servers.is_empty() || self.servers.iter().any(|s| s == server)
    }
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid bearer token")]
    Invalid,
}

/// Resolves bearer tokens to callers.
#[derive(Debug)]
pub struct Authenticator {
    by_hash: HashMap<[u8; 32], Arc<Caller>>,
    anonymous: Arc<Caller>,
}

impl Authenticator {
    pub fn new(grants: &[GrantSettings]) -> Self {
        let by_hash = grants
            .iter()
            .map(|g| {
                let caller = Caller {
                    identity: Identity {
                        agent: g.agent.clone(),
                        grant: g.label.clone(),
                        tags: g.tags.clone(),
                    },
                    servers: g.servers.clone(),
                };
                (g.token_sha256, Arc::new(caller))
            })
            .collect();
        let anonymous = Arc::new(Caller {
            identity: Identity {
                agent: ANONYMOUS.into(),
                grant: ANONYMOUS.into(),
                tags: Vec::new(),
            },
            servers: Vec::new(),
        });
        Authenticator { by_hash, anonymous }
    }

    /// True when no grant is configured and every caller is anonymous.
    pub fn is_open(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Resolves the value of an `Authorization` header.
    pub fn authenticate(&self, authorization: Option<&[u8]>) -> Result<Arc<Caller>, AuthError> {
        if self.is_open() {
            return Ok(self.anonymous.clone());
        }
        let header = authorization.ok_or(AuthError::Missing)?;
        let token = strip_bearer(header).ok_or(AuthError::Invalid)?;
        let hash: [u8; 32] = Sha256::digest(token).into();
        self.by_hash.get(&hash).cloned().ok_or(AuthError::Invalid)
    }
}

fn strip_bearer(header: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = header.split_at_checked(7)?;
    (scheme.eq_ignore_ascii_case(b"bearer ") && !rest.is_empty()).then(|| rest.trim_ascii())
}

/// Hex SHA-256 of a token, as written in `[grants.*] token_sha256`.
pub fn token_hash_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(label: &str, token: &str) -> GrantSettings {
        GrantSettings {
            label: label.into(),
            agent: "alice".into(),
            token_sha256: Sha256::digest(token.as_bytes()).into(),
            servers: vec!["crm".into()],
            tags: vec!["support".into()],
        }
    }

    #[test]
    fn open_gateway_is_anonymous() {
        let a = Authenticator::new(&[]);
        assert_eq!(a.authenticate(None).unwrap().identity.agent, ANONYMOUS);
    }

    #[test]
    fn tokens_resolve_to_their_grant() {
        let a = Authenticator::new(&[grant("alice-laptop", "s3cret")]);
        let c = a.authenticate(Some(b"Bearer s3cret")).unwrap();
        assert_eq!(c.identity.grant, "alice-laptop");
        assert!(c.may_reach("crm") && !c.may_reach("files"));
        assert_eq!(
            a.authenticate(Some(b"bearer s3cret"))
                .unwrap()
                .identity
                .agent,
            "alice"
        );
        assert_eq!(a.authenticate(None).unwrap_err(), AuthError::Missing);
        assert_eq!(
            a.authenticate(Some(b"Bearer nope")).unwrap_err(),
            AuthError::Invalid
        );
        assert_eq!(
            a.authenticate(Some(b"Basic s3cret")).unwrap_err(),
            AuthError::Invalid
        );
        assert_eq!(
            a.authenticate(Some(b"Bearer ")).unwrap_err(),
            AuthError::Invalid
        );
    }
}
