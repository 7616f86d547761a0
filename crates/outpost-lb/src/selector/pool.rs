//! The eligible backends of one selector, in id order, with what every
//! policy needs from them: the member → backend index map, weights, a
//! weighted random draw, and the exclusion-aware draw and scan that retries
//! use. Positions here ("members") are what the policy tables store.

use crate::Loads;
use crate::backend::Member;
use crate::rng;

use super::PICK_ATTEMPTS;

/// Eligible backends in id order.
#[derive(Debug)]
pub(crate) struct Pool {
    /// Backend index (into the caller's `backends`) of each member.
    backends: Box<[usize]>,
    weights: Box<[u32]>,
    /// Running weight sums (`cumulative[i]` = weights of members `0..=i`);
    /// `None` when all weights are equal and a draw is a plain index.
    cumulative: Option<Box<[u64]>>,
    total_weight: u64,
}

impl Pool {
    /// `members` is non-empty and sorted (see `backend::members`).
    pub(crate) fn new(members: &[Member<'_>]) -> Pool {
        let weights: Box<[u32]> = members.iter().map(|m| m.weight).collect();
        let equal = weights.windows(2).all(|w| w[0] == w[1]);
        let cumulative = (!equal).then(|| {
            weights
                .iter()
                .scan(0u64, |sum, &w| {
                    *sum += u64::from(w);
                    Some(*sum)
                })
                .collect()
        });
        Pool {
            backends: members.iter().map(|m| m.index).collect(),
            total_weight: weights.iter().map(|&w| u64::from(w)).sum(),
            weights,
            cumulative,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.backends.len()
    }

    /// Backend index of member `pos`.
    pub(crate) fn backend(&self, pos: usize) -> usize {
        self.backends[pos]
    }

    pub(crate) fn weight(&self, pos: usize) -> u32 {
        self.weights[pos]
    }

    pub(crate) fn total_weight(&self) -> u64 {
        self.total_weight
    }

    /// Whether member `pos` is one of the backends this request already
    /// tried. `exclude` holds a handful of retries, so a linear search wins.
    pub(crate) fn excluded(&self, pos: usize, exclude: &[usize]) -> bool {
        !exclude.is_empty() && exclude.contains(&self.backends[pos])
    }

    /// A member drawn at random, weighted by weight: O(1) for equal weights,
    /// a binary search otherwise.
    pub(crate) fn draw(&self) -> usize {
        match &self.cumulative {
            None => rng::below(self.len() as u64) as usize,
            Some(cumulative) => {
                let r = rng::below(self.total_weight);
                cumulative.partition_point(|&c| c <= r)
            }
        }
    }

    /// A weighted random member not in `exclude`: up to [`PICK_ATTEMPTS`]
    /// draws, then a scan from a random member (slightly biased towards the
    /// members after excluded ones, but only reached when most of the
    /// weight is excluded). `None` when every member is excluded.
    pub(crate) fn draw_allowed(&self, exclude: &[usize]) -> Option<usize> {
        for _ in 0..PICK_ATTEMPTS {
            let pos = self.draw();
            if !self.excluded(pos, exclude) {
                return Some(pos);
            }
        }
        self.scan_from(rng::below(self.len() as u64) as usize, exclude)
    }

    /// The first member at or after `start` (wrapping) not in `exclude`.
    pub(crate) fn scan_from(&self, start: usize, exclude: &[usize]) -> Option<usize> {
        let n = self.len();
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&pos| !self.excluded(pos, exclude))
    }

    /// In-flight requests over all members: the caller's total if it keeps
    /// one, else one read per member.
    pub(crate) fn total_in_flight<L: Loads>(&self, loads: &L) -> u64 {
        loads.total_in_flight().unwrap_or_else(|| {
            self.backends
                .iter()
                .map(|&i| u64::from(loads.in_flight(i)))
                .sum()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(weights: &[u32]) -> Pool {
        let members: Vec<Member<'_>> = weights
            .iter()
            .enumerate()
            .map(|(index, &weight)| Member {
                index: index + 10,
                weight,
                id: "",
            })
            .collect();
        Pool::new(&members)
    }

    #[test]
    fn weighted_draws_follow_weights() {
        rng::seed_thread(1);
        let p = pool(&[1, 3, 6]);
        let mut counts = [0u32; 3];
        for _ in 0..10_000 {
            counts[p.draw()] += 1;
        }
        for (c, want) in counts.iter().zip([1_000, 3_000, 6_000]) {
            assert!(c.abs_diff(want) < 300, "{counts:?}");
        }
    }

    #[test]
    fn draw_allowed_finds_the_only_allowed_member() {
        rng::seed_thread(2);
        let p = pool(&[1000, 1000, 1]);
        for _ in 0..100 {
            assert_eq!(p.draw_allowed(&[10, 11]), Some(2));
        }
        assert_eq!(p.draw_allowed(&[10, 11, 12]), None);
    }

    #[test]
    fn scan_wraps() {
        let p = pool(&[1, 1, 1]);
        assert_eq!(p.scan_from(2, &[12]), Some(0));
        assert_eq!(p.scan_from(1, &[]), Some(1));
    }
}
