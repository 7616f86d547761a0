//! A poptrie (Asai & Ohara, SIGCOMM 2015): a longest-prefix-match table over
//! fixed-width keys, built once from a sorted prefix set and then read-only.
//!
//! Layout: a direct-pointing array indexed by the top `top_bits` of the key,
//! then nodes of stride 6. Each node holds two 64-bit maps: `children` (which
//! of the 64 slots continue into a child node) and `leaves` (where a new run
//! of equal leaf values starts among the other slots). Children and leaves of
//! a node are stored contiguously, so a slot's position is the base plus a
//! popcount of the map below it: no per-slot pointers, hence a node costs 24
//! bytes however many slots it covers, and runs of equal leaves cost one
//! `u32`.

use std::marker::PhantomData;

/// Bits consumed per node: 6, so a node's slot maps are one `u64` each.
const STRIDE: u32 = 6;
/// Top-array entry flag: the rest of the entry is a leaf value, not a node index.
const LEAF: u32 = 1 << 31;
/// Leaf value meaning "no prefix covers this key". Prefix indices stay below it.
pub(crate) const NONE: u32 = LEAF - 1;

/// An unsigned key read from the most significant bit down.
pub(crate) trait Key: Copy + Ord + std::fmt::Debug {
    /// Top-array width for large tables: a bigger array resolves the common
    /// prefix lengths (IPv4 /24 with 18 bits, IPv6 /32 with 16 + 2 x 6 + ...)
    /// in fewer node hops, at a fixed cost (1 MiB for 18 bits).
    const TOP_BITS_LARGE: u32;
    /// `width` bits (1..=32) starting `off` bits (less than the key width) from the top, as
    /// an index; bits past the end of the key read as zero.
    fn chunk(self, off: u32, width: u32) -> usize;
}

impl Key for u32 {
    const TOP_BITS_LARGE: u32 = 18;
    #[inline(always)]
    fn chunk(self, off: u32, width: u32) -> usize {
        ((self << off) >> (Self::BITS - width)) as usize
    }
}

impl Key for u128 {
    const TOP_BITS_LARGE: u32 = 16;
    #[inline(always)]
    fn chunk(self, off: u32, width: u32) -> usize {
        ((self << off) >> (Self::BITS - width)) as usize
    }
}

/// One stride-6 node: 24 bytes.
#[derive(Debug, Clone, Copy, Default)]
struct Node {
    /// Bit `s` set: slot `s` continues in a child node.
    children: u64,
    /// Bit `s` set: slot `s` is a leaf whose value differs from the previous leaf slot.
    leaves: u64,
    /// Index in `nodes` of the first child.
    child_base: u32,
    /// Index in `leaves` of the first leaf run.
    leaf_base: u32,
}

/// A read-only longest-prefix-match table mapping a key to the index of the
/// longest prefix holding it (or [`NONE`]).
#[derive(Debug, Clone)]
pub(crate) struct Poptrie<K> {
    top_bits: u32,
    /// `1 << top_bits` entries: `LEAF | value` or a node index.
    top: Box<[u32]>,
    nodes: Vec<Node>,
    leaves: Vec<u32>,
    key: PhantomData<K>,
}

/// Scratch state while building: the prefixes and the arrays being filled.
struct Builder<'a, K> {
    addrs: &'a [K],
    lens: &'a [u8],
    nodes: Vec<Node>,
    leaves: Vec<u32>,
}

/// Slots of a level that continue into a child node, each with the range of
/// prefixes under it: `(slot, lo, hi)`.
type Children = Vec<(usize, usize, usize)>;

impl<K: Key> Poptrie<K> {
    /// Builds from prefixes sorted by (address, length), deduplicated, with
    /// host bits zero and at most `NONE` of them; prefix `i` is reported as
    /// value `i`. Overlaps are fine: the longest prefix wins.
    pub(crate) fn build(addrs: &[K], lens: &[u8]) -> Self {
        debug_assert_eq!(addrs.len(), lens.len());
        debug_assert!(addrs.len() < NONE as usize);
        let top_bits = top_bits_for::<K>(addrs.len());
        let mut b = Builder {
            addrs,
            lens,
            nodes: Vec::new(),
            leaves: Vec::new(),
        };
        let mut vals = vec![NONE; 1 << top_bits];
        let split = b.fill(&mut vals, 0, top_bits, 0, addrs.len());
        let mut top: Box<[u32]> = vals.iter().map(|&v| LEAF | v).collect();
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

    /// The value of the longest prefix holding `key`, or [`NONE`].
    #[inline]
    pub(crate) fn lookup(&self, key: K) -> u32 {
        let Some(&entry) = self.top.get(key.chunk(0, self.top_bits)) else {
            return NONE;
        };
        if entry & LEAF != 0 {
            return entry & !LEAF;
        }
        let mut idx = entry as usize;
        let mut off = self.top_bits;
        while let Some(node) = self.nodes.get(idx) {
            let bit = 1u64 << (key.chunk(off, STRIDE) & 63);
            let upto = bit | (bit - 1);
            if node.children & bit == 0 {
                // A leaf slot always has a run start at or below it, so the
                // count is >= 1; `wrapping_sub` keeps a broken table panic-free.
                let rank = (node.leaves & upto).count_ones() as usize;
                let i = (node.leaf_base as usize + rank).wrapping_sub(1);
                return self.leaves.get(i).copied().unwrap_or(NONE);
            }
            let rank = (node.children & upto).count_ones() as usize;
            idx = node.child_base as usize + rank - 1;
            off += STRIDE;
        }
        NONE
    }

    /// Heap bytes held by the table (excluding `self`).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.top.len() * size_of::<u32>()
            + self.nodes.capacity() * size_of::<Node>()
            + self.leaves.capacity() * size_of::<u32>()
    }
}

/// Top-array width by table size, so memory scales with the list: a 10-entry
/// list gets 64 slots (256 bytes), a large table the full direct array.
fn top_bits_for<K: Key>(n: usize) -> u32 {
    match n {
        0..256 => STRIDE,
        256..16384 => 12,
        _ => K::TOP_BITS_LARGE,
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
    fn fill(&self, vals: &mut [u32], off: u32, width: u32, lo: usize, hi: usize) -> Children {
        let mut children: Vec<(usize, usize, usize)> = Vec::new();
        for i in lo..hi {
            let (addr, len) = (self.addrs[i], u32::from(self.lens[i]));
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
                run.fill(i as u32);
            }
        }
        children
    }

    /// Builds node `idx` at bit `off` from the prefixes `lo..hi` (all longer
    /// than `off` and inside the node), slots defaulting to `default`.
    fn node(&mut self, idx: usize, off: u32, lo: usize, hi: usize, default: u32) {
        let mut vals = [default; 1 << STRIDE];
        let split = self.fill(&mut vals, off, STRIDE, lo, hi);
        let children = split.iter().fold(0u64, |m, c| m | 1 << c.0);
        let leaf_base = self.leaves.len();
        let mut leaves = 0u64;
        let mut prev = None;
        for (slot, &v) in vals.iter().enumerate() {
            if children & (1 << slot) == 0 && prev != Some(v) {
                leaves |= 1 << slot;
                self.leaves.push(v);
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
        };
        for (k, &(slot, clo, chi)) in split.iter().enumerate() {
            self.node(child_base + k, off + STRIDE, clo, chi, vals[slot]);
        }
    }
}
