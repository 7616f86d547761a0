//! Counting by key with bounded memory, without allocating per line. Each counter lives
//! in the hash table slot itself (one cache line) with keys up to 24 bytes inline (IPs,
//! statuses, methods); longer keys are copied once into an arena.
//!
//! * Exact mode counts every key: memory grows with the number of distinct keys.
//! * Bounded mode is Space-Saving (Metwally et al., 2005) with batch replacement: at most
//!   `capacity` counters; when full, the smallest half is dropped at once (O(1) amortised
//!   per new key instead of a heap operation per line) and `floor`, the largest count
//!   dropped so far, bounds the true count of any key not held. A new key starts at
//!   `floor + weight` with error `floor`, so every count is an upper bound, `count - err`
//!   is a lower bound, and every key whose true count exceeds `floor` is held.
//!
//! Memory in bounded mode is at most `capacity` slots of 64 bytes plus the table's
//! control bytes and long keys, whatever the input.

use std::hash::BuildHasher;

use hashbrown::HashTable;

/// Default number of counters in bounded mode: 8,192 slots of 64 bytes (512 KiB, which
/// stays in a core's L2 cache: counting is memory-latency bound, and a larger table was
/// measured 1.6x slower on the benchmark log with the same top 10).
pub const DEFAULT_CAPACITY: usize = 8_192;

/// The capacity for a top-`n` report: the default, or 16 counters per requested row.
pub fn capacity_for(n: usize) -> usize {
    DEFAULT_CAPACITY.max(n.saturating_mul(16))
}
/// Keys up to this many bytes are stored in the slot.
const INLINE: usize = 24;

/// Hashes keys with a fixed seed, so runs are deterministic.
pub fn hash_key(key: &[u8]) -> u64 {
    foldhash::fast::FixedState::with_seed(0x6f75_7470_6f73_7421).hash_one(key)
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u64,
    count: u64,
    /// Space-Saving overestimation bound.
    err: u64,
    /// A secondary tally kept beside the count (e.g. 5xx among errors, requests beside bytes).
    extra: u64,
    len: u32,
    /// The key when `len <= INLINE` (zero-padded), else its arena offset in the first 8 bytes.
    inline: [u8; INLINE],
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
    table: HashTable<Slot>,
    arena: Vec<u8>,
    capacity: Option<usize>,
    /// Largest count dropped (bounded mode): any key not held was seen at most this often.
    floor: u64,
    dropped: u64,
}

#[inline]
fn pad(key: &[u8]) -> Option<[u8; INLINE]> {
    let mut buf = [0u8; INLINE];
    buf.get_mut(..key.len())?.copy_from_slice(key);
    Some(buf)
}

impl Slot {
    fn key<'a>(&'a self, arena: &'a [u8]) -> &'a [u8] {
        let len = self.len as usize;
        if len <= INLINE {
            &self.inline[..len]
        } else {
            let mut off = [0u8; 8];
            off.copy_from_slice(&self.inline[..8]);
            let off = u64::from_le_bytes(off) as usize;
            &arena[off..off + len]
        }
    }

    #[inline]
    fn matches(&self, hash: u64, key: &[u8], padded: Option<&[u8; INLINE]>, arena: &[u8]) -> bool {
        if self.hash != hash || self.len as usize != key.len() {
            return false;
        }
        match padded {
            Some(p) => &self.inline == p,
            None => self.key(arena) == key,
        }
    }
}

impl Counter {
    /// An exact counter (`capacity == None`) or a bounded one.
    pub fn new(capacity: Option<usize>) -> Counter {
        Counter {
            table: HashTable::new(),
            arena: Vec::new(),
            capacity: capacity.map(|c| c.max(2)),
            floor: 0,
            dropped: 0,
        }
    }

    /// Number of distinct keys held.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// True when bounded mode has dropped keys, i.e. counts may be approximate.
    pub fn is_approximate(&self) -> bool {
        self.floor > 0 || self.dropped > 0
    }

    /// Upper bound on the true count of any key not held (0 when exact).
    pub fn error_bound(&self) -> u64 {
        self.floor
    }

    /// Adds `weight` to `key`'s count and `extra` to its secondary tally.
    #[inline]
    pub fn add(&mut self, key: &[u8], weight: u64, extra: u64) {
        let hash = hash_key(key);
        let floor = self.floor;
        self.add_hashed(key, hash, weight, extra, floor);
    }

    /// Adds to `key`; a new key starts with `pad_new` added to its count and error.
    #[inline]
    fn add_hashed(&mut self, key: &[u8], hash: u64, weight: u64, extra: u64, pad_new: u64) {
        let padded = pad(key);
        let arena = &self.arena;
        if let Some(slot) = self
            .table
            .find_mut(hash, |s| s.matches(hash, key, padded.as_ref(), arena))
        {
            slot.count += weight;
            slot.extra += extra;
            return;
        }
        let mut pad_new = pad_new;
        if self.capacity.is_some_and(|c| self.table.len() >= c) {
            self.prune();
            pad_new = pad_new.max(self.floor);
        }
        let inline = match padded {
            Some(p) => p,
            None => {
                let mut buf = [0u8; INLINE];
                buf[..8].copy_from_slice(&(self.arena.len() as u64).to_le_bytes());
                self.arena.extend_from_slice(key);
                buf
            }
        };
        let slot = Slot {
            hash,
            count: weight + pad_new,
            err: pad_new,
            extra,
            len: key.len() as u32,
            inline,
        };
        self.table.insert_unique(hash, slot, |s| s.hash);
    }

    /// Drops the smaller half of the counters and raises `floor` to the largest dropped.
    fn prune(&mut self) {
        let mut slots: Vec<Slot> = self.table.drain().collect();
        let keep = slots.len() / 2;
        slots.select_nth_unstable_by(keep, |a, b| b.count.cmp(&a.count).then(a.hash.cmp(&b.hash)));
        let dropped = slots.split_off(keep);
        self.floor = dropped
            .iter()
            .map(|s| s.count)
            .max()
            .unwrap_or(0)
            .max(self.floor);
        self.dropped += dropped.len() as u64;
        let mut arena = Vec::new();
        for mut s in slots {
            if s.len as usize > INLINE {
                let off = arena.len() as u64;
                arena.extend_from_slice(s.key(&self.arena));
                s.inline[..8].copy_from_slice(&off.to_le_bytes());
            }
            self.table.insert_unique(s.hash, s, |s| s.hash);
        }
        self.arena = arena;
    }

    fn contains(&self, key: &[u8], hash: u64) -> bool {
        let padded = pad(key);
        self.table
            .find(hash, |s| s.matches(hash, key, padded.as_ref(), &self.arena))
            .is_some()
    }

    /// Merges `other` into `self`. A key missing from one side may have been seen up to
    /// that side's `floor`, so it gets that floor added to its count and error (the
    /// mergeable-summaries rule): counts stay upper bounds, `count - err` lower bounds.
    pub fn merge(&mut self, other: Counter) {
        let (mine, theirs) = (self.floor, other.floor);
        if theirs > 0 {
            let arena = &self.arena;
            for s in self.table.iter_mut() {
                if !other.contains(s.key(arena), s.hash) {
                    s.count += theirs;
                    s.err += theirs;
                }
            }
        }
        for s in other.table.iter() {
            let key = s.key(&other.arena);
            // Keys dropped earlier in this merge are bounded by the current floor.
            let pad_new = if self.contains(key, s.hash) {
                0
            } else {
                self.floor
            };
            self.add_merged(key, s, pad_new);
        }
        self.floor = self.floor.max(mine + theirs);
        self.dropped += other.dropped;
    }

    fn add_merged(&mut self, key: &[u8], s: &Slot, pad_new: u64) {
        self.add_hashed(key, s.hash, s.count, s.extra, pad_new);
        if s.err > 0 {
            let (padded, hash, arena) = (pad(key), s.hash, &self.arena);
            if let Some(t) = self
                .table
                .find_mut(hash, |t| t.matches(hash, key, padded.as_ref(), arena))
            {
                t.err += s.err;
            }
        }
    }

    /// The `n` largest counts, ties broken by key, largest first.
    pub fn top(&self, n: usize) -> Vec<Counted> {
        let mut all: Vec<&Slot> = self.table.iter().collect();
        let by = |a: &&Slot, b: &&Slot| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.key(&self.arena).cmp(b.key(&self.arena)))
        };
        if n < all.len() {
            all.select_nth_unstable_by(n, by);
            all.truncate(n);
        }
        all.sort_unstable_by(by);
        all.into_iter()
            .map(|s| Counted {
                key: s.key(&self.arena).to_vec(),
                count: s.count,
                err: s.err,
                extra: s.extra,
            })
            .collect()
    }

    /// Sum of all counts held.
    pub fn total(&self) -> u64 {
        self.table.iter().map(|s| s.count).sum()
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
        assert!(c.len() <= 4, "never exceeds its capacity");
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
