//! IP prefixes ([`Cidr`]), named IP lists ([`IpList`], [`Lists`]) with
//! longest-prefix-match lookups, and the list-file parser ([`parse_list`]).
//!
//! # Structure
//!
//! Each [`IpList`] holds one table per address family, both a *poptrie*
//! (Asai & Ohara, SIGCOMM 2015; see `ip/poptrie.rs`): a direct-pointing array
//! indexed by the top bits of the address, then stride-6 nodes whose 64 slots
//! are described by two `u64` bitmaps (child here? / new leaf run here?) and
//! located by popcount. A leaf is the matching prefix's *length*: the prefix
//! is the address masked to it, so no prefix array is read. Why this:
//!
//! - **Few memory reads**: on this class of machine a lookup costs what its
//!   cache misses cost. IPv4 /24 and shorter resolve in the top array (18
//!   bits on large tables) plus one node, whose first eight leaf runs sit in
//!   the node itself; /32 takes at most three nodes. Skip nodes compress
//!   chains where one path continues and nothing ends, so a lone IPv6 /48
//!   costs three hops rather than six. Each hop is a load, a bit test and a
//!   popcount: no hashing, no whole-key comparisons.
//! - **Compact**: a node is 32 bytes whatever its fan-out and a leaf run is
//!   one byte (runs of equal lengths merge), so 1M IPv4 prefixes take about
//!   9 bytes each, where DIR-24-8 costs 64 MiB for any list and a binary
//!   trie ~34 bytes/prefix (numbers in `docs/ip-lists.md`).
//! - **Scales with the list**: the top array is 64 entries (256 bytes) under
//!   256 prefixes, 4096 entries (16 KiB) under 16384, and 2^18 (IPv4, 1 MiB)
//!   or 2^16 (IPv6, 256 KiB) above; IPv6 tables of 131,072 prefixes or more
//!   take 2^20 (4 MiB, a node hop less). Dozens of small lists stay cheap.
//! - **One structure for both families**, generic over the key width. A
//!   sorted-range array with binary search was the IPv6 alternative: as
//!   compact, but ~19 dependent probes for 200k prefixes against three or
//!   four node hops here.
//!
//! Lookups take O(W / 6) hops (W = 32 or 128) and never allocate.
//! [`IpList::contains_many`] walks 32 lookups level by level and prefetches
//! each level's reads for all of them before using the first, so their
//! cache misses overlap (on a table larger than the caches, 1.3-1.7x the
//! throughput of one-by-one lookups). On x86-64 the lookup code is compiled
//! twice and picks the copy using the POPCNT instruction when the CPU has
//! it (every x86-64 CPU since 2008); the baseline target counts bits in ~20
//! instructions, which made up a fifth of an IPv4 lookup. These are the
//! crate's only `unsafe` blocks (the prefetch hint and the two calls into
//! the POPCNT copies), each next to its reason.
//!
//! Building sorts the prefixes (O(n log n)) and visits each once per level
//! it crosses: ~0.1 s for 1M IPv4 prefixes. Tables are read-only: a changed
//! list is rebuilt and swapped in whole.
//!
//! # IPv4-mapped IPv6
//!
//! Lookups unmap `::ffff:a.b.c.d` to `a.b.c.d` first, so it matches IPv4
//! entries; list entries in mapped form (`::ffff:10.0.0.0/104`, length 96 or
//! more) are stored as their IPv4 equivalent (`10.0.0.0/8`). IPv6 entries
//! shorter than /96 (such as `::/0`) do not match IPv4 clients.
//!
//! # Limits
//!
//! A list file holds at most [`MAX_LIST_ENTRIES`] entries (4,194,304) of at
//! most [`MAX_ENTRY_LEN`] bytes (64) each, and reports at most
//! [`MAX_REPORTED_ERRORS`] bad lines (100). [`IpList::new`] itself takes any
//! number of prefixes (memory runs out first).

mod poptrie;

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::Arc;

use poptrie::{Key, NONE, Poptrie};

/// Most entries one list file may hold: 4,194,304 (4 Mi), four times a full
/// IPv4 routing table, ~100 MiB of file. Lines past it are reported as one
/// error and ignored, so a runaway file cannot exhaust memory.
pub const MAX_LIST_ENTRIES: usize = 1 << 22;

/// Longest entry, in bytes after comment and whitespace removal: 64. The
/// longest valid one (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128`)
/// is 49 bytes; longer lines are rejected unparsed and quoted truncated.
pub const MAX_ENTRY_LEN: usize = 64;

/// Most bad lines [`parse_list`] reports one by one: 100. The rest are
/// counted in one final error, so a wrong file (a binary, a CSV) gives a
/// readable report rather than millions of lines.
pub const MAX_REPORTED_ERRORS: usize = 100;

/// How many bytes of a rejected entry an error message quotes: 40.
const QUOTE_LEN: usize = 40;

/// An IPv4 or IPv6 prefix (`10.0.0.0/8`, `2001:db8::/32`); a bare address is
/// a full-length prefix. Host bits must be zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

/// Why a prefix could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("not an IP address or CIDR block: {0:?}")]
    Syntax(String),
    #[error("prefix length {len} is longer than {max} bits")]
    Length { len: u32, max: u8 },
    #[error("{0} has bits set after the prefix length; did you mean {1}?")]
    HostBits(String, Cidr),
}

impl Cidr {
    /// A prefix of `len` bits at `addr`; errors if `len` is longer than the
    /// family allows or `addr` has bits set past `len`.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, CidrError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(CidrError::Length {
                len: len.into(),
                max,
            });
        }
        let c = Cidr { addr, len };
        let masked = c.masked();
        if masked != c {
            return Err(CidrError::HostBits(format!("{addr}/{len}"), masked));
        }
        Ok(c)
    }
    /// A prefix from parts already known to be valid (from a table).
    fn from_parts(addr: IpAddr, len: u8) -> Self {
        Cidr { addr, len }
    }
    /// The IPv4 form of an IPv4-mapped prefix (`::ffff:10.0.0.0/104` is
    /// `10.0.0.0/8`); any other prefix unchanged. Lookups unmap addresses, so
    /// this is the form in which a mapped entry can match.
    pub fn unmapped(self) -> Cidr {
        match self.addr {
            IpAddr::V6(a) if self.len >= 96 => match a.to_ipv4_mapped() {
                Some(v4) => Cidr::from_parts(v4.into(), self.len - 96),
                None => self,
            },
            _ => self,
        }
    }
    /// The network address (host bits zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }
    /// The prefix length in bits (0-32 for IPv4, 0-128 for IPv6).
    #[expect(
        clippy::len_without_is_empty,
        reason = "a prefix length in bits, not a collection size"
    )]
    pub fn len(&self) -> u8 {
        self.len
    }
    /// Whether `ip` is inside this prefix (IPv4-mapped IPv6 matches IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let Cidr { addr, len } = self.unmapped();
        match (addr, crate::request::unmap(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(u32::from(net).into(), u32::from(ip).into(), len, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(u128::from(net), u128::from(ip), len, 128)
            }
            _ => false,
        }
    }
    fn masked(self) -> Cidr {
        let addr = match self.addr {
            IpAddr::V4(a) => IpAddr::V4((mask(u32::from(a).into(), self.len, 32) as u32).into()),
            IpAddr::V6(a) => IpAddr::V6(mask(u128::from(a), self.len, 128).into()),
        };
        Cidr {
            addr,
            len: self.len,
        }
    }
}

/// `x` (a `bits`-wide address in the low bits) with all but its top `len`
/// bits cleared.
fn mask(x: u128, len: u8, bits: u8) -> u128 {
    let host = 128 - u32::from(bits);
    let keep = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    ((x << host) & keep) >> host
}

fn prefix_eq(a: u128, b: u128, len: u8, bits: u8) -> bool {
    mask(a, len, bits) == mask(b, len, bits)
}

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, CidrError> {
        let syntax = || CidrError::Syntax(s.to_owned());
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| syntax())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) => {
                // Digits only (`u32::from_str` would take `+8`), and at most
                // three: every valid length fits, and overflow cannot occur.
                if l.is_empty() || l.len() > 3 || !l.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(syntax());
                }
                let n: u32 = l.parse().map_err(|_| syntax())?;
                if n > u32::from(max) {
                    return Err(CidrError::Length { len: n, max });
                }
                n as u8
            }
            None => max,
        };
        Cidr::new(addr, len)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// A set of prefixes answering "is this address in the set" and "which is the
/// longest prefix that holds it", from one poptrie per address family.
///
/// `Send + Sync`; cloning copies the tables (lists are shared by `Arc`, see
/// [`Lists`], and are rarely cloned).
#[derive(Debug, Clone)]
pub struct IpList {
    v4: Table<u32>,
    v6: Table<u128>,
}

/// One family's poptrie and its number of distinct prefixes. The prefixes
/// themselves are not kept: a match is the address masked to the length the
/// trie returns.
#[derive(Debug, Clone)]
struct Table<K> {
    count: usize,
    trie: Poptrie<K>,
}

/// A lookup key: the address as an integer, with IPv4-mapped IPv6
/// (`::ffff:a.b.c.d`) unmapped to IPv4.
#[derive(Clone, Copy)]
enum Addr {
    V4(u32),
    V6(u128),
}

impl Addr {
    /// One integer comparison for the mapped check: going through
    /// `Ipv6Addr::to_ipv4_mapped` and a new `IpAddr` cost ~35 instructions,
    /// a third of a whole batched IPv4 lookup.
    #[inline(always)]
    fn of(ip: IpAddr) -> Addr {
        match ip {
            IpAddr::V4(a) => Addr::V4(a.to_bits()),
            IpAddr::V6(a) => {
                let bits = a.to_bits();
                if bits >> 32 == 0xffff {
                    Addr::V4(bits as u32)
                } else {
                    Addr::V6(bits)
                }
            }
        }
    }
}

/// Addresses per batch in [`IpList::contains_many`]: 32. Enough lookups
/// in flight to overlap their cache misses; measured against 16 and 64 on
/// 1M IPv4 prefixes (2026-12-06), 32 was fastest on cold addresses and 16
/// and 64 within 10% of it.
const BATCH: usize = 32;

impl IpList {
    /// Builds the tables. Duplicates collapse, overlaps are fine (the longest
    /// prefix wins) and mapped IPv6 entries become IPv4 ones (see the
    /// module docs). List files are bounded by [`MAX_LIST_ENTRIES`] when
    /// parsed; this constructor is bounded by memory only.
    pub fn new(prefixes: impl IntoIterator<Item = Cidr>) -> Self {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for c in prefixes {
            match c.unmapped().addr {
                IpAddr::V4(a) => v4.push((u32::from(a), c.unmapped().len)),
                IpAddr::V6(a) => v6.push((u128::from(a), c.len)),
            }
        }
        IpList {
            v4: Table::new(v4),
            v6: Table::new(v6),
        }
    }

    /// Whether any prefix holds `ip`; IPv4-mapped IPv6 addresses match IPv4 entries.
    #[inline(always)]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match Addr::of(ip) {
            Addr::V4(a) => self.v4.trie.lookup(a) != NONE,
            Addr::V6(a) => self.v6.trie.lookup(a) != NONE,
        }
    }

    /// The longest prefix holding `ip` (mapped entries in their IPv4 form).
    #[inline(always)]
    pub fn longest_match(&self, ip: IpAddr) -> Option<Cidr> {
        match Addr::of(ip) {
            Addr::V4(a) => {
                let len = self.v4.trie.lookup(a).checked_sub(1)?;
                let keep = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                Some(Cidr::from_parts(Ipv4Addr::from(a & keep).into(), len))
            }
            Addr::V6(a) => {
                let len = self.v6.trie.lookup(a).checked_sub(1)?;
                let keep = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                Some(Cidr::from_parts(Ipv6Addr::from(a & keep).into(), len))
            }
        }
    }

    /// [`contains`](Self::contains) for each of `ips`, into `out` (as far as
    /// the shorter of the two goes). On lists larger than the caches this
    /// is 1.3-1.7x faster per address than calling `contains` in a loop:
    /// the lookups run in batches of 32 whose cache misses overlap.
    pub fn contains_many(&self, ips: &[IpAddr], out: &mut [bool]) {
        for (ips, out) in ips.chunks(BATCH).zip(out.chunks_mut(BATCH)) {
            let n = ips.len().min(out.len());
            let out = &mut out[..n];
            let mut v4 = [0u32; BATCH];
            let mut v6 = [0u128; BATCH];
            // Bit `i` set: `ips[i]` is IPv6 (after unmapping).
            let mut is6 = 0u64;
            for (i, ip) in ips.iter().enumerate() {
                match Addr::of(*ip) {
                    Addr::V4(a) => v4[i] = a,
                    Addr::V6(a) => (v6[i], is6) = (a, is6 | 1 << i),
                }
            }
            if is6 == 0 {
                let r4 = self.v4.trie.lookup_many(&v4);
                for (out, r) in out.iter_mut().zip(r4) {
                    *out = r != NONE;
                }
                continue;
            }
            // Skip the IPv4 lookups if the batch has no IPv4 address.
            let all = u64::MAX >> (64 - ips.len());
            let r4 = if is6 != all {
                self.v4.trie.lookup_many(&v4)
            } else {
                [NONE; BATCH]
            };
            let r6 = self.v6.trie.lookup_many(&v6);
            for (i, out) in out.iter_mut().enumerate() {
                let hit = if is6 >> i & 1 == 0 { r4[i] } else { r6[i] };
                *out = hit != NONE;
            }
        }
    }

    /// Number of distinct prefixes.
    pub fn len(&self) -> usize {
        self.v4.count + self.v6.count
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held by the list: prefixes and both tables.
    pub fn memory_bytes(&self) -> usize {
        self.v4.memory_bytes() + self.v6.memory_bytes()
    }
}

impl Default for IpList {
    fn default() -> Self {
        IpList::new([])
    }
}

impl<K: Key> Table<K> {
    fn new(mut prefixes: Vec<(K, u8)>) -> Self {
        prefixes.sort_unstable();
        prefixes.dedup();
        let (addrs, lens): (Vec<K>, Vec<u8>) = prefixes.into_iter().unzip();
        Table {
            count: addrs.len(),
            trie: Poptrie::build(&addrs, &lens),
        }
    }

    fn memory_bytes(&self) -> usize {
        self.trie.memory_bytes()
    }
}

/// Named lists, as the config defines them; rules refer to them as `$name`.
pub type Lists = HashMap<String, Arc<IpList>>;

/// One bad line in a list file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListLineError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

/// Parses a list file: one address or CIDR per line, `#` starts a comment
/// (whole-line or after an entry), blank lines and surrounding whitespace
/// ignored, CRLF or LF line ends, a leading UTF-8 BOM skipped. Returns the
/// good entries and the bad lines, bounded by [`MAX_LIST_ENTRIES`],
/// [`MAX_ENTRY_LEN`] and [`MAX_REPORTED_ERRORS`].
pub fn parse_list(text: &str) -> (Vec<Cidr>, Vec<ListLineError>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut good = Vec::new();
    let mut bad = Vec::new();
    let mut unreported = None;
    for (i, line) in text.lines().enumerate() {
        let entry = line.split_once('#').map_or(line, |(e, _)| e).trim();
        if entry.is_empty() {
            continue;
        }
        if good.len() == MAX_LIST_ENTRIES {
            bad.push(ListLineError {
                line: i + 1,
                message: format!(
                    "list has more than {MAX_LIST_ENTRIES} entries; this line and the rest are ignored"
                ),
            });
            break;
        }
        match parse_entry(entry) {
            Ok(c) => good.push(c),
            Err(_) if bad.len() >= MAX_REPORTED_ERRORS => {
                let (first, n) = unreported.unwrap_or((i + 1, 0));
                unreported = Some((first, n + 1));
            }
            Err(message) => bad.push(ListLineError {
                line: i + 1,
                message,
            }),
        }
    }
    if let Some((line, n)) = unreported {
        let message = format!("{n} more bad lines from here on, not shown");
        bad.push(ListLineError { line, message });
    }
    (good, bad)
}

/// One trimmed, non-empty list entry; the error is the line's message.
fn parse_entry(entry: &str) -> Result<Cidr, String> {
    if entry.len() > MAX_ENTRY_LEN {
        return Err(format!(
            "entry is {} bytes, longer than any address or CIDR block ({MAX_ENTRY_LEN} max): {:?}...",
            entry.len(),
            truncate(entry, QUOTE_LEN)
        ));
    }
    entry.parse().map_err(|e: CidrError| e.to_string())
}

/// The longest prefix of `s` of at most `max` bytes ending on a char boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
