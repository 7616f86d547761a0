//! The request pipeline: the orchestrator holds only phase calls and their
//! error branches (see docs/phases.md). Phases: read checks, route, security
//! and edge logic (the config's rules), cache (pool routes with a
//! `[routes.cache]` table), origin (built-in or upstream), response, log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Instant, SystemTime};

use http::{HeaderValue, Request, Response, Version, header};
use hyper::body::Incoming;
use outpost_config::RouteAction;
use outpost_logs::record::{AccessRecord, format_rfc3339_millis};

use crate::body::{CountedBody, OutBody};
use crate::error::{ErrorKind, ProxyError, error_response};
use crate::headers;
use crate::observe::Pending;
use crate::router::normalize_host;
use crate::runtime::Runtime;
use crate::{cache, proxy, rules, static_files};

/// What the pipeline knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub listener: Arc<str>,
    pub peer: SocketAddr,
    /// The peer IP as text (IPv4-mapped IPv6 shown as IPv4), formatted once per connection.
    pub client_ip: Arc<str>,
    /// `TLSv1.2` / `TLSv1.3` on TLS listeners.
    pub tls_version: Option<&'static str>,
    /// The server name the client sent in SNI, on TLS listeners.
    pub sni: Option<Arc<str>>,
}

/// Facts gathered while the request passes the phases, for the log phase.
pub struct Outcome {
    pub route: Option<usize>,
    pub upstream_addr: Option<Arc<str>>,
    pub upstream_ms: Option<f64>,
    /// Backends tried (0 when no backend was).
    pub tries: u32,
    pub error: Option<ErrorKind>,
    /// Ids of the rules that matched, in order.
    pub rules: Vec<Arc<str>>,
    /// What the cache did, on cached routes.
    pub cache: Option<outpost_cache::CacheStatus>,
}

impl Outcome {
    /// Nothing known yet.
    pub fn new() -> Self {
        Outcome {
            route: None,
            upstream_addr: None,
            upstream_ms: None,
            tries: 0,
            error: None,
            rules: Vec::new(),
            cache: None,
        }
    }
}

/// Status logged for a request whose client went away before a response
/// head was ready (nginx's convention).
const CLIENT_CLOSED: u16 = 499;

/// Runs one request through every phase and returns the response to send.
pub async fn handle(
    mut req: Request<Incoming>,
    conn: &ConnInfo,
    rt: Arc<Runtime>,
) -> Response<CountedBody> {
    let start = Instant::now();
    let request_id = headers::request_id(req.headers_mut());
    let host = request_host(&req);
    let bytes_in = Arc::new(AtomicU64::new(0));
    let record = rt.logger.clone().map(|logger| {
        let id = request_id.to_str().unwrap_or_default();
        let rec = begin_record(&req, conn, &host, id, SystemTime::now());
        (rec, logger)
    });
    // If hyper drops this future (the client closed the connection while we
    // waited on the origin), the guard still logs the request, as a 499.
    let mut guard = AbandonGuard(Some(Pending {
        start,
        status: CLIENT_CLOSED,
        bytes_in: bytes_in.clone(),
        metrics: rt.no_route.clone(),
        record,
    }));
    let mut outcome = Outcome::new();

    let mut resp = match run_phases(req, conn, &rt, &host, &bytes_in, &mut outcome).await {
        Ok(r) => r,
        Err(e) => {
            outcome.error = Some(e.kind);
            let mut resp = error_response(e);
            // Errors on a cached route say what the cache did, too.
            if let Some(s) = &outcome.cache {
                let v = cache::status_value(&rt.cache, s);
                resp.headers_mut().insert(outpost_cache::CACHE_STATUS, v);
            }
            resp
        }
    };
    // Unique per response: marked never-indexed for HPACK, or every HTTP/2
    // response would insert it into the connection's header table, evicting
    // the values that do repeat and leaving a chain of old ids to compare.
    let mut request_id = request_id;
    request_id.set_sensitive(true);
    resp.headers_mut()
        .insert(headers::X_REQUEST_ID.clone(), request_id);
    let pending = guard.0.take().map(|p| complete(p, &resp, &rt, outcome));
    resp.map(|b| CountedBody::new(b, pending))
}

struct AbandonGuard(Option<Pending>);

impl Drop for AbandonGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            p.finish(0, false);
        }
    }
}

async fn run_phases(
    mut req: Request<Incoming>,
    conn: &ConnInfo,
    rt: &Arc<Runtime>,
    host: &str,
    bytes_in: &Arc<AtomicU64>,
    outcome: &mut Outcome,
) -> Result<Response<OutBody>, ProxyError> {
    check_limits(&req, rt)?;
    let route = rt
        .router
        .find(&conn.listener, host, req.method(), req.uri().path());
    outcome.route = route;
    // Rules run before a missing route is reported, so a blocked client gets
    // the block whatever host it asks for.
    let verdict = rules::evaluate(&rt.config.rules, &req, conn, host);
    if !verdict.is_empty() {
        for hit in &verdict.hits {
            rt.rule_hits[hit.rule].inc();
        }
        outcome.rules = rules::hit_ids(&rt.config.rules, &verdict);
        if let Some(t) = &verdict.terminal {
            let mut resp = rules::answer(t);
            rules::apply_to_response(&verdict, &mut resp);
            return Ok(resp);
        }
        rules::apply_to_request(&verdict, &mut req)?;
    }
    let route = route.ok_or(ErrorKind::NoRoute)?;
    let mut resp = origin(req, route, conn, rt, host, bytes_in, outcome).await?;
    rules::apply_to_response(&verdict, &mut resp);
    Ok(resp)
}

/// Phase 7: the route's origin, built-in or upstream; phase 6 (cache) in
/// front of an upstream when the route caches.
async fn origin(
    req: Request<Incoming>,
    route: usize,
    conn: &ConnInfo,
    rt: &Arc<Runtime>,
    host: &str,
    bytes_in: &Arc<AtomicU64>,
    outcome: &mut Outcome,
) -> Result<Response<OutBody>, ProxyError> {
    match &rt.routes[route].action {
        RouteAction::Respond(fixed) => Ok(respond(fixed)),
        RouteAction::Static(site) => {
            let q = req.uri().query();
            let serve = static_files::serve(site, req.method(), req.uri().path(), q, req.headers());
            Ok(Box::pin(serve).await)
        }
        RouteAction::Pool(i) => {
            let ctx = proxy::ForwardCtx {
                conn,
                host,
                limits: &rt.config.limits,
                bytes_in: bytes_in.clone(),
                metrics: &rt.metrics,
            };
            match &rt.routes[route].cache {
                Some(rc) => {
                    let phase = cache::Phase {
                        rt,
                        route: rc,
                        pool: *i,
                        fwd: &ctx,
                    };
                    match cache::start(req, &phase, outcome) {
                        cache::Start::Done(resp) => Ok(resp),
                        // Boxed: the cache's states would otherwise enlarge
                        // every request's future, which hyper moves by value.
                        // The plain forward below stays inline: measured
                        // side by side, boxing it cost a proxied request
                        // more (allocation and copy of a multi-KiB future)
                        // than the smaller future saved.
                        cache::Start::Origin(work) => {
                            Box::pin(cache::finish(work, &phase, outcome)).await
                        }
                    }
                }
                None => proxy::forward(req, &rt.pools[*i], &ctx, outcome).await,
            }
        }
    }
}

/// Phase 2 (read) checks hyper does not make: URI length, declared body size
/// and a Host on HTTP/1.1.
fn check_limits(req: &Request<Incoming>, rt: &Runtime) -> Result<(), ProxyError> {
    let limits = &rt.config.limits;
    let target_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target_len > limits.max_uri_bytes {
        return Err(ErrorKind::UriTooLong.into());
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes) {
        return Err(ErrorKind::BodyTooLarge.into());
    }
    if req.version() == Version::HTTP_11
        && !req.headers().contains_key(header::HOST)
        && req.uri().authority().is_none()
    {
        return Err(ErrorKind::BadRequest.into());
    }
    Ok(())
}

/// The host a request is for: `:authority` (HTTP/2) or `Host`, normalized.
fn request_host(req: &Request<Incoming>) -> String {
    if let Some(a) = req.uri().authority() {
        return normalize_host(a.as_str());
    }
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(normalize_host)
        .unwrap_or_default()
}

fn respond(fixed: &outpost_config::FixedResponse) -> Response<OutBody> {
    let mut r = Response::new(OutBody::full(fixed.body.clone()));
    *r.status_mut() = fixed.status;
    for (k, v) in &fixed.headers {
        if let (Ok(k), Ok(v)) = (
            header::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

fn begin_record(
    req: &Request<Incoming>,
    conn: &ConnInfo,
    host: &str,
    request_id: &str,
    at: SystemTime,
) -> Box<AccessRecord> {
    let h = req.headers();
    let text = |name: header::HeaderName| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    Box::new(AccessRecord {
        ts: format_rfc3339_millis(at),
        listener: conn.listener.to_string(),
        client_ip: conn.client_ip.to_string(),
        client_port: conn.peer.port(),
        method: req.method().as_str().to_string(),
        scheme: if conn.tls_version.is_some() {
            "https"
        } else {
            "http"
        }
        .to_string(),
        host: host.to_string(),
        path: req.uri().path().to_string(),
        query: req.uri().query().map(str::to_string),
        http_version: format!("{:?}", req.version()),
        tls_version: conn.tls_version.map(str::to_string),
        request_id: request_id.to_string(),
        user_agent: text(header::USER_AGENT),
        referer: text(header::REFERER),
        ..Default::default()
    })
}

/// Phase 8/9: fills in what the phases learned; the returned observation
/// rides on the response body and completes when the last byte is sent (or
/// the client goes away).
fn complete(mut p: Pending, resp: &Response<OutBody>, rt: &Runtime, outcome: Outcome) -> Pending {
    p.status = resp.status().as_u16();
    let route = outcome.route.map(|i| &rt.routes[i]);
    if let Some(r) = route {
        p.metrics = r.metrics.clone();
    }
    if let Some((rec, _)) = &mut p.record {
        rec.route = route.map(|r| r.name.to_string());
        rec.upstream_addr = outcome.upstream_addr.map(|a| a.to_string());
        rec.upstream_ms = outcome.upstream_ms;
        rec.upstream_tries = (outcome.tries > 0).then_some(outcome.tries);
        rec.error = outcome.error.map(|k| k.as_str().to_string());
        rec.rules = outcome.rules.iter().map(|id| id.to_string()).collect();
        rec.cache_status = outcome
            .cache
            .as_ref()
            .map(|s| cache::log_value(s).to_string());
    }
    p
}
