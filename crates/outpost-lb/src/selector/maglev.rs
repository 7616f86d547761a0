//! Maglev consistent hashing (Eisenbud et al., NSDI 2016): a lookup table of
//! prime size M filled by the backends taking turns, each claiming the next
//! free slot of its own permutation of the table. Weighted as in Envoy: a
//! backend of weight w takes a turn in w of every max-weight rounds. A pick
//! is one table read; retries and bounded load walk to the next entries.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::bounded::{self, Bound};
use super::pool::Pool;
use super::{MAGLEV_MIN_TABLE_SIZE, MAGLEV_TABLE_PER_BACKEND};
use crate::Loads;
use crate::backend::Member;
use crate::hash::maglev_offset_skip;

/// A filled Maglev table over a pool.
#[derive(Debug)]
pub(crate) struct Maglev {
    pool: Pool,
    /// Member position per slot; length is the prime M.
    table: Box<[u16]>,
    bound: Option<Bound>,
}

/// A backend's place in its permutation while the table fills.
struct Cursor {
    next: u64,
    skip: u64,
}

impl Maglev {
    /// `members` is non-empty and in id order (so the table depends on the
    /// ids and weights only, never on input order).
    pub(crate) fn new(members: &[Member<'_>], factor: Option<f64>) -> Maglev {
        let pool = Pool::new(members);
        let bound = factor.map(|c| Bound::new(&pool, c));
        Maglev {
            table: populate(members),
            pool,
            bound,
        }
    }

    pub(crate) fn pick<L: Loads>(&self, hash: u64, loads: &L, exclude: &[usize]) -> Option<usize> {
        let m = self.table.len();
        let at = (hash % m as u64) as usize;
        let walk = (0..m).map(|k| usize::from(self.table[(at + k) % m]));
        bounded::walk(&self.pool, self.bound.as_ref(), hash, walk, loads, exclude)
            .map(|pos| self.pool.backend(pos))
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    #[cfg(test)]
    pub(crate) fn table(&self) -> &[u16] {
        &self.table
    }
}

/// The table size for `n` backends: the smallest prime at least
/// `max(MAGLEV_MIN_TABLE_SIZE, MAGLEV_TABLE_PER_BACKEND × n)`.
pub(crate) fn table_size(n: usize) -> usize {
    let mut m = MAGLEV_MIN_TABLE_SIZE.max(MAGLEV_TABLE_PER_BACKEND * n);
    while !is_prime(m) {
        m += 1;
    }
    m
}

/// Trial division: sizes are at most about a million, so at most ~170 odd
/// divisors per candidate, and primes are dense enough there.
fn is_prime(m: usize) -> bool {
    if m < 4 {
        return m >= 2;
    }
    if m % 2 == 0 {
        return false;
    }
    (3..)
        .step_by(2)
        .take_while(|d| d * d <= m)
        .all(|d| m % d != 0)
}

/// Maglev's population with Envoy's weighting. Envoy loops over rounds and,
/// in each, over the backends in order, letting backend i take a turn when
/// `round × wᵢ ≥ targetᵢ` (target starting at 0 and growing by the max
/// weight per turn). A heap keyed by (next round, position) yields the same
/// turns in the same order without visiting backends that sit a round out,
/// so a light backend among heavy ones costs nothing.
fn populate(members: &[Member<'_>]) -> Box<[u16]> {
    const EMPTY: u16 = u16::MAX;
    let m = table_size(members.len());
    let max_weight = members
        .iter()
        .map(|b| u64::from(b.weight))
        .max()
        .unwrap_or(1);
    let mut cursors: Vec<Cursor> = members
        .iter()
        .map(|b| {
            let (offset, skip) = maglev_offset_skip(b.id, m as u64);
            Cursor { next: offset, skip }
        })
        .collect();
    let mut targets = vec![0u64; members.len()];
    let mut turns: BinaryHeap<Reverse<(u64, usize)>> =
        (0..members.len()).map(|pos| Reverse((0, pos))).collect();
    let mut table = vec![EMPTY; m];
    let mut filled = 0;
    while let Some(Reverse((_, pos))) = turns.pop() {
        let cursor = &mut cursors[pos];
        let slot = loop {
            let slot = cursor.next as usize;
            cursor.next = (cursor.next + cursor.skip) % m as u64;
            if table[slot] == EMPTY {
                break slot;
            }
        };
        table[slot] = pos as u16;
        filled += 1;
        if filled == m {
            break;
        }
        targets[pos] += max_weight;
        let weight = u64::from(members[pos].weight);
        turns.push(Reverse((targets[pos].div_ceil(weight), pos)));
    }
    table.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(weights: &[u32]) -> Vec<Member<'static>> {
        const IDS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];
        weights
            .iter()
            .enumerate()
            .map(|(index, &weight)| Member {
                index,
                weight,
                id: IDS[index],
            })
            .collect()
    }

    /// Envoy's loop, literally: rounds over all backends in order.
    fn envoy(members: &[Member<'_>]) -> Vec<u16> {
        let m = table_size(members.len());
        let max_weight = members.iter().map(|b| u64::from(b.weight)).max().unwrap();
        let mut perm: Vec<(u64, u64)> = members
            .iter()
            .map(|b| maglev_offset_skip(b.id, m as u64))
            .collect();
        let mut targets = vec![0u64; members.len()];
        let mut table = vec![u16::MAX; m];
        let mut filled = 0;
        'rounds: for round in 0u64.. {
            for (pos, b) in members.iter().enumerate() {
                if round * u64::from(b.weight) < targets[pos] {
                    continue;
                }
                targets[pos] += max_weight;
                let (next, skip) = &mut perm[pos];
                while table[*next as usize] != u16::MAX {
                    *next = (*next + *skip) % m as u64;
                }
                table[*next as usize] = pos as u16;
                *next = (*next + *skip) % m as u64;
                filled += 1;
                if filled == m {
                    break 'rounds;
                }
            }
        }
        table
    }

    #[test]
    fn heap_population_equals_envoys_loop() {
        for weights in [&[1, 1, 1][..], &[1, 2, 3], &[5, 1, 1, 7, 2, 2], &[1000, 1]] {
            let members = members(weights);
            assert_eq!(&*populate(&members), envoy(&members), "{weights:?}");
        }
    }

    #[test]
    fn equal_weights_share_the_table_within_one_slot() {
        let table = populate(&members(&[1, 1, 1, 1, 1, 1]));
        let mut counts = [0usize; 6];
        for &pos in &table {
            counts[usize::from(pos)] += 1;
        }
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(max - min <= 1, "{counts:?}");
    }

    #[test]
    fn table_sizes_are_prime_and_scale() {
        assert_eq!(table_size(1), 65_537);
        assert_eq!(table_size(655), 65_537);
        assert_eq!(table_size(1_000), 100_003);
        assert_eq!(table_size(crate::MAX_BACKENDS), 1_000_003);
        assert!(is_prime(65_537) && !is_prime(65_539 * 3) && !is_prime(1) && is_prime(2));
    }
}
