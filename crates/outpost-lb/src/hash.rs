//! The fixed hashes behind consistent hashing. Every function here is
//! xxh3-64 (the xxHash spec, version 0.8) with a stated seed, so a mapping
//! computed by one process, machine or crate version is the mapping every
//! other computes. Changing anything in this file remaps every key: the
//! golden tests at the bottom exist to make that a deliberate act.

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// Seed of the Maglev offset hash of a backend id: 0.
pub const MAGLEV_OFFSET_SEED: u64 = 0;
/// Seed of the Maglev skip hash of a backend id: 1.
pub const MAGLEV_SKIP_SEED: u64 = 1;
/// High half of the seed of ring points (`"RING"` in ASCII); the low half is
/// the virtual-node number.
pub const RING_SEED_BASE: u64 = 0x5249_4e47 << 32;

/// The hash of a request key (a header value, a cookie, a client address):
/// unseeded xxh3-64 of its bytes. [`crate::HashOn::hash`] uses it; callers
/// with keys of their own should too.
pub fn hash_key(bytes: &[u8]) -> u64 {
    xxh3_64(bytes)
}

/// Maglev's permutation parameters for backend `id` in a table of prime size
/// `m` (> 1): `offset = h0(id) mod m` and `skip = h1(id) mod (m - 1) + 1`,
/// with `h0`/`h1` xxh3-64 seeded [`MAGLEV_OFFSET_SEED`]/[`MAGLEV_SKIP_SEED`].
/// The backend's `j`-th preferred slot is `(offset + j * skip) mod m`.
pub fn maglev_offset_skip(id: &str, m: u64) -> (u64, u64) {
    let offset = xxh3_64_with_seed(id.as_bytes(), MAGLEV_OFFSET_SEED) % m;
    let skip = xxh3_64_with_seed(id.as_bytes(), MAGLEV_SKIP_SEED) % (m - 1) + 1;
    (offset, skip)
}

/// Position on the hash ring of virtual node `replica` of backend `id`:
/// xxh3-64 of the id seeded `RING_SEED_BASE | replica`.
pub fn ring_point(id: &str, replica: u32) -> u64 {
    xxh3_64_with_seed(id.as_bytes(), RING_SEED_BASE | u64::from(replica))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden values: if one of these changes, every deployed mapping moves.
    #[test]
    fn hashes_are_pinned() {
        assert_eq!(hash_key(b""), GOLDEN[0]);
        assert_eq!(hash_key(b"10.0.0.1:8080"), GOLDEN[1]);
        assert_eq!(
            maglev_offset_skip("10.0.0.1:8080", 65_537),
            (GOLDEN[2], GOLDEN[3])
        );
        assert_eq!(ring_point("10.0.0.1:8080", 7), GOLDEN[4]);
    }

    /// xxh3-64 of "" is the spec's published 0x2D06800538D394C2.
    const GOLDEN: [u64; 5] = [
        0x2D06_8005_38D3_94C2,
        13_138_588_514_222_100_497,
        50_725,
        26_703,
        12_380_654_755_976_360_275,
    ];
}
