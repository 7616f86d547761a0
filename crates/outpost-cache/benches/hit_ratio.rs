//! Hit-ratio simulation: Outpost's S3-FIFO store against a plain LRU on the
//! same seeded trace, printed as a table (object and byte hit ratios). Not
//! a timing benchmark.
//!
//! Trace: 1M requests over 100k objects with Zipf(α) popularity (α 0.8
//! and 1.0), object sizes log-uniform in 100 B..16 KiB (fixed per object),
//! and every 50k requests a one-shot scan of 10k objects never requested
//! again (a crawler, a backup job). Cache sizes: 1% and 10% of the working
//! set's bytes, both caches charged the same bytes per object (body, key
//! and `OBJECT_OVERHEAD`). Run: `cargo bench -p outpost-cache --bench hit_ratio`.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, StatusCode, Uri};
use outpost_cache::key::{CacheKey, VariantKey, Vary};
use outpost_cache::policy::{Admission, ExchangeTimes, Freshness, LifetimeSource};
use outpost_cache::store::{Lookup, ObjectMeta, charge};
use outpost_cache::{KeySettings, Object, ResponseHead, Store, StoreConfig};

const OBJECTS: usize = 100_000;
const REQUESTS: usize = 1_000_000;
const SCAN_EVERY: usize = 50_000;
const SCAN_LEN: usize = 10_000;
const MAX_SIZE: usize = 16 * 1024;
static PAYLOAD: [u8; MAX_SIZE] = [0; MAX_SIZE];

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Object size, fixed per id: log-uniform in 100 B..16 KiB.
fn size_of(id: u64) -> usize {
    let u = Rng(id ^ 0x5eed).unit();
    (100.0 * (MAX_SIZE as f64 / 100.0).powf(u)) as usize
}

/// The request trace: object ids; ids >= OBJECTS are one-shot scan ids.
fn trace(alpha: f64, seed: u64) -> Vec<u64> {
    let mut cdf = Vec::with_capacity(OBJECTS);
    let mut total = 0.0;
    for rank in 1..=OBJECTS {
        total += 1.0 / (rank as f64).powf(alpha);
        cdf.push(total);
    }
    let mut rng = Rng(seed);
    // Popularity rank is shuffled against id so size and rank are independent.
    let perm: Vec<u64> = (0..OBJECTS as u64)
        .map(|i| (i * 7919) % OBJECTS as u64)
        .collect();
    let mut out = Vec::with_capacity(REQUESTS + REQUESTS / SCAN_EVERY * SCAN_LEN);
    let mut scan_id = OBJECTS as u64;
    for i in 0..REQUESTS {
        if i > 0 && i % SCAN_EVERY == 0 {
            out.extend(scan_id..scan_id + SCAN_LEN as u64);
            scan_id += SCAN_LEN as u64;
        }
        let u = rng.unit() * total;
        out.push(perm[cdf.partition_point(|&c| c < u).min(OBJECTS - 1)]);
    }
    out
}

fn key(id: u64) -> CacheKey {
    let uri: Uri = format!("/obj/{id}").parse().expect("valid path");
    CacheKey::new(
        &KeySettings::default(),
        "https",
        "bench.example",
        &uri,
        &HeaderMap::new(),
    )
    .expect("short key")
}

fn object(id: u64) -> Arc<Object> {
    let meta = ObjectMeta {
        vary: Vary::None,
        variant: VariantKey::default(),
        admission: Admission {
            freshness: Freshness::default(),
            source: LifetimeSource::MaxAge,
            corrected_initial_age: std::time::Duration::ZERO,
        },
        times: ExchangeTimes::at(std::time::SystemTime::UNIX_EPOCH),
        tags: Vec::new(),
    };
    let body = Bytes::from_static(&PAYLOAD[..size_of(id)]);
    Arc::new(Object::new(
        ResponseHead::new(StatusCode::OK, HeaderMap::new()),
        vec![body],
        meta,
    ))
}

/// Plain LRU by bytes: a slab-backed doubly linked list and a map.
struct Lru {
    capacity: u64,
    used: u64,
    map: HashMap<u64, usize>,
    nodes: Vec<(u64, u64, usize, usize)>, // (id, charge, prev, next)
    head: usize,
    tail: usize,
    free: Vec<usize>,
}

const NIL: usize = usize::MAX;

impl Lru {
    fn new(capacity: u64) -> Self {
        Lru {
            capacity,
            used: 0,
            map: HashMap::new(),
            nodes: Vec::new(),
            head: NIL,
            tail: NIL,
            free: Vec::new(),
        }
    }

    fn unlink(&mut self, i: usize) {
        let (_, _, prev, next) = self.nodes[i];
        if prev == NIL {
            self.head = next
        } else {
            self.nodes[prev].3 = next
        }
        if next == NIL {
            self.tail = prev
        } else {
            self.nodes[next].2 = prev
        }
    }

    fn push_front(&mut self, i: usize) {
        self.nodes[i].2 = NIL;
        self.nodes[i].3 = self.head;
        if self.head != NIL {
            self.nodes[self.head].2 = i;
        }
        self.head = i;
        if self.tail == NIL {
            self.tail = i;
        }
    }

    fn get(&mut self, id: u64) -> bool {
        let Some(&i) = self.map.get(&id) else {
            return false;
        };
        self.unlink(i);
        self.push_front(i);
        true
    }

    fn insert(&mut self, id: u64, charge: u64) {
        while self.used + charge > self.capacity && self.tail != NIL {
            let t = self.tail;
            self.unlink(t);
            self.used -= self.nodes[t].1;
            self.map.remove(&self.nodes[t].0);
            self.free.push(t);
        }
        let node = (id, charge, NIL, NIL);
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i] = node;
                i
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        };
        self.push_front(i);
        self.map.insert(id, i);
        self.used += charge;
    }
}

#[derive(Default)]
struct Ratio {
    hits: u64,
    requests: u64,
    hit_bytes: u64,
    bytes: u64,
}

impl Ratio {
    fn add(&mut self, hit: bool, size: usize) {
        self.requests += 1;
        self.bytes += size as u64;
        if hit {
            self.hits += 1;
            self.hit_bytes += size as u64;
        }
    }

    fn object(&self) -> f64 {
        100.0 * self.hits as f64 / self.requests as f64
    }

    fn byte(&self) -> f64 {
        100.0 * self.hit_bytes as f64 / self.bytes as f64
    }
}

/// Runs the store; `min_shard_bytes: None` keeps the default (small
/// caches get fewer shards), `Some(0)` forces the requested shard count.
fn run_store(
    trace: &[u64],
    capacity: u64,
    shards: usize,
    min_shard_bytes: Option<u64>,
) -> (Ratio, usize) {
    let defaults = StoreConfig::default();
    let store = Store::new(StoreConfig {
        capacity_bytes: capacity,
        shards,
        max_object_bytes: 64 * 1024,
        min_shard_bytes: min_shard_bytes.unwrap_or(defaults.min_shard_bytes),
    });
    let none = HeaderMap::new();
    let mut r = Ratio::default();
    for &id in trace {
        let k = key(id);
        let hit = matches!(store.get(&k, &none), Lookup::Hit(_));
        if !hit {
            let _ = store.insert(&k, object(id));
        }
        r.add(hit, size_of(id));
    }
    (r, store.shard_count())
}

fn run_lru(trace: &[u64], capacity: u64) -> Ratio {
    let mut lru = Lru::new(capacity);
    let mut r = Ratio::default();
    for &id in trace {
        let hit = lru.get(id);
        if !hit {
            lru.insert(id, charge(&key(id), &object(id)));
        }
        r.add(hit, size_of(id));
    }
    r
}

fn main() {
    let working_set: u64 = (0..OBJECTS as u64)
        .map(|id| charge(&key(id), &object(id)))
        .sum();
    println!(
        "working set: {OBJECTS} objects, {:.1} MiB charged",
        working_set as f64 / 1048576.0
    );
    println!(
        "| α | cache size | LRU obj % | S3-FIFO obj % (default sharding) | S3-FIFO obj % (16 shards forced) | LRU byte % | S3-FIFO byte % (default) | gain, obj points (default) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for alpha in [0.8, 1.0] {
        let t = trace(alpha, 42);
        for pct in [1u64, 10] {
            let cap = working_set * pct / 100;
            let lru = run_lru(&t, cap);
            let (def, shards) = run_store(&t, cap, 16, None);
            let (s16, _) = run_store(&t, cap, 16, Some(0));
            println!(
                "| {alpha:.1} | {pct}% ({:.1} MiB) | {:.1} | {:.1} ({shards} shards) | {:.1} | {:.1} | {:.1} | {:+.1} |",
                cap as f64 / 1048576.0,
                lru.object(),
                def.object(),
                s16.object(),
                lru.byte(),
                def.byte(),
                def.object() - lru.object()
            );
        }
    }
}
