//! Criterion benchmarks for `outpost_rules::ip`: longest-prefix-match
//! lookups on large synthetic tables, Outpost's poptrie against the
//! `prefix-trie` crate's `PrefixMap` (what a user would otherwise pick) on
//! the same prefixes and the same addresses.
//!
//! Tables come from a seeded generator with a BGP-like length mix (IPv4
//! mostly /24, IPv6 mostly /48, /32, /40), so runs are reproducible and no
//! data is committed. Build time and bytes per prefix are printed before
//! the lookup benchmarks. Run: `cargo bench -p outpost-rules --bench ip`.

use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use outpost_rules::ip::{Cidr, IpList};
use prefix_trie::PrefixMap;

/// IPv4 table size: 1M, about a full Internet routing table plus some.
const V4_PREFIXES: usize = 1_000_000;
/// IPv6 table size: 200k, about today's full IPv6 table.
const V6_PREFIXES: usize = 200_000;
/// Addresses looked up per benchmark iteration; 64 Ki keeps the query array
/// (1 MiB for IPv6) small next to the tables.
const QUERIES: usize = 1 << 16;
/// Distinct addresses in the "hot" query set: 256.
const HOT: usize = 256;

/// Distinct clients in the "zipf" query set: 100k active addresses.
const ZIPF_CLIENTS: usize = 100_000;

/// Query indices into `0..n` drawn with Zipf(s = 1.0) popularity: the shape
/// of real client traffic (a few addresses send much, most send little), as
/// BENCH.md asks for generated access logs.
fn zipf_indices(n: usize, count: usize, rng: &mut Rng) -> Vec<usize> {
    let mut cdf = Vec::with_capacity(n);
    let mut total = 0.0;
    for rank in 1..=n {
        total += 1.0 / rank as f64;
        cdf.push(total);
    }
    (0..count)
        .map(|_| {
            let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * total;
            cdf.partition_point(|&c| c < u).min(n - 1)
        })
        .collect()
}

/// splitmix64: seeded, fast and good enough for shaping test tables.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A length from `(weight, length)` pairs whose weights sum to 1000.
    fn len(&mut self, mix: &[(u64, u8)]) -> u8 {
        let mut r = self.next() % 1000;
        for &(w, len) in mix {
            if r < w {
                return len;
            }
            r -= w;
        }
        mix[mix.len() - 1].1
    }
}

/// IPv4 length mix, per mille, roughly that of a public BGP table.
const V4_MIX: &[(u64, u8)] = &[
    (600, 24),
    (90, 23),
    (110, 22),
    (50, 21),
    (45, 20),
    (30, 19),
    (20, 18),
    (15, 17),
    (20, 16),
    (10, 12),
    (10, 28),
];

/// IPv6 length mix, per mille.
const V6_MIX: &[(u64, u8)] = &[
    (500, 48),
    (150, 32),
    (100, 40),
    (80, 44),
    (50, 36),
    (50, 29),
    (40, 47),
    (30, 56),
];

/// `n` distinct IPv4 prefixes in 1.0.0.0-223.255.255.255.
fn v4_table(n: usize, rng: &mut Rng) -> Vec<(u32, u8)> {
    let mut set = std::collections::HashSet::with_capacity(n);
    while set.len() < n {
        let len = rng.len(V4_MIX);
        let addr = 0x0100_0000 + (rng.next() as u32) % (0xe000_0000 - 0x0100_0000);
        set.insert((addr & (u32::MAX << (32 - len)), len));
    }
    set.into_iter().collect()
}

/// `n` distinct IPv6 prefixes in 2000::/4, where allocations are.
fn v6_table(n: usize, rng: &mut Rng) -> Vec<(u128, u8)> {
    let mut set = std::collections::HashSet::with_capacity(n);
    while set.len() < n {
        let len = rng.len(V6_MIX);
        let r = u128::from(rng.next()) << 64 | u128::from(rng.next());
        let addr = (0x2u128 << 124) | (r >> 4);
        set.insert((addr & (u128::MAX << (128 - len)), len));
    }
    set.into_iter().collect()
}

/// Runs `build`, printing its time and the bytes per prefix it holds.
fn timed<T>(what: &str, n: usize, build: impl FnOnce() -> T, bytes: impl Fn(&T) -> usize) -> T {
    let start = Instant::now();
    let t = build();
    let took = start.elapsed();
    let b = bytes(&t);
    println!(
        "{what}: built {n} prefixes in {took:.2?}, {:.1} MiB, {:.2} bytes/prefix",
        b as f64 / (1 << 20) as f64,
        b as f64 / n as f64
    );
    t
}

fn v4(c: &mut Criterion) {
    let mut rng = Rng(0x5eed_0004);
    let table = v4_table(V4_PREFIXES, &mut rng);
    let list = timed(
        "ipv4 outpost poptrie",
        table.len(),
        || {
            IpList::new(table.iter().map(|&(a, l)| {
                Cidr::new(IpAddr::V4(a.into()), l).expect("generator masks host bits")
            }))
        },
        IpList::memory_bytes,
    );
    let map = timed(
        "ipv4 prefix-trie",
        table.len(),
        || {
            table
                .iter()
                .map(|&p| (p, ()))
                .collect::<PrefixMap<(u32, u8), ()>>()
        },
        PrefixMap::mem_size,
    );
    let random: Vec<u32> = (0..QUERIES).map(|_| rng.next() as u32).collect();
    // A random address inside a random table entry.
    let in_table = |rng: &mut Rng| {
        let (a, l) = table[rng.next() as usize % table.len()];
        a | (rng.next() as u32 & u32::MAX.checked_shr(l.into()).unwrap_or(0))
    };
    let hits: Vec<u32> = (0..QUERIES).map(|_| in_table(&mut rng)).collect();
    // Traffic concentrates on few networks: 64 Ki addresses from 256 entries,
    // so the working set is cache-resident and the lookup code itself counts.
    let hot: Vec<u32> = (0..QUERIES).map(|i| hits[i % HOT]).collect();
    // 100k clients spread over the table (each an address inside a random
    // entry), asked for with Zipf popularity and shuffled ranks.
    let clients: Vec<u32> = (0..ZIPF_CLIENTS).map(|_| in_table(&mut rng)).collect();
    let zipf: Vec<u32> = zipf_indices(ZIPF_CLIENTS, QUERIES, &mut rng)
        .into_iter()
        .map(|i| clients[i])
        .collect();
    let mut g = c.benchmark_group("ipv4_1M");
    g.throughput(Throughput::Elements(QUERIES as u64));
    for (name, qs) in [
        ("random", &random),
        ("from_table", &hits),
        ("hot", &hot),
        ("zipf", &zipf),
    ] {
        g.bench_with_input(BenchmarkId::new("outpost", name), qs, |b, qs| {
            b.iter(|| {
                qs.iter()
                    .filter(|&&q| list.longest_match(IpAddr::V4(q.into())).is_some())
                    .count()
            })
        });
        g.bench_with_input(BenchmarkId::new("outpost_contains", name), qs, |b, qs| {
            b.iter(|| {
                qs.iter()
                    .filter(|&&q| list.contains(IpAddr::V4(q.into())))
                    .count()
            })
        });
        let ips: Vec<IpAddr> = qs.iter().map(|&q| IpAddr::V4(q.into())).collect();
        g.bench_with_input(
            BenchmarkId::new("outpost_contains_many", name),
            &ips,
            |b, ips| {
                let mut out = vec![false; ips.len()];
                b.iter(|| {
                    list.contains_many(ips, &mut out);
                    out.iter().filter(|&&hit| hit).count()
                })
            },
        );
        g.bench_with_input(BenchmarkId::new("prefix_trie", name), qs, |b, qs| {
            b.iter(|| {
                qs.iter()
                    .filter(|&&q| map.get_lpm(&(q, 32)).is_some())
                    .count()
            })
        });
    }
    g.finish();
    black_box((list, map));
}

fn v6(c: &mut Criterion) {
    let mut rng = Rng(0x5eed_0006);
    let table = v6_table(V6_PREFIXES, &mut rng);
    let list = timed(
        "ipv6 outpost poptrie",
        table.len(),
        || {
            IpList::new(table.iter().map(|&(a, l)| {
                Cidr::new(IpAddr::V6(a.into()), l).expect("generator masks host bits")
            }))
        },
        IpList::memory_bytes,
    );
    let map = timed(
        "ipv6 prefix-trie",
        table.len(),
        || {
            table
                .iter()
                .map(|&p| (p, ()))
                .collect::<PrefixMap<(u128, u8), ()>>()
        },
        PrefixMap::mem_size,
    );
    let r128 = |rng: &mut Rng| u128::from(rng.next()) << 64 | u128::from(rng.next());
    // Random addresses inside 2000::/4, so lookups reach the nodes rather
    // than stopping at the top array's empty slots.
    let random: Vec<u128> = (0..QUERIES)
        .map(|_| (0x2u128 << 124) | (r128(&mut rng) >> 4))
        .collect();
    let in_table = |rng: &mut Rng| {
        let (a, l) = table[rng.next() as usize % table.len()];
        a | (r128(rng) & u128::MAX.checked_shr(l.into()).unwrap_or(0))
    };
    let hits: Vec<u128> = (0..QUERIES).map(|_| in_table(&mut rng)).collect();
    let hot: Vec<u128> = (0..QUERIES).map(|i| hits[i % HOT]).collect();
    let clients: Vec<u128> = (0..ZIPF_CLIENTS).map(|_| in_table(&mut rng)).collect();
    let zipf: Vec<u128> = zipf_indices(ZIPF_CLIENTS, QUERIES, &mut rng)
        .into_iter()
        .map(|i| clients[i])
        .collect();
    let mut g = c.benchmark_group("ipv6_200k");
    g.throughput(Throughput::Elements(QUERIES as u64));
    for (name, qs) in [
        ("random", &random),
        ("from_table", &hits),
        ("hot", &hot),
        ("zipf", &zipf),
    ] {
        g.bench_with_input(BenchmarkId::new("outpost", name), qs, |b, qs| {
            b.iter(|| {
                qs.iter()
                    .filter(|&&q| list.longest_match(IpAddr::V6(q.into())).is_some())
                    .count()
            })
        });
        let ips: Vec<IpAddr> = qs.iter().map(|&q| IpAddr::V6(q.into())).collect();
        g.bench_with_input(
            BenchmarkId::new("outpost_contains_many", name),
            &ips,
            |b, ips| {
                let mut out = vec![false; ips.len()];
                b.iter(|| {
                    list.contains_many(ips, &mut out);
                    out.iter().filter(|&&hit| hit).count()
                })
            },
        );
        g.bench_with_input(BenchmarkId::new("prefix_trie", name), qs, |b, qs| {
            b.iter(|| {
                qs.iter()
                    .filter(|&&q| map.get_lpm(&(q, 128)).is_some())
                    .count()
            })
        });
    }
    g.finish();
    black_box((list, map));
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = v4, v6
}
criterion_main!(benches);
