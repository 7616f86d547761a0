//! Counting by key with bounded memory. Keys are copied into one arena (no allocation per
//! line, one amortised copy per new key), indexed by a `hashbrown::HashTable`.
//!
//! * Exact mode counts every key: memory grows with the number of distinct keys.
//! * Bounded mode is Space-Saving (Metwally et al., 2005): at most `capacity` counters; a
//!   new key replaces the smallest counter and inherits its count as an error bound, so
//!   every key whose true count exceeds N/capacity is kept and counts are overestimated by
//!   at most the replaced minimum. A lazy min-heap finds the smallest counter: it holds
//!   count snapshots and is only touched on replacement (a stale root is refreshed and
//!   sifted down), so counting a key already held costs one hash-table probe.
//!
//! Memory in bounded mode is about `capacity × (64 bytes + mean key length)` per counter
//! set, whatever the input.

use std::hash::BuildHasher;

use hashbrown::HashTable;

/// Default number of counters in bounded mode (about 10 MB for IP keys).
pub const DEFAULT_CAPACITY: usize = 131_072;

/// Hashes keys with a fixed seed, so runs are deterministic.
pub fn hash_key(key: &[u8]) -> u64 {
    foldhash::fast::FixedState::with_seed(0x6f75_7470_6f73_7421).hash_one(key)
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    off: usize,
    len: u32,
    hash: u64,
    count: u64,
    /// Space-Saving overestimation bound inherited at replacement.
    err: u64,
    /// A secondary tally kept beside the count (e.g. 5xx among errors, requests beside bytes).
    extra: u64,
}

/// One counted key, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub key: Vec<u8>,
    pub count: u64,
    /// Upper bound on how much `count` may overestimate (0 when exact).
    pub err: u64,
    pub extra: u64,
}

/// Counts by key: exact, or Space-Saving bounded to `capacity` keys.
#[derive(Debug, Clone)]
pub struct Counter {
    table: HashTable<u32>,
    entries: Vec<Entry>,
    arena: Vec<u8>,
    garbage: usize,
    /// `Some(k)`: bounded to k counters.
    capacity: Option<usize>,
    /// Min-heap of (count snapshot, entry index); snapshots never exceed the real counts.
    /// Built at the first replacement; empty means "rebuild before use".
    heap: Vec<(u64, u32)>,
    /// Sum of the minimum counts of full sketches merged in; bounds every count's error.
    error_bound: u64,
    evictions: u64,
}

impl Counter {
    /// An exact counter (`capacity == None`) or a bounded one.
    pub fn new(capacity: Option<usize>) -> Counter {
        Counter {
            table: HashTable::new(),
            entries: Vec::new(),
            arena: Vec::new(),
            garbage: 0,
            capacity: capacity.map(|c| c.clamp(1, u32::MAX as usize)),
            heap: Vec::new(),
            error_bound: 0,
            evictions: 0,
        }
    }

    /// Number of distinct keys held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True when bounded mode has replaced keys, i.e. counts may be approximate.
    pub fn is_approximate(&self) -> bool {
        self.evictions > 0 || self.error_bound > 0
    }

    /// Upper bound on any count's overestimate.
    pub fn error_bound(&self) -> u64 {
        self.error_bound.max(self.min_count_if_full())
    }

    fn min_count_if_full(&self) -> u64 {
        match self.capacity {
            Some(c) if self.entries.len() >= c && self.evictions > 0 => {
                self.entries.iter().map(|e| e.count).min().unwrap_or(0)
            }
            _ => 0,
        }
    }

    /// Adds `weight` to `key`'s count and `extra` to its secondary tally.
    #[inline]
    pub fn add(&mut self, key: &[u8], weight: u64, extra: u64) {
        self.add_hashed(key, hash_key(key), weight, extra, 0);
    }

    fn add_hashed(&mut self, key: &[u8], hash: u64, weight: u64, extra: u64, err: u64) {
        if let Some(i) = self.find(key, hash) {
            let e = &mut self.entries[i as usize];
            e.count += weight;
            e.extra += extra;
            e.err += err;
            return;
        }
        let entry = Entry {
            off: self.arena.len(),
            len: key.len() as u32,
            hash,
            count: weight,
            err,
            extra,
        };
        match self.capacity {
            Some(cap) if self.entries.len() >= cap => self.replace_min(key, entry),
            _ => self.push(key, entry),
        }
    }

    fn push(&mut self, key: &[u8], entry: Entry) {
        let idx = self.entries.len() as u32;
        self.arena.extend_from_slice(key);
        self.entries.push(entry);
        let entries = &self.entries;
        self.table
            .insert_unique(entry.hash, idx, |&i| entries[i as usize].hash);
        self.heap.clear();
    }

    fn replace_min(&mut self, key: &[u8], mut entry: Entry) {
        let idx = self.pop_fresh_min();
        let old = self.entries[idx as usize];
        if let Ok(slot) = self.table.find_entry(old.hash, |&i| i == idx) {
            slot.remove();
        }
        self.evictions += 1;
        self.garbage += old.len as usize;
        entry.count += old.count;
        entry.err += old.count;
        self.arena.extend_from_slice(key);
        self.entries[idx as usize] = entry;
        let entries = &self.entries;
        self.table
            .insert_unique(entry.hash, idx, |&i| entries[i as usize].hash);
        self.heap[0].0 = entry.count;
        self.sift_down(0);
        if self.garbage > 1 << 20 && self.garbage > self.arena.len() / 2 {
            self.compact();
        }
    }

    /// Rewrites the arena without the keys of replaced entries.
    fn compact(&mut self) {
        let mut arena = Vec::with_capacity(self.arena.len() - self.garbage);
        for e in &mut self.entries {
            let off = arena.len();
            arena.extend_from_slice(&self.arena[e.off..e.off + e.len as usize]);
            e.off = off;
        }
        self.arena = arena;
        self.garbage = 0;
    }

    /// The index of an entry with the smallest count, leaving it at the heap root.
    fn pop_fresh_min(&mut self) -> u32 {
        if self.heap.len() != self.entries.len() {
            self.rebuild_heap();
        }
        loop {
            let (snapshot, idx) = self.heap[0];
            let count = self.entries[idx as usize].count;
            if count == snapshot {
                return idx;
            }
            self.heap[0].0 = count;
            self.sift_down(0);
        }
    }

    fn sift_down(&mut self, mut at: usize) {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * at + 1, 2 * at + 2);
            let mut min = at;
            if l < n && self.heap[l].0 < self.heap[min].0 {
                min = l;
            }
            if r < n && self.heap[r].0 < self.heap[min].0 {
                min = r;
            }
            if min == at {
                return;
            }
            self.heap.swap(at, min);
            at = min;
        }
    }

    /// Merges `other` into `self`. A key missing from a full sketch may have been seen up
    /// to that sketch's minimum count, so it gets that minimum added to its count and its
    /// error (the mergeable-summaries rule): counts stay upper bounds and `count - err`
    /// stays a lower bound.
    pub fn merge(&mut self, other: Counter) {
        let (mine, theirs) = (self.min_count_if_full(), other.min_count_if_full());
        let bound = self.error_bound() + other.error_bound();
        if theirs > 0 {
            for e in &mut self.entries {
                if other
                    .find(&self.arena[e.off..e.off + e.len as usize], e.hash)
                    .is_none()
                {
                    e.count += theirs;
                    e.err += theirs;
                }
            }
            self.heap.clear();
        }
        for e in &other.entries {
            let key = &other.arena[e.off..e.off + e.len as usize];
            let pad = if self.find(key, e.hash).is_some() {
                0
            } else {
                mine
            };
            self.add_hashed(key, e.hash, e.count + pad, e.extra, e.err + pad);
        }
        self.error_bound = bound;
        self.evictions += other.evictions;
    }

    fn find(&self, key: &[u8], hash: u64) -> Option<u32> {
        let (entries, arena) = (&self.entries, &self.arena);
        self.table
            .find(hash, |&i| {
                let e = &entries[i as usize];
                e.hash == hash && &arena[e.off..e.off + e.len as usize] == key
            })
            .copied()
    }

    fn rebuild_heap(&mut self) {
        self.heap.clear();
        self.heap.extend(self.entries.iter().enumerate().map(|(i, e)| (e.count, i as u32)));
        for at in (0..self.heap.len() / 2).rev() {
            self.sift_down(at);
        }
    }

    /// The `n` largest counts, ties broken by key, largest first.
    pub fn top(&self, n: usize) -> Vec<Counted> {
        let mut idx: Vec<usize> = (0..self.entries.len()).collect();
        let key = |i: usize| {
            let e = &self.entries[i];
            &self.arena[e.off..e.off + e.len as usize]
        };
        let by = |a: &usize, b: &usize| {
            self.entries[*b]
                .count
                .cmp(&self.entries[*a].count)
                .then_with(|| key(*a).cmp(key(*b)))
        };
        if n < idx.len() {
            idx.select_nth_unstable_by(n, by);
            idx.truncate(n);
        }
        idx.sort_unstable_by(by);
        idx.into_iter()
            .map(|i| {
                let e = &self.entries[i];
                Counted {
                    key: key(i).to_vec(),
                    count: e.count,
                    err: e.err,
                    extra: e.extra,
                }
            })
            .collect()
    }

    /// Sum of all counts held.
    pub fn total(&self) -> u64 {
        self.entries.iter().map(|e| e.count).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_counts() {
        let mut c = Counter::new(None);
        for k in ["a", "b", "a", "c", "a", "b"] {
            c.add(k.as_bytes(), 1, 0);
        }
        let top = c.top(2);
        assert_eq!(top[0].key, b"a");
        assert_eq!((top[0].count, top[1].count), (3, 2));
        assert!(!c.is_approximate());
    }

    #[test]
    fn bounded_keeps_heavy_hitters_at_the_limit() {
        let mut c = Counter::new(Some(4));
        for i in 0..1000u32 {
            c.add(b"heavy", 1, 0);
            c.add(format!("tail{i}").as_bytes(), 1, 0);
        }
        assert_eq!(c.len(), 4, "never exceeds its capacity");
        let top = c.top(1);
        assert_eq!(top[0].key, b"heavy");
        assert!(top[0].count >= 1000 && top[0].count - top[0].err <= 1000);
        assert!(c.is_approximate());
    }

    #[test]
    fn merge_adds_counts() {
        let mut a = Counter::new(Some(8));
        let mut b = Counter::new(Some(8));
        a.add(b"x", 5, 1);
        b.add(b"x", 2, 1);
        b.add(b"y", 1, 0);
        a.merge(b);
        assert_eq!(
            a.top(1)[0],
            Counted {
                key: b"x".to_vec(),
                count: 7,
                err: 0,
                extra: 2
            }
        );
        assert_eq!(a.total(), 8);
    }

    #[test]
    fn compaction_keeps_keys_intact() {
        let mut c = Counter::new(Some(2));
        let long = vec![b'k'; 4096];
        for i in 0..2000u32 {
            let mut key = long.clone();
            key.extend_from_slice(&i.to_le_bytes());
            c.add(&key, 1, 0);
            c.add(b"hot", 3, 0);
        }
        assert!(c.arena.len() < 8 << 20);
        assert_eq!(c.top(1)[0].key, b"hot");
    }
}
