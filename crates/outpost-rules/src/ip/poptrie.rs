//! A poptrie (Asai & Ohara, SIGCOMM 2015): a longest-prefix-match table over
//! fixed-width keys, built once from a sorted prefix set and then read-only.
//! It answers with the *length* of the longest matching prefix: the prefix
//! itself is the key masked to that length, so no prefix array is read.
//!
//! Layout: a direct-pointing array indexed by the top `top_bits` of the key,
//! then nodes of stride 6. Each node holds two 64-bit maps: `children` (which
//! of the 64 slots continue into a child node) and `leaves` (where a new run
//! of equal leaf values starts among the other slots). Children and leaves of
//! a node are stored contiguously, so a slot's position is the base plus a
//! popcount of the map below it: no per-slot pointers, hence a node costs 32
//! bytes however many slots it covers, and a run of equal leaves one byte.
//! The first eight leaf runs live inside the node, so most lookups end in
//! the node's own cache line without a further memory access.

use std::marker::PhantomData;

/// Bits consumed per node: 6, so a node's slot maps are one `u64` each.
const STRIDE: u32 = 6;
/// Top-array entry flag: the low byte of the entry is a leaf, not a node index.
const LEAF: u32 = 1 << 31;
/// Leaf meaning "no prefix covers this key"; any other leaf is the matching
/// prefix length plus one.
pub(crate) const NONE: u8 = 0;
/// Leaf runs stored inside a node (one byte each) before spilling to `leaves`.
const INLINE: usize = 8;
/// Longest chain a skip node replaces, in bits: 30 (five levels), so the
/// path bits fit any `usize`. Chains of one level are not worth a skip node.
const MAX_SKIP: u32 = 5 * STRIDE;

/// An unsigned key read from the most significant bit down.
pub(crate) trait Key: Copy + Ord + std::fmt::Debug {
    /// Top-array width for large tables: a bigger array resolves the common
    /// prefix lengths (IPv4 /24 with 18 bits, IPv6 /32 with 16 + 3 x 6)
    /// in fewer node hops, at a fixed cost (1 MiB for 18 bits).
    const TOP_BITS_LARGE: u32;
    /// Top-array width from [`HUGE`] prefixes on. IPv6 takes 20 bits there
    /// (4 MiB, at most 32 bytes per prefix): /32 in 20 + 2 x 6, a hop less
    /// on every lookup below /26. Measured on 200k prefixes (12-06): hot
    /// set 35 -> 57 M/s, Zipf clients 8-19 -> 14-30 M/s; cold lookups
    /// trade the hop for a top array that no longer fits L2 (no clear
    /// change); 70 -> 88 bytes per prefix.
    const TOP_BITS_HUGE: u32;
    /// `width` bits (1..=32) starting `off` bits (less than the key width) from the top, as
    /// an index; bits past the end of the key read as zero.
    fn chunk(self, off: u32, width: u32) -> usize;
}

impl Key for u32 {
    const TOP_BITS_LARGE: u32 = 18;
    const TOP_BITS_HUGE: u32 = 18;
    #[inline(always)]
    fn chunk(self, off: u32, width: u32) -> usize {
        ((self << off) >> (Self::BITS - width)) as usize
    }
}

impl Key for u128 {
    const TOP_BITS_LARGE: u32 = 16;
    const TOP_BITS_HUGE: u32 = 20;
    /// Chunks inside the top 64 bits (every level above /64, where nearly
    /// all IPv6 prefixes end) shift one `u64`, not a `u128` pair.
    #[inline(always)]
    fn chunk(self, off: u32, width: u32) -> usize {
        if off + width <= 64 {
            let high = (self >> 64) as u64;
            ((high << off) >> (64 - width)) as usize
        } else {
            ((self << off) >> (Self::BITS - width)) as usize
        }
    }
}

/// One stride-6 node: 32 bytes, two to a cache line.
///
/// A node with `children == 0 && leaves == 0` (never a real node: its 64
/// slots are each a child or a leaf) is a *skip node*, which compresses a
/// chain of levels where every prefix below takes the same slot and none
/// ends (a lone IPv6 /48 under a /22 would otherwise cost four nodes):
/// `inline` holds the `leaf_base & 0xff` key bits the path follows, the
/// byte above them the leaf for keys off the path, and `child_base` the
/// node that continues it.
#[derive(Debug, Clone, Copy, Default)]
struct Node {
    /// Bit `s` set: slot `s` continues in a child node.
    children: u64,
    /// Bit `s` set: slot `s` is a leaf whose value differs from the previous leaf slot.
    leaves: u64,
    /// Index in `nodes` of the first child.
    child_base: u32,
    /// Index in `leaves` of leaf run number `INLINE` (the ninth).
    leaf_base: u32,
    /// Leaf runs 0..8, run `r` in byte `r`.
    inline: u64,
}

/// A read-only longest-prefix-match table mapping a key to the length plus
/// one of the longest prefix holding it (or [`NONE`]).
#[derive(Debug, Clone)]
pub(crate) struct Poptrie<K> {
    top_bits: u32,
    /// `1 << top_bits` entries: `LEAF | leaf` or a node index.
    top: Box<[u32]>,
    nodes: Vec<Node>,
    /// Leaf runs past the first `INLINE` of each node.
    leaves: Vec<u8>,
    key: PhantomData<K>,
}

/// Scratch state while building: the prefixes and the arrays being filled.
struct Builder<'a, K> {
    addrs: &'a [K],
    lens: &'a [u8],
    nodes: Vec<Node>,
    leaves: Vec<u8>,
}

/// Slots of a level that continue into a child node, each with the range of
/// prefixes under it: `(slot, lo, hi)`.
type Children = Vec<(usize, usize, usize)>;

impl<K: Key> Poptrie<K> {
    /// Builds from prefixes sorted by (address, length), deduplicated, with
    /// host bits zero and lengths at most the key width. Overlaps are fine:
    /// the longest prefix wins.
    pub(crate) fn build(addrs: &[K], lens: &[u8]) -> Self {
        debug_assert_eq!(addrs.len(), lens.len());
        let top_bits = top_bits_for::<K>(addrs.len());
        let mut b = Builder {
            addrs,
            lens,
            nodes: Vec::new(),
            leaves: Vec::new(),
        };
        let mut vals = vec![NONE; 1 << top_bits];
        let split = b.fill(&mut vals, 0, top_bits, 0, addrs.len());
        let mut top: Box<[u32]> = vals.iter().map(|&v| LEAF | u32::from(v)).collect();
        for (slot, lo, hi) in split {
            let idx = b.nodes.len();
            b.nodes.push(Node::default());
            b.node(idx, top_bits, lo, hi, vals[slot]);
            top[slot] = idx as u32;
        }
        b.nodes.shrink_to_fit();
        b.leaves.shrink_to_fit();
        Poptrie {
            top_bits,
            top,
            nodes: b.nodes,
            leaves: b.leaves,
            key: PhantomData,
        }
    }

    /// The longest prefix holding `key`, as its length plus one, or [`NONE`].
    #[inline]
    pub(crate) fn lookup(&self, key: K) -> u8 {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the callee only enables POPCNT, which this CPU has
            // (checked just above; the answer is cached after the first call).
            #[allow(unsafe_code)]
            return unsafe { self.lookup_popcnt(key) };
        }
        self.lookup_with(key)
    }

    /// [`lookup`](Self::lookup) compiled with the POPCNT instruction: x86-64
    /// without `-C target-cpu` counts bits in about 20 instructions, a
    /// fifth of a whole IPv4 lookup.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    fn lookup_popcnt(&self, key: K) -> u8 {
        self.lookup_with(key)
    }

    #[inline(always)]
    fn lookup_with(&self, key: K) -> u8 {
        let Some(&entry) = self.top.get(key.chunk(0, self.top_bits)) else {
            return NONE;
        };
        if entry & LEAF != 0 {
            return entry as u8;
        }
        let (mut idx, mut off) = (entry as usize, self.top_bits);
        loop {
            match self.step(key, idx, off) {
                Ok(next) => (idx, off) = next,
                Err(leaf) => return leaf,
            }
        }
    }

    /// `lookup` of each key, for `N` (at most 64) keys at once, level by
    /// level: every level's reads are prefetched for all keys before the
    /// first is used, so the cache misses of `N` lookups overlap, and the
    /// branchy step code then runs on lines already in L1 (a mispredicted
    /// branch no longer throws away loads in flight).
    #[inline]
    pub(crate) fn lookup_many<const N: usize>(&self, keys: &[K; N]) -> [u8; N] {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: as in `lookup`: POPCNT is present.
            #[allow(unsafe_code)]
            return unsafe { self.lookup_many_popcnt(keys) };
        }
        self.lookup_many_with(keys)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    fn lookup_many_popcnt<const N: usize>(&self, keys: &[K; N]) -> [u8; N] {
        self.lookup_many_with(keys)
    }

    #[inline(always)]
    fn lookup_many_with<const N: usize>(&self, keys: &[K; N]) -> [u8; N] {
        const { assert!(N <= 64, "one bit per key in a u64") };
        let mut out = [NONE; N];
        // Node index and bit offset of each key still going down.
        let mut idx = [0u32; N];
        let mut off = [self.top_bits; N];
        for key in keys {
            prefetch(&self.top, key.chunk(0, self.top_bits));
        }
        let mut pending = 0u64;
        for (i, ((key, out), idx)) in keys.iter().zip(&mut out).zip(&mut idx).enumerate() {
            let entry = self
                .top
                .get(key.chunk(0, self.top_bits))
                .map_or(LEAF, |&e| e);
            // A leaf entry is the answer; a node entry's low byte is
            // overwritten when its walk ends.
            *out = entry as u8;
            *idx = entry;
            prefetch(&self.nodes, (entry & !LEAF) as usize);
            pending |= u64::from(entry & LEAF == 0) << i;
        }
        while pending != 0 {
            let mut next = 0;
            let mut left = pending;
            while left != 0 {
                // `i < N`: only bits below N are ever set.
                let i = left.trailing_zeros() as usize % N;
                left &= left - 1;
                match self.step(keys[i], idx[i] as usize, off[i]) {
                    Ok((to, at)) => {
                        (idx[i], off[i]) = (to as u32, at);
                        prefetch(&self.nodes, to);
                        next |= 1 << i;
                    }
                    Err(leaf) => out[i] = leaf,
                }
            }
            pending = next;
        }
        out
    }

    /// One step down from node `idx` at bit `off`: the next node and its
    /// offset, or the answer.
    #[inline(always)]
    fn step(&self, key: K, idx: usize, off: u32) -> Result<(usize, u32), u8> {
        let Some(node) = self.nodes.get(idx) else {
            return Err(NONE);
        };
        if node.children | node.leaves == 0 {
            // A skip node (see `Node`): off the one path, the default holds.
            let len = node.leaf_base & 0xff;
            if key.chunk(off, len) as u64 != node.inline {
                return Err((node.leaf_base >> 8) as u8);
            }
            return Ok((node.child_base as usize, off + len));
        }
        let bit = 1u64 << (key.chunk(off, STRIDE) & 63);
        let upto = bit | (bit - 1);
        if node.children & bit == 0 {
            return Err(self.leaf(node, (node.leaves & upto).count_ones() as usize));
        }
        let rank = (node.children & upto).count_ones() as usize;
        Ok((node.child_base as usize + rank - 1, off + STRIDE))
    }

    /// Leaf run number `rank` (1-based) of `node`. A leaf slot always has a
    /// run start at or below it, so `rank >= 1`; a broken table would give
    /// `NONE`, not a panic.
    #[inline(always)]
    fn leaf(&self, node: &Node, rank: usize) -> u8 {
        let r = rank.wrapping_sub(1);
        if r < INLINE {
            return (node.inline >> (r * 8)) as u8;
        }
        let i = (node.leaf_base as usize).wrapping_add(r - INLINE);
        self.leaves.get(i).copied().unwrap_or(NONE)
    }

    /// Heap bytes held by the table (excluding `self`).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.top.len() * size_of::<u32>()
            + self.nodes.capacity() * size_of::<Node>()
            + self.leaves.capacity()
    }
}

/// Asks the CPU to bring `slice[i]` (the last element if `i` is past the
/// end) towards L1 without waiting for it. A hint only: it changes no value
/// and never faults, and it has no branch, so a hard-to-predict index costs
/// nothing.
#[inline(always)]
fn prefetch<T>(slice: &[T], i: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let at = slice
            .as_ptr()
            .wrapping_add(i.min(slice.len().saturating_sub(1)));
        // SAFETY: `_mm_prefetch` (SSE, in every x86-64 baseline) reads
        // nothing into the program and does not fault on any address,
        // dangling (an empty slice) included.
        #[allow(unsafe_code)]
        unsafe {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            _mm_prefetch::<_MM_HINT_T0>(at.cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (slice, i);
}

/// Prefixes from which a table takes [`Key::TOP_BITS_HUGE`]. 131,072.
const HUGE: usize = 1 << 17;

/// Top-array width by table size, so memory scales with the list: a 10-entry
/// list gets 64 slots (256 bytes), a large table the full direct array.
fn top_bits_for<K: Key>(n: usize) -> u32 {
    match n {
        0..256 => STRIDE,
        256..16384 => 12,
        16384..HUGE => K::TOP_BITS_LARGE,
        _ => K::TOP_BITS_HUGE,
    }
}

impl<K: Key> Builder<'_, K> {
    /// Fills `vals` (one entry per slot of a `width`-bit level at bit `off`)
    /// from the prefixes `lo..hi` that end inside this level, and returns the
    /// slots whose prefixes go deeper, with their prefix ranges.
    ///
    /// Sorting by (address, length) puts every prefix after those containing
    /// it, so plain overwriting in order leaves the longest match in each
    /// slot, and the long prefixes under one slot are contiguous.
    fn fill(&self, vals: &mut [u8], off: u32, width: u32, lo: usize, hi: usize) -> Children {
        let mut children: Vec<(usize, usize, usize)> = Vec::new();
        for i in lo..hi {
            let (addr, len8) = (self.addrs[i], self.lens[i]);
            let len = u32::from(len8);
            let slot = addr.chunk(off, width);
            if len > off + width {
                match children.last_mut() {
                    Some(last) if last.0 == slot => last.2 = i + 1,
                    _ => children.push((slot, i, i + 1)),
                }
                continue;
            }
            let span = 1usize << (off + width - len);
            if let Some(run) = vals.get_mut(slot..slot + span) {
                run.fill(len8 + 1);
            }
        }
        children
    }

    /// Makes node `idx` a skip node over `skip` bits from `off`, continuing
    /// in a new node at `off + skip`.
    fn skip_node(&mut self, idx: usize, off: u32, skip: u32, lo: usize, hi: usize, default: u8) {
        let child = self.nodes.len();
        self.nodes.push(Node::default());
        self.nodes[idx] = Node {
            inline: self.addrs[lo].chunk(off, skip) as u64,
            child_base: child as u32,
            leaf_base: skip | u32::from(default) << 8,
            ..Node::default()
        };
        self.node(child, off + skip, lo, hi, default);
    }

    /// Bits from `off` that a skip node could cover (a multiple of `STRIDE`,
    /// at most `MAX_SKIP`): levels where all of `lo..hi` take the same slot
    /// and none of them ends.
    fn skippable(&self, off: u32, lo: usize, hi: usize) -> u32 {
        let min_len = self.lens[lo..hi].iter().min().map_or(0, |&l| u32::from(l));
        let (first, last) = (self.addrs[lo], self.addrs[hi - 1]);
        let mut skip = 0;
        while skip < MAX_SKIP
            && min_len > off + skip + STRIDE
            && first.chunk(off + skip, STRIDE) == last.chunk(off + skip, STRIDE)
        {
            skip += STRIDE;
        }
        skip
    }

    /// Builds node `idx` at bit `off` from the prefixes `lo..hi` (all longer
    /// than `off` and inside the node), slots defaulting to `default`.
    fn node(&mut self, idx: usize, off: u32, lo: usize, hi: usize, default: u8) {
        let skip = self.skippable(off, lo, hi);
        if skip >= 2 * STRIDE {
            return self.skip_node(idx, off, skip, lo, hi, default);
        }
        let mut vals = [default; 1 << STRIDE];
        let split = self.fill(&mut vals, off, STRIDE, lo, hi);
        let children = split.iter().fold(0u64, |m, c| m | 1 << c.0);
        let leaf_base = self.leaves.len();
        let (mut leaves, mut inline, mut runs) = (0u64, 0u64, 0);
        let mut prev = None;
        for (slot, &v) in vals.iter().enumerate() {
            if children & (1 << slot) == 0 && prev != Some(v) {
                leaves |= 1 << slot;
                if runs < INLINE {
                    inline |= u64::from(v) << (runs * 8);
                } else {
                    self.leaves.push(v);
                }
                runs += 1;
                prev = Some(v);
            }
        }
        let child_base = self.nodes.len();
        self.nodes.resize(child_base + split.len(), Node::default());
        self.nodes[idx] = Node {
            children,
            leaves,
            child_base: child_base as u32,
            leaf_base: leaf_base as u32,
            inline,
        };
        for (k, &(slot, clo, chi)) in split.iter().enumerate() {
            self.node(child_base + k, off + STRIDE, clo, chi, vals[slot]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two nodes per cache line is what the layout is sized for.
    #[test]
    fn node_is_32_bytes() {
        assert_eq!(size_of::<Node>(), 32);
    }

    /// A lone /128 under a 6-bit top array: skip nodes of 30 bits take it
    /// from bit 6 to 126 in four hops, plus the node holding it.
    #[test]
    fn lone_long_prefix_uses_skip_nodes() {
        let addr = 0x2001_0db8_u128 << 96 | 1;
        let t = Poptrie::build(&[addr], &[128]);
        assert_eq!(t.nodes.len(), 5);
        assert_eq!(t.lookup(addr), 129);
        assert_eq!(t.lookup(addr ^ 1 << 40), NONE);
        assert_eq!(t.lookup(addr ^ 1), NONE);
    }

    #[test]
    fn table_memory_follows_size() {
        let small = Poptrie::<u32>::build(&[0x0a00_0000], &[8]);
        assert_eq!(small.top.len(), 64);
        assert!(small.memory_bytes() < 512);
    }
}
