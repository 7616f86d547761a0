//! The selector's randomness: one wyrand generator per thread, so a pick
//! never takes a lock or touches shared memory for its random numbers.
//! Each thread's generator is seeded from std's per-process random keys and
//! a thread counter; [`seed_thread`] makes a thread's draws reproducible in
//! tests and benchmarks.

use std::cell::Cell;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    static STATE: Cell<u64> = Cell::new(fresh_seed());
}

/// Makes this thread's draws (and so its random and least-request picks,
/// and the start of round-robin sequences it builds) reproducible.
pub fn seed_thread(seed: u64) {
    STATE.with(|s| s.set(seed));
}

/// The next 64 random bits from this thread's wyrand generator.
pub fn next_u64() -> u64 {
    STATE.with(|s| {
        let state = s.get().wrapping_add(0xa076_1d64_78bd_642f);
        s.set(state);
        let t = u128::from(state) * u128::from(state ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

/// A random number in `0..n` (0 when `n` is 0), by multiply-shift: one
/// multiplication, bias below `n / 2^64`.
pub fn below(n: u64) -> u64 {
    ((u128::from(next_u64()) * u128::from(n)) >> 64) as u64
}

/// A seed no other thread of this process gets, unpredictable across
/// processes (std's `RandomState` draws its keys from the OS once).
fn fresh_seed() -> u64 {
    static THREADS: AtomicU64 = AtomicU64::new(0);
    let n = THREADS.fetch_add(1, Ordering::Relaxed);
    std::collections::hash_map::RandomState::new().hash_one(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_draws_repeat() {
        seed_thread(42);
        let a: Vec<u64> = (0..4).map(|_| next_u64()).collect();
        seed_thread(42);
        let b: Vec<u64> = (0..4).map(|_| next_u64()).collect();
        assert_eq!(a, b);
        assert_ne!(a[0], a[1]);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        seed_thread(7);
        let mut seen = [0u32; 7];
        for _ in 0..7_000 {
            seen[below(7) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
        assert_eq!(below(0), 0);
        assert_eq!(below(1), 0);
    }

    #[test]
    fn threads_start_differently() {
        let other = std::thread::spawn(next_u64).join().unwrap();
        assert_ne!(other, next_u64());
    }
}
