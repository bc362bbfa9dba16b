//! The grant store contract: labelled bearer credentials, looked up by the SHA-256 of their token on every
//! request, so that a revocation, rotation or expiry takes effect on the next request.

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::token::TokenHash;

/// What the operator asks for in `toolgate grant create`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGrant {
    /// Unique among all grants, revoked ones included (`alice-laptop`).
    pub label: String,
    /// The agent the grant belongs to.
    pub agent: String,
    /// The hash of the token; the token itself is never given to the store.
    pub token_sha256: TokenHash,
    /// The servers the grant may reach.
    pub servers: Vec<String>,
    /// The policy document (JSON or YAML text) per server; a server without one denies every call.
    pub policies: BTreeMap<String, String>,
    pub tags: Vec<String>,
    /// The grant stops working at this instant (ms since the Unix epoch).
    pub expires_at_ms: Option<u64>,
    pub created_at_ms: u64,
}

/// A stored grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub label: String,
    pub agent: String,
    #[serde(with = "token_hash_hex")]
    pub token_sha256: TokenHash,
    pub servers: Vec<String>,
    pub policies: BTreeMap<String, String>,
    pub tags: Vec<String>,
    pub expires_at_ms: Option<u64>,
    pub created_at_ms: u64,
    /// When the token was last replaced.
    pub rotated_at_ms: Option<u64>,
    pub revoked_at_ms: Option<u64>,
}

impl Grant {
    /// A grant made from `new`, neither rotated nor revoked.
    pub fn from_new(new: NewGrant) -> Grant {
        Grant {
            label: new.label,
            agent: new.agent,
            token_sha256: new.token_sha256,
            servers: new.servers,
            policies: new.policies,
            tags: new.tags,
            expires_at_ms: new.expires_at_ms,
            created_at_ms: new.created_at_ms,
            rotated_at_ms: None,
            revoked_at_ms: None,
        }
    }

    /// Neither revoked nor expired at `now_ms` (a grant expires AT `expires_at_ms`).
    pub fn is_active(&self, now_ms: u64) -> bool {
        self.revoked_at_ms.is_none() && self.expires_at_ms.is_none_or(|at| now_ms < at)
    }
}

/// Grants shared by every request of a gateway (or of several, for a shared database).
pub trait GrantStore: Send + Sync + 'static {
    /// Stores a new grant. [`StoreError::GrantExists`] if the label is taken (even by a revoked grant),
    /// [`StoreError::TokenInUse`] if another grant has the same token hash.
    fn create(&self, grant: NewGrant) -> BoxFuture<'_, Result<Grant, StoreError>>;

    /// The grant whose token hashes to `token`, or `None` when there is none, or it is revoked, or it
    /// has expired at `now_ms`.
    fn get_by_token<'a>(
        &'a self,
        token: &'a TokenHash,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<Grant>, StoreError>>;

    /// The grant with this label, revoked or expired ones included.
    fn get<'a>(&'a self, label: &'a str) -> BoxFuture<'a, Result<Option<Grant>, StoreError>>;

    /// Every grant, revoked and expired ones included, ordered by label.
    fn list(&self) -> BoxFuture<'_, Result<Vec<Grant>, StoreError>>;

    /// Revokes the grant (idempotent: revoking again keeps the first time). [`StoreError::GrantNotFound`]
    /// if no grant has this label.
    fn revoke<'a>(
        &'a self,
        label: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Grant, StoreError>>;

    /// Replaces the grant's token hash; the old token stops working at once. Everything else is kept.
    /// [`StoreError::GrantNotFound`], [`StoreError::GrantRevoked`] or [`StoreError::TokenInUse`].
    fn rotate<'a>(
        &'a self,
        label: &'a str,
        token: TokenHash,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Grant, StoreError>>;

    /// Gives the grant its own policy (JSON or YAML text, kept as given) for `server`, replacing
    /// any it had, or with `None` takes it away (the server's own applies again). Checking the
    /// text is the caller's job. [`StoreError::GrantNotFound`] or [`StoreError::GrantRevoked`].
    fn set_policy<'a>(
        &'a self,
        label: &'a str,
        server: &'a str,
        text: Option<String>,
    ) -> BoxFuture<'a, Result<Grant, StoreError>>;

    /// Sets when the grant stops working (ms since the Unix epoch; `None`: never), replacing the
    /// expiry it had; an instant already past makes it stop at once, and a later one makes an
    /// expired grant work again. [`StoreError::GrantNotFound`] or [`StoreError::GrantRevoked`].
    fn set_expiry<'a>(
        &'a self,
        label: &'a str,
        expires_at_ms: Option<u64>,
    ) -> BoxFuture<'a, Result<Grant, StoreError>>;
}

mod token_hash_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::token::TokenHash;

    pub fn serialize<S: Serializer>(hash: &TokenHash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hash.to_hex())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TokenHash, D::Error> {
        let s = String::deserialize(d)?;
        TokenHash::from_hex(&s).map_err(serde::de::Error::custom)
    }
}
