//! Least-request (power of d choices): loaded backends get few picks, the
//! latency-weighted score prefers fast backends, weights shift load.

use outpost_lb::{Policy, Selector, rng};

use crate::util::{Rng, TestLoads, all, backends, weighted};

fn least(choices: u32, latency_weighted: bool) -> Policy {
    Policy::LeastRequest {
        choices,
        latency_weighted,
    }
}

/// Backend 0 has 100 requests in flight, the others none: it can only win
/// when both draws land on it, 1% of picks instead of a fair 10%.
#[test]
fn a_loaded_backend_gets_far_fewer_picks() {
    rng::seed_thread(11);
    let b = backends(10);
    let s = Selector::build(&Policy::LEAST_REQUEST, &b, &all(&b));
    let mut loads = TestLoads::idle(10);
    loads.in_flight[0] = 100;
    let mut counts = [0u32; 10];
    for _ in 0..10_000 {
        counts[s.pick(None, &loads, &[]).expect("a backend")] += 1;
    }
    assert!(counts[0] <= 200, "{counts:?}");
    assert!(counts[1..].iter().all(|&c| c > 800), "{counts:?}");
}

/// Two idle backends, 1 ms against 10 ms: the fast one loses only when both
/// draws are the slow one (1/4). Without latency weighting it is a coin flip.
#[test]
fn latency_weighted_prefers_the_faster_backend() {
    rng::seed_thread(12);
    let b = backends(2);
    let mut loads = TestLoads::idle(2);
    loads.latency_us = vec![10_000, 1_000];
    let share_of_fast = |policy: &Policy| {
        let s = Selector::build(policy, &b, &all(&b));
        let fast = (0..10_000)
            .filter(|_| s.pick(None, &loads, &[]) == Some(1))
            .count();
        fast as f64 / 10_000.0
    };
    let weighted_share = share_of_fast(&least(2, true));
    assert!(weighted_share > 0.70, "{weighted_share}");
    let plain_share = share_of_fast(&least(2, false));
    assert!((0.40..0.60).contains(&plain_share), "{plain_share}");
    // More choices, sharper preference: the slow one needs all 4 draws.
    assert!(share_of_fast(&least(4, true)) > 0.90);
}

/// In-flight counts still matter under latency weighting: the fast backend
/// with 20 in flight scores worse than the slow idle one.
#[test]
fn latency_score_is_in_flight_times_latency() {
    rng::seed_thread(13);
    let b = backends(2);
    let mut loads = TestLoads::idle(2);
    loads.latency_us = vec![5_000, 1_000];
    loads.in_flight = vec![0, 20];
    let s = Selector::build(&least(2, true), &b, &all(&b));
    let slow = (0..1_000)
        .filter(|_| s.pick(None, &loads, &[]) == Some(0))
        .count();
    assert!(slow > 700, "{slow}");
}

/// A backend without a latency EWMA yet (0) is scored with the best known
/// latency, so it competes on in-flight counts rather than winning outright.
#[test]
fn unknown_latency_competes_on_in_flight() {
    rng::seed_thread(14);
    let b = backends(2);
    let mut loads = TestLoads::idle(2);
    loads.latency_us = vec![2_000, 0];
    loads.in_flight = vec![0, 5];
    let s = Selector::build(&least(2, true), &b, &all(&b));
    let new = (0..1_000)
        .filter(|_| s.pick(None, &loads, &[]) == Some(1))
        .count();
    assert!(new < 300, "{new}");
}

/// Closed loop, 40 requests in flight, weights 1:3: the heavy backend takes
/// about three times the traffic of the light one.
#[test]
fn weights_shift_load() {
    rng::seed_thread(15);
    let b = weighted(&[1, 3]);
    let s = Selector::build(&Policy::LEAST_REQUEST, &b, &all(&b));
    let mut loads = TestLoads::idle(2);
    let mut open = Vec::new();
    let mut sim = Rng(3);
    let mut counts = [0u32; 2];
    for _ in 0..20_000 {
        let i = s.pick(None, &loads, &[]).expect("a backend");
        counts[i] += 1;
        loads.in_flight[i] += 1;
        open.push(i);
        if open.len() > 40 {
            let done = open.swap_remove(sim.below(open.len() as u64) as usize);
            loads.in_flight[done] -= 1;
        }
    }
    let ratio = f64::from(counts[1]) / f64::from(counts[0]);
    assert!((2.0..4.5).contains(&ratio), "{counts:?}");
}
