//! Builders shared by the store tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::json;
use sqlx::{Connection, SqliteConnection};
use toolgate_store::audit::{AuditDecision, AuditRecord};

/// Request record `i`: agents, servers, tools and decisions vary with `i`; `time_ms = i * 1000`.
pub fn record(i: u64) -> AuditRecord {
    AuditRecord {
        time_ms: i * 1_000,
        request_id: format!("req-{i}"),
        session: Some(format!("session-{}", i % 3)),
        agent: if i % 2 == 0 { "alice" } else { "ci" }.into(),
        grant: Some(
            if i % 2 == 0 {
                "alice-laptop"
            } else {
                "ci-runner"
            }
            .into(),
        ),
        server: if i % 4 < 2 { "crm" } else { "files" }.into(),
        method: "tools/call".into(),
        tool: Some(format!("tool_{}", i % 5)),
        decision: if i % 3 == 0 {
            AuditDecision::Deny
        } else {
            AuditDecision::Allow
        },
        rule: (i % 3 == 0).then(|| "/tools/tool_0/deny_if/0".into()),
        message: (i % 3 == 0).then(|| "Sums above 1000 need a human.".into()),
        policy_version: Some("v1".into()),
        arg_keys: vec!["a".into(), "b".into()],
        args: (i % 2 == 1).then(|| json!({"b": [1, 2.5, null], "a": {"z": "ü\"", "y": true}})),
        upstream_status: (i % 3 != 0).then(|| "ok".into()),
        gateway_latency_us: 40 + i,
        upstream_latency_us: (i % 3 != 0).then_some(900 + i),
        phase: None,
    }
}

/// Records `from..=to`.
pub fn records(from: u64, to: u64) -> Vec<AuditRecord> {
    (from..=to).map(record).collect()
}

/// A fresh database file in a fresh directory (kept alive by the returned guard).
pub fn temp_db() -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("toolgate.db");
    let url = format!("sqlite://{}", path.display());
    (dir, path, url)
}

/// A raw connection to the file, bypassing the store: what an attacker with file access has.
pub async fn raw(path: &Path) -> SqliteConnection {
    SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("raw connection")
}

/// Runs SQL through a raw connection.
pub async fn tamper(path: &Path, sql: &str) {
    let mut conn = raw(path).await;
    sqlx::raw_sql(sql)
        .execute(&mut conn)
        .await
        .expect("tampering SQL runs");
    conn.close().await.expect("close");
}
