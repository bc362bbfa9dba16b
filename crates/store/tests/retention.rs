//! Retention deletes the oldest records and leaves a checkpoint, so that what remains still verifies,
//! tampering with what remains is still found, and tampered records are never deleted silently.

mod common;

use toolgate_store::audit::{AuditQuery, AuditStream, ChainBreak};
use toolgate_store::{AuditSink, AuditStore, MemoryStore, SqliteStore, StoreError};

async fn retention_keeps_the_chain_verifiable(store: &dyn AuditStore) {
    store.append(&common::records(1, 10)).await.unwrap();
    let all = store.query(&AuditQuery::default()).await.unwrap();

    let nothing = store
        .delete_before(AuditStream::Requests, 500)
        .await
        .unwrap();
    assert_eq!(nothing.deleted, 0);
    assert_eq!(nothing.anchor.seq, 0);

    // Times are seq * 1000: records 1..=4 are older than 5000.
    let retention = store
        .delete_before(AuditStream::Requests, 5_000)
        .await
        .unwrap();
    assert_eq!(retention.deleted, 4);
    assert_eq!(retention.anchor.seq, 4);
    assert_eq!(
        retention.anchor.hash, all[3].hash,
        "the checkpoint is the last deleted record's hash"
    );
    let left = store.query(&AuditQuery::default()).await.unwrap();
    assert_eq!(left.first().map(|r| r.seq), Some(5));

    let report = store.verify(AuditStream::Requests).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(
        (report.anchor.seq, report.checked, report.last_seq),
        (4, 6, 10)
    );

    // Appends go on from the head; deleting again moves the checkpoint.
    store.append(&common::records(11, 12)).await.unwrap();
    assert_eq!(
        store
            .delete_before(AuditStream::Requests, 7_000)
            .await
            .unwrap()
            .deleted,
        2
    );
    let report = store.verify(AuditStream::Requests).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(
        (report.anchor.seq, report.checked, report.last_seq),
        (6, 6, 12)
    );

    // Deleting everything leaves an empty, intact stream that appends continue.
    let all_gone = store
        .delete_before(AuditStream::Requests, u64::MAX / 2)
        .await
        .unwrap();
    assert_eq!((all_gone.deleted, all_gone.anchor.seq), (6, 12));
    assert!(
        store
            .verify(AuditStream::Requests)
            .await
            .unwrap()
            .is_intact()
    );
    let next = store.append(&common::records(13, 13)).await.unwrap();
    assert_eq!(next.first_seq, 13);
    let report = store.verify(AuditStream::Requests).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.checked, 1);
    assert!(store.verify(AuditStream::Admin).await.unwrap().is_intact());
}

#[tokio::test]
async fn memory_retention() {
    retention_keeps_the_chain_verifiable(&MemoryStore::new()).await;
}

#[tokio::test]
async fn sqlite_retention() {
    retention_keeps_the_chain_verifiable(&SqliteStore::open("sqlite::memory:").await.unwrap())
        .await;
}

#[tokio::test]
async fn after_retention_tampering_with_what_remains_is_found() {
    let (_dir, path, url) = common::temp_db();
    let store = SqliteStore::open(&url).await.unwrap();
    store.append(&common::records(1, 10)).await.unwrap();
    store
        .delete_before(AuditStream::Requests, 5_000)
        .await
        .unwrap();
    store.close().await;

    // Deleting the first remaining record (right after the checkpoint) is a gap at 5.
    common::tamper(&path, "DELETE FROM audit_records WHERE seq = 5").await;
    let store = SqliteStore::open(&url).await.unwrap();
    let report = store.verify(AuditStream::Requests).await.unwrap();
    assert_eq!(
        report.broken,
        Some(ChainBreak::UnexpectedSeq {
            expected: 5,
            found: 6
        })
    );
    store.close().await;

    // Moving the checkpoint over the gap does not help: record 6 does not follow the checkpoint's hash.
    common::tamper(&path, "UPDATE audit_checkpoints SET seq = 5").await;
    let store = SqliteStore::open(&url).await.unwrap();
    let report = store.verify(AuditStream::Requests).await.unwrap();
    assert!(
        matches!(
            report.broken,
            Some(ChainBreak::PrevHashMismatch { seq: 6, .. })
        ),
        "{report:?}"
    );
}

#[tokio::test]
async fn retention_refuses_to_delete_tampered_records() {
    let (_dir, path, url) = common::temp_db();
    let store = SqliteStore::open(&url).await.unwrap();
    store.append(&common::records(1, 10)).await.unwrap();
    store.close().await;
    common::tamper(
        &path,
        "UPDATE audit_records SET agent = 'nobody' WHERE seq = 2",
    )
    .await;
    let store = SqliteStore::open(&url).await.unwrap();
    match store.delete_before(AuditStream::Requests, 5_000).await {
        Err(StoreError::ChainBroken { stream, broken }) => {
            assert_eq!(stream, AuditStream::Requests);
            assert!(
                matches!(*broken, ChainBreak::HashMismatch { seq: 2, .. }),
                "{broken:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.query(&AuditQuery::default()).await.unwrap().len(),
        10,
        "nothing deleted"
    );

    // The memory store refuses the same way.
    let memory = MemoryStore::new();
    memory.append(&common::records(1, 10)).await.unwrap();
    assert!(memory.tamper_with_record(3, |r| r.record.agent = "nobody".into()));
    assert!(matches!(
        memory.delete_before(AuditStream::Requests, 5_000).await,
        Err(StoreError::ChainBroken { .. })
    ));
}
