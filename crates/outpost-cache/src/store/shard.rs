//! One lock shard of the store: a slab of objects, the S3-FIFO queues that
//! order their eviction, and the indexes purges use (primary key to
//! variants, host to ordered paths, tag to objects). Every index is kept
//! exact on every removal, eviction included, so purges never scan.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use hashbrown::{HashMap, HashSet};
use http::HeaderMap;

use crate::key::{CacheKey, VariantKey, stable_hash};
use crate::store::object::Object;

/// Most variants (Vary combinations) kept per primary key; storing one
/// more drops the oldest. Default: 32.
pub const MAX_VARIANTS: usize = 32;
/// Frequency counters saturate here (S3-FIFO uses 2 bits).
const MAX_FREQ: u8 = 3;
/// Fewest ghost entries a shard remembers, whatever its main queue holds.
const MIN_GHOSTS: usize = 1024;

type Hasher = foldhash::fast::RandomState;

/// Which S3-FIFO queue a live slot sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queue {
    Small,
    Main,
}

/// A slab slot. `generation` changes on every reuse, so queue entries of
/// removed objects are recognised and skipped.
#[derive(Debug)]
struct Slot {
    object: Option<Arc<Object>>,
    primary: u64,
    generation: u32,
    freq: AtomicU8,
    queue: Queue,
    epoch: u64,
    /// The object's charge plus its primary key's text.
    charge: u64,
}

/// All variants stored under one primary key.
#[derive(Debug)]
struct Primary {
    key: CacheKey,
    variants: Vec<u32>,
}

/// Ghost queue: hashes of objects recently evicted from the small queue;
/// one that comes back is admitted straight to the main queue.
#[derive(Debug, Default)]
struct Ghost {
    seq: u64,
    present: HashMap<u64, u64, Hasher>,
    fifo: VecDeque<(u64, u64)>,
}

/// A lookup's result inside one shard.
#[derive(Debug)]
pub(crate) enum Found {
    /// The object, and the epoch it was stored in.
    Hit(Arc<Object>, u64),
    /// Objects for the primary key, none for this variant.
    VaryMiss,
    /// Nothing for the primary key.
    UriMiss,
}

/// What one insert did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct InsertStats {
    pub evicted: u64,
    pub replaced: u64,
    pub freed_bytes: u64,
}

/// One shard's state; the store wraps each in a lock.
#[derive(Debug)]
pub(crate) struct Shard {
    capacity: u64,
    small_target: u64,
    used: u64,
    small_bytes: u64,
    slots: Vec<Slot>,
    free: Vec<u32>,
    small: VecDeque<(u32, u32)>,
    main: VecDeque<(u32, u32)>,
    ghost: Ghost,
    main_len: usize,
    primaries: HashMap<u64, Primary, Hasher>,
    hosts: HashMap<Box<str>, BTreeMap<Box<str>, Vec<u64>>, Hasher>,
    tags: HashMap<Box<str>, HashSet<u32, Hasher>, Hasher>,
}

impl Shard {
    /// An empty shard holding at most `capacity` charged bytes; the small
    /// queue targets 10% of it.
    pub fn new(capacity: u64) -> Shard {
        Shard {
            capacity,
            small_target: capacity / 10,
            used: 0,
            small_bytes: 0,
            slots: Vec::new(),
            free: Vec::new(),
            small: VecDeque::new(),
            main: VecDeque::new(),
            ghost: Ghost::default(),
            main_len: 0,
            primaries: HashMap::default(),
            hosts: HashMap::default(),
            tags: HashMap::default(),
        }
    }

    /// Charged bytes held.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Objects held.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Looks up the variant of `key` matching `request`; a hit bumps the
    /// object's frequency (atomically, so a read lock suffices).
    pub fn get(&self, key: &CacheKey, request: &HeaderMap) -> Found {
        let Some(p) = self.primaries.get(&key.hash()).filter(|p| p.key == *key) else {
            return Found::UriMiss;
        };
        // Every variant of a primary key shares one Vary, so the request's
        // variant key is computed once.
        let mut wanted: Option<Option<VariantKey>> = None;
        for &idx in &p.variants {
            let slot = &self.slots[idx as usize];
            let Some(obj) = &slot.object else { continue };
            let wanted = wanted.get_or_insert_with(|| VariantKey::new(obj.vary(), request));
            if wanted.as_ref() == Some(obj.variant()) {
                let _ = slot
                    .freq
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |f| {
                        (f < MAX_FREQ).then_some(f + 1)
                    });
                return Found::Hit(Arc::clone(obj), slot.epoch);
            }
        }
        Found::VaryMiss
    }

    /// Stores `object` under `key`, replacing the same variant (and every
    /// variant when the `Vary` names changed), then evicting until it fits.
    /// The caller checked that the object fits in an empty shard.
    pub fn insert(&mut self, key: &CacheKey, object: Arc<Object>, epoch: u64) -> InsertStats {
        let mut stats = self.remove_replaced(key, &object);
        let charge = charge_of(key, &object);
        while self.used + charge > self.capacity {
            match self.evict_one() {
                Some(freed) => {
                    stats.evicted += 1;
                    stats.freed_bytes += freed;
                }
                None => break,
            }
        }
        let ghost_id = ghost_id(key, &object);
        let queue = if self.ghost.take(ghost_id) {
            Queue::Main
        } else {
            Queue::Small
        };
        let idx = self.alloc(key.hash(), Arc::clone(&object), queue, epoch, charge);
        self.index(key, idx, &object);
        stats
    }

    /// Removes the variants `object` replaces; returns how many and bytes.
    fn remove_replaced(&mut self, key: &CacheKey, object: &Object) -> InsertStats {
        let mut stats = InsertStats::default();
        let Some(p) = self.primaries.get(&key.hash()).filter(|p| p.key == *key) else {
            return stats;
        };
        let mut doomed: Vec<u32> = p
            .variants
            .iter()
            .copied()
            .filter(|&i| {
                let o = self.slots[i as usize].object.as_deref();
                o.is_some_and(|o| o.vary() != object.vary() || o.variant() == object.variant())
            })
            .collect();
        if p.variants.len() - doomed.len() >= MAX_VARIANTS {
            doomed.extend(p.variants.iter().copied().find(|i| !doomed.contains(i)));
        }
        for idx in doomed {
            stats.freed_bytes += self.remove(idx);
            stats.replaced += 1;
        }
        stats
    }

    fn alloc(
        &mut self,
        primary: u64,
        object: Arc<Object>,
        queue: Queue,
        epoch: u64,
        charge: u64,
    ) -> u32 {
        let slot = Slot {
            object: Some(object),
            primary,
            generation: 0,
            freq: AtomicU8::new(0),
            queue,
            epoch,
            charge,
        };
        let idx = match self.free.pop() {
            Some(idx) => {
                let old = &mut self.slots[idx as usize];
                // Keep the generation: queue entries of the previous
                // occupant must stay recognisably dead.
                *old = Slot {
                    generation: old.generation,
                    ..slot
                };
                idx
            }
            None => {
                // Slab indexes are u32: a shard never holds 4 billion objects
                // because every object is charged OBJECT_OVERHEAD bytes.
                self.slots.push(slot);
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.enqueue(idx, queue, charge);
        idx
    }

    fn enqueue(&mut self, idx: u32, queue: Queue, charge: u64) {
        let entry = (idx, self.slots[idx as usize].generation);
        self.used += charge;
        match queue {
            Queue::Small => {
                self.small_bytes += charge;
                self.small.push_back(entry);
            }
            Queue::Main => {
                self.main_len += 1;
                self.main.push_back(entry);
            }
        }
    }

    fn index(&mut self, key: &CacheKey, idx: u32, object: &Object) {
        let hash = key.hash();
        let primary = self.primaries.entry(hash).or_insert_with(|| Primary {
            key: key.clone(),
            variants: Vec::new(),
        });
        if primary.variants.is_empty() {
            let paths = self.hosts.entry(key.host().into()).or_default();
            let hashes = paths.entry(key.url().into()).or_default();
            if !hashes.contains(&hash) {
                hashes.push(hash);
            }
        }
        primary.variants.push(idx);
        for tag in object.tags() {
            self.tags.entry(tag.clone()).or_default().insert(idx);
        }
    }

    /// Removes slot `idx` and its index entries; returns the bytes freed.
    fn remove(&mut self, idx: u32) -> u64 {
        let slot = &mut self.slots[idx as usize];
        let Some(object) = slot.object.take() else {
            return 0;
        };
        slot.generation = slot.generation.wrapping_add(1);
        let (primary, queue, charge) = (slot.primary, slot.queue, slot.charge);
        self.free.push(idx);
        self.used -= charge;
        match queue {
            Queue::Small => self.small_bytes -= charge,
            Queue::Main => self.main_len -= 1,
        }
        self.unindex_variant(primary, idx);
        for tag in object.tags() {
            if let Some(set) = self.tags.get_mut(tag) {
                set.remove(&idx);
                if set.is_empty() {
                    self.tags.remove(tag);
                }
            }
        }
        self.compact_queues();
        charge
    }

    fn unindex_variant(&mut self, hash: u64, idx: u32) {
        let Some(p) = self.primaries.get_mut(&hash) else {
            return;
        };
        p.variants.retain(|&v| v != idx);
        if !p.variants.is_empty() {
            return;
        }
        let Some(p) = self.primaries.remove(&hash) else {
            return;
        };
        let Some(paths) = self.hosts.get_mut(p.key.host()) else {
            return;
        };
        if let Some(hashes) = paths.get_mut(p.key.url()) {
            hashes.retain(|&h| h != hash);
            if hashes.is_empty() {
                paths.remove(p.key.url());
            }
        }
        if paths.is_empty() {
            self.hosts.remove(p.key.host());
        }
    }

    /// Drops queue entries of removed objects once they outnumber live
    /// ones, so purges without evictions cannot grow the queues unbounded.
    fn compact_queues(&mut self) {
        let live = self.len();
        if self.small.len() + self.main.len() <= 2 * live + 1024 {
            return;
        }
        let slots = &self.slots;
        let alive = |&(i, g): &(u32, u32)| {
            let s = &slots[i as usize];
            s.generation == g && s.object.is_some()
        };
        self.small.retain(alive);
        self.main.retain(alive);
    }

    /// Whether queue entry `(idx, generation)` still names a live object.
    fn live(&self, (idx, generation): (u32, u32)) -> bool {
        let s = &self.slots[idx as usize];
        s.generation == generation && s.object.is_some()
    }

    /// Evicts one object by S3-FIFO; returns its charge, or `None` when
    /// the shard is empty.
    fn evict_one(&mut self) -> Option<u64> {
        loop {
            if self.small_bytes > self.small_target || self.main_len == 0 {
                let entry = self.small.pop_front()?;
                if !self.live(entry) {
                    continue;
                }
                if let Some(freed) = self.evict_small(entry.0) {
                    return Some(freed);
                }
            } else {
                let entry = self.main.pop_front()?;
                if !self.live(entry) {
                    continue;
                }
                if let Some(freed) = self.evict_main(entry) {
                    return Some(freed);
                }
            }
        }
    }

    /// The small queue's tail: promoted to main if it was hit while in
    /// small, otherwise evicted and remembered in the ghost queue.
    fn evict_small(&mut self, idx: u32) -> Option<u64> {
        let slot = &mut self.slots[idx as usize];
        if *slot.freq.get_mut() > 0 {
            *slot.freq.get_mut() = 0;
            slot.queue = Queue::Main;
            self.small_bytes -= slot.charge;
            self.main_len += 1;
            self.main.push_back((idx, slot.generation));
            return None;
        }
        let id = match (&slot.object, self.primaries.get(&slot.primary)) {
            (Some(o), Some(p)) => ghost_id(&p.key, o),
            _ => slot.primary,
        };
        let limit = self.main_len.max(MIN_GHOSTS);
        self.ghost.add(id, limit);
        Some(self.remove(idx))
    }

    /// The main queue's tail: reinserted with one less frequency if it was
    /// hit, otherwise evicted (CLOCK-like second chance, up to 3).
    fn evict_main(&mut self, entry: (u32, u32)) -> Option<u64> {
        let freq = self.slots[entry.0 as usize].freq.get_mut();
        if *freq > 0 {
            *freq -= 1;
            self.main.push_back(entry);
            return None;
        }
        Some(self.remove(entry.0))
    }

    /// Slab indexes of every object under the primary keys in `hashes`.
    fn variants_of(&self, hashes: impl IntoIterator<Item = u64>) -> Vec<u32> {
        hashes
            .into_iter()
            .filter_map(|h| self.primaries.get(&h))
            .flat_map(|p| p.variants.iter().copied())
            .collect()
    }

    /// Objects under `host` whose path-and-query equals `url`.
    pub fn select_url(&self, host: &str, url: &str) -> Vec<u32> {
        let hashes = self.hosts.get(host).and_then(|paths| paths.get(url));
        self.variants_of(hashes.into_iter().flatten().copied())
    }

    /// Objects under `host` whose path-and-query starts with `prefix`:
    /// a B-tree range, so O(log n + matches).
    pub fn select_prefix(&self, host: &str, prefix: &str) -> Vec<u32> {
        let Some(paths) = self.hosts.get(host) else {
            return Vec::new();
        };
        let matched = paths
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(p, _)| p.starts_with(prefix))
            .flat_map(|(_, hashes)| hashes.iter().copied());
        self.variants_of(matched)
    }

    /// Every object under `host`.
    pub fn select_host(&self, host: &str) -> Vec<u32> {
        let Some(paths) = self.hosts.get(host) else {
            return Vec::new();
        };
        self.variants_of(paths.values().flatten().copied())
    }

    /// Every object carrying `tag`.
    pub fn select_tag(&self, tag: &str) -> Vec<u32> {
        self.tags
            .get(tag)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Removes the selected objects; returns (count, bytes freed).
    pub fn remove_all(&mut self, selected: &[u32]) -> (u64, u64) {
        let freed = selected.iter().map(|&i| self.remove(i)).sum();
        (selected.len() as u64, freed)
    }

    /// Marks the selected objects soft-purged; returns the count.
    pub fn mark_all(&self, selected: &[u32]) -> u64 {
        for &i in selected {
            if let Some(o) = &self.slots[i as usize].object {
                o.mark_soft_purged();
            }
        }
        selected.len() as u64
    }

    /// Checks every index against the slab; for tests. Returns a
    /// description of the first inconsistency.
    pub fn check(&self) -> Result<(), String> {
        let seen = self.check_primaries()?;
        if seen != self.len() {
            return Err(format!(
                "{seen} indexed variants, {} live slots",
                self.len()
            ));
        }
        for (tag, set) in &self.tags {
            for &i in set {
                let slot = &self.slots[i as usize];
                if !slot.object.as_ref().is_some_and(|o| o.tags().contains(tag)) {
                    return Err(format!("tag {tag} names slot {i} without it"));
                }
            }
        }
        let live = self.slots.iter().filter(|s| s.object.is_some());
        let charged: u64 = live.map(|s| s.charge).sum();
        if charged != self.used || self.used > self.capacity {
            return Err(format!(
                "used {} charged {charged} capacity {}",
                self.used, self.capacity
            ));
        }
        Ok(())
    }

    /// Checks primary entries against slots and the host index; returns
    /// how many variants they name.
    fn check_primaries(&self) -> Result<usize, String> {
        let mut seen = 0usize;
        for (hash, p) in &self.primaries {
            for &v in &p.variants {
                let slot = &self.slots[v as usize];
                if slot.object.is_none() || slot.primary != *hash {
                    return Err(format!("primary {hash:x} names dead slot {v}"));
                }
                seen += 1;
            }
            let indexed = self
                .hosts
                .get(p.key.host())
                .and_then(|m| m.get(p.key.url()));
            if !indexed.is_some_and(|h| h.contains(hash)) {
                return Err(format!(
                    "primary {} missing from host index",
                    p.key.as_str()
                ));
            }
        }
        Ok(seen)
    }
}

impl Ghost {
    /// Remembers `id`, forgetting the oldest past `limit` entries.
    fn add(&mut self, id: u64, limit: usize) {
        self.seq += 1;
        self.present.insert(id, self.seq);
        self.fifo.push_back((id, self.seq));
        while self.present.len() > limit || self.fifo.len() > 2 * limit {
            let Some((old, seq)) = self.fifo.pop_front() else {
                break;
            };
            if self.present.get(&old) == Some(&seq) {
                self.present.remove(&old);
            }
        }
    }

    /// Whether `id` was remembered; forgets it.
    fn take(&mut self, id: u64) -> bool {
        self.present.remove(&id).is_some()
    }
}

/// What an object counts against the bound: its own charge plus the key
/// text its primary entry keeps.
pub(crate) fn charge_of(key: &CacheKey, object: &Object) -> u64 {
    object.charge() + key.heap_bytes() as u64
}

/// Identity of one variant for the ghost queue.
fn ghost_id(key: &CacheKey, object: &Object) -> u64 {
    match object.variant().as_str() {
        "" => key.hash(),
        v => key.hash() ^ stable_hash(v).rotate_left(17),
    }
}
