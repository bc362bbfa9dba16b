//! Approvals: creation, decisions, expiry, single-use retries bound to exactly one call, polling for
//! changes, races between takers, and survival across reopening the SQLite file.

mod common;

use std::sync::Arc;

use serde_json::json;
use toolgate_store::{
    Approval, ApprovalBinding, ApprovalFilter, ApprovalMode, ApprovalState, ApprovalStatus,
    ApprovalStore, MemoryStore, NewApproval, SqliteStore, StoreError, args_digest, open,
};

fn binding() -> ApprovalBinding {
    ApprovalBinding {
        grant: Some("alice-laptop".into()),
        agent: "alice".into(),
        server: "crm".into(),
        tool: "deleteOneCompany".into(),
        args_digest: args_digest(&json!({"id": "c-42"})),
        policy_version: "v1".into(),
    }
}

fn new(mode: ApprovalMode, created_at_ms: u64, binding: ApprovalBinding) -> NewApproval {
    NewApproval {
        mode,
        binding,
        rule: "/tools/deleteOneCompany".into(),
        arguments: Some(json!({"id": "c-42"})),
        created_at_ms,
        expires_at_ms: created_at_ms + 600_000,
    }
}

async fn create(store: &dyn ApprovalStore, mode: ApprovalMode, at: u64) -> Approval {
    store.create(new(mode, at, binding())).await.unwrap()
}

async fn create_list_get(store: &dyn ApprovalStore) {
    let a = create(store, ApprovalMode::Retry, 1_000).await;
    assert!(a.id.starts_with("apv_") && a.id.len() == 20, "{}", a.id);
    assert_eq!(a.status, ApprovalStatus::Pending);
    assert_eq!(a.expires_at_ms, 601_000);
    assert_eq!(a.arguments, Some(json!({"id": "c-42"})));
    assert_eq!(store.get(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.get("apv_nope").await.unwrap(), None);

    let mut other = binding();
    other.tool = "createOneCompany".into();
    let mut b = new(ApprovalMode::Hold, 2_000, other.clone());
    b.arguments = None;
    b.binding.grant = None;
    let b = store.create(b).await.unwrap();
    assert_eq!(b.binding.grant, None);
    assert_eq!(b.arguments, None);
    let c = create(store, ApprovalMode::Retry, 3_000).await;
    store
        .decide(&c.id, false, "bob", Some("no"), 3_500)
        .await
        .unwrap();

    let ids = |v: Vec<Approval>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    let all = store.list(ApprovalFilter::default()).await.unwrap();
    assert_eq!(
        ids(all),
        [c.id.clone(), b.id.clone(), a.id.clone()],
        "newest first"
    );
    let pending = store
        .list(ApprovalFilter::status(ApprovalStatus::Pending, 10))
        .await
        .unwrap();
    assert_eq!(ids(pending), [b.id.clone(), a.id.clone()]);
    let limited = store
        .list(ApprovalFilter::status(ApprovalStatus::Pending, 1))
        .await
        .unwrap();
    assert_eq!(ids(limited), [b.id.as_str()]);
    let same_call = store
        .list(ApprovalFilter {
            binding: Some(binding()),
            ..ApprovalFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(same_call), [c.id.clone(), a.id.clone()]);
    let no_grant = store
        .list(ApprovalFilter {
            status: Some(ApprovalStatus::Pending),
            binding: Some(ApprovalBinding {
                grant: None,
                ..other
            }),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(
        ids(no_grant),
        [b.id.as_str()],
        "a NULL grant matches a NULL grant"
    );
    // What a grant's cap counts: its pending approvals, not expired, not decided.
    assert_eq!(
        store
            .count_pending(Some("alice-laptop"), 3_600)
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.count_pending(None, 3_600).await.unwrap(), 1);
    assert_eq!(store.count_pending(Some("bob"), 3_600).await.unwrap(), 0);
    assert_eq!(
        store
            .count_pending(Some("alice-laptop"), 601_000)
            .await
            .unwrap(),
        0
    );
}

async fn decisions(store: &dyn ApprovalStore) {
    let a = create(store, ApprovalMode::Retry, 1_000).await;
    let approved = store
        .decide(&a.id, true, "admin:carol", None, 5_000)
        .await
        .unwrap();
    assert_eq!(approved.status, ApprovalStatus::Approved);
    assert_eq!(approved.decided_by.as_deref(), Some("admin:carol"));
    assert_eq!(approved.decided_at_ms, Some(5_000));
    assert_eq!(approved.note, None);
    assert!(approved.seq > a.seq);
    assert_eq!(store.get(&a.id).await.unwrap(), Some(approved));
    // Deciding again, either way, is refused and changes nothing.
    match store
        .decide(&a.id, false, "dave", Some("late"), 6_000)
        .await
    {
        Err(StoreError::ApprovalNotPending { id, status }) => {
            assert_eq!(id, a.id);
            assert_eq!(status, ApprovalStatus::Approved);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store
            .get(&a.id)
            .await
            .unwrap()
            .unwrap()
            .decided_by
            .as_deref(),
        Some("admin:carol")
    );

    let d = create(store, ApprovalMode::Hold, 1_000).await;
    let denied = store
        .decide(&d.id, false, "cli:root", Some("not on a Friday"), 7_000)
        .await
        .unwrap();
    assert_eq!(denied.status, ApprovalStatus::Denied);
    assert_eq!(denied.note.as_deref(), Some("not on a Friday"));
    assert_eq!(denied.decided_by.as_deref(), Some("cli:root"));

    match store
        .decide("apv_0000000000000000", true, "x", None, 1)
        .await
    {
        Err(StoreError::ApprovalNotFound { id }) => assert_eq!(id, "apv_0000000000000000"),
        other => panic!("{other:?}"),
    }
    match store.mark_used("apv_0000000000000000", 1).await {
        Err(StoreError::ApprovalNotFound { .. }) => {}
        other => panic!("{other:?}"),
    }
}

async fn expiry(store: &dyn ApprovalStore) {
    let early = create(store, ApprovalMode::Hold, 1_000).await; // expires at 601_000
    let late = create(store, ApprovalMode::Retry, 2_000).await; // 602_000
    let approved = create(store, ApprovalMode::Retry, 500).await; // 600_500, approved below
    store
        .decide(&approved.id, true, "carol", None, 10_000)
        .await
        .unwrap();
    let decided_later = create(store, ApprovalMode::Retry, 1_500).await; // 601_500

    assert!(store.expire_due(600_999).await.unwrap().is_empty());
    // Expiry is AT expires_at_ms.
    let expired = store.expire_due(601_000).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].id, early.id);
    assert_eq!(expired[0].status, ApprovalStatus::Expired);
    assert!(
        store.expire_due(601_000).await.unwrap().is_empty(),
        "only once"
    );
    assert_eq!(
        store.get(&early.id).await.unwrap().unwrap().status,
        ApprovalStatus::Expired
    );
    // An approved one is not "expired" by expire_due (but can no longer be taken).
    assert_eq!(
        store.get(&approved.id).await.unwrap().unwrap().status,
        ApprovalStatus::Approved
    );

    // Deciding an expired one is refused.
    match store.decide(&early.id, true, "carol", None, 601_001).await {
        Err(StoreError::ApprovalExpired { id, expired_at_ms }) => {
            assert_eq!(id, early.id);
            assert_eq!(expired_at_ms, 601_000);
        }
        other => panic!("{other:?}"),
    }
    // Deciding a pending one past its expiry (before expire_due saw it) is refused and marks it.
    let seq_before = store.last_seq().await.unwrap();
    match store
        .decide(&decided_later.id, true, "carol", None, 601_500)
        .await
    {
        Err(StoreError::ApprovalExpired { id, .. }) => assert_eq!(id, decided_later.id),
        other => panic!("{other:?}"),
    }
    let marked = store.get(&decided_later.id).await.unwrap().unwrap();
    assert_eq!(marked.status, ApprovalStatus::Expired);
    assert_eq!(marked.decided_by, None);
    assert!(marked.seq > seq_before, "the expiry is a change others see");

    // Both expire with the right one left.
    let expired = store.expire_due(10_000_000).await.unwrap();
    assert_eq!(
        expired.iter().map(|a| &a.id).collect::<Vec<_>>(),
        [&late.id]
    );
}

async fn single_use_retry(store: &dyn ApprovalStore) {
    let a = create(store, ApprovalMode::Retry, 1_000).await;
    // Pending: nothing to take.
    assert_eq!(store.take_approved(&binding(), 2_000).await.unwrap(), None);
    store
        .decide(&a.id, true, "carol", None, 3_000)
        .await
        .unwrap();

    // No other call matches: every field of the binding counts.
    let variants: [fn(&mut ApprovalBinding); 8] = [
        |b| b.grant = None,
        |b| b.grant = Some("ci-runner".into()),
        |b| b.agent = "mallory".into(),
        |b| b.server = "files".into(),
        |b| b.tool = "deleteManyCompanies".into(),
        |b| b.args_digest = args_digest(&json!({"id": "c-43"})),
        |b| b.args_digest = args_digest(&json!({"id": "c-42", "cascade": true})),
        |b| b.policy_version = "v2".into(),
    ];
    for change in &variants {
        let mut other = binding();
        change(&mut other);
        assert_eq!(
            store.take_approved(&other, 4_000).await.unwrap(),
            None,
            "{other:?}"
        );
    }
    // The identical call (arguments in another key order are the same call) takes it, once.
    let mut same = binding();
    same.args_digest = args_digest(&serde_json::from_str(r#"{ "id" : "c-42" }"#).unwrap());
    let used = store.take_approved(&same, 4_000).await.unwrap().unwrap();
    assert_eq!(used.id, a.id);
    assert_eq!(used.status, ApprovalStatus::Used);
    assert_eq!(used.used_at_ms, Some(4_000));
    assert_eq!(used.decided_by.as_deref(), Some("carol"));
    assert_eq!(store.take_approved(&binding(), 4_001).await.unwrap(), None);
    assert_eq!(store.get(&a.id).await.unwrap(), Some(used));

    // Approved but past its expiry: not taken.
    let mut short = new(ApprovalMode::Retry, 10_000, binding());
    short.expires_at_ms = 12_000;
    let b = store.create(short).await.unwrap();
    store
        .decide(&b.id, true, "carol", None, 11_000)
        .await
        .unwrap();
    assert_eq!(
        store
            .take_approved(&binding(), b.expires_at_ms)
            .await
            .unwrap(),
        None
    );
    // Hold mode is never taken by a retry while its caller waits; the held call marks it used
    // itself, once.
    let h = create(store, ApprovalMode::Hold, 20_000).await;
    assert_eq!(h.caller_left_at_ms, None);
    match store.mark_used(&h.id, 20_500).await {
        Err(StoreError::ApprovalNotPending { status, .. }) => {
            assert_eq!(status, ApprovalStatus::Pending)
        }
        other => panic!("{other:?}"),
    }
    store
        .decide(&h.id, true, "carol", None, 21_000)
        .await
        .unwrap();
    assert_eq!(store.take_approved(&binding(), 21_500).await.unwrap(), None);
    let used = store.mark_used(&h.id, 22_000).await.unwrap();
    assert_eq!(used.status, ApprovalStatus::Used);
    assert_eq!(used.used_at_ms, Some(22_000));
    match store.mark_used(&h.id, 22_001).await {
        Err(StoreError::ApprovalNotPending { status, .. }) => {
            assert_eq!(status, ApprovalStatus::Used)
        }
        other => panic!("{other:?}"),
    }
    // Denied: never taken.
    let d = create(store, ApprovalMode::Retry, 30_000).await;
    store
        .decide(&d.id, false, "carol", None, 30_500)
        .await
        .unwrap();
    assert_eq!(store.take_approved(&binding(), 31_000).await.unwrap(), None);
}

/// A held call whose caller left (told to retry, or gone): its identical retry waits for the same
/// approval again, or, once it is approved, passes once.
async fn caller_left_then_retry(store: &dyn ApprovalStore) {
    let retry = create(store, ApprovalMode::Retry, 500).await;
    assert_eq!(
        retry.caller_left_at_ms,
        Some(500),
        "a retry-mode caller leaves at once"
    );
    assert_eq!(retry.state_at(600), ApprovalState::PendingCallerLeft);
    store
        .decide(&retry.id, false, "carol", None, 700)
        .await
        .unwrap();

    let h = create(store, ApprovalMode::Hold, 1_000).await;
    assert_eq!(h.state_at(1_000), ApprovalState::Pending);
    // Nothing to rejoin while the caller waits.
    assert_eq!(store.rejoin(&binding(), 1_500).await.unwrap(), None);
    let left = store.caller_left(&h.id, 2_000).await.unwrap();
    assert_eq!(left.caller_left_at_ms, Some(2_000));
    assert!(left.seq > h.seq, "a change other processes see");
    assert_eq!(left.state_at(2_000), ApprovalState::PendingCallerLeft);
    // Noted once: the first departure counts.
    assert_eq!(store.caller_left(&h.id, 2_500).await.unwrap(), left);
    // The identical retry waits for it again, once; another call does not.
    let mut other = binding();
    other.args_digest = args_digest(&json!({"id": "c-43"}));
    assert_eq!(store.rejoin(&other, 3_000).await.unwrap(), None);
    let rejoined = store.rejoin(&binding(), 3_000).await.unwrap().unwrap();
    assert_eq!(rejoined.id, h.id);
    assert_eq!(rejoined.caller_left_at_ms, None);
    assert_eq!(rejoined.state_at(3_000), ApprovalState::Pending);
    assert_eq!(store.rejoin(&binding(), 3_001).await.unwrap(), None);
    // That caller leaves too, and the approval comes after: the next identical retry passes, once.
    store.caller_left(&h.id, 4_000).await.unwrap();
    let approved = store
        .decide(&h.id, true, "carol", None, 5_000)
        .await
        .unwrap();
    assert_eq!(
        approved.state_at(5_000),
        ApprovalState::ApprovedAwaitingRetry
    );
    assert_eq!(
        store.rejoin(&binding(), 5_500).await.unwrap(),
        None,
        "decided"
    );
    let used = store
        .take_approved(&binding(), 6_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.id, h.id);
    assert_eq!(used.state_at(6_000), ApprovalState::Used);
    assert_eq!(store.take_approved(&binding(), 6_001).await.unwrap(), None);
    // Final approvals are not changed by a late departure.
    assert_eq!(store.caller_left(&h.id, 7_000).await.unwrap(), used);
    match store.caller_left("apv_nope", 7_000).await {
        Err(StoreError::ApprovalNotFound { .. }) => {}
        other => panic!("{other:?}"),
    }

    // Approved after its caller left, never retried: expired at its expiry.
    let late = create(store, ApprovalMode::Hold, 10_000).await;
    store.caller_left(&late.id, 10_500).await.unwrap();
    let approved = store
        .decide(&late.id, true, "carol", None, 11_000)
        .await
        .unwrap();
    assert_eq!(
        approved.state_at(late.expires_at_ms),
        ApprovalState::Expired
    );
    assert_eq!(
        store
            .take_approved(&binding(), late.expires_at_ms)
            .await
            .unwrap(),
        None
    );
    // A pending hold past its expiry is not rejoined.
    let gone = create(store, ApprovalMode::Hold, 20_000).await;
    store.caller_left(&gone.id, 20_500).await.unwrap();
    assert_eq!(
        store.rejoin(&binding(), gone.expires_at_ms).await.unwrap(),
        None
    );
}

async fn polling(store: &dyn ApprovalStore) {
    assert_eq!(store.last_seq().await.unwrap(), 0);
    assert!(store.changed_since(0, 100).await.unwrap().is_empty());
    let a = create(store, ApprovalMode::Hold, 1_000).await;
    let b = create(store, ApprovalMode::Retry, 1_000).await;
    let cursor = store.last_seq().await.unwrap();
    assert_eq!(cursor, b.seq);
    assert!(a.seq < b.seq);
    assert!(store.changed_since(cursor, 100).await.unwrap().is_empty());

    store
        .decide(&a.id, false, "carol", Some("no"), 2_000)
        .await
        .unwrap();
    store
        .decide(&b.id, true, "carol", None, 3_000)
        .await
        .unwrap();
    let changed = store.changed_since(cursor, 100).await.unwrap();
    assert_eq!(
        changed
            .iter()
            .map(|c| (c.id.as_str(), c.status))
            .collect::<Vec<_>>(),
        [
            (a.id.as_str(), ApprovalStatus::Denied),
            (b.id.as_str(), ApprovalStatus::Approved)
        ]
    );
    assert!(changed[0].seq < changed[1].seq);
    assert_eq!(store.changed_since(cursor, 1).await.unwrap().len(), 1);
    let cursor = changed[1].seq;
    store
        .take_approved(&binding(), 4_000)
        .await
        .unwrap()
        .unwrap();
    let changed = store.changed_since(cursor, 100).await.unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].status, ApprovalStatus::Used);
    // Everything from the start: each approval once, at its latest change.
    assert_eq!(store.changed_since(0, 100).await.unwrap().len(), 2);
}

/// Many concurrent retries of the same approved call: exactly one passes.
async fn racing_takers(stores: Vec<Arc<dyn ApprovalStore>>) {
    let a = create(&*stores[0], ApprovalMode::Retry, 1_000).await;
    stores[0]
        .decide(&a.id, true, "carol", None, 2_000)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = stores[i % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            store.take_approved(&binding(), 3_000).await.unwrap()
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        if let Some(won) = t.await.unwrap() {
            winners.push(won);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one taker wins");
    assert_eq!(winners[0].id, a.id);
    for s in &stores {
        assert_eq!(
            s.get(&a.id).await.unwrap().unwrap().status,
            ApprovalStatus::Used
        );
    }
}

macro_rules! both_backends {
    ($($name:ident),*) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(&toolgate_store::MemoryStore::new()).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (_dir, _path, url) = super::common::temp_db();
                    super::$name(&toolgate_store::SqliteStore::open(&url).await.unwrap()).await;
                }
            )*
        }
        mod sqlite_in_memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(&toolgate_store::SqliteStore::open("sqlite::memory:").await.unwrap())
                        .await;
                }
            )*
        }
    };
}

both_backends!(
    create_list_get,
    decisions,
    expiry,
    single_use_retry,
    caller_left_then_retry,
    polling
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_takers_race() {
    let store: Arc<dyn ApprovalStore> = Arc::new(MemoryStore::new());
    racing_takers(vec![store]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_takers_race_on_one_store() {
    let (_dir, _path, url) = common::temp_db();
    let store: Arc<dyn ApprovalStore> = Arc::new(SqliteStore::open(&url).await.unwrap());
    racing_takers(vec![store]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_takers_race_across_processes() {
    // Separate stores on one file share nothing but the database, like separate gateway processes.
    let (_dir, _path, url) = common::temp_db();
    let mut stores: Vec<Arc<dyn ApprovalStore>> = Vec::new();
    for _ in 0..3 {
        stores.push(Arc::new(SqliteStore::open(&url).await.unwrap()));
    }
    for _ in 0..5 {
        racing_takers(stores.clone()).await;
    }
}

#[tokio::test]
async fn a_decision_in_another_process_is_seen_by_polling() {
    let (_dir, _path, url) = common::temp_db();
    let gateway = open(&url).await.unwrap();
    let cli = open(&url).await.unwrap();
    let a = gateway
        .approvals
        .create(new(ApprovalMode::Hold, 1_000, binding()))
        .await
        .unwrap();
    let cursor = gateway.approvals.last_seq().await.unwrap();
    cli.approvals
        .decide(&a.id, true, "cli:carol", Some("ok"), 2_000)
        .await
        .unwrap();
    let seen = gateway.approvals.changed_since(cursor, 100).await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].status, ApprovalStatus::Approved);
    assert_eq!(seen[0].note.as_deref(), Some("ok"));
}

#[tokio::test]
async fn approvals_and_decisions_survive_reopening() {
    let (_dir, _path, url) = common::temp_db();
    let (pending, approved, held) = {
        let store = SqliteStore::open(&url).await.unwrap();
        let pending = create(&store, ApprovalMode::Retry, 1_000).await;
        let approved = create(&store, ApprovalMode::Retry, 900).await;
        store
            .decide(&approved.id, true, "carol", Some("fine"), 1_500)
            .await
            .unwrap();
        let held = create(&store, ApprovalMode::Hold, 1_000).await;
        store.close().await;
        (pending, approved, held)
    };
    let store = SqliteStore::open(&url).await.unwrap();
    let last = store.last_seq().await.unwrap();
    assert_eq!(last, 4);
    // The held call's approval is still pending in the store (its client is gone; the gateway says so).
    assert_eq!(
        store.get(&held.id).await.unwrap().unwrap().status,
        ApprovalStatus::Pending
    );
    // The decision made before the restart still works, once.
    let used = store
        .take_approved(&binding(), 2_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.id, approved.id);
    assert_eq!(used.note.as_deref(), Some("fine"));
    assert_eq!(store.take_approved(&binding(), 2_000).await.unwrap(), None);
    // A pending retry-mode approval can be decided after the restart and then used.
    store
        .decide(&pending.id, true, "carol", None, 3_000)
        .await
        .unwrap();
    assert_eq!(
        store
            .take_approved(&binding(), 3_500)
            .await
            .unwrap()
            .map(|a| a.id),
        Some(pending.id)
    );
    assert!(store.last_seq().await.unwrap() > last);
}

#[tokio::test]
async fn stores_from_a_url_include_approvals() {
    for url in ["memory:", "sqlite::memory:"] {
        let stores = open(url).await.unwrap();
        let a = stores
            .approvals
            .create(new(ApprovalMode::Retry, 1, binding()))
            .await
            .unwrap();
        assert_eq!(stores.approvals.get(&a.id).await.unwrap(), Some(a));
    }
}
