//! The `Cache-Status` response header (RFC 9211) and the `Age` header
//! value (RFC 9111 §5.1). Every response the proxy sends on a cached route
//! carries one `Cache-Status` member from this cache.

use std::fmt::Write as _;
use std::time::Duration;

use http::HeaderValue;

/// Why a request went forward to the origin (RFC 9211 §2.2 `fwd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// The cache was configured not to handle this request.
    Bypass,
    /// The request method is not cacheable.
    Method,
    /// No stored response for the URL (primary key).
    UriMiss,
    /// A stored response for the URL, but none for this variant.
    VaryMiss,
    /// A miss the cache cannot narrow down further.
    Miss,
    /// The request's directives (e.g. `no-cache`) required going forward.
    Request,
    /// A stored response was stale and was revalidated.
    Stale,
}

impl Forward {
    fn token(self) -> &'static str {
        match self {
            Forward::Bypass => "bypass",
            Forward::Method => "method",
            Forward::UriMiss => "uri-miss",
            Forward::VaryMiss => "vary-miss",
            Forward::Miss => "miss",
            Forward::Request => "request",
            Forward::Stale => "stale",
        }
    }
}

/// One `Cache-Status` member, built up as a request is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStatus {
    /// Served from the cache without contacting the origin.
    pub hit: bool,
    /// Why the request went to the origin.
    pub fwd: Option<Forward>,
    /// Status the origin answered with, when forwarded.
    pub fwd_status: Option<u16>,
    /// Remaining freshness in seconds; negative once stale.
    pub ttl: Option<i64>,
    /// The forwarded response was stored.
    pub stored: bool,
    /// The request was coalesced with another one to the origin.
    pub collapsed: bool,
    /// Implementation detail (an sf-token), e.g. `stale-if-error`.
    pub detail: Option<&'static str>,
}

impl CacheStatus {
    /// A hit with `ttl` seconds of freshness left.
    pub fn hit(ttl: i64) -> Self {
        CacheStatus {
            hit: true,
            ttl: Some(ttl),
            ..CacheStatus::default()
        }
    }

    /// A request forwarded for `reason`.
    pub fn forward(reason: Forward) -> Self {
        CacheStatus {
            fwd: Some(reason),
            ..CacheStatus::default()
        }
    }

    /// The header value, with `name` as the cache's identifier (an sf-token,
    /// checked when the cache is built).
    pub fn to_header_value(&self, name: &str) -> HeaderValue {
        let mut s = String::with_capacity(64);
        s.push_str(name);
        if self.hit {
            s.push_str("; hit");
        }
        if let Some(f) = self.fwd {
            let _ = write!(s, "; fwd={}", f.token());
        }
        if let Some(st) = self.fwd_status {
            let _ = write!(s, "; fwd-status={st}");
        }
        if let Some(ttl) = self.ttl {
            let _ = write!(s, "; ttl={ttl}");
        }
        if self.stored {
            s.push_str("; stored");
        }
        if self.collapsed {
            s.push_str("; collapsed");
        }
        if let Some(d) = self.detail {
            let _ = write!(s, "; detail={d}");
        }
        // Built only from an sf-token, tokens and integers: always valid.
        HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("outpost"))
    }
}

/// Whether `name` is an sf-token (RFC 8941 §3.3.4), usable as a cache name.
pub fn is_sf_token(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'*');
    first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&b))
}

/// Remaining freshness in whole seconds, negative once stale.
pub fn ttl_seconds(lifetime: Duration, age: Duration) -> i64 {
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    secs(lifetime).saturating_sub(secs(age))
}

/// The `Age` header value: the current age in whole seconds.
pub fn age_value(age: Duration) -> HeaderValue {
    HeaderValue::from(age.as_secs())
}
