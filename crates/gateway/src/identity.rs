//! Who is calling: the bearer token of a request resolved to a grant and its agent — from the
//! `[grants.*]` of the config, else from the grant store (where revocation and expiry take effect
//! on the next request). Tokens are compared by their SHA-256, so neither the configuration nor
//! the store holds a usable secret.

use crate::server::ServerRuntime;
use crate::settings::GrantSettings;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use toolgate_policy::{Identity, Policy, SourceFormat, compile};
use toolgate_store::{Grant, GrantStore, TokenHash};

/// The identity used by every caller when no grant is configured.
pub const ANONYMOUS: &str = "anonymous";

/// A resolved caller.
#[derive(Debug)]
pub struct Caller {
    pub identity: Identity,
    /// Servers the caller may reach; empty means all.
    pub servers: Vec<String>,
    /// The grant's own policy per server, replacing the server's.
    pub policies: HashMap<String, Arc<Policy>>,
}

impl Caller {
    pub fn may_reach(&self, server: &str) -> bool {
        self.servers.is_empty() || self.servers.iter().any(|s| s == server)
    }

    /// The policy that decides this caller's calls to `server`.
    pub fn policy_for(&self, server: &ServerRuntime) -> Arc<Policy> {
        match self.policies.get(&server.name) {
            Some(p) => p.clone(),
            None => server.policy.load_full(),
        }
    }
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid bearer token")]
    Invalid,
    #[error("credentials cannot be checked right now")]
    Unavailable,
}

fn deny_all() -> Policy {
    compile(
        r#"{"version":"1","default":"deny"}"#,
        "deny-all",
        SourceFormat::Json,
    )
    .expect("a valid policy")
}

/// A grant label and a server name.
type GrantServer = (String, String);
/// A policy's text digest and the policy compiled from it.
type CompiledPolicy = (String, Arc<Policy>);

/// Resolves bearer tokens to callers.
pub struct Authenticator {
    by_hash: HashMap<[u8; 32], Arc<Caller>>,
    anonymous: Arc<Caller>,
    store: Option<Arc<dyn GrantStore>>,
    /// The store holds at least one grant (refreshed by the gateway).
    store_has_grants: Arc<AtomicBool>,
    /// Compiled grant policies, by grant label and server, with the hash of their text.
    compiled: Mutex<HashMap<GrantServer, CompiledPolicy>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("config_grants", &self.by_hash.len())
            .finish()
    }
}

impl Authenticator {
    pub fn new(
        grants: &[GrantSettings],
        store: Option<Arc<dyn GrantStore>>,
        store_has_grants: Arc<AtomicBool>,
    ) -> Self {
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
                    policies: HashMap::new(),
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
            policies: HashMap::new(),
        });
        Authenticator {
            by_hash,
            anonymous,
            store,
            store_has_grants,
            compiled: Mutex::default(),
        }
    }

    /// True when no grant exists (config or store) and every caller is anonymous.
    pub fn is_open(&self) -> bool {
        self.by_hash.is_empty() && !self.store_has_grants.load(Ordering::Relaxed)
    }

    /// Resolves the value of an `Authorization` header.
    pub async fn authenticate(
        &self,
        authorization: Option<&[u8]>,
        now_ms: u64,
    ) -> Result<Arc<Caller>, AuthError> {
        if self.is_open() {
            return Ok(self.anonymous.clone());
        }
        let header = authorization.ok_or(AuthError::Missing)?;
        let token = strip_bearer(header).ok_or(AuthError::Invalid)?;
        let hash: [u8; 32] = Sha256::digest(token).into();
        if let Some(c) = self.by_hash.get(&hash) {
            return Ok(c.clone());
        }
        let Some(store) = &self.store else {
            return Err(AuthError::Invalid);
        };
        match store.get_by_token(&TokenHash(hash), now_ms).await {
            Ok(Some(grant)) => Ok(Arc::new(self.caller_of(&grant))),
            Ok(None) => Err(AuthError::Invalid),
            Err(e) => {
                // Fail closed: a grant that cannot be checked is no grant.
                tracing::error!(error = %e, "cannot read grants; refusing the request");
                Err(AuthError::Unavailable)
            }
        }
    }

    /// A caller from a stored grant, its policies compiled once per text.
    fn caller_of(&self, grant: &Grant) -> Caller {
        let mut policies = HashMap::new();
        let mut compiled = self.compiled.lock();
        for (server, text) in &grant.policies {
            let key = (grant.label.clone(), server.clone());
            let digest = hex::encode(Sha256::digest(text.as_bytes()));
            let policy = match compiled.get(&key) {
                Some((d, p)) if *d == digest => p.clone(),
                _ => {
                    let origin = format!("grant {}/{server}", grant.label);
                    let format = if text.trim_start().starts_with('{') {
                        SourceFormat::Json
                    } else {
                        SourceFormat::Yaml
                    };
                    // A stored policy was validated when the grant was made; if it no longer
                    // compiles, this grant may call nothing on that server.
                    let p = Arc::new(compile(text, &origin, format).unwrap_or_else(|d| {
                        tracing::error!(grant = %grant.label, server, "stored grant policy is invalid:\n{d}");
                        deny_all()
                    }));
                    compiled.insert(key, (digest, p.clone()));
                    p
                }
            };
            policies.insert(server.clone(), policy);
        }
        Caller {
            identity: Identity {
                agent: grant.agent.clone(),
                grant: grant.label.clone(),
                tags: grant.tags.clone(),
            },
            servers: grant.servers.clone(),
            policies,
        }
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

    fn open() -> Arc<AtomicBool> {
        Arc::new(AtomicBool::new(false))
    }

    #[tokio::test]
    async fn open_gateway_is_anonymous() {
        let a = Authenticator::new(&[], None, open());
        assert_eq!(
            a.authenticate(None, 0).await.unwrap().identity.agent,
            ANONYMOUS
        );
    }

    #[tokio::test]
    async fn tokens_resolve_to_their_grant() {
        let a = Authenticator::new(&[grant("alice-laptop", "s3cret")], None, open());
        let c = a.authenticate(Some(b"Bearer s3cret"), 0).await.unwrap();
        assert_eq!(c.identity.grant, "alice-laptop");
        assert!(c.may_reach("crm") && !c.may_reach("files"));
        assert_eq!(
            a.authenticate(Some(b"bearer s3cret"), 0)
                .await
                .unwrap()
                .identity
                .agent,
            "alice"
        );
        assert_eq!(
            a.authenticate(None, 0).await.unwrap_err(),
            AuthError::Missing
        );
        assert_eq!(
            a.authenticate(Some(b"Bearer nope"), 0).await.unwrap_err(),
            AuthError::Invalid
        );
        assert_eq!(
            a.authenticate(Some(b"Basic s3cret"), 0).await.unwrap_err(),
            AuthError::Invalid
        );
        assert_eq!(
            a.authenticate(Some(b"Bearer "), 0).await.unwrap_err(),
            AuthError::Invalid
        );
    }

    #[tokio::test]
    async fn stored_grants_revoke_and_expire_on_the_next_request() {
        let store = Arc::new(toolgate_store::MemoryStore::new());
        let new = |label: &str, token: &str, expires: Option<u64>| toolgate_store::NewGrant {
            label: label.into(),
            agent: "bob".into(),
            token_sha256: TokenHash(Sha256::digest(token.as_bytes()).into()),
            servers: vec!["crm".into()],
            policies: [(
                "crm".to_owned(),
                r#"{"version":"1","default":"deny"}"#.to_owned(),
            )]
            .into(),
            tags: vec![],
            expires_at_ms: expires,
            created_at_ms: 0,
        };
        store.create(new("bob-ci", "t1", None)).await.unwrap();
        store
            .create(new("bob-old", "t2", Some(1_000)))
            .await
            .unwrap();
        let a = Authenticator::new(&[], Some(store.clone()), Arc::new(AtomicBool::new(true)));
        let c = a.authenticate(Some(b"Bearer t1"), 10).await.unwrap();
        assert_eq!(
            (c.identity.agent.as_str(), c.identity.grant.as_str()),
            ("bob", "bob-ci")
        );
        assert!(c.policies.contains_key("crm"));
        assert!(a.authenticate(Some(b"Bearer t2"), 999).await.is_ok());
        assert_eq!(
            a.authenticate(Some(b"Bearer t2"), 1_000).await.unwrap_err(),
            AuthError::Invalid
        );
        store.revoke("bob-ci", 20).await.unwrap();
        assert_eq!(
            a.authenticate(Some(b"Bearer t1"), 21).await.unwrap_err(),
            AuthError::Invalid
        );
    }
}
