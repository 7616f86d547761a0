//! The typed, validated configuration the runtime consumes. Every value here has
//! already been checked; runtime code never re-parses strings from the file.
//! Defaults live in `Default` impls and are documented on each field.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A whole, valid configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: Server,
    pub limits: Limits,
    pub timeouts: Timeouts,
    pub listeners: Vec<Listener>,
    pub pools: Vec<Pool>,
    pub routes: Vec<Route>,
    /// Named IP lists (`[lists.NAME]`), as rules refer to them (`$name`).
    pub lists: outpost_rules::ip::Lists,
    pub security: Security,
    /// Every enabled `[[rules]]` entry, compiled.
    pub rules: std::sync::Arc<outpost_rules::engine::RuleSet>,
    pub access_log: AccessLog,
    pub admin: Admin,
    /// The process-wide cache store (`[cache]`), shared by every route with
    /// a `[routes.cache]` table. Defaults: see `outpost_cache::CacheConfig`
    /// (256 MiB, 8 MiB per object). Changing it needs a restart.
    pub cache: outpost_cache::CacheConfig,
}

/// Process-wide settings (`[server]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// Tokio worker threads. Default 0: one per CPU core.
    pub workers: usize,
    /// How long SIGTERM/SIGINT waits for in-flight requests. Default 30 s.
    pub shutdown_timeout: Duration,
    /// Reload when the config file changes on disk. Default true.
    pub watch_config: bool,
}

/// Request and connection limits (`[limits]`); each answers with its own status.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Open downstream connections across all listeners; more are closed at accept. Default 10,000.
    pub max_connections: usize,
    /// Open connections from one client (IPv4 address or IPv6 /64); more are
    /// closed at accept. 0 = no per-client cap. Default 0 (many users can share
    /// one NAT address; set it at the edge you know).
    pub max_connections_per_client: u32,
    /// Bytes of a request head (request line + headers); over it answers 431. Default 64 KiB.
    pub max_header_bytes: usize,
    /// Number of request headers; over it answers 431. Default 100.
    pub max_headers: usize,
    /// Bytes of the request target; over it answers 414. Default 8 KiB.
    pub max_uri_bytes: usize,
    /// Bytes of a request body; over it answers 413. Default 1 GiB.
    pub max_body_bytes: u64,
    /// Concurrent HTTP/2 streams per connection. Default 128.
    pub h2_max_concurrent_streams: u32,
}

/// Timeouts (`[timeouts]`); upstream ones can be overridden per pool.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeouts {
    /// Time a client has to send a complete request head. Default 10 s.
    pub header_read: Duration,
    /// A connection with no bytes moving either way is closed after this. Default 60 s.
    pub idle: Duration,
    /// TCP (and TLS) connect to an origin; on expiry answers 502. Default 5 s.
    pub connect: Duration,
    /// From request sent to origin response head; on expiry answers 504. Default 60 s.
    pub upstream_response: Duration,
}

/// One listening socket (`[[listeners]]`).
#[derive(Debug, Clone)]
pub struct Listener {
    pub name: String,
    pub address: SocketAddr,
    pub tls: Option<ListenerTls>,
}

/// Server certificates of a TLS listener. SNI picks the certificate whose names
/// match; the first certificate is the default.
#[derive(Debug, Clone)]
pub struct ListenerTls {
    pub certificates: Vec<CertKey>,
}

/// A certificate chain with its private key, read from PEM files.
#[derive(Debug)]
pub struct CertKey {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Clone for CertKey {
    fn clone(&self) -> Self {
        CertKey {
            cert_path: self.cert_path.clone(),
            key_path: self.key_path.clone(),
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

/// An upstream pool (`[[pools]]`): origins and how to talk to them.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub name: String,
    pub origins: Vec<Origin>,
    pub tls: Option<UpstreamTls>,
    pub protocol: UpstreamProtocol,
    /// Idle keep-alive connections kept per origin. Default 64.
    pub max_idle_per_origin: usize,
    /// An idle pooled connection is closed after this. Default 90 s.
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    pub balance: Balance,
    /// Active health checks; `None` = every backend counts as healthy unless
    /// passive outlier detection ejects it.
    pub health: Option<HealthCheck>,
    /// Passive outlier detection; `None` = off.
    pub outlier: Option<Outlier>,
    pub retry: Retry,
    pub circuit_breaker: CircuitBreaker,
    /// Origin names are resolved again this often. Default 30 s.
    pub resolve_interval: Duration,
    /// DNS servers for origin names; empty = the system resolver (getaddrinfo).
    pub resolvers: Vec<std::net::SocketAddr>,
}

/// An origin address as `host:port`. The host may be a name or an IP literal;
/// a name becomes one backend per address it resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub host: String,
    pub port: u16,
    /// Relative share of traffic, 1..=1000. Default 1.
    pub weight: u32,
}

/// `[pools.balance]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Balance {
    pub policy: BalancePolicy,
    /// The request key the hashing policies hash. Default the client IP.
    pub hash_on: HashKey,
    /// Bounded-load factor c > 1 for the hashing policies: no backend takes
    /// more than c times the average in-flight load. Default none.
    pub bounded_load: Option<f64>,
    /// Below this share of available backends the pool spreads over all of
    /// them (panic mode). 0..=1, default 0.5.
    pub panic_threshold: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BalancePolicy {
    /// Weighted round-robin (the default).
    RoundRobin,
    /// The least loaded of `choices` random backends (default 2), optionally
    /// weighted by latency.
    LeastRequest {
        choices: u32,
        latency_weighted: bool,
    },
    Random,
    Maglev,
    RingHash,
}

impl BalancePolicy {
    pub fn name(&self) -> &'static str {
        match self {
            BalancePolicy::RoundRobin => "round_robin",
            BalancePolicy::LeastRequest { .. } => "least_request",
            BalancePolicy::Random => "random",
            BalancePolicy::Maglev => "maglev",
            BalancePolicy::RingHash => "ring_hash",
        }
    }

    pub fn is_hashing(&self) -> bool {
        matches!(self, BalancePolicy::Maglev | BalancePolicy::RingHash)
    }
}

/// What a hashing policy hashes, as written in `hash_on`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashKey {
    ClientIp,
    /// A request header (name lowercased).
    Header(String),
    Cookie(String),
    Path,
    /// A query argument by exact name.
    Query(String),
}

/// `[pools.health]`: active checks of every backend.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheck {
    pub kind: HealthKind,
    /// Time between checks of one backend. Default 5 s.
    pub interval: Duration,
    /// A check not finished in this time failed. Default 2 s.
    pub timeout: Duration,
    /// Up to this much random delay is added to each interval so a fleet does
    /// not check in lockstep. Default a tenth of the interval.
    pub jitter: Duration,
    /// Consecutive passes that make an unhealthy backend healthy. Default 2.
    pub healthy_threshold: u32,
    /// Consecutive failures that make a healthy backend unhealthy. Default 2.
    pub unhealthy_threshold: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HealthKind {
    /// Connect (and TLS handshake for TLS pools) succeeds.
    Tcp,
    /// An HTTP/1.1 request answered with a status in `expect` (inclusive) and,
    /// if set, a body (first 64 KiB) containing `body_contains`.
    Http {
        method: String,
        path: String,
        /// `Host` header; default the origin's host.
        host: Option<String>,
        expect: (u16, u16),
        body_contains: Option<String>,
    },
}

/// `[pools.outlier]`: passive outlier detection from live traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct Outlier {
    /// Consecutive 5xx responses that eject a backend; 0 = not counted. Default 5.
    pub consecutive_5xx: u32,
    /// Consecutive connect failures, resets and timeouts that eject; 0 = not
    /// counted. Default 3.
    pub consecutive_errors: u32,
    /// First ejection lasts this long; the n-th lasts n times as long. Default 10 s.
    pub base_ejection: Duration,
    /// Longest ejection. Default 5 min.
    pub max_ejection: Duration,
    /// Most of the pool that may be ejected at once (at least one backend).
    /// Default 50 %.
    pub max_ejected_percent: u8,
}

/// `[pools.retry]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    /// Extra tries on other backends. Default 2.
    pub max_retries: u32,
    /// Time one try may wait for the response head; `None` = the response timeout.
    pub per_try_timeout: Option<Duration>,
    /// Retries may be at most this share of requests (10 s sliding window). Default 0.2.
    pub budget: f64,
    /// Retries always allowed per second regardless of traffic. Default 10.
    pub budget_min_per_second: u32,
}

/// `[pools.circuit_breaker]`: per-backend limits; a request over them is
/// answered 503 at once.
#[derive(Debug, Clone, PartialEq)]
pub struct CircuitBreaker {
    /// Open connections per backend (HTTP/1.1 pools). Default 1,024.
    pub max_connections: usize,
    /// Requests waiting for a connection per backend when all are busy
    /// (HTTP/1.1 pools). Default 1,024.
    pub max_pending: usize,
    /// Requests in flight per backend (every protocol). Default 10,000.
    pub max_requests: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// TLS towards origins.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamTls {
    /// Server name sent in SNI and verified; default: the origin host.
    pub sni: Option<String>,
    /// Extra PEM CA bundle trusted besides the built-in web roots.
    pub ca: Option<Vec<CertificateDer<'static>>>,
    /// Verify the origin certificate. Default true.
    pub verify: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamProtocol {
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 only: prior knowledge on cleartext, ALPN `h2` on TLS.
    Http2,
    /// ALPN chooses (TLS only); cleartext falls back to HTTP/1.1.
    Auto,
}

/// A route (`[[routes]]`): what it matches and where it sends.
#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    /// Empty: any host.
    pub hosts: Vec<HostPattern>,
    pub path: PathMatch,
    /// `None`: any method.
    pub methods: Option<Vec<http::Method>>,
    /// Names of the listeners this route applies to; `None`: all of them.
    pub listeners: Option<Vec<String>>,
    pub action: RouteAction,
    /// Cache behaviour (`[routes.cache]`, pool routes only); `None`: the
    /// route is not cached.
    pub cache: Option<RouteCache>,
}

/// A route's compiled `[routes.cache]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteCache {
    /// What the cache crate needs per request; shared, so a request holds
    /// it by reference count.
    pub settings: std::sync::Arc<outpost_cache::RouteSettings>,
    /// Remove the tag header (`settings.tag_header`) from responses sent to
    /// clients; the tags stay with the stored object for purges. Default true.
    pub strip_tag_header: bool,
}

/// A host as matched: lower-case, no port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    Exact(String),
    /// `*.example.com` stored as `.example.com`: matches any name ending in it
    /// with at least one more label.
    Wildcard(String),
}

#[derive(Debug, Clone)]
pub enum PathMatch {
    Any,
    Exact(String),
    Prefix(String),
    Regex(Regex),
}

#[derive(Debug, Clone)]
pub enum RouteAction {
    /// Index into `Config::pools`.
    Pool(usize),
    Static(StaticSite),
    Respond(FixedResponse),
}

/// The built-in static file origin.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticSite {
    /// Canonical absolute path of the served directory.
    pub root: PathBuf,
    /// Files tried, in order, for a directory request. Default `["index.html"]`.
    pub index: Vec<String>,
    /// A path prefix removed before mapping to the filesystem. Default none.
    pub strip_prefix: Option<String>,
}

/// The built-in fixed-response origin.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedResponse {
    pub status: http::StatusCode,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

/// Connection-level defences (`[security]`).
#[derive(Debug, Clone, Default)]
pub struct Security {
    /// Lists whose addresses are refused right after accept, before TLS and
    /// before any byte is read (the connection is closed). Default none.
    pub deny_at_accept: Vec<std::sync::Arc<outpost_rules::ip::IpList>>,
}

impl Security {
    /// Whether a connection from `ip` is refused at accept.
    pub fn denies(&self, ip: std::net::IpAddr) -> bool {
        self.deny_at_accept.iter().any(|l| l.contains(ip))
    }
}

/// The access log (`[access_log]`).
#[derive(Debug, Clone, PartialEq)]
pub struct AccessLog {
    /// Default true.
    pub enabled: bool,
    pub target: LogTarget,
    /// Records queued for the writer; when full, records are dropped and counted. Default 16,384.
    pub buffer: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LogTarget {
    Stdout,
    File(PathBuf),
}

/// The admin listener (`[admin]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Admin {
    /// Default true.
    pub enabled: bool,
    /// Default `127.0.0.1:9901`.
    pub address: SocketAddr,
    /// Bearer token for state-changing endpoints; `None` disables them.
    pub token: Option<String>,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            workers: 0,
            shutdown_timeout: Duration::from_secs(30),
            watch_config: true,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            max_connections_per_client: 0,
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            max_uri_bytes: 8 * 1024,
            max_body_bytes: 1 << 30,
            h2_max_concurrent_streams: 128,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header_read: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            connect: Duration::from_secs(5),
            upstream_response: Duration::from_secs(60),
        }
    }
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            enabled: true,
            address: SocketAddr::from(([127, 0, 0, 1], 9901)),
            token: None,
        }
    }
}
