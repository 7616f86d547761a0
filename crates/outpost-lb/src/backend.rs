//! What a selector is built from: the backends ([`BackendSpec`]), the policy
//! ([`Policy`]), the caps that bound both, and their validation into typed
//! problems ([`BuildError`]), all reported at once with their paths.
//! [`crate::Selector::build`] clamps instead of failing; config code calls
//! [`crate::Selector::try_build`] (or [`validate`]) to reject bad input first.

use std::fmt;

/// Most backends one selector takes: 10,000. Bounds build time and memory
/// (the Maglev table is at most about 1 M entries of 2 bytes). `build` keeps
/// the first 10,000 eligible backends in id order and ignores the rest.
pub const MAX_BACKENDS: usize = 10_000;

/// Largest backend weight: 1,000. Weights are relative; 1..=1,000 covers
/// every ratio a config needs while keeping round-robin sequences, Maglev
/// turn-taking and ring sizes bounded. `build` clamps weights to 1..=1,000.
pub const MAX_WEIGHT: u32 = 1_000;

/// Most random choices a least-request pick compares: 16. Two is the
/// default and almost always enough; more costs one load read per choice.
pub const MAX_CHOICES: u32 = 16;

/// Largest bounded-load factor `c`: 100.0. Above that the bound never binds.
/// The smallest accepted is anything above 1.0 (`build` clamps to 1.0..=100.0
/// and treats a non-finite factor as "no bound").
pub const MAX_BALANCE_FACTOR: f64 = 100.0;

/// A backend as the balancer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BackendSpec {
    /// Stable identity used for hashing (e.g. `"10.0.0.1:8080"`): two nodes
    /// given the same ids (in any order) build identical consistent-hash
    /// mappings. Ids should be unique; see [`BuildProblem::DuplicateId`].
    pub id: String,
    /// Relative weight, 1..=[`MAX_WEIGHT`]. Default (by convention) 1.
    pub weight: u32,
}

/// How a selector chooses among its eligible backends.
#[derive(Debug, Clone, PartialEq)]
pub enum Policy {
    /// Weighted round-robin (smooth, interleaved like nginx's; equal weights
    /// are plain round-robin).
    RoundRobin,
    /// Power of `choices` random choices over in-flight requests (default 2,
    /// 1..=[`MAX_CHOICES`]); with `latency_weighted`, the score is
    /// `(in_flight + 1) * latency EWMA`.
    LeastRequest {
        /// Candidates drawn (by weight) and compared per pick. Default 2.
        choices: u32,
        /// Multiply the in-flight score by the backend's latency EWMA.
        latency_weighted: bool,
    },
    /// Uniform random, weighted by weight.
    Random,
    /// Maglev consistent hashing (weighted), optional bounded load factor
    /// `c > 1.0`.
    Maglev {
        /// Bounded-load factor `c`; `None` (the default) for no bound.
        bounded_load: Option<f64>,
    },
    /// Ketama-style ring hash (weighted via virtual nodes), optional bounded
    /// load factor `c > 1.0`.
    RingHash {
        /// Bounded-load factor `c`; `None` (the default) for no bound.
        bounded_load: Option<f64>,
    },
}

impl Policy {
    /// The default least-request policy: two choices, in-flight only.
    pub const LEAST_REQUEST: Policy = Policy::LeastRequest {
        choices: 2,
        latency_weighted: false,
    };
}

/// One thing wrong with a selector's input, with the path of the culprit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BuildProblem {
    /// More backends than [`MAX_BACKENDS`].
    #[error("backends: {count} backends, at most {MAX_BACKENDS} allowed")]
    TooManyBackends {
        /// How many were given.
        count: usize,
    },
    /// An empty id cannot be hashed meaningfully.
    #[error("backends[{backend}].id: empty")]
    EmptyId {
        /// Index into `backends`.
        backend: usize,
    },
    /// Two backends share an id: the hashing policies would then depend on
    /// the order of `backends`.
    #[error("backends[{backend}].id: {id:?} duplicates backends[{first}].id")]
    DuplicateId {
        /// Index of the later duplicate.
        backend: usize,
        /// Index of the first backend with that id.
        first: usize,
        /// The shared id.
        id: String,
    },
    /// A weight outside 1..=[`MAX_WEIGHT`].
    #[error("backends[{backend}].weight: {weight} is outside 1..={MAX_WEIGHT}")]
    Weight {
        /// Index into `backends`.
        backend: usize,
        /// The weight given.
        weight: u32,
    },
    /// An eligible index that names no backend.
    #[error("eligible[{position}]: index {index} is out of range ({len} backends)")]
    EligibleOutOfRange {
        /// Position in `eligible`.
        position: usize,
        /// The index given.
        index: usize,
        /// `backends.len()`.
        len: usize,
    },
    /// Least-request choices outside 1..=[`MAX_CHOICES`].
    #[error("policy.choices: {choices} is outside 1..={MAX_CHOICES}")]
    Choices {
        /// The count given.
        choices: u32,
    },
    /// A bounded-load factor that is not finite, not above 1.0, or above
    /// [`MAX_BALANCE_FACTOR`].
    #[error("policy.bounded_load: {factor} must be above 1.0 and at most {MAX_BALANCE_FACTOR}")]
    BalanceFactor {
        /// The factor given.
        factor: f64,
    },
}

/// Everything wrong with a selector's input, reported at once.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildError {
    /// The problems, in input order (policy first, then backends, then
    /// eligible). Never empty.
    pub problems: Vec<BuildProblem>,
}

/// One eligible backend after normalisation: deduplicated, weight clamped,
/// ordered by id so that hashing never depends on input order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member<'a> {
    pub index: usize,
    pub weight: u32,
    pub id: &'a str,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{n} problem{} in the balancer",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BuildError {}

/// Checks a selector's input and reports every problem at once.
pub fn validate(
    policy: &Policy,
    backends: &[BackendSpec],
    eligible: &[usize],
) -> Result<(), BuildError> {
    let mut problems = policy_problems(policy);
    problems.extend(backend_problems(backends));
    for (position, &index) in eligible.iter().enumerate() {
        if index >= backends.len() {
            problems.push(BuildProblem::EligibleOutOfRange {
                position,
                index,
                len: backends.len(),
            });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(BuildError { problems })
    }
}

fn policy_problems(policy: &Policy) -> Vec<BuildProblem> {
    let factor = match policy {
        Policy::LeastRequest { choices, .. } if !(1..=MAX_CHOICES).contains(choices) => {
            return vec![BuildProblem::Choices { choices: *choices }];
        }
        Policy::Maglev { bounded_load } | Policy::RingHash { bounded_load } => *bounded_load,
        _ => None,
    };
    match factor {
        Some(c) if !(c > 1.0 && c <= MAX_BALANCE_FACTOR) => {
            vec![BuildProblem::BalanceFactor { factor: c }]
        }
        _ => Vec::new(),
    }
}

fn backend_problems(backends: &[BackendSpec]) -> Vec<BuildProblem> {
    let mut problems = Vec::new();
    if backends.len() > MAX_BACKENDS {
        problems.push(BuildProblem::TooManyBackends {
            count: backends.len(),
        });
    }
    let mut seen = std::collections::HashMap::with_capacity(backends.len());
    for (backend, b) in backends.iter().enumerate() {
        if b.id.is_empty() {
            problems.push(BuildProblem::EmptyId { backend });
        } else if let Some(&first) = seen.get(b.id.as_str()) {
            problems.push(BuildProblem::DuplicateId {
                backend,
                first,
                id: b.id.clone(),
            });
        } else {
            seen.insert(b.id.as_str(), backend);
        }
        if !(1..=MAX_WEIGHT).contains(&b.weight) {
            problems.push(BuildProblem::Weight {
                backend,
                weight: b.weight,
            });
        }
    }
    problems
}

/// The eligible backends as the policies see them: out-of-range and repeated
/// indices dropped, weights clamped to 1..=[`MAX_WEIGHT`], sorted by
/// `(id, index)`, and cut to [`MAX_BACKENDS`].
pub(crate) fn members<'a>(backends: &'a [BackendSpec], eligible: &[usize]) -> Vec<Member<'a>> {
    let mut indices: Vec<usize> = eligible
        .iter()
        .copied()
        .filter(|&i| i < backends.len())
        .collect();
    indices.sort_unstable();
    indices.dedup();
    let mut members: Vec<Member<'a>> = indices
        .into_iter()
        .map(|index| Member {
            index,
            weight: backends[index].weight.clamp(1, MAX_WEIGHT),
            id: &backends[index].id,
        })
        .collect();
    members.sort_unstable_by(|a, b| a.id.cmp(b.id).then(a.index.cmp(&b.index)));
    members.truncate(MAX_BACKENDS);
    members
}

/// The bounded-load factor `build` uses: clamped to 1.0..=[`MAX_BALANCE_FACTOR`],
/// `None` for no bound or a non-finite factor.
pub(crate) fn balance_factor(bounded_load: Option<f64>) -> Option<f64> {
    bounded_load
        .filter(|c| c.is_finite())
        .map(|c| c.clamp(1.0, MAX_BALANCE_FACTOR))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: &str, weight: u32) -> BackendSpec {
        BackendSpec {
            id: id.into(),
            weight,
        }
    }

    #[test]
    fn members_are_sorted_deduplicated_and_clamped() {
        let b = [spec("b", 0), spec("a", 5000), spec("c", 3)];
        let m = members(&b, &[2, 0, 1, 0, 7]);
        let got: Vec<_> = m.iter().map(|m| (m.id, m.index, m.weight)).collect();
        assert_eq!(got, [("a", 1, MAX_WEIGHT), ("b", 0, 1), ("c", 2, 3)]);
    }

    #[test]
    fn validate_reports_every_problem_with_its_path() {
        let b = [spec("a", 1), spec("", 0), spec("a", 1001)];
        let policy = Policy::Maglev {
            bounded_load: Some(1.0),
        };
        let err = validate(&policy, &b, &[0, 3]).unwrap_err();
        let text = err.to_string();
        assert_eq!(err.problems.len(), 6, "{text}");
        for path in [
            "policy.bounded_load",
            "backends[1].id",
            "backends[1].weight",
            "backends[2].id",
            "backends[2].weight",
            "eligible[1]",
        ] {
            assert!(text.contains(path), "{path} missing from {text}");
        }
    }

    #[test]
    fn validate_accepts_limits() {
        let b: Vec<_> = (0..MAX_BACKENDS)
            .map(|i| spec(&i.to_string(), MAX_WEIGHT))
            .collect();
        let lr = Policy::LeastRequest {
            choices: MAX_CHOICES,
            latency_weighted: true,
        };
        assert_eq!(validate(&lr, &b, &[0, MAX_BACKENDS - 1]), Ok(()));
        let rh = Policy::RingHash {
            bounded_load: Some(MAX_BALANCE_FACTOR),
        };
        assert_eq!(validate(&rh, &b, &[]), Ok(()));
    }

    #[test]
    fn validate_rejects_just_past_limits() {
        let mut b: Vec<_> = (0..=MAX_BACKENDS)
            .map(|i| spec(&i.to_string(), 1))
            .collect();
        b[0].weight = MAX_WEIGHT + 1;
        let lr = Policy::LeastRequest {
            choices: MAX_CHOICES + 1,
            latency_weighted: false,
        };
        let err = validate(&lr, &b, &[]).unwrap_err();
        assert_eq!(
            err.problems,
            [
                BuildProblem::Choices {
                    choices: MAX_CHOICES + 1
                },
                BuildProblem::TooManyBackends {
                    count: MAX_BACKENDS + 1
                },
                BuildProblem::Weight {
                    backend: 0,
                    weight: MAX_WEIGHT + 1
                },
            ]
        );
        let c = MAX_BALANCE_FACTOR + 0.5;
        b[0].weight = 1;
        let err = validate(
            &Policy::Maglev {
                bounded_load: Some(c),
            },
            &b[..1],
            &[],
        )
        .unwrap_err();
        assert_eq!(err.problems, [BuildProblem::BalanceFactor { factor: c }]);
    }

    #[test]
    fn balance_factor_is_clamped() {
        assert_eq!(balance_factor(None), None);
        assert_eq!(balance_factor(Some(f64::NAN)), None);
        assert_eq!(balance_factor(Some(0.5)), Some(1.0));
        assert_eq!(balance_factor(Some(1e9)), Some(MAX_BALANCE_FACTOR));
        assert_eq!(balance_factor(Some(1.25)), Some(1.25));
    }
}
