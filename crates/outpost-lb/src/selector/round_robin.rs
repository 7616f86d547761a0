//! Smooth weighted round-robin: nginx's interleaving, computed once at build
//! into a sequence of members and walked with one atomic cursor, so a pick
//! is one `fetch_add` whatever the weights and however many threads pick.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::pool::Pool;
use super::{MAX_RR_SEQUENCE, PICK_ATTEMPTS};
use crate::rng;

/// A precomputed smooth weighted round-robin cycle.
#[derive(Debug)]
pub(crate) struct RoundRobin {
    pool: Pool,
    /// One cycle: member positions, each appearing (reduced) weight times.
    sequence: Box<[u16]>,
    cursor: AtomicUsize,
}

/// One weight class while building: the members sharing a weight, which
/// nginx's algorithm always serves in position order, one per turn.
struct Class {
    weight: u64,
    members: Vec<u16>,
    picks: u64,
}

impl RoundRobin {
    /// The cursor starts at a random place in the cycle, so proxies that
    /// rebuild at the same moment (a health change seen by all) do not all
    /// send their next request to the same backend.
    pub(crate) fn new(pool: Pool) -> RoundRobin {
        let weights: Vec<u32> = (0..pool.len()).map(|pos| pool.weight(pos)).collect();
        let sequence = smooth_sequence(&weights);
        let start = rng::below(sequence.len() as u64) as usize;
        RoundRobin {
            pool,
            sequence,
            cursor: AtomicUsize::new(start),
        }
    }

    /// The next member in the cycle that is not excluded: up to
    /// [`PICK_ATTEMPTS`] further entries of the cycle (the cursor moves by
    /// one only), then a scan of all members.
    pub(crate) fn pick(&self, exclude: &[usize]) -> Option<usize> {
        let n = self.sequence.len();
        let at = self.cursor.fetch_add(1, Ordering::Relaxed);
        let found = (0..PICK_ATTEMPTS.min(n))
            .map(|k| usize::from(self.sequence[(at.wrapping_add(k)) % n]))
            .find(|&pos| !self.pool.excluded(pos, exclude));
        let pos = match found {
            Some(pos) => pos,
            None => self
                .pool
                .scan_from(usize::from(self.sequence[at % n]), exclude)?,
        };
        Some(self.pool.backend(pos))
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    #[cfg(test)]
    pub(crate) fn sequence(&self) -> &[u16] {
        &self.sequence
    }
}

/// Weights divided by their gcd and, if they still sum past
/// [`MAX_RR_SEQUENCE`], scaled down proportionally (each at least 1), so the
/// cycle is as short as the ratios allow and never longer than the cap.
pub(crate) fn reduce_weights(weights: &[u32]) -> Vec<u64> {
    let g = weights
        .iter()
        .fold(0u64, |g, &w| gcd(g, u64::from(w)))
        .max(1);
    let reduced: Vec<u64> = weights.iter().map(|&w| u64::from(w) / g).collect();
    let sum: u64 = reduced.iter().sum();
    let cap = MAX_RR_SEQUENCE as u64;
    if sum <= cap {
        return reduced;
    }
    // Scale into `cap - n`, so the `max(1)` bumps cannot push the sum past
    // `cap` (n <= MAX_BACKENDS < MAX_RR_SEQUENCE).
    let room = cap - weights.len() as u64;
    let scaled: Vec<u32> = reduced
        .iter()
        .map(|&w| u32::try_from((w * room / sum).max(1)).unwrap_or(u32::MAX))
        .collect();
    let g = scaled
        .iter()
        .fold(0u64, |g, &w| gcd(g, u64::from(w)))
        .max(1);
    scaled.iter().map(|&w| u64::from(w) / g).collect()
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// nginx's smooth weighted round-robin over `weights` (member order), for
/// one full cycle. Each step nginx adds every weight to a running score,
/// picks the highest (first on ties) and subtracts the total from it. Members
/// of equal weight are always picked in turn, so the step works per distinct
/// weight (at most [`crate::MAX_WEIGHT`] classes) instead of per member:
/// O(cycle length × classes), which keeps 10,000 backends cheap.
fn smooth_sequence(weights: &[u32]) -> Box<[u16]> {
    let reduced = reduce_weights(weights);
    let total: u64 = reduced.iter().sum();
    let mut classes = weight_classes(&reduced);
    let mut sequence = Vec::with_capacity(total as usize);
    for step in 1..=total {
        let best = classes
            .iter()
            .enumerate()
            .max_by(|(_, a), (_, b)| {
                let score = |c: &Class| {
                    let rounds = c.picks / c.members.len() as u64;
                    i128::from(step * c.weight) - i128::from(total * rounds)
                };
                let next = |c: &Class| c.members[(c.picks % c.members.len() as u64) as usize];
                // Higher score wins; on a tie the earlier member does.
                score(a).cmp(&score(b)).then(next(b).cmp(&next(a)))
            })
            .map(|(i, _)| i)
            .unwrap_or(0);
        let class = &mut classes[best];
        sequence.push(class.members[(class.picks % class.members.len() as u64) as usize]);
        class.picks += 1;
    }
    sequence.into_boxed_slice()
}

fn weight_classes(reduced: &[u64]) -> Vec<Class> {
    let mut classes: Vec<Class> = Vec::new();
    for (pos, &weight) in reduced.iter().enumerate() {
        let pos = u16::try_from(pos).unwrap_or(u16::MAX);
        match classes.iter_mut().find(|c| c.weight == weight) {
            Some(c) => c.members.push(pos),
            None => classes.push(Class {
                weight,
                members: vec![pos],
                picks: 0,
            }),
        }
    }
    classes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// nginx's algorithm as written, one score per member.
    fn nginx(weights: &[u64]) -> Vec<u16> {
        let total: u64 = weights.iter().sum();
        let mut current = vec![0i64; weights.len()];
        (0..total)
            .map(|_| {
                let mut best = 0;
                for (i, &w) in weights.iter().enumerate() {
                    current[i] += w as i64;
                    if current[i] > current[best] {
                        best = i;
                    }
                }
                current[best] -= total as i64;
                best as u16
            })
            .collect()
    }

    #[test]
    fn matches_nginx() {
        for weights in [
            vec![5u32, 1, 1],
            vec![1, 1, 1, 1],
            vec![3, 2, 3, 1, 2, 7],
            vec![10, 20, 30],
            vec![1000, 1, 999, 500],
        ] {
            let reduced = reduce_weights(&weights);
            assert_eq!(&*smooth_sequence(&weights), nginx(&reduced), "{weights:?}");
        }
    }

    #[test]
    fn nginx_pattern_for_5_1_1() {
        assert_eq!(&*smooth_sequence(&[5, 1, 1]), [0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn weights_are_reduced_by_gcd() {
        assert_eq!(reduce_weights(&[10, 20, 30]), [1, 2, 3]);
        assert_eq!(reduce_weights(&[7, 7]), [1, 1]);
    }

    #[test]
    fn long_cycles_are_scaled_to_the_cap() {
        // 10,000 backends at weights 1..=1000: sum ~5 M, far past the cap.
        let weights: Vec<u32> = (0..crate::MAX_BACKENDS as u32)
            .map(|i| i % 1000 + 1)
            .collect();
        let reduced = reduce_weights(&weights);
        let sum: u64 = reduced.iter().sum();
        assert!(sum <= MAX_RR_SEQUENCE as u64, "{sum}");
        assert!(reduced.iter().all(|&w| w >= 1));
        // Proportions survive: the heaviest still gets far more than the lightest.
        assert!(reduced[999] >= 100 * reduced[0].max(1) / 10, "{reduced:?}");
    }
}
