//! The documented caps, at and just past their limits: backends, weights,
//! least-request choices, and validation that reports every problem.

use outpost_lb::{BuildProblem, MAX_BACKENDS, MAX_CHOICES, MAX_WEIGHT, NoLoads, Policy, Selector};

use crate::util::{TestLoads, all, backends, weighted};

fn every_policy() -> [Policy; 5] {
    [
        Policy::RoundRobin,
        Policy::LEAST_REQUEST,
        Policy::Random,
        Policy::Maglev {
            bounded_load: Some(1.25),
        },
        Policy::RingHash {
            bounded_load: Some(1.25),
        },
    ]
}

/// MAX_BACKENDS backends with mixed weights up to MAX_WEIGHT: every policy
/// builds and picks (Maglev and ring take about a second each here
/// unoptimised, a few tens of milliseconds in release).
#[test]
fn max_backends_build_and_pick() {
    let weights: Vec<u32> = (0..MAX_BACKENDS as u32)
        .map(|i| i % MAX_WEIGHT + 1)
        .collect();
    let b = weighted(&weights);
    let loads = TestLoads::idle(b.len());
    for policy in every_policy() {
        let s = Selector::try_build(&policy, &b, &all(&b)).expect("valid at the limits");
        assert_eq!(s.len(), MAX_BACKENDS);
        assert!(s.pick(Some(1), &loads, &[]).is_some());
    }
}

#[test]
fn past_max_backends_is_cut_or_rejected() {
    let b = backends(MAX_BACKENDS + 1);
    let s = Selector::build(&Policy::Random, &b, &all(&b));
    assert_eq!(s.len(), MAX_BACKENDS);
    let err = Selector::try_build(&Policy::Random, &b, &all(&b)).unwrap_err();
    assert_eq!(
        err.problems,
        [BuildProblem::TooManyBackends {
            count: MAX_BACKENDS + 1
        }]
    );
}

/// Weights 0 and 5,000 are clamped to 1 and MAX_WEIGHT by `build`.
#[test]
fn weights_are_clamped() {
    let b = weighted(&[0, 5_000]);
    let s = Selector::build(&Policy::RoundRobin, &b, &all(&b));
    let mut counts = [0u32; 2];
    for _ in 0..=MAX_WEIGHT {
        counts[s.pick(None, &NoLoads, &[]).expect("a backend")] += 1;
    }
    assert_eq!(counts, [1, MAX_WEIGHT]);
    let err = Selector::try_build(&Policy::RoundRobin, &b, &all(&b)).unwrap_err();
    assert_eq!(err.problems.len(), 2, "{err}");
}

#[test]
fn choices_are_clamped() {
    let b = backends(3);
    for choices in [0, 1, MAX_CHOICES, MAX_CHOICES + 1, u32::MAX] {
        let policy = Policy::LeastRequest {
            choices,
            latency_weighted: true,
        };
        let s = Selector::build(&policy, &b, &all(&b));
        assert!(s.pick(None, &TestLoads::idle(3), &[]).is_some());
        let valid = (1..=MAX_CHOICES).contains(&choices);
        assert_eq!(Selector::try_build(&policy, &b, &[]).is_ok(), valid);
    }
}

#[test]
fn build_errors_name_every_culprit() {
    let mut b = backends(3);
    b[1].id = b[0].id.clone();
    b[2].weight = 0;
    let policy = Policy::RingHash {
        bounded_load: Some(0.9),
    };
    let err = Selector::try_build(&policy, &b, &[0, 5]).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("4 problems"), "{text}");
    for path in [
        "policy.bounded_load",
        "backends[1].id",
        "backends[2].weight",
        "eligible[1]",
    ] {
        assert!(text.contains(path), "{path}: {text}");
    }
}
