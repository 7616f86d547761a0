//! The byte-bounded S3-FIFO store: the bound under churn, scan resistance,
//! index consistency, variant cap.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Uri};
use outpost_cache::key::{CacheKey, VariantKey, Vary};
use outpost_cache::policy::{Admission, ExchangeTimes, Freshness, LifetimeSource};
use outpost_cache::store::{Lookup, MAX_VARIANTS, ObjectMeta};
use outpost_cache::{KeySettings, Object, ResponseHead, Store, StoreConfig};

use crate::util::{headers, secs, t0};

/// splitmix64, for reproducible random sizes and orders.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

pub fn key_for(host: &str, path: &str) -> CacheKey {
    let uri: Uri = path.parse().unwrap();
    CacheKey::new(
        &KeySettings::default(),
        "https",
        host,
        &uri,
        &HeaderMap::new(),
    )
    .unwrap()
}

pub fn object(size: usize, tags: &[&str]) -> Arc<Object> {
    object_with(size, tags, Vary::None, VariantKey::default())
}

pub fn object_with(size: usize, tags: &[&str], vary: Vary, variant: VariantKey) -> Arc<Object> {
    let meta = ObjectMeta {
        vary,
        variant,
        admission: Admission {
            freshness: Freshness {
                lifetime: secs(3600),
                ..Freshness::default()
            },
            source: LifetimeSource::MaxAge,
            corrected_initial_age: secs(0),
        },
        times: ExchangeTimes::at(t0()),
        tags: tags.iter().map(|t| (*t).into()).collect(),
    };
    let head = ResponseHead::new(http::StatusCode::OK, HeaderMap::new());
    Arc::new(Object::new(head, vec![Bytes::from(vec![0u8; size])], meta))
}

pub fn store(capacity: u64, shards: usize) -> Store {
    Store::new(StoreConfig {
        capacity_bytes: capacity,
        shards,
        max_object_bytes: capacity / shards as u64,
        min_shard_bytes: 0,
    })
}

fn hit(store: &Store, key: &CacheKey) -> bool {
    matches!(store.get(key, &HeaderMap::new()), Lookup::Hit(_))
}

#[test]
fn byte_bound_holds_under_heavy_churn() {
    let capacity = 4 * 1024 * 1024;
    let s = store(capacity, 8);
    let mut rng = Rng(7);
    for i in 0..100_000u64 {
        let size = (rng.next() % 32_768) as usize;
        let k = key_for("churn.example", &format!("/o/{}", rng.next() % 20_000));
        s.insert(&k, object(size, &["t"])).unwrap();
        if i % 3 == 0 {
            hit(
                &s,
                &key_for("churn.example", &format!("/o/{}", rng.next() % 20_000)),
            );
        }
        assert!(
            s.stats().bytes <= capacity,
            "over the bound after {i} inserts"
        );
    }
    s.check_consistency().unwrap();
    assert!(s.stats().evictions > 0);
}

#[test]
fn an_object_larger_than_a_shard_is_refused() {
    let s = store(1024 * 1024, 4);
    assert!(
        s.insert(&key_for("a", "/big"), object(300 * 1024, &[]))
            .is_err()
    );
    assert!(
        s.insert(&key_for("a", "/ok"), object(200 * 1024, &[]))
            .is_ok()
    );
}

#[test]
fn shards_shrink_so_each_holds_a_max_object_and_the_minimum() {
    let cfg = |capacity_mib: u64, min_shard_bytes: u64| StoreConfig {
        capacity_bytes: capacity_mib * 1024 * 1024,
        shards: 16,
        max_object_bytes: 8 * 1024 * 1024,
        min_shard_bytes,
    };
    assert_eq!(Store::new(cfg(64, 0)).shard_count(), 8);
    assert_eq!(
        Store::new(cfg(64, StoreConfig::default().min_shard_bytes)).shard_count(),
        4
    );
    assert_eq!(
        Store::new(cfg(1024, StoreConfig::default().min_shard_bytes)).shard_count(),
        16
    );
    assert_eq!(
        Store::new(cfg(8, StoreConfig::default().min_shard_bytes)).shard_count(),
        1
    );
}

#[test]
fn s3_fifo_resists_a_one_shot_scan() {
    // 100 hot objects, each hit twice, fit easily; then a scan of 5,000
    // never-again objects passes through. The hot set must survive.
    let s = store(400 * 1100, 1);
    let hot: Vec<CacheKey> = (0..100)
        .map(|i| key_for("a", &format!("/hot/{i}")))
        .collect();
    for k in &hot {
        s.insert(k, object(1000, &[])).unwrap();
    }
    for _ in 0..2 {
        for k in &hot {
            assert!(hit(&s, k));
        }
    }
    for i in 0..5_000 {
        s.insert(&key_for("a", &format!("/scan/{i}")), object(1000, &[]))
            .unwrap();
        if i % 50 == 0 {
            for k in &hot {
                hit(&s, k);
            }
        }
    }
    let survived = hot.iter().filter(|k| hit(&s, k)).count();
    assert!(
        survived >= 95,
        "only {survived} of 100 hot objects survived the scan"
    );
    s.check_consistency().unwrap();
}

#[test]
fn ghost_hits_go_straight_to_main() {
    // An object evicted from the small queue and re-inserted soon after is
    // remembered: it then survives a following scan better than new ones.
    let s = store(50 * 1100, 1);
    let k = key_for("a", "/again");
    s.insert(&k, object(1000, &[])).unwrap();
    for i in 0..60 {
        s.insert(&key_for("a", &format!("/f/{i}")), object(1000, &[]))
            .unwrap();
    }
    assert!(!hit(&s, &k));
    s.insert(&k, object(1000, &[])).unwrap();
    for i in 0..30 {
        s.insert(&key_for("a", &format!("/g/{i}")), object(1000, &[]))
            .unwrap();
    }
    assert!(hit(&s, &k));
}

#[test]
fn variants_per_key_are_capped() {
    let s = store(16 * 1024 * 1024, 1);
    let k = key_for("a", "/v");
    let vary = Vary::parse(&headers(&[("vary", "x-v")]));
    for i in 0..MAX_VARIANTS + 5 {
        let req = headers(&[("x-v", &i.to_string())]);
        let variant = VariantKey::new(&vary, &req).unwrap();
        s.insert(&k, object_with(10, &[], vary.clone(), variant))
            .unwrap();
    }
    assert_eq!(s.stats().objects, MAX_VARIANTS as u64);
    // The oldest went first; the newest is there.
    assert!(matches!(
        s.get(&k, &headers(&[("x-v", "0")])),
        Lookup::VaryMiss
    ));
    let last = (MAX_VARIANTS + 4).to_string();
    assert!(matches!(
        s.get(&k, &headers(&[("x-v", &last)])),
        Lookup::Hit(_)
    ));
    s.check_consistency().unwrap();
}

#[test]
fn replacing_an_object_keeps_accounting_exact() {
    let s = store(1024 * 1024, 2);
    let k = key_for("a", "/same");
    for size in [100, 5000, 10, 70_000] {
        s.insert(&k, object(size, &["x"])).unwrap();
    }
    assert_eq!(s.stats().objects, 1);
    s.check_consistency().unwrap();
}

#[test]
fn concurrent_lookups_and_inserts_stay_consistent() {
    let s = Arc::new(store(2 * 1024 * 1024, 8));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                let mut rng = Rng(t);
                for _ in 0..20_000 {
                    let k = key_for("mt", &format!("/{}", rng.next() % 2000));
                    if rng.next() % 4 == 0 {
                        s.insert(&k, object((rng.next() % 4096) as usize, &["mt"]))
                            .unwrap();
                    } else {
                        hit(&s, &k);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    s.check_consistency().unwrap();
    assert!(s.stats().bytes <= 2 * 1024 * 1024);
}
