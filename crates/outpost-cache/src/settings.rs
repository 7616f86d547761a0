//! Typed per-route cache settings: what `outpost-config` compiles a route's
//! `[cache]` table into, and the process-wide [`CacheConfig`] of the store.
//! Runtime code reads these as they are; [`RouteSettings::validate`] checks
//! the bounds once, at load, and reports every problem with its field path.

use std::time::Duration;

use http::{HeaderName, StatusCode};

/// Most request headers a cache key may name. Default and maximum: 16.
pub const MAX_KEY_HEADERS: usize = 16;
/// Most cookies a cache key may name. Default and maximum: 16.
pub const MAX_KEY_COOKIES: usize = 16;
/// Most query parameters an allow-list may name. Maximum: 64.
pub const MAX_QUERY_ALLOW: usize = 64;
/// Most bypass cookies plus bypass headers. Maximum: 32.
pub const MAX_BYPASS: usize = 32;

/// How the query string takes part in the primary cache key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum QueryMode {
    /// The query as the client sent it, byte for byte. The default.
    #[default]
    All,
    /// The query is ignored: `/a?x=1` and `/a` share one entry.
    None,
    /// Only these parameters, in sorted order; others are dropped.
    AllowList(Vec<String>),
    /// Every parameter, sorted by name then value, so order does not matter.
    Sorted,
}

/// What goes into the primary cache key besides the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySettings {
    /// Include the scheme (`http`/`https`). Default: true.
    pub scheme: bool,
    /// Include the host (lowercased, default port dropped). Default: true.
    pub host: bool,
    /// Query handling. Default: [`QueryMode::All`].
    pub query: QueryMode,
    /// Request headers whose values join the key (at most
    /// [`MAX_KEY_HEADERS`]). Default: none.
    pub headers: Vec<HeaderName>,
    /// Cookies whose values join the key (at most [`MAX_KEY_COOKIES`]).
    /// Default: none.
    pub cookies: Vec<String>,
}

impl Default for KeySettings {
    fn default() -> Self {
        KeySettings {
            scheme: true,
            host: true,
            query: QueryMode::All,
            headers: Vec::new(),
            cookies: Vec::new(),
        }
    }
}

/// Freshness lifetimes to use per status code when the origin gives none
/// (no `max-age`, `s-maxage` or `Expires`). A status listed here is stored
/// even when it is not heuristically cacheable: the operator said so.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DefaultTtls {
    by_status: Vec<(StatusCode, Duration)>,
}

impl DefaultTtls {
    /// Sets the lifetime for one status, replacing an earlier one.
    pub fn set(&mut self, status: StatusCode, ttl: Duration) -> &mut Self {
        self.by_status.retain(|(s, _)| *s != status);
        self.by_status.push((status, ttl));
        self
    }

    /// The lifetime configured for `status`, if any.
    pub fn get(&self, status: StatusCode) -> Option<Duration> {
        self.by_status
            .iter()
            .find(|(s, _)| *s == status)
            .map(|(_, d)| *d)
    }
}

/// One route's cache behaviour. `Default` is a route with caching on and
/// every option at its documented default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSettings {
    /// Cache on this route at all. Default: true (a route without a cache
    /// section should not get settings at all).
    pub enabled: bool,
    /// The cache key. Default: scheme, host, path and full query.
    pub key: KeySettings,
    /// Lifetimes per status when the origin gives none. Default: empty.
    pub default_ttl: DefaultTtls,
    /// Replaces the freshness lifetime of every stored response (an "edge
    /// TTL"). Default: none (the origin's lifetime is used).
    pub ttl_override: Option<Duration>,
    /// Ignore the origin's `Cache-Control` and `Expires` entirely: only
    /// `ttl_override` and `default_ttl` decide. The `Authorization` and
    /// `Set-Cookie` rules still apply. Default: false.
    pub ignore_origin_directives: bool,
    /// Largest body stored, in bytes; bigger responses pass through
    /// uncached. Default: 8 MiB.
    pub max_object_bytes: u64,
    /// A request carrying any of these cookies bypasses the cache (neither
    /// served from nor stored). Default: none.
    pub bypass_cookies: Vec<String>,
    /// A request carrying any of these headers bypasses the cache.
    /// Default: none.
    pub bypass_headers: Vec<HeaderName>,
    /// Store responses that carry `Set-Cookie` (the cookie is then served
    /// to every client). Default: false.
    pub cache_set_cookie: bool,
    /// Origin response header listing purge tags, comma-separated.
    /// Default: `Cache-Tag`.
    pub tag_header: HeaderName,
    /// Cap on heuristic freshness (10% of `Date - Last-Modified`).
    /// Default: 1 day.
    pub heuristic_max: Duration,
    /// How long a coalesced request waits for the leader's response head
    /// before going to the origin itself. The proxy applies it (for example
    /// with `tokio::time::timeout` around [`crate::FillReader::head`]).
    /// Default: 5 seconds.
    pub coalesce_wait: Duration,
}

impl Default for RouteSettings {
    fn default() -> Self {
        RouteSettings {
            enabled: true,
            key: KeySettings::default(),
            default_ttl: DefaultTtls::default(),
            ttl_override: None,
            ignore_origin_directives: false,
            max_object_bytes: 8 * 1024 * 1024,
            bypass_cookies: Vec::new(),
            bypass_headers: Vec::new(),
            cache_set_cookie: false,
            tag_header: HeaderName::from_static("cache-tag"),
            heuristic_max: Duration::from_secs(24 * 3600),
            coalesce_wait: Duration::from_secs(5),
        }
    }
}

/// One problem with [`RouteSettings`], with the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SettingsError {
    /// Field path relative to the route's cache table, e.g. `key.headers`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl RouteSettings {
    /// Checks every bound and returns all problems at once.
    pub fn validate(&self) -> Result<(), Vec<SettingsError>> {
        let mut errors = Vec::new();
        let mut check = |ok: bool, path: &str, message: String| {
            if !ok {
                errors.push(SettingsError {
                    path: path.to_owned(),
                    message,
                });
            }
        };
        let k = &self.key;
        check(
            k.headers.len() <= MAX_KEY_HEADERS,
            "key.headers",
            format!("at most {MAX_KEY_HEADERS} headers"),
        );
        check(
            k.cookies.len() <= MAX_KEY_COOKIES,
            "key.cookies",
            format!("at most {MAX_KEY_COOKIES} cookies"),
        );
        if let QueryMode::AllowList(list) = &k.query {
            check(
                list.len() <= MAX_QUERY_ALLOW,
                "key.query",
                format!("at most {MAX_QUERY_ALLOW} parameters"),
            );
        }
        check(
            self.bypass_cookies.len() + self.bypass_headers.len() <= MAX_BYPASS,
            "bypass",
            format!("at most {MAX_BYPASS} bypass cookies and headers together"),
        );
        check(
            self.max_object_bytes > 0,
            "max_object_bytes",
            "must be at least 1 byte".to_owned(),
        );
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Process-wide cache configuration: the store's size and the fill
/// registry's bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Total bytes the store may hold, counting bodies, headers and a fixed
    /// per-object overhead (see [`crate::store::OBJECT_OVERHEAD`]).
    /// Default: 256 MiB.
    pub capacity_bytes: u64,
    /// Lock shards; rounded up to a power of two and reduced so each shard
    /// holds at least `max_object_bytes` and 16 MiB (see
    /// [`crate::StoreConfig::min_shard_bytes`]). Default: 16.
    pub shards: usize,
    /// Largest object any route may store, in bytes; per-route limits above
    /// it are clamped. Default: 8 MiB.
    pub max_object_bytes: u64,
    /// Most fills (origin fetches feeding the cache) in flight at once;
    /// past it, misses are not coalesced (each fetches on its own).
    /// Default: 10,000.
    pub max_fills: usize,
    /// Most body bytes buffered by all fills in flight together; a fill
    /// that would pass it stops buffering (its response is not stored and
    /// its readers fetch themselves). Default: 128 MiB.
    pub max_fill_bytes: u64,
    /// The cache's name in `Cache-Status`. Default: `outpost`.
    pub name: String,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            capacity_bytes: 256 * 1024 * 1024,
            shards: 16,
            max_object_bytes: 8 * 1024 * 1024,
            max_fills: 10_000,
            max_fill_bytes: 128 * 1024 * 1024,
            name: "outpost".to_owned(),
        }
    }
}
