//! [`RetryBudget`]: how many retries a client (or route) may send, as a
//! share of its recent requests plus a small floor, like linkerd's and
//! Finagle's retry budgets. A budget stops retries from multiplying load
//! when a backend fails: at ratio 0.2 they add at most 20% on top.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The sliding window requests and retries are counted over: 10 s, as ten
/// one-second buckets (so an event counts for between 9 and 10 s).
pub const RETRY_WINDOW: Duration = Duration::from_secs(BUCKETS as u64);

/// Largest retry ratio: 1,000.0 retries per request, which no longer limits
/// anything; `new` clamps to 0.0..=1,000.0 and treats NaN as 0.0.
pub const MAX_RETRY_RATIO: f64 = 1_000.0;

/// One-second buckets in the window.
const BUCKETS: usize = 10;

/// A thread-safe retry budget over a sliding 10-second window.
///
/// Retries are allowed while
/// `retries_in_window < min_per_sec × 10 + ratio × requests_in_window`.
/// Call [`RetryBudget::on_request`] for every original request (not for
/// retries, so `ratio` is retries per original request) and
/// [`RetryBudget::try_retry`] before each retry. All state is atomics; two
/// threads withdrawing at the same instant may both pass the last unit, so
/// the budget can be exceeded by at most the number of racing threads.
#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    min_per_sec: u32,
    /// The first `now` seen: seconds are counted from it. Taken from the
    /// calls, not the clock, so tests own time.
    origin: OnceLock<Instant>,
    /// Per bucket: (second << 32) | count, so a bucket's stamp and count
    /// change together in one compare-exchange.
    requests: [AtomicU64; BUCKETS],
    retries: [AtomicU64; BUCKETS],
}

impl RetryBudget {
    /// `ratio`: retries allowed per request in the window, e.g. 0.2;
    /// clamped to 0.0..=[`MAX_RETRY_RATIO`], NaN as 0.0.
    /// `min_per_sec`: retries always allowed per second of window even with
    /// no traffic (10 × this per window), e.g. 10.
    pub fn new(ratio: f64, min_per_sec: u32) -> RetryBudget {
        let ratio = if ratio.is_nan() {
            0.0
        } else {
            ratio.clamp(0.0, MAX_RETRY_RATIO)
        };
        RetryBudget {
            ratio,
            min_per_sec,
            origin: OnceLock::new(),
            requests: [const { AtomicU64::new(0) }; BUCKETS],
            retries: [const { AtomicU64::new(0) }; BUCKETS],
        }
    }

    /// Counts one original request at `now`.
    pub fn on_request(&self, now: Instant) {
        add(&self.requests, self.second(now));
    }

    /// Whether a retry may be sent at `now`; if so, it is withdrawn from the
    /// budget (counted as a retry in the window).
    pub fn try_retry(&self, now: Instant) -> bool {
        let second = self.second(now);
        let allowed = sum(&self.retries, second) < self.limit(second);
        if allowed {
            add(&self.retries, second);
        }
        allowed
    }

    /// Retries `try_retry` would allow at `now` before refusing (for
    /// metrics and tests; nothing is withdrawn).
    pub fn remaining(&self, now: Instant) -> u64 {
        let second = self.second(now);
        self.limit(second)
            .saturating_sub(sum(&self.retries, second))
    }

    /// Retries allowed in the window ending at `second`: the real-valued
    /// bound rounded up, since any count below it passes.
    fn limit(&self, second: u32) -> u64 {
        let requests = sum(&self.requests, second) as f64;
        let bound = f64::from(self.min_per_sec) * BUCKETS as f64 + self.ratio * requests;
        bound.ceil() as u64
    }

    /// Whole seconds since the first `now` seen; earlier instants count as
    /// second 0. Wraps after 136 years, harmlessly.
    fn second(&self, now: Instant) -> u32 {
        let origin = *self.origin.get_or_init(|| now);
        now.saturating_duration_since(origin).as_secs() as u32
    }
}

fn unpack(bucket: u64) -> (u32, u32) {
    ((bucket >> 32) as u32, bucket as u32)
}

/// Adds one event at `second` to its bucket, restarting the bucket if it
/// holds an older second. An event for a second older than the bucket's
/// (a caller with a stale `now`, 10 s or more behind) is dropped: it would
/// be outside the window anyway.
fn add(buckets: &[AtomicU64; BUCKETS], second: u32) {
    let bucket = &buckets[second as usize % BUCKETS];
    let mut current = bucket.load(Ordering::Relaxed);
    loop {
        let (stamp, count) = unpack(current);
        let next = match second.wrapping_sub(stamp) as i32 {
            0 => count.saturating_add(1),
            d if d > 0 => 1,
            _ => return,
        };
        let new = (u64::from(second) << 32) | u64::from(next);
        match bucket.compare_exchange_weak(current, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(seen) => current = seen,
        }
    }
}

/// Events in the window ending at `second`: buckets stamped with it or one
/// of the nine seconds before.
fn sum(buckets: &[AtomicU64; BUCKETS], second: u32) -> u64 {
    buckets
        .iter()
        .map(|b| unpack(b.load(Ordering::Relaxed)))
        .filter(|&(stamp, _)| (second.wrapping_sub(stamp) as usize) < BUCKETS)
        .map(|(_, count)| u64::from(count))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_restart_and_drop_stale_events() {
        let buckets = [const { AtomicU64::new(0) }; BUCKETS];
        add(&buckets, 3);
        add(&buckets, 3);
        assert_eq!(sum(&buckets, 3), 2);
        assert_eq!(sum(&buckets, 12), 2);
        assert_eq!(sum(&buckets, 13), 0);
        add(&buckets, 13);
        add(&buckets, 3);
        assert_eq!(sum(&buckets, 13), 1);
    }

    #[test]
    fn ratio_is_clamped() {
        assert_eq!(RetryBudget::new(f64::NAN, 0).ratio, 0.0);
        assert_eq!(RetryBudget::new(-1.0, 0).ratio, 0.0);
        assert_eq!(RetryBudget::new(1e12, 0).ratio, MAX_RETRY_RATIO);
    }
}
