//! Property tests of WindowLog against a brute-force model: sliding windows never hold more than `max`
//! in any interval of length `window`, admit exactly when the model says the amount fits, and the
//! retry-after is the first moment it would; release restores capacity; fixed windows reset on the
//! calendar boundary.

use proptest::prelude::*;
use toolgate_policy::{EntryId, RetryAfterMs, WindowLog, WindowMode, window_start};

#[derive(Debug, Clone)]
struct Step {
    advance: u64,
    /// Requests may carry a slightly stale clock reading (concurrent callers).
    jitter: u64,
    amount: u64,
    release_one: bool,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (
            0u64..120,
            prop_oneof![4 => Just(0u64), 1 => 0u64..50],
            0u64..4,
            prop::bool::weighted(0.15),
        )
            .prop_map(|(advance, jitter, amount, release_one)| Step {
                advance,
                jitter,
                amount,
                release_one,
            }),
        1..200,
    )
}

/// (time as recorded, amount, id)
type Admitted = Vec<(u64, u64, EntryId)>;

fn counted(entries: &Admitted, window: u64, mode: WindowMode, t: u64) -> u64 {
    entries
        .iter()
        .filter(|(at, _, _)| match mode {
            WindowMode::Sliding => *at <= t && t - at < window,
            WindowMode::Fixed => window_start(*at, window) == window_start(t, window),
        })
        .map(|(_, a, _)| a)
        .sum()
}

fn run(mode: WindowMode, window: u64, max: u64, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut log = WindowLog::new();
    let mut admitted: Admitted = Vec::new();
    let mut clock = 1_000_000u64;
    let mut latest = 0u64;
    for (i, s) in steps.iter().enumerate() {
        clock += s.advance;
        if s.release_one && !admitted.is_empty() {
            let (at, amount, id) = admitted.remove(i % admitted.len());
            let live = counted(
                &[(at, amount, id)].to_vec(),
                window,
                mode,
                clock.max(latest),
            ) > 0;
            let released = log.release(id);
            prop_assert!(released || !live, "a live entry releases");
        }
        let passed = clock - s.jitter;
        let t = passed.max(latest); // the log never lets time run backwards
        let model_fits = counted(&admitted, window, mode, t) + s.amount <= max;
        match log.try_admit(s.amount, max, window, mode, passed) {
            Ok(id) => {
                prop_assert!(
                    model_fits,
                    "admitted {} at {t} but the model says it does not fit",
                    s.amount
                );
                if s.amount > 0 {
                    admitted.push((t, s.amount, id));
                }
            }
            Err(RetryAfterMs(retry)) => {
                prop_assert!(!model_fits, "rejected {} at {t} although it fits", s.amount);
                if s.amount > max {
                    prop_assert_eq!(retry, u64::MAX);
                } else {
                    prop_assert!(retry >= 1);
                    let fits_at = |x: u64| counted(&admitted, window, mode, x) + s.amount <= max;
                    prop_assert!(
                        fits_at(t + retry),
                        "retry-after {retry} at {t} is too early"
                    );
                    prop_assert!(
                        retry == 1 || !fits_at(t + retry - 1),
                        "retry-after {retry} at {t} is too late"
                    );
                }
            }
        }
        latest = t;
        prop_assert_eq!(
            log.current(window, mode, t),
            counted(&admitted, window, mode, t)
        );
    }
    if mode == WindowMode::Sliding {
        // The headline guarantee: no interval of length `window` holds more than `max`.
        for (start, _, _) in &admitted {
            let in_interval: u64 = admitted
                .iter()
                .filter(|(at, _, _)| *at >= *start && *at - *start < window)
                .map(|(_, a, _)| a)
                .sum();
            prop_assert!(
                in_interval <= max,
                "{in_interval} > {max} in [{start}, {start}+{window})"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sliding_matches_the_model(window in 1u64..600, max in 0u64..12, steps in steps()) {
        run(WindowMode::Sliding, window, max, &steps)?;
    }

    #[test]
    fn fixed_matches_the_model(window in 1u64..600, max in 0u64..12, steps in steps()) {
        run(WindowMode::Fixed, window, max, &steps)?;
    }

    #[test]
    fn release_restores_capacity(max in 1u64..20, n in 1usize..20, mode in prop_oneof![Just(WindowMode::Sliding), Just(WindowMode::Fixed)]) {
        let window = 60_000;
        let mut log = WindowLog::new();
        let ids: Vec<EntryId> = (0..max).map(|i| log.try_admit(1, max, window, mode, i)).collect::<Result<_, _>>().expect("all fit");
        prop_assert!(log.try_admit(1, max, window, mode, max).is_err(), "full");
        let n = n.min(ids.len());
        for id in &ids[..n] {
            prop_assert!(log.release(*id));
        }
        prop_assert!(log.try_admit(n as u64, max, window, mode, max).is_ok(), "released capacity is available again");
        prop_assert!(log.try_admit(1, max, window, mode, max).is_err(), "and no more than that");
    }

    #[test]
    fn fixed_windows_reset_on_the_clock_boundary(window_s in 1u64..90_000, max in 1u64..50, offset in 0u64..1_000_000) {
        let window = window_s * 1_000;
        let start = (offset + 1) * window; // a boundary, UTC-epoch aligned
        let mut log = WindowLog::new();
        prop_assert!(log.try_admit(max, max, window, WindowMode::Fixed, start - 1).is_ok());
        prop_assert_eq!(log.try_admit(1, max, window, WindowMode::Fixed, start - 1), Err(RetryAfterMs(1)));
        prop_assert!(log.try_admit(max, max, window, WindowMode::Fixed, start).is_ok(), "a new window starts exactly at the boundary");
        prop_assert_eq!(log.current(window, WindowMode::Fixed, start + window - 1), max);
        prop_assert_eq!(log.current(window, WindowMode::Fixed, start + window), 0);
    }
}
