//! Kill switches: engage, release, list, and survival across reopening the SQLite file.

mod common;

use toolgate_store::{KillScope, KillSwitchStore, MemoryStore, SqliteStore, blocking_kill_switch};

async fn engage_release(store: &dyn KillSwitchStore) {
    store
        .engage(
            KillScope::Grant("ci-runner".into()),
            Some("leaked".into()),
            10,
        )
        .await
        .unwrap();
    store
        .engage(KillScope::Server("crm".into()), None, 20)
        .await
        .unwrap();
    store
        .engage(KillScope::Global, Some("incident".into()), 30)
        .await
        .unwrap();
    // Engaging again replaces the reason and time.
    store
        .engage(
            KillScope::Server("crm".into()),
            Some("maintenance".into()),
            40,
        )
        .await
        .unwrap();
    let all = store.list().await.unwrap();
    let scopes: Vec<_> = all.iter().map(|s| s.scope.clone()).collect();
    assert_eq!(
        scopes,
        [
            KillScope::Global,
            KillScope::Server("crm".into()),
            KillScope::Grant("ci-runner".into())
        ]
    );
    assert_eq!(all[1].reason.as_deref(), Some("maintenance"));
    assert_eq!(all[1].engaged_at_ms, 40);
    assert!(store.release(&KillScope::Global).await.unwrap());
    assert!(
        !store.release(&KillScope::Global).await.unwrap(),
        "already released"
    );
    let all = store.list().await.unwrap();
    assert_eq!(
        blocking_kill_switch(&all, "files", Some("ci-runner")).map(|s| s.reason.as_deref()),
        Some(Some("leaked"))
    );
    assert!(blocking_kill_switch(&all, "files", Some("alice")).is_none());
}

#[tokio::test]
async fn memory_kill_switches() {
    engage_release(&MemoryStore::new()).await;
}

#[tokio::test]
async fn sqlite_kill_switches() {
    engage_release(&SqliteStore::open("sqlite::memory:").await.unwrap()).await;
}

#[tokio::test]
async fn kill_switches_survive_reopening_the_file() {
    let (_dir, _path, url) = common::temp_db();
    {
        let store = SqliteStore::open(&url).await.unwrap();
        store
            .engage(
                KillScope::Server("crm".into()),
                Some("incident 42".into()),
                7,
            )
            .await
            .unwrap();
        store.engage(KillScope::Global, None, 8).await.unwrap();
        store.release(&KillScope::Global).await.unwrap();
        store.close().await;
    }
    let store = SqliteStore::open(&url).await.unwrap();
    let all = store.list().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].scope, KillScope::Server("crm".into()));
    assert_eq!(all[0].reason.as_deref(), Some("incident 42"));
    assert_eq!(all[0].engaged_at_ms, 7);
}
