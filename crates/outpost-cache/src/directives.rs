//! Parsing of request and response `Cache-Control` (RFC 9111 §5.2) and of
//! the date and delta-seconds fields (`Expires`, `Date`, `Age`,
//! `Last-Modified`). Tolerant and bounded: unknown directives are ignored,
//! at most [`MAX_DIRECTIVES`] directives are read per message, and the first
//! occurrence of a repeated directive wins (RFC 9111 §4.2.1).

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use http::header::{AGE, CACHE_CONTROL, DATE, EXPIRES, LAST_MODIFIED, PRAGMA};

/// Most `Cache-Control` directives read from one message, across all its
/// field lines; the rest are ignored. Default and maximum: 32.
pub const MAX_DIRECTIVES: usize = 32;

/// Largest delta-seconds value; bigger ones are clamped to it
/// (RFC 9111 §1.2.2: 2^31).
pub const MAX_DELTA_SECONDS: u64 = 2_147_483_648;

/// `max-stale` on a request: any staleness, or at most this much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxStale {
    /// `max-stale` without a value: any staleness is acceptable.
    Any,
    /// `max-stale=N`.
    Within(Duration),
}

/// Request `Cache-Control` directives this cache acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestDirectives {
    /// `no-cache` (or `Pragma: no-cache` without `Cache-Control`).
    pub no_cache: bool,
    /// `no-store`: neither store the response nor serve from the cache.
    pub no_store: bool,
    /// `max-age=N`: refuse stored responses older than N.
    pub max_age: Option<Duration>,
    /// `max-stale[=N]`.
    pub max_stale: Option<MaxStale>,
    /// `min-fresh=N`: the response must stay fresh for N more.
    pub min_fresh: Option<Duration>,
    /// `only-if-cached`: answer 504 rather than contact the origin.
    pub only_if_cached: bool,
    /// `stale-if-error=N` (RFC 5861 §4) sent by the client.
    pub stale_if_error: Option<Duration>,
}

/// Response `Cache-Control` directives this cache acts on. Qualified
/// `private="..."` and `no-cache="..."` are treated as their unqualified
/// forms: stricter than required, never less safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResponseDirectives {
    /// `max-age=N`. An invalid value reads as 0 (stale; RFC 9111 §4.2.1).
    pub max_age: Option<Duration>,
    /// `s-maxage=N`; also implies `proxy-revalidate` (§5.2.2.10).
    pub s_maxage: Option<Duration>,
    /// `no-store`.
    pub no_store: bool,
    /// `no-cache`: store, but revalidate before every reuse.
    pub no_cache: bool,
    /// `private`: a shared cache must not store it.
    pub private: bool,
    /// `public`.
    pub public: bool,
    /// `must-revalidate`.
    pub must_revalidate: bool,
    /// `proxy-revalidate`.
    pub proxy_revalidate: bool,
    /// `immutable` (RFC 8246).
    pub immutable: bool,
    /// `stale-while-revalidate=N` (RFC 5861 §3).
    pub stale_while_revalidate: Option<Duration>,
    /// `stale-if-error=N` (RFC 5861 §4).
    pub stale_if_error: Option<Duration>,
}

impl RequestDirectives {
    /// Parses the request's `Cache-Control` lines (and `Pragma: no-cache`
    /// when there is no `Cache-Control`, RFC 9111 §5.4).
    pub fn parse(headers: &HeaderMap) -> Self {
        let mut d = RequestDirectives::default();
        let mut any = false;
        for_each_directive(headers, |name, value| {
            any = true;
            match name {
                "no-cache" => d.no_cache = true,
                "no-store" => d.no_store = true,
                "only-if-cached" => d.only_if_cached = true,
                "max-age" => set_first(&mut d.max_age, delta_or_zero(value)),
                "min-fresh" => set_first(&mut d.min_fresh, delta_or_zero(value)),
                "stale-if-error" => set_first(&mut d.stale_if_error, delta(value)),
                "max-stale" => {
                    let v = match value {
                        None => Some(MaxStale::Any),
                        Some(v) => delta(Some(v)).map(MaxStale::Within),
                    };
                    set_first_stale(&mut d.max_stale, v);
                }
                _ => {}
            }
        });
        if !any && pragma_no_cache(headers) {
            d.no_cache = true;
        }
        d
    }
}

impl ResponseDirectives {
    /// Parses the response's `Cache-Control` lines.
    pub fn parse(headers: &HeaderMap) -> Self {
        let mut d = ResponseDirectives::default();
        for_each_directive(headers, |name, value| match name {
            "no-store" => d.no_store = true,
            "no-cache" => d.no_cache = true,
            "private" => d.private = true,
            "public" => d.public = true,
            "must-revalidate" => d.must_revalidate = true,
            "proxy-revalidate" => d.proxy_revalidate = true,
            "immutable" => d.immutable = true,
            "max-age" => set_first(&mut d.max_age, delta_or_zero(value)),
            "s-maxage" => set_first(&mut d.s_maxage, delta_or_zero(value)),
            "stale-while-revalidate" => set_first(&mut d.stale_while_revalidate, delta(value)),
            "stale-if-error" => set_first(&mut d.stale_if_error, delta(value)),
            _ => {}
        });
        d
    }
}

fn set_first(slot: &mut Option<Duration>, value: Option<Duration>) {
    if slot.is_none() {
        *slot = value;
    }
}

fn set_first_stale(slot: &mut Option<MaxStale>, value: Option<MaxStale>) {
    if slot.is_none() {
        *slot = value;
    }
}

/// Calls `f(name, value)` for each directive, name lowercased, quotes
/// removed from the value; stops after [`MAX_DIRECTIVES`].
fn for_each_directive(headers: &HeaderMap, mut f: impl FnMut(&str, Option<&str>)) {
    let mut seen = 0;
    for line in headers.get_all(CACHE_CONTROL) {
        let Ok(line) = line.to_str() else { continue };
        for part in split_list(line) {
            if seen == MAX_DIRECTIVES {
                return;
            }
            seen += 1;
            let (name, value) = match part.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (part.trim(), None),
            };
            if name.is_empty() {
                continue;
            }
            let lower = name.to_ascii_lowercase();
            f(&lower, value);
        }
    }
}

/// Splits a comma-separated list, keeping commas inside quoted strings.
pub(crate) fn split_list(line: &str) -> impl Iterator<Item = &str> {
    let mut rest = line;
    std::iter::from_fn(move || {
        loop {
            if rest.is_empty() {
                return None;
            }
            let mut quoted = false;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    if c == '"' {
                        quoted = !quoted;
                    }
                    c == ',' && !quoted
                })
                .map_or(rest.len(), |(i, _)| i);
            let item = rest[..end].trim();
            rest = rest.get(end + 1..).unwrap_or("");
            if !item.is_empty() {
                return Some(item);
            }
        }
    })
}

fn pragma_no_cache(headers: &HeaderMap) -> bool {
    headers
        .get_all(PRAGMA)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(split_list)
        .any(|p| p.eq_ignore_ascii_case("no-cache"))
}

/// Parses delta-seconds (RFC 9111 §1.2.2): digits only, clamped to
/// [`MAX_DELTA_SECONDS`]. `None` when absent or malformed.
pub fn parse_delta_seconds(value: &str) -> Option<Duration> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Digits only, so a parse failure means overflow: clamp.
    let secs = value.parse::<u64>().unwrap_or(MAX_DELTA_SECONDS);
    Some(Duration::from_secs(secs.min(MAX_DELTA_SECONDS)))
}

fn delta(value: Option<&str>) -> Option<Duration> {
    value.and_then(parse_delta_seconds)
}

/// A present but invalid lifetime counts as zero: such a response is stale.
fn delta_or_zero(value: Option<&str>) -> Option<Duration> {
    Some(delta(value).unwrap_or(Duration::ZERO))
}

/// The date and age fields of a response, parsed once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResponseDates {
    /// `Date`, if present and valid.
    pub date: Option<SystemTime>,
    /// `Expires`: `Some(None)` when present but invalid (RFC 9111 §5.3:
    /// then the response is already expired).
    pub expires: Option<Option<SystemTime>>,
    /// `Age`, if present and valid delta-seconds.
    pub age: Option<Duration>,
    /// `Last-Modified`, if present and valid.
    pub last_modified: Option<SystemTime>,
}

impl ResponseDates {
    /// Reads `Date`, `Expires`, `Age` and `Last-Modified` (first lines).
    pub fn parse(headers: &HeaderMap) -> Self {
        let date_of = |name| {
            headers
                .get(name)
                .and_then(|v: &http::HeaderValue| v.to_str().ok())
                .and_then(|s| httpdate::parse_http_date(s.trim()).ok())
        };
        ResponseDates {
            date: date_of(DATE),
            expires: headers.get(EXPIRES).map(|_| date_of(EXPIRES)),
            age: headers
                .get(AGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| parse_delta_seconds(s.trim())),
            last_modified: date_of(LAST_MODIFIED),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(lines: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append(CACHE_CONTROL, HeaderValue::from_static(l));
        }
        h
    }

    #[test]
    fn split_list_keeps_quoted_commas() {
        let parts: Vec<_> = split_list(r#"a, b="x,y" ,, c"#).collect();
        assert_eq!(parts, ["a", r#"b="x,y""#, "c"]);
    }

    #[test]
    fn first_occurrence_wins_and_case_is_ignored() {
        let d = ResponseDirectives::parse(&headers(&["Max-Age=10, max-age=99", "PUBLIC"]));
        assert_eq!(d.max_age, Some(Duration::from_secs(10)));
        assert!(d.public);
    }

    #[test]
    fn invalid_max_age_is_zero_and_huge_is_clamped() {
        let d =
            ResponseDirectives::parse(&headers(&["max-age=abc, s-maxage=99999999999999999999"]));
        assert_eq!(d.max_age, Some(Duration::ZERO));
        assert_eq!(d.s_maxage, Some(Duration::from_secs(MAX_DELTA_SECONDS)));
    }

    #[test]
    fn directives_past_the_cap_are_ignored() {
        let many = "x, ".repeat(MAX_DIRECTIVES) + "no-store";
        let mut h = HeaderMap::new();
        h.insert(CACHE_CONTROL, HeaderValue::from_str(&many).unwrap());
        assert!(!ResponseDirectives::parse(&h).no_store);
        let at_limit = "x, ".repeat(MAX_DIRECTIVES - 1) + "no-store";
        h.insert(CACHE_CONTROL, HeaderValue::from_str(&at_limit).unwrap());
        assert!(ResponseDirectives::parse(&h).no_store);
    }

    #[test]
    fn pragma_only_counts_without_cache_control() {
        let mut h = HeaderMap::new();
        h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
        assert!(RequestDirectives::parse(&h).no_cache);
        h.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=5"));
        assert!(!RequestDirectives::parse(&h).no_cache);
    }

    #[test]
    fn max_stale_with_and_without_value() {
        let d = RequestDirectives::parse(&headers(&["max-stale"]));
        assert_eq!(d.max_stale, Some(MaxStale::Any));
        let d = RequestDirectives::parse(&headers(&["max-stale=30"]));
        assert_eq!(d.max_stale, Some(MaxStale::Within(Duration::from_secs(30))));
    }
}
