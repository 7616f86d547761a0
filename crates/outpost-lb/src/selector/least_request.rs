//! Least-request by the power of d choices: draw `choices` members at
//! random (weighted by weight), keep the one with the lowest load per unit
//! of weight. Two choices already avoid the herding of a global "least
//! loaded" pick, because each proxy thread sees loads a little late.

use super::pool::Pool;
use crate::{Loads, MAX_CHOICES, PICK_ATTEMPTS};

/// Power-of-d-choices over live in-flight counts (optionally times latency).
#[derive(Debug)]
pub(crate) struct LeastRequest {
    pool: Pool,
    /// Candidates compared per pick, 1..=[`MAX_CHOICES`].
    choices: usize,
    latency_weighted: bool,
}

/// One drawn candidate and the load read for it.
#[derive(Clone, Copy, Default)]
struct Candidate {
    pos: usize,
    in_flight: u32,
    latency_us: u32,
}

impl LeastRequest {
    /// `choices` is clamped to 1..=[`MAX_CHOICES`] (0 becomes the default 2).
    pub(crate) fn new(pool: Pool, choices: u32, latency_weighted: bool) -> LeastRequest {
        let choices = if choices == 0 {
            2
        } else {
            choices.min(MAX_CHOICES)
        };
        LeastRequest {
            pool,
            choices: choices as usize,
            latency_weighted,
        }
    }

    /// Draws the candidates (each avoiding `exclude`, distinct when enough
    /// members are allowed) and returns the one
    /// with the lowest score per unit of weight; the first drawn on ties.
    pub(crate) fn pick<L: Loads>(&self, loads: &L, exclude: &[usize]) -> Option<usize> {
        let mut drawn = [Candidate::default(); MAX_CHOICES as usize];
        for k in 0..self.choices {
            let mut pos = self.pool.draw_allowed(exclude)?;
            // Distinct candidates where the pool allows: drawn with
            // replacement, a two-backend pool would compare a backend with
            // itself half the time and hand a quarter of all requests to the
            // slower one whatever its load.
            for _ in 0..PICK_ATTEMPTS {
                if !drawn[..k].iter().any(|c| c.pos == pos) {
                    break;
                }
                pos = self.pool.draw_allowed(exclude)?;
            }
            let i = self.pool.backend(pos);
            drawn[k] = Candidate {
                pos,
                in_flight: loads.in_flight(i),
                latency_us: if self.latency_weighted {
                    loads.latency_us(i)
                } else {
                    1
                },
            };
        }
        let drawn = &drawn[..self.choices];
        let unknown = unknown_latency(drawn);
        let mut best = drawn[0];
        for &c in &drawn[1..] {
            if self.lighter(c, best, unknown) {
                best = c;
            }
        }
        Some(self.pool.backend(best.pos))
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Whether `a` carries less load per unit of weight than `b`:
    /// `score(a) / w(a) < score(b) / w(b)`, cross-multiplied in integers.
    fn lighter(&self, a: Candidate, b: Candidate, unknown: u32) -> bool {
        let score = |c: Candidate| {
            let latency = if c.latency_us == 0 {
                unknown
            } else {
                c.latency_us
            };
            (u128::from(c.in_flight) + 1) * u128::from(latency)
        };
        let wa = u128::from(self.pool.weight(a.pos));
        let wb = u128::from(self.pool.weight(b.pos));
        score(a) * wb < score(b) * wa
    }
}

/// The latency a candidate with no EWMA yet (0) is scored with: the lowest
/// known latency among the drawn, or 1 µs if none is known. Optimistic on
/// purpose: a new backend must get requests to get an EWMA at all, and its
/// in-flight count still limits how many it gets meanwhile.
fn unknown_latency(drawn: &[Candidate]) -> u32 {
    drawn
        .iter()
        .map(|c| c.latency_us)
        .filter(|&l| l > 0)
        .min()
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_latency_is_the_lowest_known() {
        let c = |latency_us| Candidate {
            pos: 0,
            in_flight: 0,
            latency_us,
        };
        assert_eq!(unknown_latency(&[c(0), c(500), c(200)]), 200);
        assert_eq!(unknown_latency(&[c(0), c(0)]), 1);
    }
}
