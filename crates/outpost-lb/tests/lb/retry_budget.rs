//! The retry budget on a clock the tests own: the ratio caps retries, the
//! window slides, the floor allows retries without traffic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_lb::{RETRY_WINDOW, RetryBudget};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn retries_allowed(budget: &RetryBudget, now: Instant, tries: usize) -> usize {
    (0..tries).filter(|_| budget.try_retry(now)).count()
}

#[test]
fn ratio_caps_retries() {
    let t0 = Instant::now();
    let budget = RetryBudget::new(0.2, 0);
    for _ in 0..1_000 {
        budget.on_request(t0);
    }
    assert_eq!(budget.remaining(t0), 200);
    assert_eq!(retries_allowed(&budget, t0, 1_000), 200);
    assert_eq!(budget.remaining(t0), 0);
}

#[test]
fn requests_spread_over_the_window_all_count() {
    let t0 = Instant::now();
    let budget = RetryBudget::new(0.2, 0);
    for s in 0..10 {
        for _ in 0..100 {
            budget.on_request(t0 + secs(s));
        }
    }
    assert_eq!(retries_allowed(&budget, t0 + secs(9), 1_000), 200);
}

#[test]
fn window_slides() {
    let t0 = Instant::now();
    let budget = RetryBudget::new(0.2, 0);
    for _ in 0..100 {
        budget.on_request(t0);
    }
    assert_eq!(retries_allowed(&budget, t0, 10), 10);
    // Still inside the window at 9.9 s: 10 left of 20.
    assert_eq!(budget.remaining(t0 + Duration::from_millis(9_900)), 10);
    // At 10 s the requests (and the retries) have left the window.
    assert_eq!(budget.remaining(t0 + RETRY_WINDOW), 0);
    assert!(!budget.try_retry(t0 + RETRY_WINDOW));
    // New traffic refills it.
    for _ in 0..50 {
        budget.on_request(t0 + secs(12));
    }
    assert_eq!(retries_allowed(&budget, t0 + secs(12), 100), 10);
}

#[test]
fn min_per_sec_allows_retries_without_traffic() {
    let t0 = Instant::now();
    let budget = RetryBudget::new(0.2, 5);
    // 5 per second × 10 s window = 50.
    assert_eq!(retries_allowed(&budget, t0, 100), 50);
    assert!(!budget.try_retry(t0 + secs(5)));
    assert_eq!(retries_allowed(&budget, t0 + secs(10), 100), 50);
}

#[test]
fn a_fraction_of_a_retry_allows_one() {
    let t0 = Instant::now();
    let budget = RetryBudget::new(0.2, 0);
    assert!(!budget.try_retry(t0));
    budget.on_request(t0);
    assert!(budget.try_retry(t0));
    assert!(!budget.try_retry(t0));
}

/// Withdrawals race only on the last unit: 4 threads may overshoot by at
/// most one retry each.
#[test]
fn concurrent_withdrawals_stay_near_the_budget() {
    let t0 = Instant::now();
    let budget = Arc::new(RetryBudget::new(0.2, 0));
    for _ in 0..1_000 {
        budget.on_request(t0);
    }
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let budget = Arc::clone(&budget);
            std::thread::spawn(move || retries_allowed(&budget, t0, 200))
        })
        .collect();
    let total: usize = threads.into_iter().map(|t| t.join().expect("thread")).sum();
    assert!((200..=204).contains(&total), "{total}");
}

#[test]
fn times_before_the_first_call_count_as_its_second() {
    let t0 = Instant::now() + secs(100);
    let budget = RetryBudget::new(1.0, 0);
    budget.on_request(t0);
    assert!(budget.try_retry(t0 - secs(50)));
}
