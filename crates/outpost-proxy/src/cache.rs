//! Phase 6, cache: between the edge logic and the origin of a pool route
//! with a `[routes.cache]` table. The `outpost_cache` crate decides (key,
//! RFC 9111 policy, store, coalescing); this module does what needs
//! sockets, bodies, timers and tasks: it serves hits (HEAD, ranges and
//! client conditionals included), forwards misses and tees their bodies
//! into the fill, revalidates, serves stale on origin errors when allowed,
//! streams coalesced requests from the leader's fill, refreshes in the
//! background for stale-while-revalidate, and invalidates after unsafe
//! methods. Every response on a cached route carries `Cache-Status`
//! (RFC 9211), and the access log gets a short `cache_status`.

mod body;

use std::sync::Arc;
use std::time::SystemTime;

use http::request::Parts;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body::Body as _;
use hyper::body::Incoming;
use outpost_cache::policy::{fill_request_headers, is_safe};
use outpost_cache::{
    BodyPlan, Bypass, CACHE_STATUS, Cache, CacheRequest, CacheStatus, ExchangeTimes, FillReader,
    FillWriter, Forward, Object, Outcome as Lookup, RequestInfo, ResponseHead,
};
use outpost_config::RouteCache;

pub use body::{BACKGROUND_FILL_TIMEOUT, CachedBody, FollowBody, TeeBody};

use crate::body::{BoxError, OutBody};
use crate::error::{ProxyError, status_page};
use crate::headers;
use crate::pipeline::{ConnInfo, Outcome};
use crate::pool::UpstreamPool;
use crate::proxy::{self, ForwardCtx};
use crate::runtime::Runtime;

/// What the cache phase gets from the pipeline for one request.
pub struct Phase<'a> {
    /// The runtime the request started on (kept by background refreshes).
    pub rt: &'a Arc<Runtime>,
    /// The route's cache settings.
    pub route: &'a RouteCache,
    /// Index of the route's pool in `rt.pools`.
    pub pool: usize,
    /// Forwarding context: connection, host, limits, metrics.
    pub fwd: &'a ForwardCtx<'a>,
}

/// What phase 6 decided without waiting on anything.
pub enum Start {
    /// Answered from the store (or 504 for `only-if-cached`): a hit never
    /// builds the origin path's future, whose size would otherwise be
    /// copied around for every request.
    Done(Response<OutBody>),
    /// The origin is needed: hand this to [`finish`].
    Origin(Work),
}

/// A request the cache phase sends on to the origin, and why.
pub struct Work(Step);

enum Step {
    /// Not GET/HEAD: forward, then invalidate what it touched.
    Unsafe(Request<Incoming>),
    /// Not cacheable here: forward, saying why.
    Around(Request<Incoming>, Forward),
    /// A cacheable request the store could not answer alone.
    Cached {
        creq: Arc<CacheRequest>,
        now: SystemTime,
        parts: Parts,
        next: Next,
    },
}

enum Next {
    Fill {
        writer: FillWriter,
        status: CacheStatus,
    },
    Revalidate {
        writer: FillWriter,
        stale: Arc<Object>,
        stale_if_error: bool,
    },
    Follow {
        reader: FillReader,
        stale: Option<Arc<Object>>,
        stale_if_error: bool,
    },
}

/// Runs phase 6 up to the point where the origin is needed: keys the
/// request, looks it up and serves hits on the spot.
pub fn start(req: Request<Incoming>, p: &Phase<'_>, outcome: &mut Outcome) -> Start {
    let cache = &p.rt.cache;
    if !is_safe(req.method()) {
        return Start::Origin(Work(Step::Unsafe(req)));
    }
    // A protocol upgrade or a GET with a body is not a cacheable exchange:
    // forward it whole.
    if headers::is_upgrade_request(req.headers()) || !req.body().is_end_stream() {
        return Start::Origin(Work(Step::Around(req, Forward::Bypass)));
    }
    let info = RequestInfo {
        method: req.method(),
        scheme: scheme(p.fwd.conn),
        host: p.fwd.host,
        uri: req.uri(),
        headers: req.headers(),
    };
    let creq = match cache.prepare(&p.route.settings, info) {
        Ok(r) => r,
        Err(Bypass::Method) => return Start::Origin(Work(Step::Around(req, Forward::Method))),
        Err(_) => return Start::Origin(Work(Step::Around(req, Forward::Bypass))),
    };
    let (parts, _empty) = req.into_parts();
    let now = SystemTime::now();
    let c = Ctx { p, creq, now };
    let next = match cache.lookup(&c.creq, now) {
        Lookup::Hit {
            object, refresh, ..
        } => {
            if let Some(writer) = refresh {
                c.spawn_refresh(writer, Arc::clone(&object), &parts);
            }
            return Start::Done(c.serve(&object, CacheStatus::hit(object.ttl(now)), outcome));
        }
        Lookup::GatewayTimeout => return Start::Done(c.only_if_cached(outcome)),
        Lookup::Miss { writer, forward } => Next::Fill {
            writer,
            status: CacheStatus::forward(forward),
        },
        Lookup::Revalidate {
            writer,
            stale,
            stale_if_error,
        } => Next::Revalidate {
            writer,
            stale,
            stale_if_error,
        },
        Lookup::Wait {
            reader,
            stale,
            stale_if_error,
        } => Next::Follow {
            reader,
            stale,
            stale_if_error,
        },
    };
    Start::Origin(Work(Step::Cached {
        creq: c.creq,
        now,
        parts,
        next,
    }))
}

/// Finishes phase 6 through the origin (phase 7) for what [`start`] could
/// not answer.
pub async fn finish(
    work: Work,
    p: &Phase<'_>,
    outcome: &mut Outcome,
) -> Result<Response<OutBody>, ProxyError> {
    match work.0 {
        Step::Unsafe(req) => unsafe_method(req, p, outcome).await,
        Step::Around(req, why) => around(req, p, why, outcome).await,
        Step::Cached {
            creq,
            now,
            parts,
            next,
        } => {
            let c = Ctx { p, creq, now };
            match next {
                Next::Fill { writer, status } => c.fill(parts, writer, status, outcome).await,
                Next::Revalidate {
                    writer,
                    stale,
                    stale_if_error,
                } => {
                    c.revalidate(parts, writer, stale, stale_if_error, outcome)
                        .await
                }
                Next::Follow {
                    reader,
                    stale,
                    stale_if_error,
                } => {
                    c.follow(parts, reader, stale, stale_if_error, outcome)
                        .await
                }
            }
        }
    }
}

/// The short form of a `Cache-Status` for the access log's `cache_status`:
/// `hit`, `stale` (served past freshness: stale-while-revalidate, a
/// client's `max-stale`, or stale-if-error), `revalidated` (the origin
/// answered 304), `expired` (revalidation brought a new response),
/// `collapsed` (answered from another request's origin fetch), `miss`,
/// `bypass` (route settings or the request's shape), `method` (not
/// GET/HEAD; unsafe methods invalidate).
pub fn log_value(s: &CacheStatus) -> &'static str {
    if s.detail == Some(STALE_IF_ERROR) {
        return "stale";
    }
    if s.hit {
        return if s.ttl.is_some_and(|t| t < 0) {
            "stale"
        } else {
            "hit"
        };
    }
    if s.collapsed {
        return "collapsed";
    }
    match s.fwd {
        Some(Forward::Bypass) => "bypass",
        Some(Forward::Method) => "method",
        Some(Forward::Stale) if s.fwd_status == Some(304) => "revalidated",
        Some(Forward::Stale) => "expired",
        _ => "miss",
    }
}

/// `Cache-Status` detail for a stale response served because the origin
/// failed.
const STALE_IF_ERROR: &str = "stale-if-error";

/// Non-GET/HEAD requests that may change state: forwarded, then the URLs
/// they touched are invalidated (RFC 9111 §4.4).
async fn unsafe_method(
    req: Request<Incoming>,
    p: &Phase<'_>,
    outcome: &mut Outcome,
) -> Result<Response<OutBody>, ProxyError> {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let mut status = CacheStatus::forward(Forward::Method);
    outcome.cache = Some(status);
    let resp = proxy::forward(req, &p.rt.pools[p.pool], p.fwd, outcome).await?;
    // Invalidation reads method, host and URI only.
    let no_headers = HeaderMap::new();
    let info = RequestInfo {
        method: &method,
        scheme: scheme(p.fwd.conn),
        host: p.fwd.host,
        uri: &uri,
        headers: &no_headers,
    };
    p.rt.cache
        .invalidate(&p.route.settings, info, resp.status(), resp.headers());
    status.fwd_status = Some(resp.status().as_u16());
    Ok(mark(resp, status, p, outcome))
}

/// Forwards a request around the cache, saying why in `Cache-Status`.
async fn around(
    req: Request<Incoming>,
    p: &Phase<'_>,
    why: Forward,
    outcome: &mut Outcome,
) -> Result<Response<OutBody>, ProxyError> {
    let mut status = CacheStatus::forward(why);
    outcome.cache = Some(status);
    let resp = proxy::forward(req, &p.rt.pools[p.pool], p.fwd, outcome).await?;
    status.fwd_status = Some(resp.status().as_u16());
    Ok(mark(resp, status, p, outcome))
}

/// Adds `Cache-Status`, strips the tag header when configured, and records
/// the status for the access log.
fn mark(
    mut resp: Response<OutBody>,
    status: CacheStatus,
    p: &Phase<'_>,
    outcome: &mut Outcome,
) -> Response<OutBody> {
    let h = resp.headers_mut();
    if p.route.strip_tag_header {
        h.remove(&p.route.settings.tag_header);
    }
    h.append(CACHE_STATUS, status_value(&p.rt.cache, &status));
    outcome.cache = Some(status);
    resp
}

/// The `Cache-Status` header value of `status` for this cache.
pub fn status_value(cache: &Cache, status: &CacheStatus) -> http::HeaderValue {
    status.to_header_value(&cache.config().name)
}

fn scheme(conn: &ConnInfo) -> &'static str {
    if conn.tls_version.is_some() {
        "https"
    } else {
        "http"
    }
}

/// One cacheable request being answered.
struct Ctx<'a, 'b> {
    p: &'a Phase<'b>,
    creq: Arc<CacheRequest>,
    now: SystemTime,
}

impl Ctx<'_, '_> {
    fn cache(&self) -> &Cache {
        &self.p.rt.cache
    }

    fn pool(&self) -> &Arc<UpstreamPool> {
        &self.p.rt.pools[self.p.pool]
    }

    /// Largest body the route's fills may store.
    fn limit(&self) -> u64 {
        let route = self.creq.route().max_object_bytes;
        route.min(self.cache().config().max_object_bytes)
    }

    /// Answers from a stored object: `Age`, `Cache-Status`, 304 to the
    /// client's conditionals, 206/416 to a `Range`, no body to HEAD.
    fn serve(
        &self,
        object: &Arc<Object>,
        status: CacheStatus,
        outcome: &mut Outcome,
    ) -> Response<OutBody> {
        let served = self.cache().serve(&self.creq, object, &status, self.now);
        let body = match served.body {
            BodyPlan::Empty => OutBody::Empty,
            BodyPlan::Full => {
                OutBody::Cached(CachedBody::new(Arc::clone(object), 0..object.body_len()))
            }
            BodyPlan::Range(r) => OutBody::Cached(CachedBody::new(Arc::clone(object), r)),
        };
        let mut resp = Response::new(body);
        *resp.status_mut() = served.head.status;
        *resp.headers_mut() = served.head.headers;
        if self.p.route.strip_tag_header {
            resp.headers_mut().remove(&self.p.route.settings.tag_header);
        }
        outcome.cache = Some(status);
        resp
    }

    /// A miss: fetches a full response (the client's conditionals and
    /// `Range` removed) and streams it to the client through the fill.
    async fn fill(
        &self,
        mut parts: Parts,
        writer: FillWriter,
        status: CacheStatus,
        outcome: &mut Outcome,
    ) -> Result<Response<OutBody>, ProxyError> {
        fill_request_headers(&mut parts.headers, None);
        outcome.cache = Some(status);
        let request_time = SystemTime::now();
        // On an origin error the writer is dropped: the fill aborts and its
        // followers fetch for themselves.
        let resp = proxy::forward_head(parts, self.pool(), self.p.fwd, outcome).await?;
        Ok(self.tee(resp, writer, request_time, status, outcome))
    }

    /// Hands the origin's head to the fill and, when it will be stored,
    /// tees the body into it.
    fn tee(
        &self,
        resp: Response<OutBody>,
        mut writer: FillWriter,
        request_time: SystemTime,
        mut status: CacheStatus,
        outcome: &mut Outcome,
    ) -> Response<OutBody> {
        let times = ExchangeTimes {
            request_time,
            response_time: SystemTime::now(),
        };
        let head = ResponseHead::new(resp.status(), resp.headers().clone());
        status.fwd_status = Some(resp.status().as_u16());
        status.stored = writer.start(&head, times).is_ok();
        // The origin was asked for the whole response; the client's own
        // conditionals and Range apply to it as to a stored one, whether or
        // not it is stored. What the client does not take is read into the
        // fill in the background (when there is one).
        if !status.stored && !asks_for_part(&self.creq) {
            return mark(resp, status, self.p, outcome);
        }
        let served = self.cache().serve_streaming(&self.creq, &head);
        if !status.stored && served.body == BodyPlan::Full {
            return mark(resp, status, self.p, outcome);
        }
        let (mut parts, body) = resp.into_parts();
        let tee = if status.stored {
            TeeBody::new(body, writer, self.limit())
        } else {
            TeeBody::without_fill(body)
        };
        let body = match served.body {
            BodyPlan::Full => OutBody::Tee(Box::new(tee)),
            BodyPlan::Range(r) => OutBody::Tee(Box::new(tee.window(r))),
            BodyPlan::Empty => {
                drop(tee);
                OutBody::Empty
            }
        };
        parts.status = served.head.status;
        parts.headers = served.head.headers;
        mark(Response::from_parts(parts, body), status, self.p, outcome)
    }

    /// A stored response that must be validated: a conditional request;
    /// 304 refreshes and serves it, 5xx or an error serves it stale when
    /// stale-if-error allows, anything else replaces it like a miss.
    async fn revalidate(
        &self,
        mut parts: Parts,
        writer: FillWriter,
        stale: Arc<Object>,
        stale_if_error: bool,
        outcome: &mut Outcome,
    ) -> Result<Response<OutBody>, ProxyError> {
        let unconditional = parts.clone();
        fill_request_headers(&mut parts.headers, Some(&stale.head().headers));
        let mut status = CacheStatus::forward(Forward::Stale);
        outcome.cache = Some(status);
        let request_time = SystemTime::now();
        let resp = match proxy::forward_head(parts, self.pool(), self.p.fwd, outcome).await {
            Ok(r) => r,
            Err(_) if stale_if_error => return Ok(self.stale_if_error(&stale, None, outcome)),
            Err(e) => return Err(e),
        };
        let code = resp.status();
        if code.is_server_error() && stale_if_error {
            return Ok(self.stale_if_error(&stale, Some(code), outcome));
        }
        if code != StatusCode::NOT_MODIFIED {
            return Ok(self.tee(resp, writer, request_time, status, outcome));
        }
        let head = ResponseHead::new(code, resp.headers().clone());
        // A 304 has no body; reading it to its end returns the connection.
        drop(resp);
        let times = ExchangeTimes {
            request_time,
            response_time: SystemTime::now(),
        };
        match writer.not_modified(&stale, &head, times) {
            Ok(refreshed) => {
                status.fwd_status = Some(304);
                status.stored = refreshed.stored;
                status.ttl = Some(refreshed.object.ttl(self.now));
                Ok(self.serve(&refreshed.object, status, outcome))
            }
            // The 304 was for another representation: fetch it whole.
            Err(_) => {
                let writer = self.cache().detached_fill(&self.creq);
                Box::pin(self.fill(unconditional, writer, status, outcome)).await
            }
        }
    }

    /// Serves `stale` because the origin failed (`code`, or no response).
    fn stale_if_error(
        &self,
        stale: &Arc<Object>,
        code: Option<StatusCode>,
        outcome: &mut Outcome,
    ) -> Response<OutBody> {
        self.cache().counters().stale_if_error_served();
        let status = CacheStatus {
            fwd: Some(Forward::Stale),
            fwd_status: code.map(|c| c.as_u16()),
            ttl: Some(stale.ttl(self.now)),
            detail: Some(STALE_IF_ERROR),
            ..CacheStatus::default()
        };
        self.serve(stale, status, outcome)
    }

    /// Another request is fetching this key: stream its response as it
    /// arrives. When its head does not come within `coalesce_wait`, or it
    /// cannot be shared, fetch alone (validating `stale` if there is one).
    async fn follow(
        &self,
        parts: Parts,
        mut reader: FillReader,
        stale: Option<Arc<Object>>,
        stale_if_error: bool,
        outcome: &mut Outcome,
    ) -> Result<Response<OutBody>, ProxyError> {
        let wait = self.creq.route().coalesce_wait;
        match tokio::time::timeout(wait, reader.head()).await {
            Ok(Ok(head)) => {
                let status = CacheStatus {
                    fwd: Some(Forward::Miss),
                    fwd_status: Some(head.status.as_u16()),
                    collapsed: true,
                    ..CacheStatus::default()
                };
                // The client's own conditionals and Range apply to the
                // shared response as they would to a stored one.
                let served = self.cache().serve_streaming(&self.creq, &head);
                let resume = || self.resume(&parts, &head);
                let body = match served.body {
                    BodyPlan::Empty => OutBody::Empty,
                    BodyPlan::Full => OutBody::Follow(FollowBody::new(reader, None, resume())),
                    BodyPlan::Range(r) => {
                        OutBody::Follow(FollowBody::new(reader, Some(r), resume()))
                    }
                };
                let mut resp = Response::new(body);
                *resp.status_mut() = served.head.status;
                *resp.headers_mut() = served.head.headers;
                Ok(mark(resp, status, self.p, outcome))
            }
            waited => {
                if waited.is_err() {
                    self.cache().counters().coalesce_timeouts();
                }
                let writer = self.cache().detached_fill(&self.creq);
                match stale {
                    Some(stale) => {
                        Box::pin(self.revalidate(parts, writer, stale, stale_if_error, outcome))
                            .await
                    }
                    None => {
                        let status = CacheStatus::forward(Forward::Miss);
                        Box::pin(self.fill(parts, writer, status, outcome)).await
                    }
                }
            }
        }
    }

    /// `only-if-cached` with nothing usable stored: 504 (RFC 9111 §5.2.1.7).
    fn only_if_cached(&self, outcome: &mut Outcome) -> Response<OutBody> {
        let status = CacheStatus {
            fwd: Some(Forward::Miss),
            detail: Some("only-if-cached"),
            ..CacheStatus::default()
        };
        mark(
            status_page(StatusCode::GATEWAY_TIMEOUT),
            status,
            self.p,
            outcome,
        )
    }

    /// How a coalesced request fetches the rest of a body that outgrew the
    /// fill's buffer: only for a response with a strong `ETag`, which an
    /// `If-Range` request can tie the rest to.
    fn resume(&self, parts: &Parts, head: &ResponseHead) -> Option<Resume> {
        let etag = head.headers.get(header::ETAG)?;
        if etag.as_bytes().starts_with(b"W/") {
            return None;
        }
        let mut parts = parts.clone();
        fill_request_headers(&mut parts.headers, None);
        parts.method = http::Method::GET;
        Some(Resume {
            rt: Arc::clone(self.p.rt),
            conn: self.p.fwd.conn.clone(),
            host: self.p.fwd.host.to_owned(),
            pool: self.p.pool,
            parts,
            etag: etag.clone(),
        })
    }

    /// Starts a stale-while-revalidate refresh on its own task; the client
    /// already has its stale answer.
    fn spawn_refresh(&self, writer: FillWriter, stale: Arc<Object>, parts: &Parts) {
        let mut parts = parts.clone();
        fill_request_headers(&mut parts.headers, Some(&stale.head().headers));
        let job = Refresh {
            rt: Arc::clone(self.p.rt),
            conn: self.p.fwd.conn.clone(),
            host: self.p.fwd.host.to_owned(),
            pool: self.p.pool,
            limit: self.limit(),
        };
        tokio::spawn(job.run(parts, writer, stale));
    }
}

/// The rest of a shared body, fetched by one coalesced request after the
/// fill stopped buffering (too large to share): `Range: bytes=N-` with
/// `If-Range` set to the response's strong `ETag`, so only the same
/// representation continues what the client already has.
pub struct Resume {
    rt: Arc<Runtime>,
    conn: ConnInfo,
    host: String,
    pool: usize,
    /// The request head, without conditionals and `Range`.
    parts: Parts,
    etag: HeaderValue,
}

/// The origin would not continue the same representation.
#[derive(Debug, thiserror::Error)]
#[error("the origin could not continue the shared response from byte {offset}")]
pub struct ResumeFailed {
    offset: u64,
}

impl Resume {
    /// The body from byte `offset` on, and how many of its leading bytes to
    /// skip: a `206` starting at `offset` (skip 0), or a `200` with the same
    /// `ETag` from an origin that ignores ranges (skip `offset`).
    pub async fn fetch(self, offset: u64) -> Result<(OutBody, u64), BoxError> {
        let Resume {
            rt,
            conn,
            host,
            pool,
            mut parts,
            etag,
        } = self;
        let range = HeaderValue::try_from(format!("bytes={offset}-"))?;
        parts.headers.insert(header::RANGE, range);
        parts.headers.insert(header::IF_RANGE, etag.clone());
        let fwd = ForwardCtx {
            conn: &conn,
            host: &host,
            limits: &rt.config.limits,
            bytes_in: Arc::default(),
            metrics: &rt.metrics,
        };
        let counters = rt.cache.counters();
        let failed = || {
            counters.follower_resume_failures();
            ResumeFailed { offset }
        };
        let mut outcome = Outcome::new();
        let resp = proxy::forward_head(parts, &rt.pools[pool], &fwd, &mut outcome)
            .await
            .map_err(|_| failed())?;
        let tag = resp.headers().get(header::ETAG);
        let skip = match resp.status() {
            StatusCode::PARTIAL_CONTENT
                if tag.is_none_or(|t| t == etag) && range_start(resp.headers()) == Some(offset) =>
            {
                0
            }
            StatusCode::OK if tag == Some(&etag) => offset,
            _ => return Err(failed().into()),
        };
        counters.follower_resumes();
        Ok((resp.into_body(), skip))
    }
}

/// Whether the answer to `req` may be other than the whole response: a
/// `HEAD`, a `Range` or a conditional. A response that is not stored skips
/// the answer logic (and its header copy) otherwise.
fn asks_for_part(req: &CacheRequest) -> bool {
    let h = req.headers();
    req.method() == http::Method::HEAD
        || h.contains_key(header::RANGE)
        || h.contains_key(header::IF_NONE_MATCH)
        || h.contains_key(header::IF_MODIFIED_SINCE)
}

/// The first byte position of a `Content-Range: bytes first-last/len`.
fn range_start(h: &HeaderMap) -> Option<u64> {
    let v = h.get(header::CONTENT_RANGE)?.to_str().ok()?;
    let rest = v.strip_prefix("bytes ")?;
    rest.split('-').next()?.trim().parse().ok()
}

/// A background revalidation, owning what it needs beyond the request.
struct Refresh {
    rt: Arc<Runtime>,
    conn: ConnInfo,
    host: String,
    pool: usize,
    limit: u64,
}

impl Refresh {
    /// Sends the conditional request; a 304 refreshes the stored object, a
    /// new non-5xx response replaces it, anything else leaves it (stale) in
    /// place. Bounded by [`BACKGROUND_FILL_TIMEOUT`].
    async fn run(self, parts: Parts, writer: FillWriter, stale: Arc<Object>) {
        let fwd = ForwardCtx {
            conn: &self.conn,
            host: &self.host,
            limits: &self.rt.config.limits,
            bytes_in: Arc::default(),
            metrics: &self.rt.metrics,
        };
        let pool = &self.rt.pools[self.pool];
        let work = async {
            let mut outcome = Outcome::new();
            let request_time = SystemTime::now();
            let Ok(resp) = proxy::forward_head(parts, pool, &fwd, &mut outcome).await else {
                return;
            };
            let times = ExchangeTimes {
                request_time,
                response_time: SystemTime::now(),
            };
            let head = ResponseHead::new(resp.status(), resp.headers().clone());
            if head.status == StatusCode::NOT_MODIFIED {
                let _ = writer.not_modified(&stale, &head, times);
            } else if !head.status.is_server_error() {
                let mut writer = writer;
                if writer.start(&head, times).is_ok() {
                    body::drain_into(resp.into_body(), writer, 0, self.limit).await;
                }
            }
        };
        let _ = tokio::time::timeout(BACKGROUND_FILL_TIMEOUT, work).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_values_follow_the_cache_status() {
        assert_eq!(log_value(&CacheStatus::hit(10)), "hit");
        assert_eq!(log_value(&CacheStatus::hit(-3)), "stale");
        let mut s = CacheStatus::forward(Forward::Stale);
        assert_eq!(log_value(&s), "expired");
        s.fwd_status = Some(304);
        assert_eq!(log_value(&s), "revalidated");
        s.detail = Some(STALE_IF_ERROR);
        assert_eq!(log_value(&s), "stale");
        assert_eq!(log_value(&CacheStatus::forward(Forward::UriMiss)), "miss");
        assert_eq!(log_value(&CacheStatus::forward(Forward::Bypass)), "bypass");
        let collapsed = CacheStatus {
            collapsed: true,
            fwd: Some(Forward::Miss),
            ..CacheStatus::default()
        };
        assert_eq!(log_value(&collapsed), "collapsed");
    }
}
