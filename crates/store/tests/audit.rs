//! Audit append, query and JSONL export on both backends; an export verifies offline.

mod common;

use serde_json::json;
use toolgate_store::audit::{
    AdminEvent, AdminQuery, AuditDecision, AuditQuery, AuditRecord, AuditStream, ChainAnchor,
    ChainVerifier, Chained, GENESIS_HASH, export_admin_jsonl, export_jsonl,
};
use toolgate_store::{AuditSink, AuditStore, MemoryStore, SqliteStore};

fn seqs<T>(page: &[Chained<T>]) -> Vec<u64> {
    page.iter().map(|r| r.seq).collect()
}

async fn append_query_export(store: &dyn AuditStore) {
    let first = store.append(&common::records(1, 10)).await.unwrap();
    assert_eq!(
        (first.first_seq, first.count, first.last_seq()),
        (1, 10, Some(10))
    );
    let second = store.append(&common::records(11, 20)).await.unwrap();
    assert_eq!(second.first_seq, 11);
    let empty = store.append(&[]).await.unwrap();
    assert_eq!(
        (empty.first_seq, empty.count, empty.last_seq()),
        (21, 0, None)
    );
    assert_eq!(empty.head_hash, second.head_hash);

    // Records come back exactly as appended, chained.
    let all = store
        .query(&AuditQuery {
            limit: 1_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(seqs(&all), (1..=20).collect::<Vec<_>>());
    assert_eq!(all[0].prev_hash, GENESIS_HASH);
    assert!(all.windows(2).all(|w| w[1].prev_hash == w[0].hash));
    for r in &all {
        assert_eq!(r.record, common::record(r.seq));
    }
    assert_eq!(all[19].hash, second.head_hash);

    let q = |f: fn(&mut AuditQuery)| {
        let mut query = AuditQuery {
            limit: 1_000,
            ..Default::default()
        };
        f(&mut query);
        query
    };
    let run = |query: AuditQuery| async move { seqs(&store.query(&query).await.unwrap()) };
    assert_eq!(
        run(q(|q| q.agent = Some("alice".into()))).await,
        [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]
    );
    assert_eq!(
        run(q(|q| q.server = Some("files".into()))).await,
        [2, 3, 6, 7, 10, 11, 14, 15, 18, 19]
    );
    assert_eq!(
        run(q(|q| q.tool = Some("tool_0".into()))).await,
        [5, 10, 15, 20]
    );
    assert_eq!(
        run(q(|q| q.decision = Some(AuditDecision::Deny))).await,
        [3, 6, 9, 12, 15, 18]
    );
    assert_eq!(
        run(q(|q| {
            q.from_ms = Some(5_000);
            q.to_ms = Some(9_000);
        }))
        .await,
        [5, 6, 7, 8],
        "from inclusive, to exclusive"
    );
    assert_eq!(
        run(q(|q| {
            q.agent = Some("ci".into());
            q.decision = Some(AuditDecision::Deny);
            q.server = Some("files".into());
        }))
        .await,
        [3, 15]
    );
    assert_eq!(run(q(|q| q.limit = 3)).await, [1, 2, 3]);
    assert_eq!(
        run(q(|q| {
            q.limit = 3;
            q.newest_first = true;
        }))
        .await,
        [20, 19, 18]
    );
    assert_eq!(
        run(q(|q| {
            q.limit = 3;
            q.after_seq = Some(17);
        }))
        .await,
        [18, 19, 20]
    );
    assert_eq!(
        run(q(|q| {
            q.limit = 2;
            q.newest_first = true;
            q.before_seq = Some(3);
        }))
        .await,
        [2, 1]
    );
    assert_eq!(
        run(q(|q| q.agent = Some("mallory".into()))).await,
        Vec::<u64>::new()
    );

    // Export: everything matching, oldest first, one JSON object per line, verifiable offline.
    let mut out = Vec::new();
    let written = export_jsonl(
        store,
        &AuditQuery {
            limit: 2,
            ..Default::default()
        },
        &mut out,
    )
    .await
    .unwrap();
    assert_eq!(written, 20, "the query's limit does not cut an export");
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 20);
    let first_line: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first_line["seq"], 1);
    assert_eq!(first_line["prev_hash"], GENESIS_HASH);
    assert_eq!(first_line["decision"], "allow");
    assert_eq!(first_line["agent"], "ci");
    let mut verifier = ChainVerifier::new(AuditStream::Requests, ChainAnchor::genesis());
    for line in &lines {
        let r: Chained<AuditRecord> = serde_json::from_str(line).unwrap();
        assert!(verifier.check(&r), "{:?}", verifier.finish(None));
    }
    let report = verifier.finish(None);
    assert!(report.is_intact());
    assert_eq!(report.checked, 20);

    let mut out = Vec::new();
    let denied = AuditQuery {
        decision: Some(AuditDecision::Deny),
        ..Default::default()
    };
    assert_eq!(export_jsonl(store, &denied, &mut out).await.unwrap(), 6);

    // The admin stream has its own sequence numbers and chain.
    let event = |i: u64, action: &str| AdminEvent {
        time_ms: i,
        actor: "cli".into(),
        action: action.into(),
        target: "alice-laptop".into(),
        details: json!({"servers": ["crm"], "expires_at_ms": null}),
    };
    let admin = store
        .append_admin(&[
            event(1, "grant.create"),
            event(2, "grant.rotate"),
            event(3, "grant.revoke"),
        ])
        .await
        .unwrap();
    assert_eq!(admin.first_seq, 1);
    let rotated = store
        .query_admin(&AdminQuery {
            action: Some("grant.rotate".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(seqs(&rotated), [2]);
    assert_eq!(rotated[0].record, event(2, "grant.rotate"));
    let mut out = Vec::new();
    assert_eq!(
        export_admin_jsonl(store, &AdminQuery::default(), &mut out)
            .await
            .unwrap(),
        3
    );
    for stream in [AuditStream::Requests, AuditStream::Admin] {
        let report = store.verify(stream).await.unwrap();
        assert!(report.is_intact(), "{report:?}");
    }
    assert_eq!(store.verify(AuditStream::Admin).await.unwrap().checked, 3);
}

#[tokio::test]
async fn memory_append_query_export() {
    append_query_export(&MemoryStore::new()).await;
}

#[tokio::test]
async fn sqlite_append_query_export() {
    append_query_export(&SqliteStore::open("sqlite::memory:").await.unwrap()).await;
}

#[tokio::test]
async fn both_backends_compute_the_same_chain() {
    let memory = MemoryStore::new();
    let sqlite = SqliteStore::open("sqlite::memory:").await.unwrap();
    let records = common::records(1, 30);
    let a = memory.append(&records).await.unwrap();
    let b = sqlite.append(&records).await.unwrap();
    assert_eq!(
        a, b,
        "the hash is a function of the records, not of the backend"
    );
}

#[tokio::test]
async fn a_batch_too_large_for_one_insert_is_appended_whole() {
    let store = SqliteStore::open("sqlite::memory:").await.unwrap();
    let appended = store.append(&common::records(1, 5_000)).await.unwrap();
    assert_eq!(appended.last_seq(), Some(5_000));
    let report = store.verify(AuditStream::Requests).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.checked, 5_000);
}

#[tokio::test]
async fn awkward_values_come_back_exactly_and_verify() {
    let store = SqliteStore::open("sqlite::memory:").await.unwrap();
    let mut record = common::record(1);
    let awkward = "nul\u{0}quote\"back\\slash\ttab\u{1}ctl é 𝄞 \u{2028}";
    record.tool = Some(awkward.into());
    record.message = Some(awkward.into());
    record.agent = awkward.into();
    record.arg_keys = vec![awkward.into(), String::new()];
    record.args = Some(json!({ awkward: [awkward, 1e300, -0.5, 12345678901234567_i64, null] }));
    record.time_ms = i64::MAX as u64;
    record.upstream_latency_us = Some(0);
    store.append(std::slice::from_ref(&record)).await.unwrap();
    let all = store
        .query(&AuditQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].record, record);
    let report = store.verify(AuditStream::Requests).await.unwrap();
    assert!(report.is_intact(), "{report:?}");

    // What SQLite cannot hold is refused, and the batch with it: nothing is half written.
    let mut too_big = common::record(2);
    too_big.gateway_latency_us = u64::MAX;
    let err = store
        .append(&[common::record(2), too_big])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("gateway_latency_us"), "{err}");
    assert_eq!(
        store.verify(AuditStream::Requests).await.unwrap().checked,
        1
    );
}
