//! One backend: an address an origin resolved to, with its transport, its
//! live load (in-flight requests, latency EWMA), its health (active check
//! results and passive outlier state) and its metric handles.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::uri::Authority;
use hyper_util::client::legacy::Client;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use crate::body::LimitedBody;
use crate::h1pool::H1Pool;
use crate::upstream::Connector;

/// How a backend is reached.
pub enum Transport {
    /// HTTP/1.1-only pools: the task-free path (`h1pool`).
    Http1(H1Pool),
    /// HTTP/2 and ALPN-negotiated pools: hyper's pooled client.
    Pooled(Box<Client<Connector, LimitedBody>>),
}

/// Health of one backend. Shared (by `Arc`) with the backend of the same
/// origin and address in the next config, so a reload neither forgets an
/// ejection nor re-admits a failing backend.
#[derive(Default)]
pub struct Health {
    /// Set when active checks fail the backend; false until they do.
    pub unhealthy: AtomicBool,
    /// Consecutive passed / failed active checks.
    pub passes: AtomicU32,
    pub fails: AtomicU32,
    /// Consecutive 5xx responses and local errors seen on live traffic.
    pub consecutive_5xx: AtomicU32,
    pub consecutive_errors: AtomicU32,
    /// Ejected until this many ms after `epoch()`; 0 = not ejected.
    pub ejected_until_ms: AtomicU64,
    /// Ejections so far (the next lasts this many times the base, capped).
    pub ejections: AtomicU32,
    /// When the last ejection ended (ms after `epoch()`), for forgiving old offences.
    pub released_ms: AtomicU64,
}

impl Health {
    pub fn ejected(&self, now_ms: u64) -> bool {
        let until = self.ejected_until_ms.load(Ordering::Relaxed);
        until != 0 && now_ms < until
    }

    /// Can take traffic: passes active checks and is not ejected.
    pub fn available(&self, now_ms: u64) -> bool {
        !self.unhealthy.load(Ordering::Relaxed) && !self.ejected(now_ms)
    }
}

/// A process-wide time origin for the health atomics (milliseconds since it).
pub fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

pub fn now_ms() -> u64 {
    // +1 so that 0 can mean "never" in the atomics.
    epoch().elapsed().as_millis() as u64 + 1
}

/// Per-backend metric handles, resolved once when the backend is created.
pub struct BackendMetrics {
    pub requests: Counter,
    pub latency: Histogram,
    pub healthy: Gauge,
    pub ejected: Gauge,
    pub ejections: Counter,
    pub overflow: Counter,
    /// Parked HTTP/1.1 connections, set by the pool's sweep.
    pub idle: Gauge,
}

pub struct Backend {
    pub addr: SocketAddr,
    /// Index of the origin (in the pool config) this address came from.
    pub origin: usize,
    /// The origin as written (`host:port`): the request authority and the
    /// `Host` sent when the client gave none.
    pub authority: Authority,
    /// The address as text: the balancer's identity for hashing, the
    /// `backend` metric label and the access log's `upstream_addr`.
    pub label: Arc<str>,
    pub weight: u32,
    pub transport: Transport,
    pub health: Arc<Health>,
    /// Requests sent and not finished (response body not yet ended).
    pub in_flight: AtomicU32,
    /// Exponentially weighted moving average of the time to response head, µs.
    pub latency_ewma_us: AtomicU32,
    pub max_requests: u32,
    /// The pool's total in flight, kept only for bounded-load hashing (which
    /// needs it per pick; one shared counter would otherwise be contended
    /// for nothing).
    pub pool_in_flight: Option<Arc<AtomicU32>>,
    pub metrics: BackendMetrics,
}

impl Backend {
    /// Counts a request in flight unless `max_requests` already are
    /// (circuit breaking).
    pub fn enter(self: &Arc<Self>) -> Option<InFlight> {
        let prev = self.in_flight.fetch_add(1, Ordering::AcqRel);
        if prev >= self.max_requests {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            self.metrics.overflow.inc();
            return None;
        }
        if let Some(t) = &self.pool_in_flight {
            t.fetch_add(1, Ordering::AcqRel);
        }
        self.metrics.requests.inc();
        Some(InFlight(self.clone()))
    }

    /// Feeds the latency EWMA (weight 1/8 for the new sample).
    pub fn observe_latency(&self, d: Duration) {
        self.metrics.latency.observe(d.as_secs_f64());
        let sample = d.as_micros().min(u128::from(u32::MAX)) as u32;
        let old = self.latency_ewma_us.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            ((u64::from(old) * 7 + u64::from(sample)) / 8) as u32
        };
        self.latency_ewma_us.store(new.max(1), Ordering::Relaxed);
    }
}

/// A request in flight on a backend; dropping it (when the response body
/// ends or is abandoned) ends the count.
pub struct InFlight(Arc<Backend>);

impl InFlight {
    pub fn backend(&self) -> &Arc<Backend> {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        if let Some(t) = &self.0.pool_in_flight {
            t.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// The balancer's view of live load.
pub struct Loads<'a>(pub &'a [Arc<Backend>]);

impl outpost_lb::Loads for Loads<'_> {
    fn in_flight(&self, i: usize) -> u32 {
        self.0[i].in_flight.load(Ordering::Relaxed)
    }
    fn latency_us(&self, i: usize) -> u32 {
        self.0[i].latency_ewma_us.load(Ordering::Relaxed)
    }
    fn total_in_flight(&self) -> Option<u64> {
        let t = self.0.first()?.pool_in_flight.as_ref()?;
        Some(u64::from(t.load(Ordering::Relaxed)))
    }
}
