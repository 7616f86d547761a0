//! Criterion benchmarks for `outpost_lb`: nanoseconds per pick for every
//! policy over 100 backends (loads read from atomics, as the proxy keeps
//! them), table and ring build time for 1,000 backends, and the cost of
//! hashing a request key from a header.
//!
//! Run: `cargo bench -p outpost-lb --bench pick -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU32, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use outpost_lb::{BackendSpec, HashOn, Loads, Policy, Selector, hash_key, rng};

/// Backends per selector in the pick benchmarks.
const BACKENDS: usize = 100;
/// Backends in the build benchmarks.
const BUILD_BACKENDS: usize = 1_000;
/// Distinct request keys cycled through (a power of two).
const KEYS: usize = 4_096;

/// Per-backend counters, as the proxy keeps them.
struct AtomicLoads {
    in_flight: Vec<AtomicU32>,
    latency_us: Vec<AtomicU32>,
}

impl AtomicLoads {
    /// Some load everywhere: 0..20 in flight, 500..5,500 µs latency.
    fn new(n: usize) -> AtomicLoads {
        AtomicLoads {
            in_flight: (0..n)
                .map(|i| AtomicU32::new((i * 7 % 20) as u32))
                .collect(),
            latency_us: (0..n)
                .map(|i| AtomicU32::new(500 + (i * 131 % 5_000) as u32))
                .collect(),
        }
    }
}

impl Loads for AtomicLoads {
    fn in_flight(&self, i: usize) -> u32 {
        self.in_flight[i].load(Ordering::Relaxed)
    }

    fn latency_us(&self, i: usize) -> u32 {
        self.latency_us[i].load(Ordering::Relaxed)
    }
}

/// [`AtomicLoads`] plus a running total, as a proxy that counts in-flight
/// requests per upstream as well as per backend would provide: bounded-load
/// picks then skip summing the backends.
struct WithTotal {
    loads: AtomicLoads,
    total: u64,
}

impl Loads for WithTotal {
    fn in_flight(&self, i: usize) -> u32 {
        self.loads.in_flight(i)
    }

    fn latency_us(&self, i: usize) -> u32 {
        self.loads.latency_us(i)
    }

    fn total_in_flight(&self) -> Option<u64> {
        Some(self.total)
    }
}

fn backends(n: usize, weight: impl Fn(usize) -> u32) -> Vec<BackendSpec> {
    (0..n)
        .map(|i| BackendSpec {
            id: format!("10.0.{}.{}:8080", i / 256, i % 256),
            weight: weight(i),
        })
        .collect()
}

fn picks(c: &mut Criterion) {
    rng::seed_thread(1);
    let equal = backends(BACKENDS, |_| 1);
    let mixed = backends(BACKENDS, |i| (i % 10) as u32 + 1);
    let eligible: Vec<usize> = (0..BACKENDS).collect();
    let loads = AtomicLoads::new(BACKENDS);
    let keys: Vec<u64> = (0..KEYS as u64)
        .map(|k| hash_key(&k.to_le_bytes()))
        .collect();
    let cases: [(&str, Policy, &[BackendSpec]); 9] = [
        ("round_robin", Policy::RoundRobin, &equal),
        ("round_robin_weighted", Policy::RoundRobin, &mixed),
        ("least_request", Policy::LEAST_REQUEST, &equal),
        (
            "least_request_latency",
            Policy::LeastRequest {
                choices: 2,
                latency_weighted: true,
            },
            &equal,
        ),
        ("random", Policy::Random, &equal),
        ("maglev", Policy::Maglev { bounded_load: None }, &equal),
        (
            "maglev_bounded",
            Policy::Maglev {
                bounded_load: Some(1.25),
            },
            &equal,
        ),
        ("ring_hash", Policy::RingHash { bounded_load: None }, &equal),
        (
            "ring_hash_bounded",
            Policy::RingHash {
                bounded_load: Some(1.25),
            },
            &equal,
        ),
    ];
    let mut group = c.benchmark_group("pick_100");
    for (name, policy, b) in cases {
        let s = Selector::build(&policy, b, &eligible);
        let mut k = 0;
        group.bench_function(name, |bench| {
            bench.iter(|| {
                k = (k + 1) & (KEYS - 1);
                black_box(s.pick(Some(keys[k]), &loads, &[]))
            })
        });
    }
    let with_total = WithTotal {
        total: (0..BACKENDS).map(|i| u64::from(loads.in_flight(i))).sum(),
        loads: AtomicLoads::new(BACKENDS),
    };
    for (name, policy) in [
        (
            "maglev_bounded_caller_total",
            Policy::Maglev {
                bounded_load: Some(1.25),
            },
        ),
        (
            "ring_hash_bounded_caller_total",
            Policy::RingHash {
                bounded_load: Some(1.25),
            },
        ),
    ] {
        let s = Selector::build(&policy, &equal, &eligible);
        let mut k = 0;
        group.bench_function(name, |bench| {
            bench.iter(|| {
                k = (k + 1) & (KEYS - 1);
                black_box(s.pick(Some(keys[k]), &with_total, &[]))
            })
        });
    }
    group.finish();
}

fn builds(c: &mut Criterion) {
    let b = backends(BUILD_BACKENDS, |_| 1);
    let eligible: Vec<usize> = (0..BUILD_BACKENDS).collect();
    let mut group = c.benchmark_group("build_1000");
    group.sample_size(20);
    for (name, policy) in [
        ("maglev", Policy::Maglev { bounded_load: None }),
        ("ring_hash", Policy::RingHash { bounded_load: None }),
    ] {
        group.bench_function(name, |bench| {
            bench.iter(|| black_box(Selector::build(&policy, &b, &eligible)))
        });
    }
    group.finish();
}

fn hash_on(c: &mut Criterion) {
    let parts = http::Request::builder()
        .uri("/api/v1/items?page=2")
        .header("host", "example.com")
        .header("user-agent", "bench/1.0")
        .header("accept", "*/*")
        .header("x-user-id", "user-8c1f2a9e-5b7d-4e3a")
        .body(())
        .map(|r| r.into_parts().0)
        .expect("valid request");
    let key: HashOn = "header:x-user-id".parse().expect("valid key");
    let client = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    c.bench_function("hash_on_header", |bench| {
        bench.iter(|| black_box(key.hash(black_box(&parts), client)))
    });
}

criterion_group!(benches, picks, builds, hash_on);
criterion_main!(benches);
