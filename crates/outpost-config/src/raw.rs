//! The raw configuration schema: exactly what the TOML file may contain.
//!
//! Every struct denies unknown fields so a typo is an error, not a silently
//! ignored key. Values stay as written (durations and sizes as strings or
//! numbers); `compile` turns them into typed runtime values.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A duration as written: `"30s"`, `"250ms"`, `"5m"`, `"1h"`, or a number of seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawDuration {
    Seconds(u64),
    Text(String),
}

/// A byte size as written: `"64KiB"`, `"1GiB"`, `"512"`, or a number of bytes.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawSize {
    Bytes(u64),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub workers: Option<usize>,
    pub shutdown_timeout: Option<RawDuration>,
    pub watch_config: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_connections: Option<usize>,
    pub max_connections_per_client: Option<u32>,
    pub max_header_bytes: Option<RawSize>,
    pub max_headers: Option<usize>,
    pub max_uri_bytes: Option<RawSize>,
    pub max_body_bytes: Option<RawSize>,
    pub h2_max_concurrent_streams: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    pub header_read: Option<RawDuration>,
    pub idle: Option<RawDuration>,
    pub connect: Option<RawDuration>,
    pub upstream_response: Option<RawDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    pub name: String,
    pub address: String,
    pub tls: Option<RawListenerTls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListenerTls {
    pub certificates: Vec<RawCertPair>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCertPair {
    pub cert: String,
    pub key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPool {
    pub name: String,
    pub origins: Vec<RawOrigin>,
    pub tls: Option<RawUpstreamTls>,
    /// `"http1"` (default), `"http2"` (prior knowledge on cleartext, ALPN on TLS), or `"auto"` (ALPN, TLS only).
    pub protocol: Option<String>,
    pub max_idle_per_origin: Option<usize>,
    pub idle_timeout: Option<RawDuration>,
    pub connect_timeout: Option<RawDuration>,
    pub response_timeout: Option<RawDuration>,
    pub balance: Option<RawBalance>,
    pub health: Option<RawHealth>,
    pub outlier: Option<RawOutlier>,
    pub retry: Option<RawRetry>,
    pub circuit_breaker: Option<RawCircuitBreaker>,
    /// How often origin names are resolved again. Default 30 s.
    pub resolve_interval: Option<RawDuration>,
    /// DNS servers (`IP` or `IP:PORT`) for origin names; default: the system resolver.
    pub resolvers: Option<Vec<String>>,
}

/// An origin as written: `"HOST:PORT"` or `{ address = "HOST:PORT", weight = 3 }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawOrigin {
    Address(String),
    Weighted(RawWeightedOrigin),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeightedOrigin {
    pub address: String,
    pub weight: Option<u32>,
}

/// `[pools.balance]`: how a backend is chosen.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBalance {
    pub policy: Option<String>,
    pub hash_on: Option<String>,
    pub bounded_load: Option<f64>,
    pub choices: Option<u32>,
    pub latency_weighted: Option<bool>,
    pub panic_threshold: Option<u8>,
}

/// `[pools.health]`: active health checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub host: Option<String>,
    pub expect_status: Option<String>,
    pub body_contains: Option<String>,
    pub interval: Option<RawDuration>,
    pub timeout: Option<RawDuration>,
    pub jitter: Option<RawDuration>,
    pub healthy_threshold: Option<u32>,
    pub unhealthy_threshold: Option<u32>,
}

/// `[pools.outlier]`: passive outlier detection.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutlier {
    pub enabled: Option<bool>,
    pub consecutive_5xx: Option<u32>,
    pub consecutive_errors: Option<u32>,
    pub base_ejection: Option<RawDuration>,
    pub max_ejection: Option<RawDuration>,
    pub max_ejected_percent: Option<u8>,
}

/// `[pools.retry]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    pub max_retries: Option<u32>,
    pub per_try_timeout: Option<RawDuration>,
    pub budget: Option<f64>,
    pub budget_min_per_second: Option<u32>,
}

/// `[pools.circuit_breaker]`: per-backend limits.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCircuitBreaker {
    pub max_connections: Option<usize>,
    pub max_pending: Option<usize>,
    pub max_requests: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstreamTls {
    pub sni: Option<String>,
    pub ca: Option<String>,
    pub verify: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub name: String,
    #[serde(default)]
    pub hosts: Vec<String>,
    pub path_exact: Option<String>,
    pub path_prefix: Option<String>,
    pub path_regex: Option<String>,
    pub methods: Option<Vec<String>>,
    pub listeners: Option<Vec<String>>,
    pub pool: Option<String>,
    #[serde(rename = "static")]
    pub static_files: Option<RawStatic>,
    pub respond: Option<RawRespond>,
    /// `[routes.cache]`: cache this route's responses (pool routes only).
    pub cache: Option<RawRouteCache>,
}

/// `[cache]`: the process-wide store. Per-route behaviour is in
/// `[routes.cache]`; this section only sizes what those routes share.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    pub max_bytes: Option<RawSize>,
    pub max_object_bytes: Option<RawSize>,
    pub shards: Option<usize>,
    pub max_fills: Option<usize>,
    pub max_fill_bytes: Option<RawSize>,
    pub name: Option<String>,
}

/// `[routes.cache]`: one route's cache behaviour.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouteCache {
    pub enabled: Option<bool>,
    pub key: Option<RawCacheKey>,
    /// Lifetime per status code (`"200" = "5m"`) when the origin gives none.
    #[serde(default)]
    pub ttl: BTreeMap<String, RawDuration>,
    pub ttl_override: Option<RawDuration>,
    pub ignore_origin_directives: Option<bool>,
    pub max_object_bytes: Option<RawSize>,
    #[serde(default)]
    pub bypass_cookies: Vec<String>,
    #[serde(default)]
    pub bypass_headers: Vec<String>,
    pub cache_set_cookie: Option<bool>,
    pub tag_header: Option<String>,
    pub strip_tag_header: Option<bool>,
    pub heuristic_max: Option<RawDuration>,
    pub coalesce_wait: Option<RawDuration>,
}

/// `[routes.cache.key]`: what the primary cache key is made of.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCacheKey {
    pub scheme: Option<bool>,
    pub host: Option<bool>,
    /// `"all"`, `"none"`, `"sorted"`, or an array of parameter names (an
    /// allow-list); checked in `compile::cache` for a clear message.
    pub query: Option<toml::Value>,
    #[serde(default)]
    pub headers: Vec<String>,
    #[serde(default)]
    pub cookies: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStatic {
    pub root: String,
    pub index: Option<Vec<String>>,
    pub strip_prefix: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRespond {
    pub status: Option<u16>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccessLog {
    pub enabled: Option<bool>,
    pub path: Option<String>,
    pub buffer: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub enabled: Option<bool>,
    pub address: Option<String>,
    pub token: Option<String>,
    pub token_env: Option<String>,
}

/// `[lists.NAME]`: a named IP list, inline entries and/or a file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawList {
    #[serde(default)]
    pub entries: Vec<String>,
    pub file: Option<String>,
}

/// `[[rules]]`: an expression and an action. Which of the optional fields
/// apply depends on `action`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub id: String,
    pub phase: Option<String>,
    pub expression: String,
    pub action: String,
    #[allow(
        dead_code,
        reason = "free text for operators, accepted so a config can explain its rules"
    )]
    pub description: Option<String>,
    pub enabled: Option<bool>,
    /// block, redirect
    pub status: Option<u16>,
    /// block
    pub body: Option<String>,
    pub content_type: Option<String>,
    /// skip
    pub phases: Option<Vec<String>>,
    pub rules: Option<Vec<String>>,
    /// set_request_header, remove_request_header, set_response_header
    pub header: Option<String>,
    pub value: Option<String>,
    /// rewrite
    pub path: Option<String>,
    pub query: Option<String>,
    /// redirect
    pub target: Option<String>,
}

/// `[security]`: connection-level defences.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecurity {
    #[serde(default)]
    pub deny_at_accept: Vec<String>,
}
