//! Threads hammering MemoryCounterStore: with racing callers, no interval of length `window` ever holds
//! more than `max` for any counter, every admitted call holds quota in all its counters (all or
//! nothing), and released quota is really given back.

use std::sync::{Arc, Barrier, Mutex};

use proptest::prelude::*;
use toolgate_policy::{CounterKey, Limit, Reservation, Scope, WindowMode};
use toolgate_store::{MemoryCounterStore, ReserveOutcome};

#[derive(Debug, Clone)]
struct Scenario {
    threads: usize,
    phases: Vec<(u64, u64)>, // (clock advance before the phase, calls per thread)
    window: u64,
    max_a: u64,
    max_b: u64,
    release_every: usize,
    mode: WindowMode,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        2usize..5,
        prop::collection::vec((0u64..400, 1u64..30), 1..12),
        1u64..1_000,
        1u64..10,
        1u64..15,
        2usize..7,
        prop_oneof![Just(WindowMode::Sliding), Just(WindowMode::Fixed)],
    )
        .prop_map(
            |(threads, phases, window, max_a, max_b, release_every, mode)| Scenario {
                threads,
                phases,
                window,
                max_a,
                max_b,
                release_every,
                mode,
            },
        )
}

/// Checks the window guarantee over (time, amount) records of one counter.
fn check_counter(
    records: &[(u64, u64)],
    window: u64,
    max: u64,
    mode: WindowMode,
) -> Result<(), TestCaseError> {
    for (start, _) in records {
        let sum: u64 = records
            .iter()
            .filter(|(t, _)| match mode {
                WindowMode::Sliding => *t >= *start && *t - *start < window,
                WindowMode::Fixed => t / window == start / window,
            })
            .map(|(_, a)| a)
            .sum();
        prop_assert!(sum <= max, "{sum} > {max} in the window at {start}");
    }
    Ok(())
}

fn run(s: &Scenario) -> Result<(), TestCaseError> {
    let store = Arc::new(MemoryCounterStore::new());
    let limit_a = Arc::new(
        Limit::new("a", s.window, s.max_a, Scope::Grant, s.mode).with_rule("/tools/t/limits/0"),
    );
    let limit_b = Arc::new(
        Limit::new("b", s.window, s.max_b, Scope::Global, s.mode).with_rule("/all_tools/limits/0"),
    );
    let admitted: Arc<Mutex<Vec<u64>>> = Arc::default(); // times of admitted calls still holding quota
    let barrier = Arc::new(Barrier::new(s.threads));
    let mut handles = Vec::new();
    for thread in 0..s.threads {
        let (store, limit_a, limit_b, admitted, barrier, s) = (
            store.clone(),
            limit_a.clone(),
            limit_b.clone(),
            admitted.clone(),
            barrier.clone(),
            s.clone(),
        );
        handles.push(std::thread::spawn(move || {
            let mut now = 0u64;
            let mut n = 0usize;
            for (advance, calls) in &s.phases {
                now += advance;
                // Every thread uses the same clock reading within a phase; phases are separated by the
                // barrier, so readings never go backwards and what a caller passes is what is recorded.
                barrier.wait();
                for _ in 0..*calls {
                    let r = [
                        Reservation {
                            key: CounterKey {
                                counter: "a",
                                scope: Scope::Grant,
                                subject: "g",
                            },
                            limit: &limit_a,
                            amount: 1,
                        },
                        Reservation {
                            key: CounterKey {
                                counter: "b",
                                scope: Scope::Global,
                                subject: "",
                            },
                            limit: &limit_b,
                            amount: 1,
                        },
                    ];
                    if let ReserveOutcome::Reserved(ticket) = store.reserve_now(&r, now) {
                        assert_eq!(ticket.len(), 2, "all or nothing");
                        n += 1;
                        if (n + thread) % s.release_every == 0 {
                            store.release_now(&ticket, now); // the call never happened: not recorded
                        } else {
                            admitted.lock().expect("not poisoned").push(now);
                        }
                    }
                }
                barrier.wait();
            }
        }));
    }
    for h in handles {
        h.join()
            .map_err(|_| TestCaseError::fail("worker panicked"))?;
    }
    let times = admitted.lock().expect("not poisoned").clone();
    let records: Vec<(u64, u64)> = times.iter().map(|t| (*t, 1)).collect();
    // Both counters count every admitted call (b is global, a is the single grant "g").
    check_counter(&records, s.window, s.max_a.min(s.max_b), s.mode)?;
    // Capacity is used, not lost: in the first phase at least min(max) calls got through.
    let first_phase = s.phases[0].1 * s.threads as u64;
    let got_first = times.iter().filter(|t| **t == s.phases[0].0).count() as u64;
    prop_assert!(got_first >= 1 || first_phase == 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn concurrent_callers_never_exceed_max(s in scenario()) {
        run(&s)?;
    }
}

#[test]
fn release_gives_back_exactly_the_quota_under_contention() {
    let store = Arc::new(MemoryCounterStore::new());
    let limit = Arc::new(Limit::new(
        "c",
        60_000,
        100,
        Scope::Global,
        WindowMode::Sliding,
    ));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (store, limit) = (store.clone(), limit.clone());
            std::thread::spawn(move || {
                let mut kept = 0u64;
                for i in 0..10_000u64 {
                    let r = [Reservation {
                        key: CounterKey {
                            counter: "c",
                            scope: Scope::Global,
                            subject: "",
                        },
                        limit: &limit,
                        amount: 1,
                    }];
                    if let ReserveOutcome::Reserved(t) = store.reserve_now(&r, 1_000) {
                        if i % 2 == 0 && kept < 10 {
                            kept += 1;
                        } else {
                            store.release_now(&t, 1_000);
                        }
                    }
                }
                kept
            })
        })
        .collect();
    let kept: u64 = handles
        .into_iter()
        .map(|h| h.join().expect("no panic"))
        .sum();
    let key = CounterKey {
        counter: "c",
        scope: Scope::Global,
        subject: "",
    };
    use toolgate_policy::CounterState;
    assert_eq!(kept, 40);
    assert_eq!(
        store.current(&key, &limit, 1_000),
        40,
        "exactly the kept reservations still count"
    );
}
