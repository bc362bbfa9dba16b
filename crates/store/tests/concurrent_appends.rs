//! Appends racing from many tasks, and from two stores on the same file (two processes, as far as
//! SQLite can tell), still form one linear, valid chain with every record exactly once.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use toolgate_store::audit::{AuditQuery, AuditStream};
use toolgate_store::{AuditStore, MemoryStore, SqliteStore};

const TASKS: u64 = 8;
const BATCHES: u64 = 25;
const BATCH: u64 = 4;

async fn race(stores: Vec<Arc<dyn AuditStore>>) {
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let store = stores[task as usize % stores.len()].clone();
        handles.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for b in 0..BATCHES {
                let base = (task * BATCHES + b) * BATCH;
                let batch = common::records(base + 1, base + BATCH);
                let appended = store.append(&batch).await.expect("append");
                assert_eq!(appended.count, BATCH);
                seqs.extend(appended.first_seq..appended.first_seq + BATCH);
            }
            seqs
        }));
    }
    let mut all_seqs = BTreeSet::new();
    for h in handles {
        for seq in h.await.expect("task") {
            assert!(all_seqs.insert(seq), "seq {seq} handed out twice");
        }
    }
    let total = TASKS * BATCHES * BATCH;
    assert_eq!(all_seqs, (1..=total).collect());

    let store = &stores[0];
    let report = store.verify(AuditStream::Requests).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.checked, total);

    // Every record is there once, and each batch stayed contiguous.
    let records = store
        .query(&AuditQuery {
            limit: u32::MAX,
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: BTreeSet<String> = records
        .iter()
        .map(|r| r.record.request_id.clone())
        .collect();
    assert_eq!(ids.len() as u64, total);
    for batch in records.chunks(BATCH as usize) {
        let first: u64 = batch[0].record.request_id["req-".len()..].parse().unwrap();
        assert_eq!((first - 1) % BATCH, 0, "a batch starts at a batch boundary");
        for (i, r) in batch.iter().enumerate() {
            assert_eq!(r.record.request_id, format!("req-{}", first + i as u64));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_to_one_sqlite_store() {
    let (_dir, _path, url) = common::temp_db();
    let store: Arc<dyn AuditStore> = Arc::new(SqliteStore::open(&url).await.unwrap());
    race(vec![store]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_from_two_stores_on_one_file() {
    let (_dir, _path, url) = common::temp_db();
    let a: Arc<dyn AuditStore> = Arc::new(SqliteStore::open(&url).await.unwrap());
    let b: Arc<dyn AuditStore> = Arc::new(SqliteStore::open(&url).await.unwrap());
    race(vec![a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_to_the_memory_store() {
    race(vec![Arc::new(MemoryStore::new())]).await;
}
