//! Forwarding to an upstream pool: builds the origin request (hop-by-hop
//! headers removed, `X-Forwarded-*`, `Via`, request id), streams the body both
//! ways with backpressure, applies the response timeout, and tunnels protocol
//! upgrades (WebSocket) after a `101`.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use http::uri::{PathAndQuery, Uri};
use http::{Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use outpost_config::Limits;

use crate::body::{LimitedBody, OutBody};
use crate::error::{ErrorKind, ProxyError};
use crate::h1pool::{DrivenBody, H1Conn};
use crate::headers;
use crate::metrics::Metrics;
use crate::pipeline::{ConnInfo, Outcome};
use crate::upstream::{Transport, UpstreamPool, classify};

pub struct ForwardCtx<'a> {
    pub conn: &'a ConnInfo,
    pub host: &'a str,
    pub limits: &'a Limits,
    pub bytes_in: Arc<AtomicU64>,
}

pub async fn forward(
    mut req: Request<Incoming>,
    pool: &Arc<UpstreamPool>,
    ctx: &ForwardCtx<'_>,
    outcome: &mut Outcome,
    metrics: &Metrics,
) -> Result<Response<OutBody>, ProxyError> {
    let upgrade = req.version() == Version::HTTP_11 && headers::is_upgrade_request(req.headers());
    let downstream_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let via = via_for(req.version());
    let (target_index, target) = pool.pick();
    outcome.upstream_addr = Some(target.label.clone());

    let (mut parts, body) = req.into_parts();
    let pq = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    parts.uri = Uri::builder()
        .scheme(target.scheme.clone())
        .authority(target.authority.clone())
        .path_and_query(pq)
        .build()
        .map_err(|_| ProxyError::from(ErrorKind::BadRequest))?;
    if !parts.headers.contains_key(http::header::HOST)
        && let Ok(v) = http::HeaderValue::from_str(ctx.host)
    {
        parts.headers.insert(http::header::HOST, v);
    }
    parts.version = Version::HTTP_11;
    headers::strip_hop_by_hop(&mut parts.headers, upgrade);
    headers::add_forwarded(
        &mut parts.headers,
        &ctx.conn.client_ip,
        ctx.conn.tls_version.is_some(),
        ctx.host,
        via,
    );
    let body = LimitedBody::new(body, ctx.limits.max_body_bytes, ctx.bytes_in.clone());
    let upstream_req = Request::from_parts(parts, body);

    let sent = Instant::now();
    let result = tokio::time::timeout(
        pool.config.response_timeout,
        exchange(pool, target_index, upstream_req),
    )
    .await;
    outcome.upstream_ms = Some((sent.elapsed().as_secs_f64() * 1e6).round() / 1e3);
    let (mut resp, conn) = match result {
        Err(_) => Err(ErrorKind::ResponseTimeout),
        Ok(Err(kind)) => Err(kind),
        Ok(Ok(r)) => Ok(r),
    }
    .map_err(|kind| {
        if kind.side() == crate::error::Side::Upstream {
            metrics.upstream_error(&pool.config.name, kind.as_str());
            tracing::debug!(pool = %pool.config.name, origin = %target.label, error = kind.as_str(), "upstream failed");
        }
        ProxyError::from(kind)
    })?;

    if resp.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(down) = downstream_upgrade
    {
        let up = hyper::upgrade::on(&mut resp);
        if let Some(c) = conn {
            // The origin connection hands its I/O to the upgrade when it ends.
            tokio::spawn(c.run());
        }
        tokio::spawn(tunnel(down, up));
        headers::strip_hop_by_hop(resp.headers_mut(), true);
        headers::append_via(resp.headers_mut(), via);
        return Ok(resp.map(OutBody::Upstream));
    }
    headers::strip_hop_by_hop(resp.headers_mut(), false);
    headers::append_via(resp.headers_mut(), via);
    Ok(match conn {
        Some(c) => resp.map(|b| OutBody::Driven(DrivenBody::new(b, c, pool.clone(), target_index))),
        None => resp.map(OutBody::Upstream),
    })
}

/// Sends the request on the pool's HTTP/1.1 path or through hyper's client.
async fn exchange(
    pool: &Arc<UpstreamPool>,
    target: usize,
    mut req: Request<LimitedBody>,
) -> Result<(Response<Incoming>, Option<H1Conn>), ErrorKind> {
    match &pool.transport {
        Transport::Http1(h1) => {
            // On a connection of our own the request line carries origin-form.
            let absolute = req.uri().clone();
            *req.uri_mut() = absolute
                .path_and_query()
                .map_or_else(|| Uri::from_static("/"), |pq| Uri::from(pq.clone()));
            let (resp, conn) = h1
                .send(target, &absolute, req)
                .await
                .map_err(|e| classify(e.as_ref()))?;
            Ok((resp, Some(conn)))
        }
        Transport::Pooled(client) => client
            .request(req)
            .await
            .map(|r| (r, None))
            .map_err(|e| classify(&e)),
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
async fn tunnel(down: hyper::upgrade::OnUpgrade, up: hyper::upgrade::OnUpgrade) {
    let (down, up) = match tokio::join!(down, up) {
        (Ok(d), Ok(u)) => (d, u),
        _ => return,
    };
    let mut down = TokioIo::new(down);
    let mut up = TokioIo::new(up);
    if let Err(e) = tokio::io::copy_bidirectional(&mut down, &mut up).await {
        tracing::debug!(error = %e, "upgraded tunnel closed with error");
    }
}
