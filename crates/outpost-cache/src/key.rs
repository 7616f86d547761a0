//! Cache keys. The primary key ([`CacheKey`]) comes from the route's
//! [`KeySettings`] and the request: scheme, host (lowercased, default port
//! dropped), path, the query per [`QueryMode`], and chosen headers and
//! cookies. The secondary key ([`VariantKey`]) comes from a stored
//! response's `Vary` and the request's values of the named headers
//! (RFC 9111 §4.1). Keys hash with a fixed-seed hash, so equal keys hash
//! equally across threads and runs of one build.

use std::hash::BuildHasher;

use http::{HeaderMap, HeaderName, Uri};

use crate::directives::split_list;
use crate::settings::{KeySettings, QueryMode};

/// Longest primary key text, in bytes; longer requests are not cached.
/// Default and maximum: 8 KiB.
pub const MAX_KEY_BYTES: usize = 8 * 1024;
/// Most header names a `Vary` may list for the response to be stored.
/// Default and maximum: 16.
pub const MAX_VARY_NAMES: usize = 16;
/// Longest secondary (variant) key text, in bytes; requests whose selecting
/// header values are longer are not cached. Default and maximum: 4 KiB.
pub const MAX_VARIANT_KEY_BYTES: usize = 4 * 1024;

/// Seed of the key hash; changing it only reshuffles shards.
const KEY_SEED: u64 = 0x6f75_7470_6f73_7421;

/// Why a request has no cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key would exceed [`MAX_KEY_BYTES`].
    #[error("cache key longer than {MAX_KEY_BYTES} bytes")]
    TooLong,
    /// The host is empty.
    #[error("request has no host")]
    NoHost,
}

/// A primary cache key: the canonical text, its hash, and the host and
/// path-with-query under which purges find it. Two keys are equal when
/// their texts are: host and path are derived data for the purge index.
#[derive(Debug, Clone)]
pub struct CacheKey {
    hash: u64,
    text: Box<str>,
    host: Box<str>,
    url: Box<str>,
}

impl CacheKey {
    /// Builds the key of a request. `scheme` is `http` or `https`, `host`
    /// the request's authority (Host header or HTTP/2 `:authority`).
    pub fn new(
        settings: &KeySettings,
        scheme: &str,
        host: &str,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<CacheKey, KeyError> {
        let (index_host, key_host) = normalize_host(host, scheme);
        if index_host.is_empty() {
            return Err(KeyError::NoHost);
        }
        let path = uri.path();
        if path.len() + uri.query().map_or(0, str::len) + host.len() > MAX_KEY_BYTES {
            return Err(KeyError::TooLong);
        }
        let query = key_query(&settings.query, uri.query().unwrap_or(""));
        let mut text = String::with_capacity(64 + path.len() + query.len());
        if settings.scheme {
            text.push_str(scheme);
            text.push_str("://");
        }
        if settings.host {
            text.push_str(&key_host);
        }
        text.push_str(path);
        if !query.is_empty() {
            text.push('?');
            text.push_str(&query);
        }
        push_headers(&mut text, &settings.headers, headers);
        push_cookies(&mut text, &settings.cookies, headers);
        if text.len() > MAX_KEY_BYTES {
            return Err(KeyError::TooLong);
        }
        let url = index_url(path, &query);
        Ok(CacheKey {
            hash: stable_hash(&text),
            text: text.into(),
            host: index_host.into(),
            url: url.into(),
        })
    }

    /// The key's stable hash.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The canonical key text (newline-separated parts).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Host as purges name it: lowercase, without port.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Path and query as purges name them: the query as the key keeps it,
    /// with its parameters sorted.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Bytes of heap text this key holds (for memory accounting).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.text.len() + self.host.len() + self.url.len()
    }
}

impl PartialEq for CacheKey {
    fn eq(&self, other: &Self) -> bool {
        // The hash first: unequal keys almost always differ there, and it
        // avoids touching the texts' heap memory.
        self.hash == other.hash && self.text == other.text
    }
}

impl Eq for CacheKey {}

impl std::hash::Hash for CacheKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// The fixed-seed hash used for keys and shard selection.
pub fn stable_hash(text: &str) -> u64 {
    foldhash::quality::FixedState::with_seed(KEY_SEED).hash_one(text)
}

/// Returns (index host: lowercase without port, key host: lowercase with a
/// non-default port kept). A trailing dot is dropped.
fn normalize_host(host: &str, scheme: &str) -> (String, String) {
    let lower = host.trim().to_ascii_lowercase();
    let (name, port) = match lower.rsplit_once(':') {
        Some((n, p))
            if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !n.ends_with(':') =>
        {
            (n.to_owned(), Some(p.to_owned()))
        }
        _ => (lower, None),
    };
    let name = name.strip_suffix('.').unwrap_or(&name).to_owned();
    let default_port = matches!(
        (scheme, port.as_deref()),
        ("http", Some("80")) | ("https", Some("443"))
    );
    let key_host = match port {
        Some(p) if !default_port => format!("{name}:{p}"),
        _ => name.clone(),
    };
    (name, key_host)
}

/// The query as the key keeps it, per mode.
pub(crate) fn key_query(mode: &QueryMode, raw: &str) -> String {
    match mode {
        QueryMode::All => raw.to_owned(),
        QueryMode::None => String::new(),
        QueryMode::Sorted => sorted_query(raw, |_| true),
        QueryMode::AllowList(allowed) => {
            sorted_query(raw, |name| allowed.iter().any(|a| a == name))
        }
    }
}

/// Query parameters kept by `keep(name)`, sorted (by name, then value).
pub(crate) fn sorted_query(raw: &str, keep: impl Fn(&str) -> bool) -> String {
    let mut pairs: Vec<&str> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| keep(p.split_once('=').map_or(*p, |(n, _)| n)))
        .collect();
    pairs.sort_unstable();
    pairs.join("&")
}

/// Path plus `?` and the sorted query, as the purge index stores it.
pub(crate) fn index_url(path: &str, query: &str) -> String {
    let sorted = sorted_query(query, |_| true);
    if sorted.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{sorted}")
    }
}

/// Host as the purge index stores it.
pub(crate) fn index_host(host: &str) -> String {
    normalize_host(host, "").0
}

fn push_headers(text: &mut String, names: &[HeaderName], headers: &HeaderMap) {
    for name in names {
        text.push('\n');
        text.push_str(name.as_str());
        if let Some(v) = joined_value(headers, name) {
            text.push(':');
            text.push_str(&v);
        }
    }
}

fn push_cookies(text: &mut String, names: &[String], headers: &HeaderMap) {
    for name in names {
        text.push_str("\n;");
        text.push_str(name);
        if let Some(v) = cookie_value(headers, name) {
            text.push('=');
            text.push_str(v);
        }
    }
}

/// All field lines of `name`, elements trimmed and joined by `,`; `None`
/// when absent. Values that are not visible ASCII are skipped.
fn joined_value(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut lines = headers.get_all(name).iter().peekable();
    lines.peek()?;
    let mut out = String::new();
    for line in lines.filter_map(|v| v.to_str().ok()) {
        for item in split_list(line) {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(item);
        }
    }
    Some(out)
}

/// The value of cookie `name` in the request's `Cookie` lines, if present.
pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// A response's `Vary`, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Vary {
    /// No `Vary`: one variant per primary key.
    #[default]
    None,
    /// The selecting headers, lowercase, sorted and deduplicated.
    Names(Box<[HeaderName]>),
    /// `Vary: *`, or more than [`MAX_VARY_NAMES`] names, or a name that is
    /// not a valid header: never served from the cache, so never stored.
    Any,
}

impl Vary {
    /// Parses all `Vary` lines of a response.
    pub fn parse(headers: &HeaderMap) -> Vary {
        let mut names = Vec::new();
        for line in headers.get_all(http::header::VARY) {
            let Ok(line) = line.to_str() else {
                return Vary::Any;
            };
            for item in split_list(line) {
                if item == "*" || names.len() == MAX_VARY_NAMES {
                    return Vary::Any;
                }
                match HeaderName::from_bytes(item.as_bytes()) {
                    Ok(n) => names.push(n),
                    Err(_) => return Vary::Any,
                }
            }
        }
        if names.is_empty() {
            return Vary::None;
        }
        names.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        names.dedup();
        Vary::Names(names.into())
    }

    /// The selecting header names (empty for `None` and `Any`).
    pub fn names(&self) -> &[HeaderName] {
        match self {
            Vary::Names(n) => n,
            _ => &[],
        }
    }
}

/// A secondary key: the request's normalized values of the headers a
/// stored response's `Vary` names. An absent header differs from an empty
/// one (RFC 9111 §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct VariantKey(Box<str>);

impl VariantKey {
    /// The variant key of `request` for `vary`; `None` for `Vary: *` or a
    /// key longer than [`MAX_VARIANT_KEY_BYTES`].
    pub fn new(vary: &Vary, request: &HeaderMap) -> Option<VariantKey> {
        if matches!(vary, Vary::Any) {
            return None;
        }
        let mut text = String::new();
        for name in vary.names() {
            text.push_str(name.as_str());
            match joined_value(request, name) {
                Some(v) => {
                    text.push(':');
                    text.push_str(&v);
                }
                None => text.push('\0'),
            }
            text.push('\n');
        }
        (text.len() <= MAX_VARIANT_KEY_BYTES).then(|| VariantKey(text.into()))
    }

    /// Bytes of heap text this key holds.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.0.len()
    }

    /// The key text (empty when the response has no `Vary`).
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_normalization() {
        assert_eq!(
            normalize_host("Example.COM:443", "https"),
            ("example.com".into(), "example.com".into())
        );
        assert_eq!(
            normalize_host("example.com.:8080", "https"),
            ("example.com".into(), "example.com:8080".into())
        );
        assert_eq!(
            normalize_host("[::1]:80", "http"),
            ("[::1]".into(), "[::1]".into())
        );
    }

    #[test]
    fn index_url_sorts_the_query() {
        assert_eq!(index_url("/a", "b=2&a=1"), "/a?a=1&b=2");
        assert_eq!(index_url("/a", ""), "/a");
    }
}
