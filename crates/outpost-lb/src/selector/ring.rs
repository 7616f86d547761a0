//! Ketama-style ring hashing: each backend owns virtual nodes (points on a
//! 64-bit ring) in proportion to its weight, and a key belongs to the first
//! point at or after its hash. A pick is a binary search; retries and
//! bounded load walk on to the following points.

use super::bounded::{self, Bound};
use super::pool::Pool;
use super::{MAX_RING_POINTS, RING_POINTS_PER_BACKEND};
use crate::Loads;
use crate::backend::Member;
use crate::hash::ring_point;

/// A sorted ring of virtual nodes over a pool.
#[derive(Debug)]
pub(crate) struct Ring {
    pool: Pool,
    /// Ring positions, ascending.
    points: Box<[u64]>,
    /// Member position owning each point.
    owners: Box<[u16]>,
    bound: Option<Bound>,
}

impl Ring {
    /// `members` is non-empty and in id order; points depend on ids and
    /// weights only, and ties between equal points go to the earlier id.
    pub(crate) fn new(members: &[Member<'_>], factor: Option<f64>) -> Ring {
        let pool = Pool::new(members);
        let bound = factor.map(|c| Bound::new(&pool, c));
        let mut ring: Vec<(u64, u16)> = Vec::new();
        for (pos, (member, count)) in members.iter().zip(vnode_counts(members)).enumerate() {
            ring.extend((0..count).map(|r| (ring_point(member.id, r), pos as u16)));
        }
        ring.sort_unstable();
        Ring {
            points: ring.iter().map(|&(p, _)| p).collect(),
            owners: ring.iter().map(|&(_, o)| o).collect(),
            pool,
            bound,
        }
    }

    pub(crate) fn pick<L: Loads>(&self, hash: u64, loads: &L, exclude: &[usize]) -> Option<usize> {
        let n = self.points.len();
        let at = self.points.partition_point(|&p| p < hash) % n;
        let walk = (0..n).map(|k| usize::from(self.owners[(at + k) % n]));
        bounded::walk(&self.pool, self.bound.as_ref(), hash, walk, loads, exclude)
            .map(|pos| self.pool.backend(pos))
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    #[cfg(test)]
    pub(crate) fn owners(&self) -> &[u16] {
        &self.owners
    }
}

/// Virtual nodes per member: [`RING_POINTS_PER_BACKEND`] for the lightest
/// weight and proportionally more for heavier ones, so every backend gets
/// enough points to own a fair arc. If that totals more than
/// [`MAX_RING_POINTS`], all counts are scaled down to fit (each at least 1).
pub(crate) fn vnode_counts(members: &[Member<'_>]) -> Vec<u32> {
    let min_weight = members
        .iter()
        .map(|m| u64::from(m.weight))
        .min()
        .unwrap_or(1);
    let total_weight: u64 = members.iter().map(|m| u64::from(m.weight)).sum();
    let per = RING_POINTS_PER_BACKEND as u64;
    let wanted = total_weight * per / min_weight;
    let cap = MAX_RING_POINTS as u64;
    members
        .iter()
        .map(|m| {
            let w = u64::from(m.weight);
            let count = if wanted <= cap {
                w * per / min_weight
            } else {
                // Scale into `cap - n` so the `max(1)` bumps stay within cap.
                (w * (cap - members.len() as u64) / total_weight).max(1)
            };
            u32::try_from(count).unwrap_or(u32::MAX)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(weight: u32) -> Member<'static> {
        Member {
            index: 0,
            weight,
            id: "x",
        }
    }

    #[test]
    fn vnodes_scale_with_weight() {
        assert_eq!(vnode_counts(&[member(1), member(1)]), [160, 160]);
        assert_eq!(vnode_counts(&[member(2), member(6)]), [160, 480]);
    }

    #[test]
    fn vnodes_are_capped() {
        let mut members = vec![member(1); crate::MAX_BACKENDS];
        members[0].weight = crate::MAX_WEIGHT;
        let counts = vnode_counts(&members);
        let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
        assert!(total <= MAX_RING_POINTS as u64, "{total}");
        assert!(counts[1..].iter().all(|&c| c >= 1));
        assert!(
            counts[0] > 500 * counts[1],
            "{} vs {}",
            counts[0],
            counts[1]
        );
    }

    #[test]
    fn every_member_owns_points() {
        let members: Vec<Member<'_>> = ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(index, id)| Member {
                index,
                weight: 1,
                id,
            })
            .collect();
        let ring = Ring::new(&members, None);
        for pos in 0..3u16 {
            assert_eq!(ring.owners().iter().filter(|&&o| o == pos).count(), 160);
        }
    }
}
