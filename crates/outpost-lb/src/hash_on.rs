//! What the hashing policies hash: [`HashOn`] names one part of a request
//! (client address, a header, a cookie, the path, a query argument), parses
//! from its config spelling (`"header:x-user"`) and hashes that part with the
//! fixed [`crate::hash_key`], so every proxy maps a key the same way.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use http::header::{COOKIE, HeaderMap, HeaderName};
use xxhash_rust::xxh3::Xxh3;

use crate::hash::hash_key;

/// Longest name after `header:`, `cookie:` or `query:`: 256 bytes. Real
/// names are a few dozen; the cap keeps config errors short and bounded.
pub const MAX_KEY_NAME_LEN: usize = 256;

/// The part of a request that a hashing policy maps to a backend.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HashOn {
    /// The client's address; an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`)
    /// hashes as the IPv4 address. Always present.
    ClientIp,
    /// A request header's value. Several lines of the header hash as their
    /// comma-joined value (`a, b`), which HTTP defines them to mean.
    Header(HeaderName),
    /// A cookie's value, searched in every `Cookie` header; the first
    /// `name=value` pair with exactly this name wins, value taken raw.
    Cookie(String),
    /// The URI path, without the query. Always present.
    Path,
    /// A query argument's value: first `name=value` pair whose name is
    /// exactly this (not percent-decoded), value raw; `name` alone means an
    /// empty value.
    Query(String),
}

/// Why a `hash_on` string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseHashOnError {
    /// Not one of the known forms.
    #[error(
        "unknown hash key {0:?}: expected client_ip, path, header:NAME, cookie:NAME or query:NAME"
    )]
    Unknown(String),
    /// `header:`, `cookie:` or `query:` with nothing after it.
    #[error("{kind}: the name is empty")]
    EmptyName {
        /// `header`, `cookie` or `query`.
        kind: &'static str,
    },
    /// A name longer than [`MAX_KEY_NAME_LEN`].
    #[error("{kind}: the name is {len} bytes, at most {MAX_KEY_NAME_LEN} allowed")]
    NameTooLong {
        /// `header`, `cookie` or `query`.
        kind: &'static str,
        /// The name's length in bytes.
        len: usize,
    },
    /// A name with characters its kind does not allow (headers and cookies:
    /// an HTTP token; query arguments: no `&`, `=`, `#`, space or control).
    #[error("{kind}: {name:?} is not a valid name")]
    InvalidName {
        /// `header`, `cookie` or `query`.
        kind: &'static str,
        /// The name given.
        name: String,
    },
}

impl HashOn {
    /// The request's key hash, `None` when the header, cookie or query
    /// argument is absent.
    pub fn hash(&self, parts: &http::request::Parts, client: IpAddr) -> Option<u64> {
        match self {
            HashOn::ClientIp => Some(hash_ip(client)),
            HashOn::Header(name) => hash_header(&parts.headers, name),
            HashOn::Cookie(name) => cookie_value(&parts.headers, name.as_bytes()).map(hash_key),
            HashOn::Path => Some(hash_key(parts.uri.path().as_bytes())),
            HashOn::Query(name) => parts
                .uri
                .query()
                .and_then(|q| query_value(q.as_bytes(), name.as_bytes()))
                .map(hash_key),
        }
    }
}

fn hash_ip(client: IpAddr) -> u64 {
    match client.to_canonical() {
        IpAddr::V4(v4) => hash_key(&v4.octets()),
        IpAddr::V6(v6) => hash_key(&v6.octets()),
    }
}

/// One header line hashes as its value; several as `v1, v2, ...`, streamed
/// so nothing is allocated (xxh3 streamed equals xxh3 of the concatenation).
fn hash_header(headers: &HeaderMap, name: &HeaderName) -> Option<u64> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    let Some(second) = values.next() else {
        return Some(hash_key(first.as_bytes()));
    };
    let mut h = Xxh3::new();
    h.update(first.as_bytes());
    for v in std::iter::once(second).chain(values) {
        h.update(b", ");
        h.update(v.as_bytes());
    }
    Some(h.digest())
}

/// The raw value of the first cookie named `name` over all `Cookie` lines.
fn cookie_value<'a>(headers: &'a HeaderMap, name: &[u8]) -> Option<&'a [u8]> {
    headers.get_all(COOKIE).iter().find_map(|line| {
        line.as_bytes().split(|&b| b == b';').find_map(|pair| {
            let (k, v) = split_pair(trim(pair));
            (k == name).then(|| trim(v))
        })
    })
}

/// The raw value of the first query argument named exactly `name`.
fn query_value<'a>(query: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    query.split(|&b| b == b'&').find_map(|pair| {
        let (k, v) = split_pair(pair);
        (k == name).then_some(v)
    })
}

/// `name=value` split at the first `=`; no `=` means an empty value.
fn split_pair(pair: &[u8]) -> (&[u8], &[u8]) {
    match pair.iter().position(|&b| b == b'=') {
        Some(i) => (&pair[..i], &pair[i + 1..]),
        None => (pair, &[]),
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    let is_ws = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ws(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ws(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

impl FromStr for HashOn {
    type Err = ParseHashOnError;

    /// Accepts `client_ip`, `path`, `header:NAME`, `cookie:NAME` and
    /// `query:NAME` (header names are case-insensitive and stored lowercase;
    /// cookie and query names are exact).
    fn from_str(s: &str) -> Result<HashOn, ParseHashOnError> {
        match s {
            "client_ip" => return Ok(HashOn::ClientIp),
            "path" => return Ok(HashOn::Path),
            _ => {}
        }
        let Some((kind, name)) = s.split_once(':') else {
            return Err(ParseHashOnError::Unknown(s.to_owned()));
        };
        let (kind, valid): (&'static str, fn(u8) -> bool) = match kind {
            "header" => ("header", is_token),
            "cookie" => ("cookie", is_token),
            "query" => ("query", is_query_name),
            _ => return Err(ParseHashOnError::Unknown(s.to_owned())),
        };
        check_name(kind, name, valid)?;
        Ok(match kind {
            "header" => HashOn::Header(HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                ParseHashOnError::InvalidName {
                    kind,
                    name: name.to_owned(),
                }
            })?),
            "cookie" => HashOn::Cookie(name.to_owned()),
            _ => HashOn::Query(name.to_owned()),
        })
    }
}

fn check_name(
    kind: &'static str,
    name: &str,
    valid: fn(u8) -> bool,
) -> Result<(), ParseHashOnError> {
    if name.is_empty() {
        return Err(ParseHashOnError::EmptyName { kind });
    }
    if name.len() > MAX_KEY_NAME_LEN {
        return Err(ParseHashOnError::NameTooLong {
            kind,
            len: name.len(),
        });
    }
    if !name.bytes().all(valid) {
        return Err(ParseHashOnError::InvalidName {
            kind,
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// RFC 9110 `tchar`.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_query_name(b: u8) -> bool {
    b.is_ascii_graphic() && !b"&=#".contains(&b)
}

impl fmt::Display for HashOn {
    /// The spelling [`HashOn::from_str`] accepts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HashOn::ClientIp => f.write_str("client_ip"),
            HashOn::Header(name) => write!(f, "header:{name}"),
            HashOn::Cookie(name) => write!(f, "cookie:{name}"),
            HashOn::Path => f.write_str("path"),
            HashOn::Query(name) => write!(f, "query:{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_and_split() {
        assert_eq!(trim(b"  a b\t"), b"a b");
        assert_eq!(trim(b"   "), b"");
        assert_eq!(split_pair(b"a=b=c"), (&b"a"[..], &b"b=c"[..]));
        assert_eq!(split_pair(b"flag"), (&b"flag"[..], &b""[..]));
    }

    #[test]
    fn query_names_match_exactly() {
        let q = b"user=1&User=2&us=3&flag&user=4";
        assert_eq!(query_value(q, b"user"), Some(&b"1"[..]));
        assert_eq!(query_value(q, b"User"), Some(&b"2"[..]));
        assert_eq!(query_value(q, b"flag"), Some(&b""[..]));
        assert_eq!(query_value(q, b"use"), None);
    }
}
