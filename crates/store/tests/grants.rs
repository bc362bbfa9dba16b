//! Grants on both backends: create, look up by token hash, expiry (and changing it), revocation and
//! rotation taking effect on the next lookup, conflicts, and persistence across reopening the
//! SQLite file.

mod common;

use std::collections::BTreeMap;

use toolgate_store::token::{self, TokenHash};
use toolgate_store::{GrantStore, MemoryStore, NewGrant, SqliteStore, StoreError};

fn new_grant(label: &str, token: &TokenHash, expires_at_ms: Option<u64>) -> NewGrant {
    NewGrant {
        label: label.into(),
        agent: "alice".into(),
        token_sha256: *token,
        servers: vec!["crm".into(), "files".into()],
        policies: BTreeMap::from([("crm".into(), r#"{"version":"1","default":"allow"}"#.into())]),
        tags: vec!["laptop".into()],
        expires_at_ms,
        created_at_ms: 1_000,
    }
}

async fn lifecycle(store: &dyn GrantStore) {
    let t1 = token::generate();
    let created = store
        .create(new_grant("alice-laptop", &t1.hash(), None))
        .await
        .unwrap();
    assert_eq!(created.label, "alice-laptop");
    assert_eq!(created.revoked_at_ms, None);

    let found = store
        .get_by_token(&token::hash(t1.as_str()), 2_000)
        .await
        .unwrap();
    assert_eq!(
        found.as_ref(),
        Some(&created),
        "looked up by the hash of the token"
    );
    assert_eq!(
        found.unwrap().policies["crm"],
        r#"{"version":"1","default":"allow"}"#
    );
    assert_eq!(
        store
            .get_by_token(&token::hash("tg_other"), 2_000)
            .await
            .unwrap(),
        None
    );

    // Conflicts: same label (even with another token), same token (under another label).
    let t2 = token::generate();
    assert!(matches!(
        store.create(new_grant("alice-laptop", &t2.hash(), None)).await,
        Err(StoreError::GrantExists { label }) if label == "alice-laptop"
    ));
    assert!(matches!(
        store.create(new_grant("bob", &t1.hash(), None)).await,
        Err(StoreError::TokenInUse { label }) if label == "bob"
    ));

    // Expiry is checked against the time passed in; a grant expires AT expires_at_ms.
    let t3 = token::generate();
    store
        .create(new_grant("ci-runner", &t3.hash(), Some(5_000)))
        .await
        .unwrap();
    assert!(
        store
            .get_by_token(&t3.hash(), 4_999)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .get_by_token(&t3.hash(), 5_000)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store.get("ci-runner").await.unwrap().is_some(),
        "expired grants are still listed"
    );

    // Rotation: the old token stops working at once, the new one works, the rest is kept.
    let t4 = token::generate();
    let rotated = store
        .rotate("alice-laptop", t4.hash(), 3_000)
        .await
        .unwrap();
    assert_eq!(rotated.rotated_at_ms, Some(3_000));
    assert_eq!(rotated.token_sha256, t4.hash());
    assert_eq!(rotated.servers, created.servers);
    assert!(
        store
            .get_by_token(&t1.hash(), 3_001)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .get_by_token(&t4.hash(), 3_001)
            .await
            .unwrap()
            .map(|g| g.label),
        Some("alice-laptop".into())
    );
    assert!(matches!(
        store.rotate("alice-laptop", t3.hash(), 3_002).await,
        Err(StoreError::TokenInUse { .. })
    ));
    assert!(matches!(
        store.rotate("nobody", t2.hash(), 3_002).await,
        Err(StoreError::GrantNotFound { label }) if label == "nobody"
    ));

    // Revocation: the next lookup fails; revoking again keeps the first time; no rotation after.
    let revoked = store.revoke("alice-laptop", 4_000).await.unwrap();
    assert_eq!(revoked.revoked_at_ms, Some(4_000));
    assert!(
        store
            .get_by_token(&t4.hash(), 4_001)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .revoke("alice-laptop", 4_500)
            .await
            .unwrap()
            .revoked_at_ms,
        Some(4_000)
    );
    assert!(matches!(
        store.rotate("alice-laptop", t2.hash(), 4_600).await,
        Err(StoreError::GrantRevoked { .. })
    ));
    assert!(matches!(
        store.revoke("nobody", 4_600).await,
        Err(StoreError::GrantNotFound { .. })
    ));

    let labels: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.label)
        .collect();
    assert_eq!(
        labels,
        ["alice-laptop", "ci-runner"],
        "revoked and expired grants are listed, by label"
    );
}

/// A grant's own policy per server is set, replaced and taken away; a revoked or unknown grant
/// gets none.
async fn own_policies(store: &dyn GrantStore) {
    let t = token::generate();
    store
        .create(new_grant("bob", &t.hash(), None))
        .await
        .unwrap();
    let deny = r#"{"version":"1","default":"deny"}"#;
    let g = store
        .set_policy("bob", "files", Some(deny.into()))
        .await
        .unwrap();
    assert_eq!(g.policies["files"], deny);
    assert_eq!(g.policies.len(), 2, "the crm policy is kept");
    let g = store.set_policy("bob", "crm", None).await.unwrap();
    assert!(!g.policies.contains_key("crm"));
    let found = store.get_by_token(&t.hash(), 2_000).await.unwrap().unwrap();
    assert_eq!(
        found.policies,
        BTreeMap::from([("files".into(), deny.into())])
    );
    assert!(matches!(
        store.set_policy("nobody", "crm", None).await,
        Err(StoreError::GrantNotFound { .. })
    ));
    store.revoke("bob", 3_000).await.unwrap();
    assert!(matches!(
        store.set_policy("bob", "crm", Some(deny.into())).await,
        Err(StoreError::GrantRevoked { .. })
    ));
}

/// An expiry changed after creation holds from the next lookup: past, the grant stops working;
/// later or never, it works again; a revoked or unknown grant gets none.
async fn expiry_changes(store: &dyn GrantStore) {
    let t = token::generate();
    store
        .create(new_grant("carol", &t.hash(), Some(10_000)))
        .await
        .unwrap();
    let g = store.set_expiry("carol", Some(2_000)).await.unwrap();
    assert_eq!(g.expires_at_ms, Some(2_000));
    assert_eq!(g.policies.len(), 1, "everything else is kept");
    assert_eq!(store.get_by_token(&t.hash(), 3_000).await.unwrap(), None);
    let g = store.set_expiry("carol", None).await.unwrap();
    assert_eq!(g.expires_at_ms, None);
    assert!(
        store
            .get_by_token(&t.hash(), 3_000)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.get("carol").await.unwrap().unwrap().expires_at_ms,
        None
    );
    assert!(matches!(
        store.set_expiry("nobody", None).await,
        Err(StoreError::GrantNotFound { .. })
    ));
    store.revoke("carol", 4_000).await.unwrap();
    assert!(matches!(
        store.set_expiry("carol", None).await,
        Err(StoreError::GrantRevoked { .. })
    ));
}

#[tokio::test]
async fn memory_grant_lifecycle() {
    lifecycle(&MemoryStore::new()).await;
    own_policies(&MemoryStore::new()).await;
    expiry_changes(&MemoryStore::new()).await;
}

#[tokio::test]
async fn sqlite_grant_lifecycle() {
    lifecycle(&SqliteStore::open("sqlite::memory:").await.unwrap()).await;
    own_policies(&SqliteStore::open("sqlite::memory:").await.unwrap()).await;
    expiry_changes(&SqliteStore::open("sqlite::memory:").await.unwrap()).await;
}

#[tokio::test]
async fn sqlite_grants_survive_reopening_and_are_stored_hashed() {
    let (_dir, path, url) = common::temp_db();
    let t = token::generate();
    {
        let store = SqliteStore::open(&url).await.unwrap();
        store
            .create(new_grant("alice-laptop", &t.hash(), None))
            .await
            .unwrap();
        store.close().await;
    }
    let store = SqliteStore::open(&url).await.unwrap();
    let grant = store
        .get_by_token(&t.hash(), 2_000)
        .await
        .unwrap()
        .expect("still there");
    assert_eq!(grant.tags, ["laptop"]);
    store.close().await;

    let bytes = std::fs::read(&path).unwrap();
    let needle = t.as_str().as_bytes();
    assert!(
        !bytes.windows(needle.len()).any(|w| w == needle),
        "the token itself is never written"
    );
}
