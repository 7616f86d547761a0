//! The walk the hashing policies share: from the key's place in the table
//! or ring, forward to the first member that is not excluded and, with a
//! bounded load ("Consistent Hashing with Bounded Loads", Mirrokni, Thorup,
//! Zadimoghaddam 2018; Envoy's `hash_balance_factor`), below its capacity.
//! The walk is at most [`HASH_WALK_LIMIT`] steps, then a scan of the members.

use super::HASH_WALK_LIMIT;
use super::pool::Pool;
use crate::Loads;

/// Per-member capacity factors for bounded-load hashing.
#[derive(Debug)]
pub(crate) struct Bound {
    /// `c × weight / total weight` per member: its capacity per request in
    /// flight, so capacity = `ceil(share × (total in flight + 1))`. With
    /// equal weights that is the paper's `ceil(c × (m + 1) / n)`.
    shares: Box<[f64]>,
}

impl Bound {
    pub(crate) fn new(pool: &Pool, factor: f64) -> Bound {
        let total = pool.total_weight() as f64;
        Bound {
            shares: (0..pool.len())
                .map(|pos| factor * f64::from(pool.weight(pos)) / total)
                .collect(),
        }
    }

    /// How many requests member `pos` may have in flight when `total` are.
    pub(crate) fn capacity(&self, pos: usize, total: u64) -> u64 {
        (self.shares[pos] * (total + 1) as f64).ceil() as u64
    }
}

/// The member for a key whose walk order is `walk` (member positions, the
/// key's own first): the first not excluded and, with a bound, below
/// capacity. Past [`HASH_WALK_LIMIT`] steps, a scan of the members from
/// `hash mod n` decides. If only full members are left (possible only when
/// some are excluded, since capacities add up to more than the total in
/// flight), the first allowed one seen wins: better over capacity than no
/// backend at all.
pub(crate) fn walk<L: Loads>(
    pool: &Pool,
    bound: Option<&Bound>,
    hash: u64,
    walk: impl Iterator<Item = usize>,
    loads: &L,
    exclude: &[usize],
) -> Option<usize> {
    let mut walk = walk.take(HASH_WALK_LIMIT);
    let Some(bound) = bound else {
        let pos = walk.find(|&pos| !pool.excluded(pos, exclude));
        return pos.or_else(|| pool.scan_from(start(pool, hash), exclude));
    };
    let total = pool.total_in_flight(loads);
    let has_room =
        |pos: usize| u64::from(loads.in_flight(pool.backend(pos))) < bound.capacity(pos, total);
    let mut first_allowed = None;
    for pos in walk.filter(|&pos| !pool.excluded(pos, exclude)) {
        if has_room(pos) {
            return Some(pos);
        }
        first_allowed.get_or_insert(pos);
    }
    let n = pool.len();
    let from = start(pool, hash);
    (0..n)
        .map(|k| (from + k) % n)
        .filter(|&pos| !pool.excluded(pos, exclude))
        .find(|&pos| has_room(pos))
        .or(first_allowed)
        .or_else(|| pool.scan_from(from, exclude))
}

/// Where the fallback scan starts: a member chosen by the key, so keys
/// spread over the members even there.
fn start(pool: &Pool, hash: u64) -> usize {
    (hash % pool.len() as u64) as usize
}
