//! The byte-bounded in-memory store. Objects live in N lock shards chosen
//! by key hash; each shard evicts by S3-FIFO (a small probationary FIFO of
//! ~10% of its bytes, a main FIFO with 2-bit frequency second chances, and
//! a ghost queue of recently evicted hashes), which keeps one-shot scans
//! from flushing the popular set as plain LRU does. Lookups take a shard's
//! read lock only (frequency bumps are atomic), so hits on many threads
//! proceed in parallel; inserts and purges take one shard's write lock at a
//! time. Objects are `Arc`s: a reader keeps its object even if it is
//! evicted meanwhile.
//!
//! Purges use per-shard indexes (host → ordered paths, tag → objects) and
//! cost O(shards + matched · log n), never a scan; a hard purge of
//! everything swaps each shard for an empty one, and a soft one bumps an
//! epoch (O(1)).

mod object;
mod shard;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use http::HeaderMap;

pub use object::{
    MAX_TAG_BYTES, MAX_TAGS, OBJECT_OVERHEAD, Object, ObjectMeta, ResponseHead, parse_tags,
};
pub use shard::MAX_VARIANTS;

use crate::key::CacheKey;
use crate::purge::{Purge, PurgeError, PurgeMode, Target};
use shard::{Found, Shard};

/// What `object` counts against the store's bound when stored under
/// `key`: its charge plus the key text the store keeps.
pub fn charge(key: &CacheKey, object: &Object) -> u64 {
    shard::charge_of(key, object)
}

/// Most lock shards. Default shard count is 16.
pub const MAX_SHARDS: usize = 1024;

/// The store's sizing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    /// Total charged bytes. Default: 256 MiB.
    pub capacity_bytes: u64,
    /// Lock shards wanted, rounded up to a power of two (at most
    /// [`MAX_SHARDS`]), then halved until each shard holds at least
    /// `max_object_bytes` and `min_shard_bytes`. Default: 16.
    pub shards: usize,
    /// Largest object's charge. Default: 8 MiB.
    pub max_object_bytes: u64,
    /// Smallest shard, in bytes. Each shard runs its own S3-FIFO, and a
    /// shard's small (probation) queue is 10% of it: below a few hundred
    /// objects that queue is too short to tell one-hit wonders from popular
    /// objects and the hit ratio drops (see the README's simulation). Small
    /// caches therefore get fewer shards. Default: 16 MiB.
    pub min_shard_bytes: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            capacity_bytes: 256 * 1024 * 1024,
            shards: 16,
            max_object_bytes: 8 * 1024 * 1024,
            min_shard_bytes: 16 * 1024 * 1024,
        }
    }
}

/// A lookup's result.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A stored object for this request's variant.
    Hit(Arc<Object>),
    /// Objects stored for the primary key, none for this variant.
    VaryMiss,
    /// Nothing stored for the primary key.
    UriMiss,
}

/// The object is larger than a shard can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("object of {charge} bytes exceeds the per-shard capacity of {capacity} bytes")]
pub struct TooLarge {
    /// The object's charge.
    pub charge: u64,
    /// What one shard holds.
    pub capacity: u64,
}

/// Totals, read without locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Charged bytes stored.
    pub bytes: u64,
    /// Objects stored.
    pub objects: u64,
    /// Objects evicted to make room, since start.
    pub evictions: u64,
}

/// The in-memory object store.
#[derive(Debug)]
pub struct Store {
    shards: Box<[RwLock<Shard>]>,
    shard_capacity: u64,
    soft_epoch: AtomicU64,
    bytes: AtomicU64,
    objects: AtomicU64,
    evictions: AtomicU64,
}

impl Store {
    /// An empty store.
    pub fn new(config: StoreConfig) -> Store {
        let mut shards = config.shards.clamp(1, MAX_SHARDS).next_power_of_two();
        let min_shard = config.max_object_bytes.max(config.min_shard_bytes);
        while shards > 1 && config.capacity_bytes / (shards as u64) < min_shard {
            shards /= 2;
        }
        let shard_capacity = config.capacity_bytes / shards as u64;
        Store {
            shards: (0..shards)
                .map(|_| RwLock::new(Shard::new(shard_capacity)))
                .collect(),
            shard_capacity,
            soft_epoch: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            objects: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// Number of lock shards in use.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    fn shard_of(&self, key: &CacheKey) -> &RwLock<Shard> {
        // The shard count is a power of two; the high bits pick the shard so
        // the shard's own hash maps (which use the low bits) stay spread.
        let bits = self.shards.len().trailing_zeros();
        let idx = if bits == 0 {
            0
        } else {
            (key.hash() >> (64 - bits)) as usize
        };
        &self.shards[idx]
    }

    /// The object stored for `key` and the variant `request` selects. An
    /// object stored before a soft purge of everything is marked
    /// soft-purged here, lazily.
    pub fn get(&self, key: &CacheKey, request: &HeaderMap) -> Lookup {
        match read(self.shard_of(key)).get(key, request) {
            Found::Hit(object, epoch) => {
                if epoch < self.soft_epoch.load(Ordering::Relaxed) {
                    object.mark_soft_purged();
                }
                Lookup::Hit(object)
            }
            Found::VaryMiss => Lookup::VaryMiss,
            Found::UriMiss => Lookup::UriMiss,
        }
    }

    /// Stores `object` under `key`, replacing the variant it answers and
    /// evicting as needed. Fails only when the object is larger than a
    /// shard.
    pub fn insert(&self, key: &CacheKey, object: Arc<Object>) -> Result<(), TooLarge> {
        let charge = shard::charge_of(key, &object);
        if charge > self.shard_capacity {
            return Err(TooLarge {
                charge,
                capacity: self.shard_capacity,
            });
        }
        let epoch = self.soft_epoch.load(Ordering::Relaxed);
        let mut shard = write(self.shard_of(key));
        let stats = shard.insert(key, object, epoch);
        // Totals change under the shard lock, so a concurrent eviction of
        // this object can never subtract before it was added.
        self.evictions.fetch_add(stats.evicted, Ordering::Relaxed);
        self.objects.fetch_add(1, Ordering::Relaxed);
        self.objects
            .fetch_sub(stats.evicted + stats.replaced, Ordering::Relaxed);
        self.bytes.fetch_add(charge, Ordering::Relaxed);
        self.bytes.fetch_sub(stats.freed_bytes, Ordering::Relaxed);
        drop(shard);
        Ok(())
    }

    /// Carries out a purge; returns how many objects it deleted or marked.
    pub fn purge(&self, purge: &Purge) -> Result<u64, PurgeError> {
        Ok(self.purge_target(purge.target.parse()?, purge.mode))
    }

    pub(crate) fn purge_target(&self, target: Target, mode: PurgeMode) -> u64 {
        match (target, mode) {
            (Target::All, PurgeMode::Hard) => self.clear(),
            (Target::All, PurgeMode::Soft) => {
                self.soft_epoch.fetch_add(1, Ordering::Relaxed);
                self.objects.load(Ordering::Relaxed)
            }
            (target, mode) => self
                .shards
                .iter()
                .map(|s| self.purge_shard(s, &target, mode))
                .sum(),
        }
    }

    fn purge_shard(&self, shard: &RwLock<Shard>, target: &Target, mode: PurgeMode) -> u64 {
        let select = |s: &Shard| match target {
            Target::Url { host, url } => s.select_url(host, url),
            Target::Prefix { host, prefix } => s.select_prefix(host, prefix),
            Target::Host(host) => s.select_host(host),
            Target::Tag(tag) => s.select_tag(tag),
            Target::All => Vec::new(),
        };
        if mode == PurgeMode::Soft {
            let s = read(shard);
            return s.mark_all(&select(&s));
        }
        let mut s = write(shard);
        let selected = select(&s);
        let (count, freed) = s.remove_all(&selected);
        self.objects.fetch_sub(count, Ordering::Relaxed);
        self.bytes.fetch_sub(freed, Ordering::Relaxed);
        count
    }

    /// Deletes everything: each shard is swapped for an empty one under its
    /// lock, so nothing stored before is found once this returns. Freeing
    /// the old contents (about 1 s per million objects with glibc's
    /// allocator) happens on a short-lived thread, off the caller's path.
    fn clear(&self) -> u64 {
        let mut total = 0;
        let mut old_shards = Vec::with_capacity(self.shards.len());
        for shard in &self.shards {
            let mut guard = write(shard);
            let old = std::mem::replace(&mut *guard, Shard::new(self.shard_capacity));
            self.objects.fetch_sub(old.len() as u64, Ordering::Relaxed);
            self.bytes.fetch_sub(old.used(), Ordering::Relaxed);
            drop(guard);
            total += old.len() as u64;
            old_shards.push(old);
        }
        let dropper = std::thread::Builder::new().name("outpost-cache-free".into());
        // If no thread can be started, the memory is freed here instead.
        if let Err(e) = dropper.spawn(move || drop(old_shards)) {
            drop(e);
        }
        total
    }

    /// Totals, without taking locks.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            bytes: self.bytes.load(Ordering::Relaxed),
            objects: self.objects.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }

    /// Checks every shard's indexes and byte accounting, and that the
    /// totals agree; for tests. Takes every lock in turn.
    pub fn check_consistency(&self) -> Result<(), String> {
        let (mut bytes, mut objects) = (0, 0);
        for (i, shard) in self.shards.iter().enumerate() {
            let s = read(shard);
            s.check().map_err(|e| format!("shard {i}: {e}"))?;
            bytes += s.used();
            objects += s.len() as u64;
        }
        let stats = self.stats();
        if (bytes, objects) != (stats.bytes, stats.objects) {
            return Err(format!(
                "totals {stats:?}, shards hold {bytes} bytes in {objects} objects"
            ));
        }
        Ok(())
    }
}

/// A shard's read lock. A panic while holding a lock cannot leave a shard
/// half-updated in a way that breaks memory safety, so poisoning is ignored.
fn read(lock: &RwLock<Shard>) -> RwLockReadGuard<'_, Shard> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write(lock: &RwLock<Shard>) -> RwLockWriteGuard<'_, Shard> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}
