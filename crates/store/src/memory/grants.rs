//! [`GrantStore`] over a map of grants by label.

use futures_util::future::BoxFuture;

use crate::StoreError;
use crate::grant::{Grant, GrantStore, NewGrant};
use crate::memory::MemoryStore;
use crate::token::TokenHash;

fn ready<T: Send + 'static>(v: T) -> BoxFuture<'static, T> {
    Box::pin(std::future::ready(v))
}

impl MemoryStore {
    fn create_now(&self, new: NewGrant) -> Result<Grant, StoreError> {
        let mut grants = self.grants.lock();
        if grants.contains_key(&new.label) {
            return Err(StoreError::GrantExists { label: new.label });
        }
        if grants.values().any(|g| g.token_sha256 == new.token_sha256) {
            return Err(StoreError::TokenInUse { label: new.label });
        }
        let grant = Grant::from_new(new);
        grants.insert(grant.label.clone(), grant.clone());
        Ok(grant)
    }

    fn update(
        &self,
        label: &str,
        f: impl FnOnce(&mut Grant) -> Result<(), StoreError>,
    ) -> Result<Grant, StoreError> {
        let mut grants = self.grants.lock();
        let grant = grants
            .get_mut(label)
            .ok_or_else(|| StoreError::GrantNotFound {
                label: label.to_owned(),
            })?;
        f(grant)?;
        Ok(grant.clone())
    }

    /// [`Self::update`] of a grant that is not revoked.
    fn update_unrevoked(
        &self,
        label: &str,
        f: impl FnOnce(&mut Grant),
    ) -> Result<Grant, StoreError> {
        self.update(label, |g| {
            if g.revoked_at_ms.is_some() {
                return Err(StoreError::GrantRevoked {
                    label: label.to_owned(),
                });
            }
            f(g);
            Ok(())
        })
    }
}

impl GrantStore for MemoryStore {
    fn create(&self, grant: NewGrant) -> BoxFuture<'_, Result<Grant, StoreError>> {
        ready(self.create_now(grant))
    }

    fn get_by_token<'a>(
        &'a self,
        token: &'a TokenHash,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<Grant>, StoreError>> {
        let grants = self.grants.lock();
        let found = grants
            .values()
            .find(|g| g.token_sha256 == *token && g.is_active(now_ms))
            .cloned();
        ready(Ok(found))
    }

    fn get<'a>(&'a self, label: &'a str) -> BoxFuture<'a, Result<Option<Grant>, StoreError>> {
        ready(Ok(self.grants.lock().get(label).cloned()))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<Grant>, StoreError>> {
        ready(Ok(self.grants.lock().values().cloned().collect()))
    }

    fn revoke<'a>(
        &'a self,
        label: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Grant, StoreError>> {
        ready(self.update(label, |g| {
            g.revoked_at_ms.get_or_insert(now_ms);
            Ok(())
        }))
    }

    fn rotate<'a>(
        &'a self,
        label: &'a str,
        token: TokenHash,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Grant, StoreError>> {
        let taken = self
            .grants
            .lock()
            .values()
            .any(|g| g.token_sha256 == token && g.label != label);
        if taken {
            return ready(Err(StoreError::TokenInUse {
                label: label.to_owned(),
            }));
        }
        ready(self.update_unrevoked(label, |g| {
            g.token_sha256 = token;
            g.rotated_at_ms = Some(now_ms);
        }))
    }

    fn set_policy<'a>(
        &'a self,
        label: &'a str,
        server: &'a str,
        text: Option<String>,
    ) -> BoxFuture<'a, Result<Grant, StoreError>> {
        ready(self.update_unrevoked(label, |g| {
            match text {
                Some(t) => g.policies.insert(server.to_owned(), t),
                None => g.policies.remove(server),
            };
        }))
    }

    fn set_expiry<'a>(
        &'a self,
        label: &'a str,
        expires_at_ms: Option<u64>,
    ) -> BoxFuture<'a, Result<Grant, StoreError>> {
        ready(self.update_unrevoked(label, |g| {
            g.expires_at_ms = expires_at_ms;
        }))
    }
}
