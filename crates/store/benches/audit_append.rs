//! Batched audit appends: records per second into a SQLite file (WAL, synchronous=NORMAL, one
//! transaction per batch) at several batch sizes, and into the memory store for the cost of sealing
//! alone (canonical JSON + SHA-256 per record).

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use toolgate_store::audit::{AuditDecision, AuditRecord};
use toolgate_store::{AuditSink, MemoryStore, SqliteStore};

fn record(i: u64) -> AuditRecord {
    AuditRecord {
        time_ms: 1_790_000_000_000 + i,
        request_id: format!("01JD{i:020}"),
        session: Some("3f2c9a5e-8d1b-4c7a-9e0f-2b6d4a1c8e7f".into()),
        agent: "alice".into(),
        grant: Some("alice-laptop".into()),
        server: "crm".into(),
        method: "tools/call".into(),
        tool: Some("UpdateOneOpportunity".into()),
        decision: AuditDecision::Allow,
        rule: Some("/tools/UpdateOneOpportunity".into()),
        message: None,
        policy_version: Some("sha256:5d41402abc4b2a76".into()),
        arg_keys: vec!["id".into(), "requestBody".into()],
        args: Some(
            json!({"id": "opp_123", "requestBody": {"amount": {"amountMicros": 5_000_000}}}),
        ),
        upstream_status: Some("ok".into()),
        gateway_latency_us: 180,
        upstream_latency_us: Some(12_000),
        phase: None,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let sqlite = rt.block_on(SqliteStore::open(&url)).expect("open");

    let mut group = c.benchmark_group("audit_append");
    for batch in [1u64, 16, 128, 1024] {
        let records: Vec<AuditRecord> = (0..batch).map(record).collect();
        group.throughput(Throughput::Elements(batch));
        group.bench_with_input(BenchmarkId::new("sqlite_file", batch), &records, |b, r| {
            b.to_async(&rt)
                .iter(|| async { black_box(sqlite.append(r).await.expect("append")) })
        });
        // A fresh memory store per iteration, so that it does not grow for the whole run.
        group.bench_with_input(BenchmarkId::new("memory", batch), &records, |b, r| {
            b.to_async(&rt).iter_batched(
                MemoryStore::new,
                |memory| async move {
                    black_box(memory.append(r).await.expect("append"));
                    memory
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
    rt.block_on(sqlite.close());
}

criterion_group!(benches, bench);
criterion_main!(benches);
