//! Bounded-load hashing: a hot key fills its backend up to capacity,
//! `ceil(c × (total in flight + 1) × weight / total weight)`, and overflows
//! to the next backends on its walk instead of past it.

use outpost_lb::{BackendSpec, Loads, Policy, Selector, hash_key};

use crate::util::{Rng, TestLoads, all, backends, weighted};

const C: f64 = 1.25;

/// Requests kept in flight by the simulation.
const IN_FLIGHT: usize = 100;

/// Runs 20,000 requests (80% one hot key) with about [`IN_FLIGHT`] of them
/// open at a time, asserting on every pick that the chosen backend was below
/// its capacity. Returns the backends the hot key went to.
fn simulate(policy: &Policy, b: &[BackendSpec], check: bool) -> (Vec<bool>, u32) {
    let s = Selector::build(policy, b, &all(b));
    let total_weight: u32 = b.iter().map(|b| b.weight).sum();
    let mut loads = TestLoads::idle(b.len());
    let mut open: Vec<usize> = Vec::new();
    let mut rng = Rng(7);
    let mut hot_went = vec![false; b.len()];
    let mut peak = 0;
    let hot = hash_key(b"hot-user");
    for _ in 0..20_000 {
        let is_hot = rng.below(10) < 8;
        let key = if is_hot { hot } else { rng.next() };
        let total: u32 = loads.in_flight.iter().sum();
        let i = s.pick(Some(key), &loads, &[]).expect("a backend");
        let share = f64::from(b[i].weight) / f64::from(total_weight);
        let capacity = (C * f64::from(total + 1) * share).ceil() as u32;
        if check {
            assert!(
                loads.in_flight[i] < capacity,
                "backend {i} had {} in flight, capacity {capacity}",
                loads.in_flight[i]
            );
        }
        hot_went[i] |= is_hot;
        loads.in_flight[i] += 1;
        peak = peak.max(loads.in_flight[i]);
        open.push(i);
        if open.len() > IN_FLIGHT {
            let done = open.swap_remove(rng.below(open.len() as u64) as usize);
            loads.in_flight[done] -= 1;
        }
    }
    (hot_went, peak)
}

fn bounded() -> [Policy; 2] {
    [
        Policy::Maglev {
            bounded_load: Some(C),
        },
        Policy::RingHash {
            bounded_load: Some(C),
        },
    ]
}

#[test]
fn hot_key_never_exceeds_capacity() {
    let b = backends(10);
    for policy in bounded() {
        let (hot_went, peak) = simulate(&policy, &b, true);
        // The bound binds: the hot key overflowed to other backends, and no
        // backend ever held more than ceil(1.25 × 101 / 10) = 13.
        assert!(hot_went.iter().filter(|&&w| w).count() > 1, "{policy:?}");
        assert!(peak <= 13, "{policy:?}: peak {peak}");
    }
}

#[test]
fn without_a_bound_the_hot_key_piles_up() {
    let b = backends(10);
    for policy in [
        Policy::Maglev { bounded_load: None },
        Policy::RingHash { bounded_load: None },
    ] {
        let (hot_went, peak) = simulate(&policy, &b, false);
        assert_eq!(hot_went.iter().filter(|&&w| w).count(), 1, "{policy:?}");
        assert!(peak > 50, "{policy:?}: peak {peak}");
    }
}

#[test]
fn weighted_capacity_scales_with_weight() {
    let b = weighted(&[1, 1, 4, 1, 2, 1]);
    for policy in bounded() {
        simulate(&policy, &b, true);
    }
}

/// A caller-kept total gives the same answers as the selector's own sum.
#[test]
fn caller_total_matches_the_selectors_sum() {
    struct WithTotal(TestLoads);
    impl Loads for WithTotal {
        fn in_flight(&self, i: usize) -> u32 {
            self.0.in_flight[i]
        }
        fn latency_us(&self, i: usize) -> u32 {
            self.0.latency_us[i]
        }
        fn total_in_flight(&self) -> Option<u64> {
            Some(self.0.in_flight.iter().map(|&n| u64::from(n)).sum())
        }
    }
    let b = backends(10);
    let mut loads = TestLoads::idle(10);
    loads.in_flight = vec![9, 0, 3, 14, 2, 0, 0, 7, 1, 5];
    let with_total = WithTotal(loads.clone());
    for policy in bounded() {
        let s = Selector::build(&policy, &b, &all(&b));
        for key in 0..1_000u64 {
            let key = hash_key(&key.to_le_bytes());
            assert_eq!(
                s.pick(Some(key), &loads, &[]),
                s.pick(Some(key), &with_total, &[])
            );
        }
    }
}

/// With every other backend excluded and the last one full, a bounded pick
/// still answers (over capacity beats no backend).
#[test]
fn full_and_alone_still_picked() {
    let b = backends(3);
    let mut loads = TestLoads::idle(3);
    loads.in_flight = vec![0, 0, 50];
    for policy in bounded() {
        let s = Selector::build(&policy, &b, &all(&b));
        assert_eq!(s.pick(Some(42), &loads, &[0, 1]), Some(2));
    }
}
