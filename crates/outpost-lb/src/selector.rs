//! [`Selector`]: one policy built over the eligible backends, answering
//! "which backend for this request?" in O(1) or O(log n) without locks.
//! It is built off the hot path whenever health changes and then shared
//! (`Send + Sync`, its only mutable state is atomics).

use crate::Loads;
use crate::backend::{self, BackendSpec, BuildError, MAX_BACKENDS, Policy};
use least_request::LeastRequest;
use maglev::Maglev;
use pool::Pool;
use ring::Ring;
use round_robin::RoundRobin;

mod bounded;
mod least_request;
mod maglev;
mod pool;
mod ring;
mod round_robin;

/// Random draws (random, least-request) or cycle entries (round-robin) a
/// pick tries before falling back to a scan of all members when the draws
/// keep landing on excluded backends: 8. Excluded backends are the few a
/// request already tried, so a draw almost always succeeds first time.
pub const PICK_ATTEMPTS: usize = 8;

/// Steps a hashing pick walks past the key's own table entry or ring point
/// looking for a backend that is neither excluded nor (with bounded load)
/// full: 256. Then it scans the members in order. With load factor `c`, at
/// most `1/c` of the weight can be full, so the walk needs about
/// `c / (c - 1)` steps on average (5 for `c = 1.25`).
pub const HASH_WALK_LIMIT: usize = 256;

/// Longest round-robin cycle: 65,536 entries (128 KiB). Weights are first
/// divided by their gcd; if they still sum past this, they are scaled down
/// proportionally (each at least 1), which keeps ratios to within about
/// `n / 65,536` of each weight share.
pub const MAX_RR_SEQUENCE: usize = 1 << 16;

/// Smallest Maglev table: 65,537 slots (a prime, 128 KiB of 2-byte entries).
/// Below ~650 backends every backend gets ≥ 100 slots, so table imbalance
/// stays under 1% and one backend's removal moves few other keys.
pub const MAGLEV_MIN_TABLE_SIZE: usize = 65_537;

/// Maglev slots per backend: 100. The table size M is the smallest prime at
/// least `max(65,537, 100 × n)`, so at most 1,000,003 for
/// [`MAX_BACKENDS`] (2 MB). The Maglev paper asks for M ≫ n (it uses 100×)
/// for balance within ~1%.
pub const MAGLEV_TABLE_PER_BACKEND: usize = 100;

/// Ring virtual nodes for a backend of the lowest weight present: 160
/// (ketama's count). Heavier backends get proportionally more. With 160
/// points each backend's arc is within about ±25% of its fair share.
pub const RING_POINTS_PER_BACKEND: usize = 160;

/// Most points on one ring: 1,048,576 (10 MiB with owners). Past it, the
/// virtual node counts are scaled down proportionally (each at least 1).
pub const MAX_RING_POINTS: usize = 1 << 20;

// Tables store member positions as u16, u16::MAX meaning "empty".
const _: () = assert!(MAX_BACKENDS < u16::MAX as usize);
const _: () = assert!(MAX_BACKENDS < MAX_RR_SEQUENCE);

/// Chooses a backend per request under one [`Policy`].
#[derive(Debug)]
pub struct Selector {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Empty,
    RoundRobin(RoundRobin),
    LeastRequest(LeastRequest),
    Random(Pool),
    Maglev(Maglev),
    Ring(Ring),
}

impl Selector {
    /// Builds the selector for `policy` over `backends[eligible]`.
    ///
    /// `eligible`: indices into `backends` that may be chosen (the healthy
    /// set, or all of them in panic mode). Built off the hot path whenever
    /// health changes. Never fails: indices out of range and repeats are
    /// dropped, weights clamped to 1..=[`crate::MAX_WEIGHT`], least-request
    /// choices clamped to 1..=[`crate::MAX_CHOICES`] (0 means 2), the
    /// bounded-load factor clamped to 1.0..=[`crate::MAX_BALANCE_FACTOR`]
    /// (non-finite means unbounded), and past [`MAX_BACKENDS`] eligible
    /// backends (in id order) the rest are ignored. Use
    /// [`Selector::try_build`] to reject such input instead.
    ///
    /// Hashing policies order backends by `(id, index)`, so equal id sets
    /// give equal mappings whatever the order of `backends` and `eligible`.
    pub fn build(policy: &Policy, backends: &[BackendSpec], eligible: &[usize]) -> Selector {
        let members = backend::members(backends, eligible);
        if members.is_empty() {
            return Selector {
                inner: Inner::Empty,
            };
        }
        let inner = match policy {
            Policy::RoundRobin => Inner::RoundRobin(RoundRobin::new(Pool::new(&members))),
            Policy::LeastRequest {
                choices,
                latency_weighted,
            } => Inner::LeastRequest(LeastRequest::new(
                Pool::new(&members),
                *choices,
                *latency_weighted,
            )),
            Policy::Random => Inner::Random(Pool::new(&members)),
            Policy::Maglev { bounded_load } => Inner::Maglev(Maglev::new(
                &members,
                backend::balance_factor(*bounded_load),
            )),
            Policy::RingHash { bounded_load } => {
                Inner::Ring(Ring::new(&members, backend::balance_factor(*bounded_load)))
            }
        };
        Selector { inner }
    }

    /// Like [`Selector::build`], but first checks the input (see
    /// [`crate::validate`]) and reports every problem at once.
    pub fn try_build(
        policy: &Policy,
        backends: &[BackendSpec],
        eligible: &[usize],
    ) -> Result<Selector, BuildError> {
        backend::validate(policy, backends, eligible)?;
        Ok(Selector::build(policy, backends, eligible))
    }

    /// Chooses a backend index (into `backends`), never one in `exclude`
    /// (backends already tried by this request). `hash`: the request's key
    /// hash for the hashing policies (`None` falls back to a weighted random
    /// pick); other policies ignore it. `None` when nothing is left.
    pub fn pick<L: Loads>(&self, hash: Option<u64>, loads: &L, exclude: &[usize]) -> Option<usize> {
        match (&self.inner, hash) {
            (Inner::Empty, _) => None,
            (Inner::RoundRobin(rr), _) => rr.pick(exclude),
            (Inner::LeastRequest(lr), _) => lr.pick(loads, exclude),
            (Inner::Random(pool), _) => random(pool, exclude),
            (Inner::Maglev(m), Some(hash)) => m.pick(hash, loads, exclude),
            (Inner::Ring(r), Some(hash)) => r.pick(hash, loads, exclude),
            (Inner::Maglev(m), None) => random(m.pool(), exclude),
            (Inner::Ring(r), None) => random(r.pool(), exclude),
        }
    }

    /// Number of backends this selector chooses among.
    pub fn len(&self) -> usize {
        self.pool().map_or(0, Pool::len)
    }

    /// Whether there is no backend to choose (every pick returns `None`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Backend indices this selector chooses among, in id order.
    pub fn eligible(&self) -> impl Iterator<Item = usize> + '_ {
        let pool = self.pool();
        (0..pool.map_or(0, Pool::len)).filter_map(move |pos| pool.map(|p| p.backend(pos)))
    }

    fn pool(&self) -> Option<&Pool> {
        match &self.inner {
            Inner::Empty => None,
            Inner::RoundRobin(rr) => Some(rr.pool()),
            Inner::LeastRequest(lr) => Some(lr.pool()),
            Inner::Random(pool) => Some(pool),
            Inner::Maglev(m) => Some(m.pool()),
            Inner::Ring(r) => Some(r.pool()),
        }
    }
}

/// A weighted random backend not in `exclude`.
fn random(pool: &Pool, exclude: &[usize]) -> Option<usize> {
    pool.draw_allowed(exclude).map(|pos| pool.backend(pos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NoLoads, rng};

    fn specs(weights: &[u32]) -> Vec<BackendSpec> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| BackendSpec {
                id: format!("b{i}"),
                weight,
            })
            .collect()
    }

    #[test]
    fn selector_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Selector>();
    }

    #[test]
    fn round_robin_walks_the_cycle() {
        rng::seed_thread(3);
        let b = specs(&[5, 1, 1]);
        let s = Selector::build(&Policy::RoundRobin, &b, &[0, 1, 2]);
        let Inner::RoundRobin(rr) = &s.inner else {
            unreachable!("round-robin policy")
        };
        let cycle: Vec<usize> = rr.sequence().iter().map(|&p| usize::from(p)).collect();
        let picks: Vec<usize> = (0..14)
            .map(|_| s.pick(None, &NoLoads, &[]).unwrap())
            .collect();
        // The picks are the cycle, rotated by the random start.
        let doubled: Vec<usize> = cycle.iter().chain(&cycle).copied().collect();
        assert!(doubled.windows(7).any(|w| w == &picks[..7]), "{picks:?}");
        assert_eq!(picks[..7], picks[7..]);
    }

    #[test]
    fn maglev_table_is_independent_of_input_order() {
        let b = specs(&[1, 2, 3, 4]);
        let mut shuffled = b.clone();
        shuffled.reverse();
        let p = Policy::Maglev { bounded_load: None };
        let (x, y) = (
            Selector::build(&p, &b, &[0, 1, 2, 3]),
            Selector::build(&p, &shuffled, &[3, 1, 0, 2]),
        );
        let (Inner::Maglev(x), Inner::Maglev(y)) = (&x.inner, &y.inner) else {
            unreachable!("maglev policy")
        };
        // Same ids in the same member order, so the tables are equal slot for slot.
        assert_eq!(x.table(), y.table());
    }

    #[test]
    fn len_and_eligible_follow_normalisation() {
        let b = specs(&[1, 1, 1]);
        let s = Selector::build(&Policy::Random, &b, &[2, 0, 2, 9]);
        assert_eq!(s.len(), 2);
        assert_eq!(s.eligible().collect::<Vec<_>>(), [0, 2]);
        let empty = Selector::build(&Policy::Random, &b, &[]);
        assert!(empty.is_empty());
        assert_eq!(empty.pick(None, &NoLoads, &[]), None);
    }
}
