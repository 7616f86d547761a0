//! IP prefix tables (longest-prefix match) and named IP lists.
//!
//! PLACEHOLDER IMPLEMENTATION: the public API below is the contract the
//! rest of Outpost codes against; the internals (a linear scan) are to be
//! replaced by fast LPM tables (DIR-24-8 / poptrie class for IPv4, a fast
//! trie for IPv6).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

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
    pub fn addr(&self) -> IpAddr {
        self.addr
    }
    pub fn len(&self) -> u8 {
        self.len
    }
    /// Whether `ip` is inside this prefix (IPv4-mapped IPv6 matches IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, crate::request::unmap(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(u32::from(net).into(), u32::from(ip).into(), self.len, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(u128::from(net), u128::from(ip), self.len, 128)
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

fn mask(x: u128, len: u8, bits: u8) -> u128 {
    if len == 0 {
        return 0;
    }
    let keep = u128::MAX << (128 - u32::from(len));
    (x << (128 - u32::from(bits))) & keep >> (128 - u32::from(bits))
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
/// longest prefix that holds it".
#[derive(Debug, Clone, Default)]
pub struct IpList {
    prefixes: Vec<Cidr>,
}

impl IpList {
    pub fn new(prefixes: impl IntoIterator<Item = Cidr>) -> Self {
        IpList {
            prefixes: prefixes.into_iter().collect(),
        }
    }
    /// Whether any prefix holds `ip`; IPv4-mapped IPv6 addresses match IPv4 entries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.longest_match(ip).is_some()
    }
    /// The longest prefix holding `ip`.
    pub fn longest_match(&self, ip: IpAddr) -> Option<Cidr> {
        self.prefixes
            .iter()
            .filter(|c| c.contains(ip))
            .max_by_key(|c| c.len)
            .copied()
    }
    /// Number of distinct prefixes.
    pub fn len(&self) -> usize {
        self.prefixes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
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

/// Parses a list file: one address or CIDR per line, `#` starts a comment,
/// blank lines ignored. Returns the good entries and every bad line.
pub fn parse_list(text: &str) -> (Vec<Cidr>, Vec<ListLineError>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let entry = line.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        match entry.parse() {
            Ok(c) => good.push(c),
            Err(e) => bad.push(ListLineError {
                line: i + 1,
                message: CidrError::to_string(&e),
            }),
        }
    }
    (good, bad)
}
