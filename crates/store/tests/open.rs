//! Opening stores from a URL: the file is created and migrated once, in WAL mode; reopening does not
//! migrate again; unknown and not-yet-built backends are refused with the reason.

mod common;

use sqlx::Connection;
use toolgate_store::audit::AuditStream;
use toolgate_store::{SCHEMA_VERSION, StoreError, open};

#[tokio::test]
async fn sqlite_url_creates_and_migrates_a_wal_database() {
    let (_dir, path, url) = common::temp_db();
    let stores = open(&url).await.unwrap();
    assert_eq!(stores.backend, "sqlite");
    stores
        .audit_sink
        .append(&common::records(1, 2))
        .await
        .unwrap();
    assert!(path.exists());

    let mut conn = common::raw(&path).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM toolgate_schema")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    conn.close().await.unwrap();
    drop(stores);

    // Reopening keeps the data and does not migrate again.
    let stores = open(&url).await.unwrap();
    let report = stores.audit.verify(AuditStream::Requests).await.unwrap();
    assert_eq!(report.checked, 2);
    let mut conn = common::raw(&path).await;
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM toolgate_schema")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(count, SCHEMA_VERSION);
}

#[tokio::test]
async fn a_version_1_database_is_migrated_keeping_its_data() {
    let (_dir, path, url) = common::temp_db();
    {
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
                .await
                .unwrap();
        sqlx::raw_sql(include_str!("../src/sqlite/migrations/0001_init.sql"))
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE toolgate_schema (version INTEGER PRIMARY KEY NOT NULL, \
             description TEXT NOT NULL, applied_at_ms INTEGER NOT NULL);
             INSERT INTO toolgate_schema VALUES (1, 'grants, audit streams, kill switches', 0);
             INSERT INTO kill_switches (scope, target, reason, engaged_at_ms) VALUES ('global', '', 'old', 5);",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    }
    let stores = open(&url).await.unwrap();
    assert_eq!(stores.kill_switches.list().await.unwrap().len(), 1);
    assert_eq!(stores.approvals.last_seq().await.unwrap(), 0);
    let mut conn = common::raw(&path).await;
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM toolgate_schema ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
}

#[tokio::test]
async fn approvals_of_a_version_3_database_learn_whether_their_caller_left() {
    let (_dir, path, url) = common::temp_db();
    {
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
                .await
                .unwrap();
        for sql in [
            include_str!("../src/sqlite/migrations/0001_init.sql"),
            include_str!("../src/sqlite/migrations/0002_approvals.sql"),
            include_str!("../src/sqlite/migrations/0003_catalogue.sql"),
        ] {
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        }
        sqlx::raw_sql(
            "CREATE TABLE toolgate_schema (version INTEGER PRIMARY KEY NOT NULL, \
             description TEXT NOT NULL, applied_at_ms INTEGER NOT NULL);
             INSERT INTO toolgate_schema VALUES (1, 'a', 0), (2, 'b', 0), (3, 'c', 0);
             INSERT INTO approvals (id, seq, created_at_ms, expires_at_ms, mode, status, agent, server, \
               tool, args_digest, policy_version, rule, decided_by, decided_at_ms) VALUES
               ('apv_retry00000000000', 1, 1000, 9999999999999, 'retry', 'approved', 'alice', 'crm', 't', 'd', 'v', '/r', 'carol', 2000),
               ('apv_hold000000000000', 2, 1000, 9999999999999, 'hold', 'pending', 'alice', 'crm', 't', 'd', 'v', '/r', NULL, NULL);",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    }
    let stores = open(&url).await.unwrap();
    let retry = stores
        .approvals
        .get("apv_retry00000000000")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(retry.caller_left_at_ms, Some(1000));
    let hold = stores
        .approvals
        .get("apv_hold000000000000")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hold.caller_left_at_ms, None);
    // The approved retry-mode approval still lets its retry through.
    let taken = stores
        .approvals
        .take_approved(&retry.binding, 3_000)
        .await
        .unwrap();
    assert_eq!(taken.map(|a| a.id).as_deref(), Some("apv_retry00000000000"));
}

#[tokio::test]
async fn a_database_from_a_newer_toolgate_is_refused() {
    let (_dir, path, url) = common::temp_db();
    drop(open(&url).await.unwrap());
    common::tamper(
        &path,
        "INSERT INTO toolgate_schema (version, description, applied_at_ms) VALUES (999, 'future', 0)",
    )
    .await;
    match open(&url).await {
        Err(StoreError::Migration {
            version: 999,
            message,
            ..
        }) => {
            assert!(message.contains("upgrade toolgate"), "{message}")
        }
        other => panic!("{:?}", other.map(|s| s.backend)),
    }
}

#[tokio::test]
async fn other_urls() {
    assert_eq!(open("memory:").await.unwrap().backend, "memory");
    assert_eq!(open("sqlite::memory:").await.unwrap().backend, "sqlite");
    for (url, reason) in [
        ("postgres://db/toolgate", "not built yet"),
        ("mysql://db", "starts with sqlite://"),
    ] {
        match open(url).await {
            Err(StoreError::InvalidUrl { reason: r, .. }) => assert!(r.contains(reason), "{r}"),
            other => panic!("{url}: {:?}", other.map(|s| s.backend)),
        }
    }
}
