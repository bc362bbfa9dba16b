//! MemoryCounterStore reserve + release round trips: one thread, and two threads contending for the
//! same counters (the common case of one busy grant).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use toolgate_policy::{CounterKey, Limit, Reservation, Scope, WindowMode};
use toolgate_store::{MemoryCounterStore, ReserveOutcome};

fn limits() -> (Limit, Limit) {
    (
        Limit::new(
            "tool_rate",
            60_000,
            1_000_000,
            Scope::Grant,
            WindowMode::Sliding,
        )
        .with_rule("/tools/t/limits/0"),
        Limit::new(
            "all_calls",
            60_000,
            1_000_000,
            Scope::Global,
            WindowMode::Fixed,
        )
        .with_rule("/all_tools/limits/0"),
    )
}

fn round_trip(store: &MemoryCounterStore, a: &Limit, b: &Limit, now: u64) {
    let r = [
        Reservation {
            key: CounterKey {
                counter: "tool_rate",
                scope: Scope::Grant,
                subject: "alice-laptop",
            },
            limit: a,
            amount: 1,
        },
        Reservation {
            key: CounterKey {
                counter: "all_calls",
                scope: Scope::Global,
                subject: "",
            },
            limit: b,
            amount: 1,
        },
    ];
    match store.reserve_now(black_box(&r), now) {
        ReserveOutcome::Reserved(ticket) => store.release_now(&ticket, now),
        ReserveOutcome::Rejected { .. } => panic!("bench limits are never reached"),
    }
}

fn bench(c: &mut Criterion) {
    let (a, b) = limits();
    let mut group = c.benchmark_group("memory_counter_store");
    let store = MemoryCounterStore::new();
    group.bench_function("reserve_release_2_counters_1_thread", |bench| {
        let mut now = 0;
        bench.iter(|| {
            now += 1;
            round_trip(&store, &a, &b, now)
        })
    });

    let store = Arc::new(MemoryCounterStore::new());
    let stop = Arc::new(AtomicBool::new(false));
    let contender = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let (a, b) = limits();
            let mut now = 0;
            while !stop.load(Ordering::Relaxed) {
                now += 1;
                round_trip(&store, &a, &b, now);
            }
        })
    };
    group.bench_function("reserve_release_2_counters_2_threads_contended", |bench| {
        let mut now = 0;
        bench.iter(|| {
            now += 1;
            round_trip(&store, &a, &b, now)
        })
    });
    stop.store(true, Ordering::Relaxed);
    contender.join().expect("contender finished");
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
