//! `verify` on a SQLite file tampered with through a raw connection: each kind of tampering is reported
//! as the first broken link, at the right sequence number.

mod common;

use std::path::Path;

use toolgate_store::audit::chain::link_hash;
use toolgate_store::audit::{AuditDecision, AuditQuery, AuditStream, ChainBreak, ChainReport};
use toolgate_store::{AuditSink, AuditStore, SqliteStore};

/// A file with records 1..=10, then `sql` run on it behind the store's back; the report of a fresh open.
async fn verify_after(sql: &str) -> ChainReport {
    let (_dir, path, url) = common::temp_db();
    let store = SqliteStore::open(&url).await.unwrap();
    store.append(&common::records(1, 6)).await.unwrap();
    store.append(&common::records(7, 10)).await.unwrap();
    assert!(
        store
            .verify(AuditStream::Requests)
            .await
            .unwrap()
            .is_intact()
    );
    store.close().await;
    tamper(&path, sql).await;
    let store = SqliteStore::open(&url).await.unwrap();
    let report = store.verify(AuditStream::Requests).await.unwrap();
    store.close().await;
    report
}

async fn tamper(path: &Path, sql: &str) {
    common::tamper(path, sql).await;
}

#[tokio::test]
async fn an_untouched_file_verifies() {
    let report = verify_after("SELECT 1").await;
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.checked, report.last_seq), (10, 10));
}

#[tokio::test]
async fn an_edited_record_is_a_hash_mismatch_at_its_seq() {
    let report =
        verify_after("UPDATE audit_records SET decision = 'allow', rule = NULL WHERE seq = 6")
            .await;
    let broken = report.broken.expect("tampering detected");
    assert!(
        matches!(broken, ChainBreak::HashMismatch { seq: 6, .. }),
        "{broken:?}"
    );
    assert_eq!(broken.seq(), 6);
    assert_eq!(report.checked, 5, "records 1..=5 are sound");
    assert!(
        broken.to_string().starts_with("record 6 was edited"),
        "{broken}"
    );
}

#[tokio::test]
async fn an_edited_argument_deep_inside_is_detected() {
    let report = verify_after(
        r#"UPDATE audit_records SET args = '{"a":{"y":true,"z":"ü\""},"b":[1,2.5,null,4]}' WHERE seq = 3"#,
    )
    .await;
    assert!(
        matches!(report.broken, Some(ChainBreak::HashMismatch { seq: 3, .. })),
        "{report:?}"
    );
}

#[tokio::test]
async fn reordered_json_keys_are_not_tampering() {
    // The same arguments with keys in another order and other whitespace hash the same.
    let report = verify_after(
        r#"UPDATE audit_records SET args = '{ "b": [1, 2.5, null], "a": {"z": "ü\"", "y": true} }' WHERE seq = 3"#,
    )
    .await;
    assert!(report.is_intact(), "{report:?}");
}

#[tokio::test]
async fn an_edited_and_rehashed_record_breaks_the_next_link() {
    // An attacker who recomputes record 6's hash after editing it still cannot make record 7 point at it.
    let (_dir, path, url) = common::temp_db();
    let store = SqliteStore::open(&url).await.unwrap();
    store.append(&common::records(1, 10)).await.unwrap();
    let five = store
        .query(&AuditQuery {
            after_seq: Some(4),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .remove(0);
    store.close().await;
    let mut edited = common::record(6);
    edited.decision = AuditDecision::Allow;
    edited.rule = None;
    edited.message = None;
    let rehashed = link_hash(&five.hash, 6, &edited).unwrap();
    tamper(
        &path,
        &format!(
            "UPDATE audit_records SET decision = 'allow', rule = NULL, message = NULL, hash = '{rehashed}' WHERE seq = 6"
        ),
    )
    .await;
    let store = SqliteStore::open(&url).await.unwrap();
    let report = store.verify(AuditStream::Requests).await.unwrap();
    assert!(
        matches!(
            report.broken,
            Some(ChainBreak::PrevHashMismatch { seq: 7, .. })
        ),
        "{report:?}"
    );
    assert_eq!(report.checked, 6);
}

#[tokio::test]
async fn a_deleted_record_is_a_sequence_gap_at_its_seq() {
    let report = verify_after("DELETE FROM audit_records WHERE seq = 4").await;
    assert_eq!(
        report.broken,
        Some(ChainBreak::UnexpectedSeq {
            expected: 4,
            found: 5
        })
    );
    assert_eq!(report.broken.unwrap().seq(), 4);
    assert_eq!(report.checked, 3);
}

#[tokio::test]
async fn a_deleted_and_renumbered_record_is_a_prev_hash_mismatch() {
    let report = verify_after(
        "DELETE FROM audit_records WHERE seq = 4; UPDATE audit_records SET seq = seq - 1 WHERE seq > 4",
    )
    .await;
    assert!(
        matches!(
            report.broken,
            Some(ChainBreak::PrevHashMismatch { seq: 4, .. })
        ),
        "{report:?}"
    );
}

#[tokio::test]
async fn two_swapped_records_are_a_prev_hash_mismatch_at_the_first() {
    let report = verify_after(
        "UPDATE audit_records SET seq = -1 WHERE seq = 5;
         UPDATE audit_records SET seq = 5 WHERE seq = 6;
         UPDATE audit_records SET seq = 6 WHERE seq = -1;",
    )
    .await;
    let broken = report.broken.expect("swap detected");
    assert!(
        matches!(broken, ChainBreak::PrevHashMismatch { seq: 5, .. }),
        "{broken:?}"
    );
    assert!(
        broken
            .to_string()
            .contains("record 5 does not follow record 4"),
        "{broken}"
    );
}

#[tokio::test]
async fn swapped_contents_in_place_are_detected_at_the_first() {
    // Swap every column but seq between rows 2 and 3.
    let cols = "time_ms, request_id, session, agent, grant_label, server, method, tool, decision, rule, \
                message, policy_version, arg_keys, args, upstream_status, gateway_latency_us, \
                upstream_latency_us, prev_hash, hash";
    let sets: Vec<String> = cols
        .split(", ")
        .map(|c| format!("{c} = (SELECT {c} FROM t WHERE t.seq = 5 - audit_records.seq)"))
        .collect();
    let sql = format!(
        "CREATE TEMP TABLE t AS SELECT * FROM audit_records WHERE seq IN (2, 3);
         UPDATE audit_records SET {} WHERE seq IN (2, 3);",
        sets.join(", ")
    );
    let report = verify_after(&sql).await;
    assert!(
        matches!(
            report.broken,
            Some(ChainBreak::PrevHashMismatch { seq: 2, .. })
        ),
        "{report:?}"
    );
}

#[tokio::test]
async fn deleted_last_records_are_a_truncation() {
    let report = verify_after("DELETE FROM audit_records WHERE seq >= 9").await;
    assert_eq!(
        report.broken,
        Some(ChainBreak::Truncated {
            last_seq: 8,
            head_seq: 10
        })
    );
    assert_eq!(report.broken.unwrap().seq(), 9);
}

#[tokio::test]
async fn a_value_no_record_can_hold_is_unreadable_at_its_seq() {
    let report = verify_after("UPDATE audit_records SET decision = 'maybe' WHERE seq = 7").await;
    match report.broken {
        Some(ChainBreak::Unreadable { seq: 7, message }) => {
            assert!(message.contains("maybe"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_admin_stream_is_verified_on_its_own() {
    let (_dir, path, url) = common::temp_db();
    let store = SqliteStore::open(&url).await.unwrap();
    let event = |i: u64| toolgate_store::audit::AdminEvent {
        time_ms: i,
        actor: "cli".into(),
        action: "grant.create".into(),
        target: format!("grant-{i}"),
        details: serde_json::json!({"i": i}),
    };
    store
        .append_admin(&(1..=5).map(event).collect::<Vec<_>>())
        .await
        .unwrap();
    store.append(&common::records(1, 3)).await.unwrap();
    store.close().await;
    tamper(
        &path,
        "UPDATE admin_events SET target = 'someone-else' WHERE seq = 2",
    )
    .await;
    let store = SqliteStore::open(&url).await.unwrap();
    let admin = store.verify(AuditStream::Admin).await.unwrap();
    assert!(
        matches!(admin.broken, Some(ChainBreak::HashMismatch { seq: 2, .. })),
        "{admin:?}"
    );
    assert!(
        store
            .verify(AuditStream::Requests)
            .await
            .unwrap()
            .is_intact()
    );
}

#[tokio::test]
async fn a_log_from_before_the_key_still_verifies_and_goes_on_keyed() {
    use toolgate_store::audit::ChainKey;
    let (_dir, _path, url) = common::temp_db();
    let store = SqliteStore::open(&url).await.unwrap();
    store.append(&common::records(1, 5)).await.unwrap();
    store.close().await;

    let key = ChainKey::from_secret([4; 32]);
    let store = SqliteStore::open(&url)
        .await
        .unwrap()
        .with_chain_key(Some(key.clone()));
    store.append(&common::records(6, 10)).await.unwrap();
    let report = store.verify(AuditStream::Requests).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.checked, report.keyed), (10, 5));
    store.close().await;

    // Without the key the keyed records can be neither checked nor extended.
    let store = SqliteStore::open(&url).await.unwrap();
    let report = store.verify(AuditStream::Requests).await.unwrap();
    assert_eq!(
        report.broken,
        Some(ChainBreak::KeyMissing {
            seq: 6,
            key_id: key.id().to_owned()
        })
    );
    let refused = store.append(&common::records(11, 11)).await.unwrap_err();
    assert!(
        refused.to_string().contains("sealed with audit key"),
        "{refused}"
    );
    // Nor with another key.
    let other = SqliteStore::open(&url)
        .await
        .unwrap()
        .with_chain_key(Some(ChainKey::from_secret([5; 32])));
    assert!(other.append(&common::records(11, 11)).await.is_err());
}
