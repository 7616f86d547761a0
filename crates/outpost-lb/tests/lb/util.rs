//! Helpers shared by the tests: backend lists, key sets, a `Loads` the test
//! sets by hand, and a seeded generator for simulations.

use outpost_lb::{BackendSpec, Loads, Selector, hash_key};

/// `n` backends with ids `10.0.{i/256}.{i%256}:8080`, all of weight 1.
pub fn backends(n: usize) -> Vec<BackendSpec> {
    weighted(&vec![1; n])
}

/// Backends with the given weights, ids as in [`backends`].
pub fn weighted(weights: &[u32]) -> Vec<BackendSpec> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &weight)| BackendSpec {
            id: format!("10.0.{}.{}:8080", i / 256, i % 256),
            weight,
        })
        .collect()
}

/// All indices of `backends`.
pub fn all(backends: &[BackendSpec]) -> Vec<usize> {
    (0..backends.len()).collect()
}

/// The hashes of `n` distinct keys.
pub fn keys(n: u64) -> impl Iterator<Item = u64> {
    (0..n).map(|i| hash_key(format!("user-{i}").as_bytes()))
}

/// The backend id each key maps to (no load, nothing excluded).
pub fn mapping<'a>(s: &Selector, backends: &'a [BackendSpec], n: u64) -> Vec<&'a str> {
    keys(n)
        .map(|k| {
            let i = s.pick(Some(k), &TestLoads::idle(backends.len()), &[]);
            backends[i.expect("a backend")].id.as_str()
        })
        .collect()
}

/// Picks per backend index over `keys`.
pub fn counts(s: &Selector, n_backends: usize, keys: impl Iterator<Item = u64>) -> Vec<u64> {
    let loads = TestLoads::idle(n_backends);
    let mut counts = vec![0u64; n_backends];
    for k in keys {
        counts[s.pick(Some(k), &loads, &[]).expect("a backend")] += 1;
    }
    counts
}

/// Loads set by the test.
#[derive(Debug, Clone)]
pub struct TestLoads {
    pub in_flight: Vec<u32>,
    pub latency_us: Vec<u32>,
}

impl TestLoads {
    pub fn idle(n: usize) -> TestLoads {
        TestLoads {
            in_flight: vec![0; n],
            latency_us: vec![0; n],
        }
    }
}

impl Loads for TestLoads {
    fn in_flight(&self, i: usize) -> u32 {
        self.in_flight[i]
    }

    fn latency_us(&self, i: usize) -> u32 {
        self.latency_us[i]
    }
}

/// splitmix64: seeded and reproducible.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
