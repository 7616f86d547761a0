//! Phase 7, upstream pools: origins resolved into backends, the balancer that
//! picks one per try, and the health that decides which may be picked.
//!
//! Each pool keeps a `BackendSet` (the backends and a balancer built over the
//! available ones) behind an `ArcSwap`: a request loads it once and picks from
//! it without locks. One maintenance task per pool is its only writer: it runs
//! active health checks, re-resolves origin names, ends ejections, and
//! rebuilds the set whenever availability changes. The request path only
//! records outcomes (passive outlier detection) and wakes the task when it
//! ejects a backend. Below `panic_threshold` available backends the balancer
//! spreads over all of them (Envoy's panic mode) rather than overload the few
//! survivors.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use http::uri::{Authority, Scheme};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use outpost_config::{BalancePolicy, HashKey, Pool, UpstreamProtocol};
use outpost_lb::{BackendSpec, HashOn, Policy, RetryBudget, Selector};
use rustls::pki_types::ServerName;
use tokio::sync::{Notify, watch};
use tokio_rustls::TlsConnector;

use crate::h1pool::H1Pool;
use crate::metrics::Metrics;
use crate::upstream::Connector;

mod backend;
pub mod dns;
mod health;

pub use backend::{Backend, BackendMetrics, InFlight, Loads, Transport};
use backend::{epoch, now_ms};

/// How long one resolution of an origin name may take. 5 s.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The backends of a pool and a balancer over the available ones.
pub struct BackendSet {
    pub backends: Vec<Arc<Backend>>,
    selector: Selector,
    /// Indices the selector was built over.
    eligible: Vec<usize>,
    /// Too few backends available: the selector spreads over all.
    pub panic: bool,
}

/// What a try's outcome says about the backend, for outlier detection.
#[derive(Debug, Clone, Copy)]
pub enum Verdict {
    /// A response head with this status.
    Status(u16),
    /// Connect failure, reset or timeout.
    LocalError,
}

pub struct UpstreamPool {
    pub config: Pool,
    pub name: Arc<str>,
    pub scheme: Scheme,
    tls: Option<TlsConnector>,
    set: ArcSwap<BackendSet>,
    policy: Policy,
    hash_on: Option<HashOn>,
    /// Some origin is a name (so the pool re-resolves).
    has_names: bool,
    /// Requests in flight over the pool, for bounded-load hashing only.
    in_flight: Option<Arc<std::sync::atomic::AtomicU32>>,
    pub budget: RetryBudget,
    /// Wakes the maintenance task (an ejection, or the pool being dropped).
    changed: Arc<Notify>,
    /// True once every origin name has been resolved once (or failed to).
    resolved: watch::Sender<bool>,
    pub metrics: Arc<Metrics>,
}

impl UpstreamPool {
    /// Builds a pool; backends of `prev` with the same origin and address
    /// keep their health. Spawns the pool's maintenance task (when called
    /// inside a Tokio runtime).
    pub fn new(
        config: &Pool,
        prev: Option<&UpstreamPool>,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>, String> {
        let tls = match &config.tls {
            None => None,
            Some(t) => Some(TlsConnector::from(crate::tls::client_config(
                t,
                config.protocol,
            )?)),
        };
        let scheme = if tls.is_some() {
            Scheme::HTTPS
        } else {
            Scheme::HTTP
        };
        let has_names = config
            .origins
            .iter()
            .any(|o| o.host.parse::<std::net::IpAddr>().is_err());
        let pool = UpstreamPool {
            name: Arc::from(config.name.as_str()),
            scheme,
            tls,
            set: ArcSwap::from_pointee(BackendSet::empty()),
            policy: policy(config),
            hash_on: config
                .balance
                .policy
                .is_hashing()
                .then(|| hash_on(&config.balance.hash_on)),
            has_names,
            in_flight: config.balance.bounded_load.map(|_| Arc::default()),
            budget: RetryBudget::new(config.retry.budget, config.retry.budget_min_per_second),
            changed: Arc::new(Notify::new()),
            resolved: watch::channel(!has_names).0,
            metrics,
            config: config.clone(),
        };
        let mut backends = Vec::new();
        for (i, o) in config.origins.iter().enumerate() {
            let authority: Authority = o
                .to_string()
                .parse()
                .map_err(|e| format!("origin {o}: {e}"))?;
            let addrs: Vec<SocketAddr> = match o.host.parse::<std::net::IpAddr>() {
                Ok(ip) => vec![SocketAddr::new(ip, o.port)],
                // The last good answer of the previous config, until resolved.
                Err(_) => prev.map(|p| p.addresses_of(&authority)).unwrap_or_default(),
            };
            for addr in addrs {
                backends.push(pool.backend(i, &authority, addr, prev)?);
            }
        }
        pool.rebuild(unique_addresses(backends), true);
        let pool = Arc::new(pool);
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(maintain(Arc::downgrade(&pool), pool.changed.clone()));
        }
        Ok(pool)
    }

    /// The current backends and balancer; a request keeps one for all its tries.
    pub fn snapshot(&self) -> Arc<BackendSet> {
        self.set.load_full()
    }

    /// The hash of the request's key, for the hashing policies.
    pub fn key_hash(&self, parts: &http::request::Parts, client: std::net::IpAddr) -> Option<u64> {
        self.hash_on.as_ref().and_then(|h| h.hash(parts, client))
    }

    /// Waits (bounded) until every origin name was resolved once.
    pub async fn wait_resolved(&self, limit: Duration) {
        let mut rx = self.resolved.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|r| *r)).await;
    }

    fn addresses_of(&self, authority: &Authority) -> Vec<SocketAddr> {
        self.set
            .load()
            .backends
            .iter()
            .filter(|b| b.authority == *authority)
            .map(|b| b.addr)
            .collect()
    }

    fn backend(
        &self,
        origin: usize,
        authority: &Authority,
        addr: SocketAddr,
        prev: Option<&UpstreamPool>,
    ) -> Result<Arc<Backend>, String> {
        let c = &self.config;
        let health = prev
            .and_then(|p| {
                p.set
                    .load()
                    .backends
                    .iter()
                    .find(|b| b.addr == addr && b.authority == *authority)
                    .map(|b| b.health.clone())
            })
            .unwrap_or_default();
        let connector = self.connector(authority, addr)?;
        let transport = if c.protocol == UpstreamProtocol::Http1 {
            Transport::Http1(H1Pool::new(
                c.max_idle_per_origin,
                c.idle_timeout,
                connector,
                c.circuit_breaker.max_connections,
                c.circuit_breaker.max_pending,
            ))
        } else {
            let mut b = Client::builder(TokioExecutor::new());
            b.timer(TokioTimer::new())
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(c.idle_timeout)
                .pool_max_idle_per_host(c.max_idle_per_origin)
                .set_host(true)
                .http2_only(c.protocol == UpstreamProtocol::Http2);
            Transport::Pooled(Box::new(b.build(connector)))
        };
        let label: Arc<str> = Arc::from(addr.to_string());
        let metrics = self.metrics.backend(&self.name, &label);
        metrics
            .healthy
            .set(i64::from(!health.unhealthy.load(Ordering::Relaxed)));
        Ok(Arc::new(Backend {
            addr,
            origin,
            authority: authority.clone(),
            label,
            weight: c.origins[origin].weight,
            transport,
            health,
            in_flight: Default::default(),
            latency_ewma_us: Default::default(),
            max_requests: c.circuit_breaker.max_requests.min(u32::MAX as usize) as u32,
            pool_in_flight: self.in_flight.clone(),
            metrics,
        }))
    }

    fn connector(&self, authority: &Authority, addr: SocketAddr) -> Result<Connector, String> {
        let tls = match &self.tls {
            None => None,
            Some(t) => {
                let host = authority
                    .host()
                    .trim_start_matches('[')
                    .trim_end_matches(']');
                let name = self
                    .config
                    .tls
                    .as_ref()
                    .and_then(|t| t.sni.clone())
                    .unwrap_or_else(|| host.to_string());
                let name = ServerName::try_from(name).map_err(|e| e.to_string())?;
                Some((t.clone(), name))
            }
        };
        Ok(Connector {
            addr,
            tls,
            timeout: self.config.connect_timeout,
        })
    }

    /// Chooses a backend of `set` for one try, never one in `exclude`.
    pub fn pick(&self, set: &BackendSet, hash: Option<u64>, exclude: &[usize]) -> Option<usize> {
        set.selector.pick(hash, &Loads(&set.backends), exclude)
    }

    /// Passive outlier detection: counts consecutive 5xx and local errors
    /// and ejects the backend at the thresholds.
    pub fn report(&self, backend: &Backend, verdict: Verdict) {
        let Some(o) = &self.config.outlier else {
            return;
        };
        let h = &backend.health;
        let (counter, threshold) = match verdict {
            Verdict::Status(s) if s < 500 => {
                // Read before writing: most requests find both at zero and
                // leave the cache line shared.
                for c in [&h.consecutive_5xx, &h.consecutive_errors] {
                    if c.load(Ordering::Relaxed) != 0 {
                        c.store(0, Ordering::Relaxed);
                    }
                }
                return;
            }
            Verdict::Status(_) => (&h.consecutive_5xx, o.consecutive_5xx),
            Verdict::LocalError => (&h.consecutive_errors, o.consecutive_errors),
        };
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        if threshold > 0 && n >= threshold {
            self.eject(backend, o);
        }
    }

    fn eject(&self, backend: &Backend, o: &outpost_config::Outlier) {
        let now = now_ms();
        let set = self.set.load();
        let n = set.backends.len();
        let ejected = set
            .backends
            .iter()
            .filter(|b| b.health.ejected(now))
            .count();
        let max = (n * usize::from(o.max_ejected_percent) / 100).max(1);
        let h = &backend.health;
        if ejected >= max || h.ejected(now) {
            return;
        }
        // Offences long forgiven do not lengthen the next ejection.
        let released = h.released_ms.load(Ordering::Relaxed);
        if released != 0 && now.saturating_sub(released) > o.max_ejection.as_millis() as u64 {
            h.ejections.store(0, Ordering::Relaxed);
        }
        let count = h.ejections.fetch_add(1, Ordering::Relaxed) + 1;
        let lasts = o.base_ejection.saturating_mul(count).min(o.max_ejection);
        let until = now + lasts.as_millis() as u64;
        let cur = h.ejected_until_ms.load(Ordering::Relaxed);
        if h.ejected_until_ms
            .compare_exchange(cur, until, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return; // another request ejected it first
        }
        h.consecutive_5xx.store(0, Ordering::Relaxed);
        h.consecutive_errors.store(0, Ordering::Relaxed);
        backend.metrics.ejections.inc();
        backend.metrics.ejected.set(1);
        tracing::warn!(pool = %self.name, backend = %backend.label, seconds = lasts.as_secs_f64(), "backend ejected by outlier detection");
        self.changed.notify_one();
    }

    /// Stores a new set when the eligible backends changed (or `force`).
    fn rebuild(&self, backends: Vec<Arc<Backend>>, force: bool) {
        let now = now_ms();
        let available: Vec<usize> = (0..backends.len())
            .filter(|&i| backends[i].health.available(now))
            .collect();
        let n = backends.len();
        let panic =
            n > 0 && (available.len() as f64) < self.config.balance.panic_threshold * n as f64;
        let eligible = if panic { (0..n).collect() } else { available };
        let cur = self.set.load();
        if !force && cur.eligible == eligible && cur.panic == panic {
            return;
        }
        if panic != cur.panic && !force {
            if panic {
                tracing::warn!(pool = %self.name, "too few healthy backends: panic mode, spreading over all");
            } else {
                tracing::info!(pool = %self.name, "left panic mode");
            }
        }
        let specs: Vec<BackendSpec> = backends
            .iter()
            .map(|b| BackendSpec {
                id: b.label.to_string(),
                weight: b.weight,
            })
            .collect();
        self.metrics.pool_panic(&self.name, panic);
        if backends.len() > outpost_lb::MAX_BACKENDS {
            tracing::warn!(pool = %self.name, backends = backends.len(), max = outpost_lb::MAX_BACKENDS, "more backends than the balancer takes; the rest get no traffic");
        }
        let selector = Selector::build(&self.policy, &specs, &eligible);
        self.set.store(Arc::new(BackendSet {
            backends,
            selector,
            eligible,
            panic,
        }));
    }

    /// Ends ejections whose time is up; returns the earliest still running.
    fn release_ejections(&self) -> Option<Instant> {
        let now = now_ms();
        let mut next: Option<u64> = None;
        for b in &self.set.load().backends {
            let until = b.health.ejected_until_ms.load(Ordering::Relaxed);
            if until == 0 {
                continue;
            }
            if now >= until {
                if b.health
                    .ejected_until_ms
                    .compare_exchange(until, 0, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    b.health.released_ms.store(now, Ordering::Relaxed);
                    b.metrics.ejected.set(0);
                    tracing::info!(pool = %self.name, backend = %b.label, "backend ejection ended");
                }
            } else {
                next = Some(next.map_or(until, |n| n.min(until)));
            }
        }
        next.map(|ms| epoch() + Duration::from_millis(ms.saturating_sub(1)))
    }

    /// Runs one round of active checks; true when any backend changed state.
    async fn check_all(&self, check: &outpost_config::HealthCheck) -> bool {
        let set = self.snapshot();
        let probes = set.backends.iter().map(|b| async move {
            let connector = match &b.transport {
                Transport::Http1(h1) => h1.connector().clone(),
                Transport::Pooled(_) => self.connector(&b.authority, b.addr).ok()?,
            };
            let passed = health::probe(check, &connector, b).await;
            Some(health::record(check, b, passed))
        });
        futures_util::future::join_all(probes)
            .await
            .into_iter()
            .any(|changed| changed == Some(true))
    }

    /// Resolves every origin name again; a name that fails (or answers
    /// nothing) keeps its last good addresses. Returns the new backend list
    /// when it differs.
    async fn resolve_all(&self) -> Option<Vec<Arc<Backend>>> {
        let cur = self.snapshot();
        let mut out = Vec::with_capacity(cur.backends.len());
        let mut changed = false;
        for (i, o) in self.config.origins.iter().enumerate() {
            let old: Vec<&Arc<Backend>> = cur.backends.iter().filter(|b| b.origin == i).collect();
            if o.host.parse::<std::net::IpAddr>().is_ok() {
                out.extend(old.into_iter().cloned());
                continue;
            }
            let addrs = match dns::resolve(&o.host, o.port, &self.config.resolvers, RESOLVE_TIMEOUT)
                .await
            {
                Ok(a) if !a.is_empty() => a,
                Ok(_) | Err(_) if !old.is_empty() => {
                    tracing::warn!(pool = %self.name, origin = %o, "resolution failed or empty; keeping the last good addresses");
                    out.extend(old.into_iter().cloned());
                    continue;
                }
                other => {
                    tracing::warn!(pool = %self.name, origin = %o, error = ?other.err(), "origin name does not resolve; no backend for it");
                    continue;
                }
            };
            changed |=
                addrs.len() != old.len() || addrs.iter().any(|a| !old.iter().any(|b| b.addr == *a));
            let authority = old
                .first()
                .map(|b| b.authority.clone())
                .or_else(|| o.to_string().parse().ok())?;
            for addr in addrs {
                match old.iter().find(|b| b.addr == addr) {
                    Some(b) => out.push((*b).clone()),
                    None => out.push(self.backend(i, &authority, addr, None).ok()?),
                }
            }
        }
        if !changed {
            return None;
        }
        let out = unique_addresses(out);
        // A label still in use (an address now reached through another
        // origin name) keeps its series.
        for gone in cur
            .backends
            .iter()
            .filter(|b| !out.iter().any(|n| Arc::ptr_eq(n, b) || n.label == b.label))
        {
            self.metrics.forget_backend(&self.name, &gone.label);
        }
        Some(out)
    }
}

/// One backend per address: two origins (names, or a name and a literal)
/// that lead to the same address are one server, with one set of
/// counters, one health state and one place in the balancer (a backend id
/// is its address). The first origin listed keeps it.
fn unique_addresses(mut backends: Vec<Arc<Backend>>) -> Vec<Arc<Backend>> {
    let mut seen = std::collections::HashSet::with_capacity(backends.len());
    backends.retain(|b| seen.insert(b.addr));
    backends
}

impl Drop for UpstreamPool {
    fn drop(&mut self) {
        // Lets the maintenance task notice the pool is gone and end.
        self.changed.notify_one();
    }
}

impl BackendSet {
    fn empty() -> Self {
        BackendSet {
            backends: Vec::new(),
            selector: Selector::build(&Policy::Random, &[], &[]),
            eligible: Vec::new(),
            panic: false,
        }
    }
}

/// How often the maintenance task closes parked origin connections that
/// idled past `idle_timeout` or linger above `max_idle_per_origin`. 1 s.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The pool's only writer: health checks, re-resolution, ejection ends and
/// set rebuilds, and the idle-connection sweep, until the pool is dropped.
async fn maintain(pool: Weak<UpstreamPool>, changed: Arc<Notify>) {
    let start = Instant::now();
    let mut next_check = start;
    let mut next_resolve = start;
    let mut next_sweep = start + SWEEP_EVERY;
    loop {
        let Some(p) = pool.upgrade() else { return };
        let now = Instant::now();
        let has_names = p.has_names;
        let mut new_backends = None;
        if has_names && now >= next_resolve {
            new_backends = p.resolve_all().await;
            p.resolved.send_replace(true);
            next_resolve = Instant::now() + p.config.resolve_interval;
        }
        if let Some(b) = new_backends {
            p.rebuild(b, true);
        }
        if let Some(hc) = &p.config.health
            && now >= next_check
        {
            p.check_all(hc).await;
            next_check = Instant::now() + health::next_delay(hc);
        }
        let next_release = p.release_ejections();
        let cur = p.snapshot().backends.clone();
        if now >= next_sweep {
            // `now` may be seconds old after checks and resolution.
            let swept = Instant::now();
            for b in &cur {
                if let Transport::Http1(h1) = &b.transport {
                    b.metrics.idle.set(h1.sweep(swept) as i64);
                }
            }
            next_sweep = swept + SWEEP_EVERY;
        }
        p.rebuild(cur, false);
        let mut wake = next_sweep;
        if has_names {
            wake = wake.min(next_resolve);
        }
        if p.config.health.is_some() {
            wake = wake.min(next_check);
        }
        if let Some(r) = next_release {
            wake = wake.min(r);
        }
        drop(p);
        tokio::select! {
            () = tokio::time::sleep_until(wake.into()) => {}
            () = changed.notified() => {}
        }
    }
}

fn policy(config: &Pool) -> Policy {
    let b = &config.balance;
    match b.policy {
        BalancePolicy::RoundRobin => Policy::RoundRobin,
        BalancePolicy::LeastRequest {
            choices,
            latency_weighted,
        } => Policy::LeastRequest {
            choices,
            latency_weighted,
        },
        BalancePolicy::Random => Policy::Random,
        BalancePolicy::Maglev => Policy::Maglev {
            bounded_load: b.bounded_load,
        },
        BalancePolicy::RingHash => Policy::RingHash {
            bounded_load: b.bounded_load,
        },
    }
}

fn hash_on(key: &HashKey) -> HashOn {
    match key {
        HashKey::ClientIp => HashOn::ClientIp,
        // The config validated the name.
        HashKey::Header(n) => {
            http::HeaderName::from_bytes(n.as_bytes()).map_or(HashOn::Path, HashOn::Header)
        }
        HashKey::Cookie(n) => HashOn::Cookie(n.clone()),
        HashKey::Path => HashOn::Path,
        HashKey::Query(n) => HashOn::Query(n.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(extra: &str) -> Arc<UpstreamPool> {
        let text = format!(
            "[[listeners]]\nname = \"l\"\naddress = \"127.0.0.1:0\"\n[[pools]]\nname = \"p\"\n\
             origins = [\"10.0.0.1:80\", \"10.0.0.2:80\", \"10.0.0.3:80\", \"10.0.0.4:80\"]\n{extra}"
        );
        let config = outpost_config::load_str(&text, std::path::Path::new(".")).unwrap();
        UpstreamPool::new(&config.pools[0], None, Arc::new(Metrics::new())).unwrap()
    }

    #[test]
    fn origins_that_share_an_address_are_one_backend() {
        let text = "[[listeners]]\nname = \"l\"\naddress = \"127.0.0.1:0\"\n[[pools]]\nname = \"p\"\n\
             origins = [\"10.0.0.1:80\", \"10.0.0.2:80\", \"10.0.0.1:80\"]\n";
        let config = outpost_config::load_str(text, std::path::Path::new(".")).unwrap();
        let p = UpstreamPool::new(&config.pools[0], None, Arc::new(Metrics::new())).unwrap();
        let set = p.snapshot();
        let labels: Vec<&str> = set.backends.iter().map(|b| &*b.label).collect();
        assert_eq!(labels, ["10.0.0.1:80", "10.0.0.2:80"]);
    }

    fn ejected_for_ms(b: &Backend) -> u64 {
        b.health
            .ejected_until_ms
            .load(Ordering::Relaxed)
            .saturating_sub(now_ms())
    }

    #[test]
    fn ejections_grow_with_repeat_offences_and_stop_at_the_cap() {
        let p = pool(
            "[pools.outlier]\nconsecutive_5xx = 2\nbase_ejection = \"10s\"\nmax_ejection = \"25s\"\nmax_ejected_percent = 50",
        );
        let set = p.snapshot();
        let b = &set.backends[0];
        p.report(b, Verdict::Status(503));
        assert!(!b.health.ejected(now_ms()), "one 5xx is not enough");
        p.report(b, Verdict::Status(503));
        let first = ejected_for_ms(b);
        assert!((9_000..=10_000).contains(&first), "{first}");
        // Ended, then offending again: twice as long, then capped.
        for want in [20_000, 25_000] {
            b.health.ejected_until_ms.store(1, Ordering::Relaxed);
            p.release_ejections();
            p.report(b, Verdict::Status(500));
            p.report(b, Verdict::Status(502));
            let got = ejected_for_ms(b);
            assert!((want - 1_000..=want).contains(&got), "{got} vs {want}");
        }
        // A success in between resets the count of consecutive failures.
        let c = &set.backends[2];
        p.report(c, Verdict::Status(503));
        p.report(c, Verdict::Status(200));
        p.report(c, Verdict::Status(503));
        assert!(!c.health.ejected(now_ms()));
    }

    #[test]
    fn at_most_the_allowed_share_is_ejected() {
        let p = pool("[pools.outlier]\nconsecutive_errors = 1\nmax_ejected_percent = 50");
        let set = p.snapshot();
        for b in &set.backends {
            p.report(b, Verdict::LocalError);
        }
        let ejected = set
            .backends
            .iter()
            .filter(|b| b.health.ejected(now_ms()))
            .count();
        assert_eq!(ejected, 2, "50% of 4");
    }

    #[test]
    fn panic_mode_selects_over_every_backend() {
        let p = pool("[pools.balance]\npanic_threshold = 50");
        let set = p.snapshot();
        for b in &set.backends[..3] {
            b.health.unhealthy.store(true, Ordering::Relaxed);
        }
        p.rebuild(set.backends.clone(), false);
        let now = p.snapshot();
        assert!(now.panic);
        assert_eq!(now.eligible, [0, 1, 2, 3]);
        set.backends[0]
            .health
            .unhealthy
            .store(false, Ordering::Relaxed);
        p.rebuild(set.backends.clone(), false);
        let now = p.snapshot();
        assert!(!now.panic, "2 of 4 available is not below 50%");
        assert_eq!(now.eligible, [0, 3]);
    }
}
