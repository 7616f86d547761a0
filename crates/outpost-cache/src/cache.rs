//! The cache as the proxy drives it: [`Cache::prepare`] turns a request
//! into a [`CacheRequest`] (or a bypass), [`Cache::lookup`] says what to do
//! with it ([`Outcome`]), fills feed origin responses back, and
//! [`Cache::serve`] builds the response head for a stored object (`Age`,
//! `Cache-Status`, 304 to conditionals, 206 to ranges, HEAD). Purges,
//! invalidation and metrics hang off the same handle. Cloning a [`Cache`]
//! is cheap: every clone shares one store.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use http::header::{
    ACCEPT_RANGES, AGE, CONTENT_LENGTH, CONTENT_RANGE, HeaderName, HeaderValue, TRANSFER_ENCODING,
};
use http::{HeaderMap, Method, StatusCode, Uri};

use crate::directives::RequestDirectives;
use crate::fill::{FillReader, FillRegistry, FillWriter, Join};
use crate::key::{CacheKey, KeyError, cookie_value};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::policy::{
    CacheStatus, Decision, Forward, RangeAnswer, age_value, answer_range, client_not_modified,
    content_range, declared_length, invalidation_targets, is_sf_token,
};
use crate::purge::{Purge, PurgeError, PurgeMode, PurgeOutcome, Target};
use crate::settings::{CacheConfig, RouteSettings};
use crate::store::{Lookup, Object, ResponseHead, Store, StoreConfig};

/// The `Cache-Status` header name (RFC 9211).
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// A [`CacheConfig`] that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The name is not an sf-token (letters first, then token characters).
    #[error("cache name {0:?} is not a structured-field token")]
    Name(String),
    /// Capacity below one maximum-size object.
    #[error("capacity_bytes must be at least max_object_bytes")]
    Capacity,
    /// `max_fills` is zero.
    #[error("max_fills must be at least 1")]
    MaxFills,
}

/// Why a request goes around the cache.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Bypass {
    /// Caching is off on the route.
    #[error("cache disabled on the route")]
    Disabled,
    /// Only GET and HEAD are served from the cache.
    #[error("method not cacheable")]
    Method,
    /// A bypass cookie is present.
    #[error("bypass cookie {0}")]
    Cookie(String),
    /// A bypass header is present.
    #[error("bypass header {0}")]
    Header(HeaderName),
    /// No key could be built.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The parts of a request the cache needs, borrowed from the proxy's
/// request.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    /// Method.
    pub method: &'a Method,
    /// `http` or `https`, as the client connected.
    pub scheme: &'a str,
    /// Host header or `:authority`.
    pub host: &'a str,
    /// Request target.
    pub uri: &'a Uri,
    /// Header fields.
    pub headers: &'a HeaderMap,
}

/// A request the cache handles: its key, directives and headers.
#[derive(Debug)]
pub struct CacheRequest {
    route: Arc<RouteSettings>,
    key: CacheKey,
    method: Method,
    directives: RequestDirectives,
    headers: HeaderMap,
}

impl CacheRequest {
    /// The primary key.
    pub fn key(&self) -> &CacheKey {
        &self.key
    }

    /// The route's settings.
    pub fn route(&self) -> &RouteSettings {
        &self.route
    }

    /// Request method (GET or HEAD).
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// Parsed request `Cache-Control`.
    pub fn directives(&self) -> &RequestDirectives {
        &self.directives
    }

    /// The request's header fields.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}

/// What to do with a cacheable request.
#[derive(Debug)]
pub enum Outcome {
    /// Serve `object` (with [`Cache::serve`]). `stale` says it is served
    /// past its freshness; `refresh`, when present, is a fill to run in the
    /// background with a conditional request (stale-while-revalidate; only
    /// one refresh per key at a time).
    Hit {
        /// The stored response.
        object: Arc<Object>,
        /// Served stale.
        stale: bool,
        /// Background revalidation to run, if this request should start it.
        refresh: Option<FillWriter>,
    },
    /// Nothing usable stored: fetch from the origin (after
    /// `policy::fill_request_headers(.., None)`) and feed `writer`.
    Miss {
        /// The fill to feed.
        writer: FillWriter,
        /// `fwd` for `Cache-Status`.
        forward: Forward,
    },
    /// A stored response needs validation: send a conditional request
    /// (`policy::fill_request_headers(.., Some(stale headers))`); on 304 call
    /// [`FillWriter::not_modified`]; on a new response feed `writer`; on an
    /// origin error or 5xx, serve `stale` when `stale_if_error`.
    Revalidate {
        /// The fill to feed.
        writer: FillWriter,
        /// The stored response.
        stale: Arc<Object>,
        /// Whether stale-if-error allows serving `stale` on origin errors.
        stale_if_error: bool,
    },
    /// Another request is fetching this key: wait on `reader` (bounded by
    /// `coalesce_wait`). On a [`crate::FillError`] or timeout, fetch
    /// yourself (via [`Cache::detached_fill`]), or serve `stale` when
    /// `stale_if_error` and the origin fails.
    Wait {
        /// The shared fill.
        reader: FillReader,
        /// A stored response being revalidated, if any.
        stale: Option<Arc<Object>>,
        /// Whether stale-if-error allows serving `stale`.
        stale_if_error: bool,
    },
    /// `only-if-cached` and nothing usable: answer 504.
    GatewayTimeout,
}

/// The body to send with a [`Served`] head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyPlan {
    /// No body (HEAD, 304, 416).
    Empty,
    /// The whole stored body ([`Object::body`]).
    Full,
    /// These bytes ([`Object::body_range`]).
    Range(Range<u64>),
}

/// A response built from a stored object.
#[derive(Debug, Clone)]
pub struct Served {
    /// Status and headers, `Age` and `Cache-Status` included.
    pub head: ResponseHead,
    /// What body to send.
    pub body: BodyPlan,
}

/// Shared state behind every [`Cache`] clone.
#[derive(Debug)]
pub(crate) struct Core {
    pub store: Store,
    pub metrics: Metrics,
    pub fills: FillRegistry,
    pub config: CacheConfig,
    pub fill_bytes: AtomicU64,
}

/// The cache: store, fills, metrics. Clone to share.
#[derive(Debug, Clone)]
pub struct Cache {
    core: Arc<Core>,
}

impl Cache {
    /// A cache with an empty store.
    pub fn new(config: CacheConfig) -> Result<Cache, ConfigError> {
        if !is_sf_token(&config.name) {
            return Err(ConfigError::Name(config.name));
        }
        if config.capacity_bytes < config.max_object_bytes {
            return Err(ConfigError::Capacity);
        }
        if config.max_fills == 0 {
            return Err(ConfigError::MaxFills);
        }
        let store = Store::new(StoreConfig {
            capacity_bytes: config.capacity_bytes,
            shards: config.shards,
            max_object_bytes: config.max_object_bytes,
            ..StoreConfig::default()
        });
        let core = Core {
            store,
            metrics: Metrics::default(),
            fills: FillRegistry::new(config.max_fills),
            config,
            fill_bytes: AtomicU64::new(0),
        };
        Ok(Cache {
            core: Arc::new(core),
        })
    }

    /// Decides whether the cache handles a request on `route` and, if so,
    /// builds its key. Bypasses are counted.
    pub fn prepare(
        &self,
        route: &Arc<RouteSettings>,
        req: RequestInfo<'_>,
    ) -> Result<Arc<CacheRequest>, Bypass> {
        let checked = bypass(route, &req).and_then(|()| {
            let key = CacheKey::new(&route.key, req.scheme, req.host, req.uri, req.headers)?;
            Ok(key)
        });
        let key = checked.inspect_err(|_| self.core.metrics.bypasses())?;
        Ok(Arc::new(CacheRequest {
            route: Arc::clone(route),
            key,
            method: req.method.clone(),
            directives: RequestDirectives::parse(req.headers),
            headers: req.headers.clone(),
        }))
    }

    /// Looks the request up and says how to answer it.
    pub fn lookup(&self, req: &Arc<CacheRequest>, now: SystemTime) -> Outcome {
        match self.core.store.get(&req.key, &req.headers) {
            Lookup::Hit(object) => self.on_stored(req, object, now),
            Lookup::VaryMiss => self.on_miss(req, Forward::VaryMiss),
            Lookup::UriMiss => self.on_miss(req, Forward::UriMiss),
        }
    }

    fn on_stored(&self, req: &Arc<CacheRequest>, object: Arc<Object>, now: SystemTime) -> Outcome {
        let metrics = &self.core.metrics;
        match object.decide(&req.directives, now) {
            Decision::Fresh => {
                metrics.hits();
                Outcome::Hit {
                    object,
                    stale: false,
                    refresh: None,
                }
            }
            Decision::ServeStale { refresh } => {
                metrics.hits();
                metrics.stale_served();
                let refresh = refresh
                    .then(|| self.core.fills.lead_if_idle(&req.key))
                    .flatten()
                    .map(|shared| {
                        FillWriter::new(Arc::clone(&self.core), Arc::clone(req), shared, true)
                    });
                Outcome::Hit {
                    object,
                    stale: true,
                    refresh,
                }
            }
            Decision::Revalidate { stale_if_error } => match self.join(req) {
                Ok(writer) => Outcome::Revalidate {
                    writer: writer.revalidating(),
                    stale: object,
                    stale_if_error,
                },
                Err(reader) => Outcome::Wait {
                    reader,
                    stale: Some(object),
                    stale_if_error,
                },
            },
            Decision::GatewayTimeout => Outcome::GatewayTimeout,
        }
    }

    fn on_miss(&self, req: &Arc<CacheRequest>, forward: Forward) -> Outcome {
        if req.directives.only_if_cached {
            return Outcome::GatewayTimeout;
        }
        self.core.metrics.misses();
        match self.join(req) {
            Ok(writer) => Outcome::Miss { writer, forward },
            Err(reader) => Outcome::Wait {
                reader,
                stale: None,
                stale_if_error: false,
            },
        }
    }

    /// Leads or follows the key's fill. HEAD and `no-store` requests never
    /// lead a shared fill (their responses are not stored) and HEAD never
    /// follows one: both fetch alone.
    fn join(&self, req: &Arc<CacheRequest>) -> Result<FillWriter, FillReader> {
        if req.method != Method::GET || req.directives.no_store {
            return Ok(self.detached_fill(req));
        }
        match self.core.fills.join(&req.key) {
            Join::Leader(shared, _) => Ok(FillWriter::new(
                Arc::clone(&self.core),
                Arc::clone(req),
                shared,
                false,
            )),
            Join::Follower(shared) => {
                self.core.metrics.coalesced_waits();
                Err(FillReader::new(shared, Arc::clone(req)))
            }
        }
    }

    /// A fill no other request can join: for a request that gave up
    /// waiting, or whose fill failed, and still wants to store what it
    /// fetches.
    pub fn detached_fill(&self, req: &Arc<CacheRequest>) -> FillWriter {
        FillWriter::new(
            Arc::clone(&self.core),
            Arc::clone(req),
            FillRegistry::detached(),
            false,
        )
    }

    /// The response head for serving `object` to `req` at `now`: adds
    /// `Age` and this cache's `Cache-Status` member, answers the client's
    /// conditionals with 304 and a single `Range` with 206 (or 416), and
    /// sends no body to HEAD.
    pub fn serve(
        &self,
        req: &CacheRequest,
        object: &Object,
        status: &CacheStatus,
        now: SystemTime,
    ) -> Served {
        let mut headers = object.head().headers.clone();
        headers.remove(TRANSFER_ENCODING);
        headers.insert(AGE, age_value(object.current_age(now)));
        headers.append(CACHE_STATUS, status.to_header_value(&self.core.config.name));
        let len = object.body_len();
        answer(req, object.head(), headers, Some(len))
    }

    /// The response head for a request answered from a fill as it streams
    /// in (the fetching request itself, or a coalesced one; `head` is the
    /// origin's): the
    /// client's conditionals get 304 and a single `Range` 206 (or 416) when
    /// the origin declared the body's length, as [`Cache::serve`] does for
    /// stored objects. `Cache-Status` is the caller's to add.
    pub fn serve_streaming(&self, req: &CacheRequest, head: &ResponseHead) -> Served {
        let len = declared_length(&head.headers);
        answer(req, head, head.headers.clone(), len)
    }

    /// Invalidates the stored responses an unsafe request made stale
    /// (RFC 9111 §4.4): call with every response to a non-GET/HEAD request
    /// on a cached route. Returns the objects removed.
    pub fn invalidate(
        &self,
        route: &RouteSettings,
        req: RequestInfo<'_>,
        status: StatusCode,
        response: &HeaderMap,
    ) -> u64 {
        let targets =
            invalidation_targets(&route.key, req.method, req.host, req.uri, status, response);
        let mut removed = 0;
        for t in targets {
            self.core.metrics.invalidations();
            let target = Target::Url {
                host: t.host,
                url: t.url,
            };
            removed += self.core.store.purge_target(target, PurgeMode::Hard);
        }
        removed
    }

    /// Carries out a purge. It is done when this returns; its cost grows
    /// with the objects it matches, not with the store's size.
    pub fn purge(&self, purge: &Purge) -> Result<PurgeOutcome, PurgeError> {
        let objects = self.core.store.purge(purge)?;
        self.core.metrics.purged(objects);
        Ok(PurgeOutcome { objects })
    }

    /// Every counter and the store's totals.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.core.metrics.snapshot(self.core.store.stats())
    }

    /// The counters, for the events only the proxy sees
    /// ([`Metrics::stale_if_error_served`], [`Metrics::coalesce_timeouts`]).
    pub fn counters(&self) -> &Metrics {
        &self.core.metrics
    }

    /// The store, for inspection and tests.
    pub fn store(&self) -> &Store {
        &self.core.store
    }

    /// Fills in flight.
    pub fn fills_in_flight(&self) -> usize {
        self.core.fills.len()
    }

    /// The configuration the cache was built with.
    pub fn config(&self) -> &CacheConfig {
        &self.core.config
    }
}

/// The route's bypass rules, checked in order: disabled, method, cookies,
/// headers. An `Authorization` request is not bypassed: the storability
/// rules handle it.
fn bypass(route: &RouteSettings, req: &RequestInfo<'_>) -> Result<(), Bypass> {
    if !route.enabled {
        return Err(Bypass::Disabled);
    }
    if *req.method != Method::GET && *req.method != Method::HEAD {
        return Err(Bypass::Method);
    }
    if let Some(c) = route
        .bypass_cookies
        .iter()
        .find(|c| cookie_value(req.headers, c).is_some())
    {
        return Err(Bypass::Cookie(c.clone()));
    }
    if let Some(h) = route
        .bypass_headers
        .iter()
        .find(|h| req.headers.contains_key(*h))
    {
        return Err(Bypass::Header(h.clone()));
    }
    Ok(())
}

fn range_plan(headers: &mut HeaderMap, answer: RangeAnswer, len: u64) -> (StatusCode, BodyPlan) {
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    match answer {
        RangeAnswer::Full => (StatusCode::OK, BodyPlan::Full),
        RangeAnswer::Partial(r) => {
            let value = HeaderValue::from_str(&content_range(&r, len))
                .unwrap_or(HeaderValue::from_static("bytes */0"));
            headers.insert(CONTENT_RANGE, value);
            headers.insert(CONTENT_LENGTH, HeaderValue::from(r.end - r.start));
            (StatusCode::PARTIAL_CONTENT, BodyPlan::Range(r))
        }
        RangeAnswer::Unsatisfiable => {
            let value = HeaderValue::from_str(&format!("bytes */{len}"))
                .unwrap_or(HeaderValue::from_static("bytes */0"));
            headers.insert(CONTENT_RANGE, value);
            headers.insert(CONTENT_LENGTH, HeaderValue::from(0u64));
            (StatusCode::RANGE_NOT_SATISFIABLE, BodyPlan::Empty)
        }
    }
}

/// Answers `req` from a full response (`stored`, with `headers` already
/// prepared to send) whose body is `len` bytes when known: 304 to satisfied
/// conditionals, 206/416 to a single `Range`, no body to HEAD.
fn answer(
    req: &CacheRequest,
    stored: &ResponseHead,
    mut headers: HeaderMap,
    len: Option<u64>,
) -> Served {
    if stored.status.is_success() && client_not_modified(&req.headers, &headers) {
        headers.remove(CONTENT_LENGTH);
        return served(StatusCode::NOT_MODIFIED, headers, BodyPlan::Empty);
    }
    let (status, body) = match (stored.status, len) {
        (StatusCode::OK, Some(len)) => range_plan(
            &mut headers,
            answer_range(&req.headers, &stored.headers, len),
            len,
        ),
        (s, _) => (s, BodyPlan::Full),
    };
    if let Some(len) = len
        && body == BodyPlan::Full
        && !matches!(status, StatusCode::NO_CONTENT)
    {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    let body = if req.method == Method::HEAD {
        BodyPlan::Empty
    } else {
        body
    };
    served(status, headers, body)
}

fn served(status: StatusCode, headers: HeaderMap, body: BodyPlan) -> Served {
    Served {
        head: ResponseHead::new(status, headers),
        body,
    }
}
