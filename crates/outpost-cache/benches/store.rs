//! Store micro-benchmarks: lookup (hit) and insert (steady state, with
//! eviction) under criterion; then, printed once, purge times with 1M
//! objects stored and the measured memory overhead per object (a counting
//! global allocator, allocated bytes divided by objects, minus payload).
//! Run: `cargo bench -p outpost-cache --bench store`.
#![allow(
    unsafe_code,
    reason = "a counting GlobalAlloc wrapper around System needs unsafe impl"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use outpost_cache::key::{CacheKey, VariantKey, Vary};
use outpost_cache::policy::{Admission, ExchangeTimes, Freshness, LifetimeSource};
use outpost_cache::store::{Lookup, OBJECT_OVERHEAD, ObjectMeta};
use outpost_cache::{
    KeySettings, Object, Purge, PurgeMode, PurgeTarget, ResponseHead, Store, StoreConfig,
};

/// Counts live heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

static BODY: [u8; 1024] = [7; 1024];

fn key(host: &str, i: usize) -> CacheKey {
    let uri: Uri = format!("/assets/v2/item-{i}.js")
        .parse()
        .expect("valid path");
    CacheKey::new(
        &KeySettings::default(),
        "https",
        host,
        &uri,
        &HeaderMap::new(),
    )
    .expect("short key")
}

/// Five typical response headers (~150 bytes).
fn typical_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/javascript"),
    );
    h.insert(
        "cache-control",
        HeaderValue::from_static("public, max-age=86400"),
    );
    h.insert("etag", HeaderValue::from_static("\"5f2b-1a2b3c4d\""));
    h.insert(
        "last-modified",
        HeaderValue::from_static("Wed, 21 Oct 2026 07:28:00 GMT"),
    );
    h.insert("server", HeaderValue::from_static("origin"));
    h
}

fn object(body: usize, tag: String) -> Arc<Object> {
    let meta = ObjectMeta {
        vary: Vary::None,
        variant: VariantKey::default(),
        admission: Admission {
            freshness: Freshness {
                lifetime: Duration::from_secs(3600),
                ..Freshness::default()
            },
            source: LifetimeSource::MaxAge,
            corrected_initial_age: Duration::ZERO,
        },
        times: ExchangeTimes::at(std::time::SystemTime::UNIX_EPOCH),
        tags: vec![tag.into()],
    };
    let head = ResponseHead::new(StatusCode::OK, typical_headers());
    Arc::new(Object::new(
        head,
        vec![Bytes::from_static(&BODY[..body])],
        meta,
    ))
}

fn filled(n: usize, shards: usize) -> (Store, Vec<CacheKey>) {
    let store = Store::new(StoreConfig {
        capacity_bytes: n as u64 * 8192,
        shards,
        max_object_bytes: 64 * 1024,
        min_shard_bytes: 0,
    });
    let keys: Vec<CacheKey> = (0..n)
        .map(|i| key(&format!("h{}.example", i % 1000), i))
        .collect();
    for (i, k) in keys.iter().enumerate() {
        store
            .insert(k, object(16, format!("t{}", i % (n / 10))))
            .expect("fits");
    }
    (store, keys)
}

fn bench_ops(c: &mut Criterion) {
    let (store, keys) = filled(100_000, 16);
    let none = HeaderMap::new();
    let mut i = 0usize;
    c.bench_function("store/get_hit (random keys, 100k objects)", |b| {
        b.iter(|| {
            i = (i + 7919) % keys.len();
            black_box(matches!(store.get(&keys[i], &none), Lookup::Hit(_)))
        })
    });
    c.bench_function("store/get_hit (one hot key)", |b| {
        b.iter(|| black_box(matches!(store.get(&keys[42], &none), Lookup::Hit(_))))
    });
    c.bench_function("key/build", |b| {
        let uri: Uri = "/assets/v2/item-42.js?v=3".parse().expect("valid");
        let settings = KeySettings::default();
        b.iter(|| black_box(CacheKey::new(&settings, "https", "h1.example", &uri, &none)))
    });
    // Steady state: the store is full, every insert evicts.
    let small = Store::new(StoreConfig {
        capacity_bytes: 20_000 * 2048,
        shards: 16,
        max_object_bytes: 64 * 1024,
        min_shard_bytes: 0,
    });
    let obj = object(1024, "t".into());
    let mut j = 0usize;
    c.bench_function("store/insert (full, evicting)", |b| {
        b.iter(|| {
            j = (j + 1) % keys.len();
            small.insert(&keys[j], Arc::clone(&obj)).expect("fits")
        })
    });
}

fn time(store: &Store, target: PurgeTarget) -> (Duration, u64) {
    let start = Instant::now();
    let n = store
        .purge(&Purge {
            target,
            mode: PurgeMode::Hard,
        })
        .expect("valid purge");
    (start.elapsed(), n)
}

fn purges_with_a_million() {
    let start = Instant::now();
    let (store, _) = filled(1_000_000, 16);
    println!("built 1M objects in {:?}", start.elapsed());
    let mut tag_times: Vec<Duration> = (0..20)
        .map(|t| {
            let (d, n) = time(
                &store,
                PurgeTarget::Tag {
                    tag: format!("t{}", t * 4999),
                },
            );
            assert_eq!(n, 10);
            d
        })
        .collect();
    tag_times.sort();
    println!(
        "tag purge (10 objects of 1M): median {:?}, max {:?}",
        tag_times[10], tag_times[19]
    );
    let (d, n) = time(
        &store,
        PurgeTarget::Url {
            url: "h5.example/assets/v2/item-5.js".into(),
        },
    );
    println!("url purge ({n} object): {d:?}");
    let (d, n) = time(
        &store,
        PurgeTarget::Prefix {
            prefix: "h7.example/assets/v2/item-1".into(),
        },
    );
    println!("prefix purge ({n} objects): {d:?}");
    let (d, n) = time(
        &store,
        PurgeTarget::Host {
            host: "h9.example".into(),
        },
    );
    println!("host purge ({n} objects): {d:?}");
    let start = Instant::now();
    store
        .purge(&Purge {
            target: PurgeTarget::All,
            mode: PurgeMode::Soft,
        })
        .expect("valid");
    println!("soft purge all: {:?}", start.elapsed());
    let (d, n) = time(&store, PurgeTarget::All);
    println!("hard purge all ({n} objects): {d:?}");
}

fn memory_per_object() {
    const N: usize = 200_000;
    let keys: Vec<CacheKey> = (0..N)
        .map(|i| key(&format!("h{}.example", i % 1000), i))
        .collect();
    let objects: Vec<Arc<Object>> = (0..N)
        .map(|i| object(16, format!("t{}", i % 20_000)))
        .collect();
    let store = Store::new(StoreConfig {
        capacity_bytes: N as u64 * 8192,
        shards: 16,
        max_object_bytes: 64 * 1024,
        min_shard_bytes: 0,
    });
    // Objects already exist (the proxy builds them during the fill), so
    // measure them and the store's own structures separately.
    let before = LIVE.load(Ordering::Relaxed);
    for (k, o) in keys.iter().zip(&objects) {
        store.insert(k, Arc::clone(o)).expect("fits");
    }
    let store_bytes = LIVE.load(Ordering::Relaxed) - before;
    let before = LIVE.load(Ordering::Relaxed);
    let more: Vec<Arc<Object>> = (0..N)
        .map(|i| object(16, format!("t{}", i % 20_000)))
        .collect();
    let object_bytes = LIVE.load(Ordering::Relaxed) - before;
    let header_payload: usize = typical_headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len())
        .sum();
    let key_payload: usize = keys.iter().map(|k| k.as_str().len()).sum::<usize>() / N;
    let tag_payload = 6;
    let per_object_store = store_bytes / N;
    let per_object_obj = object_bytes / N;
    let payload = header_payload + key_payload + tag_payload;
    println!("memory per object ({N} objects, 16-byte static bodies):");
    println!("  store structures (slot, indexes, queues, key copy): {per_object_store} B");
    println!("  object (Arc<Object>, HeaderMap, chunk list, tags):  {per_object_obj} B");
    println!(
        "  payload (header names+values {header_payload} B, key text {key_payload} B, tag {tag_payload} B): {payload} B"
    );
    println!(
        "  overhead = total - payload: {} B (OBJECT_OVERHEAD charges {OBJECT_OVERHEAD} B)",
        per_object_store + per_object_obj - payload
    );
    println!(
        "  charged per object by the store: {} B",
        store.stats().bytes / N as u64
    );
    drop(more);
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    targets = bench_ops
}

fn main() {
    // With a name filter (e.g. `-- get_hit`), run only the matching
    // criterion benchmarks.
    let filtered = std::env::args().skip(1).any(|a| !a.starts_with('-'));
    if !filtered {
        memory_per_object();
        purges_with_a_million();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
