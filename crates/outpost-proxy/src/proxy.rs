//! Forwarding to an upstream pool: builds the origin request (hop-by-hop
//! headers removed, `X-Forwarded-*`, `Via`, request id), picks a backend per
//! try and retries what is safe on another one (connect failures; resets and
//! per-try timeouts of idempotent requests without a body) within the pool's
//! retry budget, streams the body both ways with backpressure, and tunnels
//! protocol upgrades (WebSocket) after a `101`.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use http::uri::{PathAndQuery, Uri};
use http::{Method, Request, Response, StatusCode, Version};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use outpost_config::Limits;

use crate::body::{LimitedBody, OutBody};
use crate::error::{ErrorKind, ProxyError, Side};
use crate::h1pool::Overflow;
use crate::headers;
use crate::metrics::Metrics;
use crate::pipeline::{ConnInfo, Outcome};
use crate::pool::{Backend, BackendSet, InFlight, Transport, UpstreamPool, Verdict};
use crate::upstream::classify;

pub struct ForwardCtx<'a> {
    pub conn: &'a ConnInfo,
    pub host: &'a str,
    pub limits: &'a Limits,
    pub bytes_in: Arc<AtomicU64>,
    pub metrics: &'a Metrics,
}

/// Forwards a client's request, body and protocol upgrade included.
pub async fn forward(
    mut req: Request<Incoming>,
    pool: &Arc<UpstreamPool>,
    ctx: &ForwardCtx<'_>,
    outcome: &mut Outcome,
) -> Result<Response<OutBody>, ProxyError> {
    let upgrade = req.version() == Version::HTTP_11 && headers::is_upgrade_request(req.headers());
    let downstream_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let via = via_for(req.version());
    let (parts, body) = req.into_parts();
    let replayable = body.is_end_stream() && !upgrade;
    let body = LimitedBody::new(body, ctx.limits.max_body_bytes, ctx.bytes_in.clone());
    let sent = Sent {
        replayable,
        upgrade,
        via,
    };
    let (mut resp, home) = exchange_parts(parts, body, sent, pool, ctx, outcome).await?;

    if resp.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(down) = downstream_upgrade
    {
        drop(home);
        match resp.body_mut() {
            OutBody::H1(b) => {
                if let Some(up) = b.take_upgraded() {
                    tokio::spawn(tunnel(down, up));
                }
            }
            _ => {
                let up = hyper::upgrade::on(&mut resp);
                tokio::spawn(async move {
                    if let Ok(up) = up.await {
                        tunnel(down, TokioIo::new(up)).await;
                    }
                });
            }
        }
        headers::strip_hop_by_hop(resp.headers_mut(), true);
        headers::append_via(resp.headers_mut(), via);
        return Ok(resp);
    }
    Ok(response(resp, home, via))
}

/// Forwards a request without a body from its head alone: the cache's
/// fills, revalidations and background refreshes, which may outlive or
/// repeat the client's request. Always replayable on another backend.
pub async fn forward_head(
    parts: http::request::Parts,
    pool: &Arc<UpstreamPool>,
    ctx: &ForwardCtx<'_>,
    outcome: &mut Outcome,
) -> Result<Response<OutBody>, ProxyError> {
    let via = via_for(parts.version);
    let sent = Sent {
        replayable: true,
        upgrade: false,
        via,
    };
    let (resp, home) =
        exchange_parts(parts, LimitedBody::empty(), sent, pool, ctx, outcome).await?;
    Ok(response(resp, home, via))
}

/// How a request is sent: whether a failed try may be rebuilt from its
/// head, whether it asks for a protocol upgrade, and our `Via` entry.
struct Sent {
    replayable: bool,
    upgrade: bool,
    via: &'static str,
}

/// Builds the origin request from the client's head and runs its tries.
async fn exchange_parts(
    mut parts: http::request::Parts,
    body: LimitedBody,
    sent: Sent,
    pool: &Arc<UpstreamPool>,
    ctx: &ForwardCtx<'_>,
    outcome: &mut Outcome,
) -> Result<Exchanged, ProxyError> {
    if !parts.headers.contains_key(http::header::HOST)
        && let Ok(v) = http::HeaderValue::from_str(ctx.host)
    {
        parts.headers.insert(http::header::HOST, v);
    }
    parts.version = Version::HTTP_11;
    headers::strip_hop_by_hop(&mut parts.headers, sent.upgrade);
    // The retry copy is taken before the forwarding headers are added: the
    // values hyper parsed are shared buffers (a copy is a reference count),
    // while the ones Outpost builds would each be copied again.
    let plan = TryPlan::new(pool, &parts, sent.replayable, ctx, sent.via);
    add_forwarded(&mut parts.headers, ctx, sent.via);
    plan.run(Request::from_parts(parts, body), outcome, ctx.metrics)
        .await
}

/// The origin's response as the client gets it: hop-by-hop headers
/// removed, our `Via` added, the body keeping its backend counted in flight.
fn response(mut resp: Response<OutBody>, home: InFlight, via: &'static str) -> Response<OutBody> {
    headers::strip_hop_by_hop(resp.headers_mut(), false);
    headers::append_via(resp.headers_mut(), via);
    match resp.body_mut() {
        OutBody::H1(b) => b.set_home(home),
        OutBody::Upstream(_, h) => *h = Some(home),
        _ => {}
    }
    resp
}

fn add_forwarded(h: &mut http::HeaderMap, ctx: &ForwardCtx<'_>, via: &'static str) {
    let https = ctx.conn.tls_version.is_some();
    headers::add_forwarded(h, &ctx.conn.client_ip, https, ctx.host, via);
}

/// One request's tries: which backends, how long each may take, and whether
/// a failed try may be repeated on another backend.
struct TryPlan<'a> {
    pool: &'a Arc<UpstreamPool>,
    ctx: &'a ForwardCtx<'a>,
    via: &'static str,
    set: Arc<BackendSet>,
    hash: Option<u64>,
    /// The request head (without the forwarding headers), kept to rebuild the
    /// request for another try when the first was sent (or handed to hyper's
    /// client). Only for requests without a body: a body is streamed, never
    /// buffered for a retry.
    replay: Option<http::request::Parts>,
    idempotent: bool,
    path: PathAndQuery,
    deadline: Instant,
}

type Exchanged = (Response<OutBody>, InFlight);

impl<'a> TryPlan<'a> {
    fn new(
        pool: &'a Arc<UpstreamPool>,
        parts: &http::request::Parts,
        replayable: bool,
        ctx: &'a ForwardCtx<'a>,
        via: &'static str,
    ) -> Self {
        let now = Instant::now();
        pool.budget.on_request(now);
        let set = pool.snapshot();
        // The copy costs about a microsecond per request (the header map and
        // the values Outpost added), so it is made only where a retry can go
        // somewhere: retries on, and another backend to go to.
        let replay = replayable && pool.config.retry.max_retries > 0 && set.backends.len() > 1;
        TryPlan {
            pool,
            ctx,
            via,
            set,
            hash: pool.key_hash(parts, ctx.conn.peer.ip()),
            replay: replay.then(|| parts.clone()),
            idempotent: is_idempotent(&parts.method),
            path: parts
                .uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
            deadline: now + pool.config.response_timeout,
        }
    }

    async fn run(
        &self,
        req: Request<LimitedBody>,
        outcome: &mut Outcome,
        metrics: &Metrics,
    ) -> Result<Exchanged, ProxyError> {
        let pool = self.pool;
        let mut req = Some(req);
        let mut tried: Vec<usize> = Vec::new();
        let mut last = ErrorKind::NoBackend;
        loop {
            let Some(i) = pool.pick(&self.set, self.hash, &tried) else {
                return Err(last.into());
            };
            let backend = &self.set.backends[i];
            outcome.upstream_addr = Some(backend.label.clone());
            outcome.tries += 1;
            let Some(home) = backend.enter() else {
                metrics.upstream_error(
                    &pool.name,
                    &backend.label,
                    ErrorKind::UpstreamOverflow.as_str(),
                );
                return Err(ErrorKind::UpstreamOverflow.into());
            };
            let Some(r) = req.take().or_else(|| self.rebuild()) else {
                return Err(last.into());
            };
            let r = match &backend.transport {
                // Our own HTTP/1.1 client writes `path` as the request line.
                Transport::Http1(_) => r,
                Transport::Pooled(_) => self.address(r, backend)?,
            };
            let sent = Instant::now();
            let per_try = match pool.config.retry.per_try_timeout {
                Some(t) => (sent + t).min(self.deadline),
                None => self.deadline,
            };
            let result =
                tokio::time::timeout_at(per_try.into(), exchange(backend, r, self.path.as_str()))
                    .await;
            let took = sent.elapsed();
            outcome.upstream_ms = Some((took.as_secs_f64() * 1e6).round() / 1e3);
            let (kind, returned) = match result {
                Ok(Ok(resp)) => {
                    backend.observe_latency(took);
                    pool.report(backend, Verdict::Status(resp.status().as_u16()));
                    return Ok((resp, home));
                }
                Ok(Err(f)) => (f.kind, f.request),
                Err(_) => (ErrorKind::ResponseTimeout, None),
            };
            drop(home);
            last = kind;
            if kind.side() != Side::Upstream {
                return Err(kind.into());
            }
            metrics.upstream_error(&pool.name, &backend.label, kind.as_str());
            tracing::debug!(pool = %pool.name, backend = %backend.label, error = kind.as_str(), "upstream try failed");
            if kind == ErrorKind::UpstreamOverflow {
                backend.metrics.overflow.inc();
            } else {
                pool.report(backend, Verdict::LocalError);
            }
            if !self.may_retry(kind, returned.is_some(), tried.len()) {
                return Err(kind.into());
            }
            if !pool.budget.try_retry(Instant::now()) {
                metrics.retry_budget_exhausted(&pool.name);
                return Err(kind.into());
            }
            metrics.retry(&pool.name);
            tried.push(i);
            req = returned;
        }
    }

    /// Whether a failed try may go to another backend: it failed before
    /// anything reached the origin (or, for an idempotent request, before any
    /// response byte), the request can be sent again (`returned`, or a kept
    /// head), and tries and time remain. The budget is asked last.
    fn may_retry(&self, kind: ErrorKind, returned: bool, retries: usize) -> bool {
        let unsent = returned || kind.retryable();
        let before_response = self.idempotent
            && matches!(
                kind,
                ErrorKind::UpstreamProtocol | ErrorKind::ResponseTimeout
            );
        kind != ErrorKind::UpstreamOverflow
            && (unsent || before_response)
            && (returned || self.replay.is_some())
            && retries < self.pool.config.retry.max_retries as usize
            && Instant::now() < self.deadline
    }

    /// A fresh request from the kept head, for a try after the first.
    fn rebuild(&self) -> Option<Request<LimitedBody>> {
        let mut parts = self.replay.clone()?;
        add_forwarded(&mut parts.headers, self.ctx, self.via);
        Some(Request::from_parts(parts, LimitedBody::empty()))
    }

    /// Points the request at the backend's origin.
    fn address(
        &self,
        mut req: Request<LimitedBody>,
        backend: &Backend,
    ) -> Result<Request<LimitedBody>, ProxyError> {
        *req.uri_mut() = Uri::builder()
            .scheme(self.pool.scheme.clone())
            .authority(backend.authority.clone())
            .path_and_query(self.path.clone())
            .build()
            .map_err(|_| ProxyError::from(ErrorKind::BadRequest))?;
        Ok(req)
    }
}

/// Methods RFC 9110 defines as idempotent: safe to send again after a try
/// that may have reached the origin.
fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// A failed try; `request` is handed back when none of it was sent.
struct TryFailure {
    kind: ErrorKind,
    request: Option<Request<LimitedBody>>,
}

/// Sends the request on the backend's HTTP/1.1 path (`target` is its
/// request line) or through hyper's client.
async fn exchange(
    backend: &Backend,
    req: Request<LimitedBody>,
    target: &str,
) -> Result<Response<OutBody>, TryFailure> {
    match &backend.transport {
        Transport::Http1(h1) => match h1.send(req, target).await {
            Ok(resp) => Ok(resp.map(OutBody::H1)),
            Err(e) => Err(TryFailure {
                kind: if e.error.is::<Overflow>() {
                    ErrorKind::UpstreamOverflow
                } else {
                    classify(e.error.as_ref())
                },
                request: e.request,
            }),
        },
        Transport::Pooled(client) => client
            .request(req)
            .await
            .map(|r| r.map(|b| OutBody::Upstream(b, None)))
            .map_err(|e| TryFailure {
                kind: classify(&e),
                request: None,
            }),
    }
}

fn via_for(v: Version) -> &'static str {
    match v {
        Version::HTTP_2 => "2 outpost",
        Version::HTTP_10 => "1.0 outpost",
        _ => "1.1 outpost",
    }
}

/// Copies bytes both ways between an upgraded client and origin connection
/// until either side closes. The downstream side keeps its idle timeout.
async fn tunnel<U>(down: hyper::upgrade::OnUpgrade, mut up: U)
where
    U: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Ok(down) = down.await else {
        return;
    };
    let mut down = TokioIo::new(down);
    if let Err(e) = tokio::io::copy_bidirectional(&mut down, &mut up).await {
        tracing::debug!(error = %e, "upgraded tunnel closed with error");
    }
}
