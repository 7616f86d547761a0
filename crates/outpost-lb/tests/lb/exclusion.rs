//! Retries: no policy returns a backend the request already tried, every
//! policy returns `None` when nothing is left, and hashing policies move on
//! to the next backend deterministically.

use outpost_lb::{Policy, Selector, rng};
use proptest::prelude::*;

use crate::util::{TestLoads, all, backends, weighted};

fn every_policy() -> Vec<Policy> {
    vec![
        Policy::RoundRobin,
        Policy::LEAST_REQUEST,
        Policy::LeastRequest {
            choices: 3,
            latency_weighted: true,
        },
        Policy::Random,
        Policy::Maglev { bounded_load: None },
        Policy::Maglev {
            bounded_load: Some(1.25),
        },
        Policy::RingHash { bounded_load: None },
        Policy::RingHash {
            bounded_load: Some(1.25),
        },
    ]
}

#[test]
fn empty_eligible_picks_nothing() {
    let b = backends(3);
    for policy in every_policy() {
        let s = Selector::build(&policy, &b, &[]);
        assert!(s.is_empty());
        assert_eq!(s.len(), 0);
        assert_eq!(
            s.pick(Some(1), &TestLoads::idle(3), &[]),
            None,
            "{policy:?}"
        );
        assert_eq!(s.pick(None, &TestLoads::idle(3), &[]), None, "{policy:?}");
    }
}

#[test]
fn everything_excluded_picks_nothing() {
    let b = backends(4);
    for policy in every_policy() {
        let s = Selector::build(&policy, &b, &[0, 2, 3]);
        for hash in [None, Some(7)] {
            assert_eq!(
                s.pick(hash, &TestLoads::idle(4), &[3, 0, 2]),
                None,
                "{policy:?}"
            );
        }
    }
}

/// With all heavy backends excluded, the last light one is still found (the
/// random draws miss it; the fallback scan does not).
#[test]
fn the_only_allowed_backend_is_found() {
    rng::seed_thread(21);
    let b = weighted(&[1000, 1000, 1000, 1]);
    for policy in every_policy() {
        let s = Selector::build(&policy, &b, &all(&b));
        for hash in 0..50 {
            let got = s.pick(Some(hash), &TestLoads::idle(4), &[0, 1, 2]);
            assert_eq!(got, Some(3), "{policy:?}");
        }
    }
}

/// Retrying a key walks to the next distinct backend, and does so the same
/// way every time (so retries of one key also stick).
#[test]
fn hashing_retries_are_deterministic_and_distinct() {
    let b = backends(10);
    let loads = TestLoads::idle(10);
    for policy in [
        Policy::Maglev { bounded_load: None },
        Policy::RingHash { bounded_load: None },
    ] {
        let s = Selector::build(&policy, &b, &all(&b));
        for key in 0..200u64 {
            let key = outpost_lb::hash_key(&key.to_le_bytes());
            let first = s.pick(Some(key), &loads, &[]).expect("a backend");
            let second = s.pick(Some(key), &loads, &[first]).expect("a backend");
            let third = s
                .pick(Some(key), &loads, &[first, second])
                .expect("a backend");
            assert!(first != second && second != third && first != third);
            assert_eq!(s.pick(Some(key), &loads, &[first]), Some(second));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the backends, eligible set, exclusions, loads and key: a
    /// pick is eligible and not excluded, and `None` exactly when every
    /// eligible backend is excluded.
    #[test]
    fn picks_are_eligible_and_never_excluded(
        weights in prop::collection::vec(1u32..=20, 1..24),
        eligible_mask in any::<u32>(),
        exclude_mask in any::<u32>(),
        in_flight in prop::collection::vec(0u32..50, 24),
        latency in prop::collection::vec(0u32..5_000, 24),
        hash in any::<Option<u64>>(),
    ) {
        let b = weighted(&weights);
        let n = b.len();
        let eligible: Vec<usize> = (0..n).filter(|i| eligible_mask >> i & 1 == 1).collect();
        let exclude: Vec<usize> = (0..n).filter(|i| exclude_mask >> i & 1 == 1).collect();
        let loads = TestLoads { in_flight: in_flight[..n].to_vec(), latency_us: latency[..n].to_vec() };
        let allowed: Vec<usize> = eligible.iter().copied().filter(|i| !exclude.contains(i)).collect();
        for policy in every_policy() {
            let s = Selector::build(&policy, &b, &eligible);
            prop_assert_eq!(s.len(), eligible.len());
            for _ in 0..4 {
                match s.pick(hash, &loads, &exclude) {
                    Some(i) => prop_assert!(allowed.contains(&i), "{:?} picked {}", policy, i),
                    None => prop_assert!(allowed.is_empty(), "{:?} gave up", policy),
                }
            }
        }
    }
}
