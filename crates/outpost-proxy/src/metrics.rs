//! Every Prometheus metric Outpost exports, named in one place. Metrics live for
//! the whole process (across reloads); per-route handles are resolved once per
//! config so the hot path only touches atomics. The cache keeps its own
//! counters (`outpost_cache::Metrics`); they are read at scrape time by a
//! collector and exported under the names in `CacheCollector`.

use std::sync::Mutex;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamErrorLabels {
    pub pool: String,
    pub backend: String,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    pub pool: String,
    pub backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabel {
    pub pool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub rule: String,
    pub phase: &'static str,
    pub action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabel {
    pub listener: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

/// Label value for requests that matched no route.
pub const NO_ROUTE: &str = "_none";

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabel, Histogram, fn() -> Histogram>,
    bytes_in: Family<RouteLabel, Counter>,
    bytes_out: Family<RouteLabel, Counter>,
    upstream_errors: Family<UpstreamErrorLabels, Counter>,
    backend_requests: Family<BackendLabels, Counter>,
    backend_latency: Family<BackendLabels, Histogram, fn() -> Histogram>,
    backend_healthy: Family<BackendLabels, Gauge>,
    backend_ejected: Family<BackendLabels, Gauge>,
    backend_ejections: Family<BackendLabels, Counter>,
    backend_overflow: Family<BackendLabels, Counter>,
    backend_idle: Family<BackendLabels, Gauge>,
    retries: Family<PoolLabel, Counter>,
    retry_budget_exhausted: Family<PoolLabel, Counter>,
    pool_panic: Family<PoolLabel, Gauge>,
    connections_open: Family<ListenerLabel, Gauge>,
    connections_total: Family<ListenerLabel, Counter>,
    connections_rejected: Family<ReasonLabel, Counter>,
    pub access_log_dropped: Counter,
    pub access_log_write_errors: Counter,
    reloads: Family<ResultLabel, Counter>,
    rule_hits: Family<RuleLabels, Counter>,
    pub config_generation: Gauge,
}

/// The handles one route updates per request.
#[derive(Clone)]
pub struct RouteMetrics {
    by_class: [Counter; 5],
    duration: Histogram,
    bytes_in: Counter,
    bytes_out: Counter,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~16 s, doubling.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    pub fn new() -> Self {
        let m = Metrics {
            registry: Mutex::new(Registry::with_prefix("outpost")),
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            bytes_in: Family::default(),
            bytes_out: Family::default(),
            upstream_errors: Family::default(),
            backend_requests: Family::default(),
            backend_latency: Family::new_with_constructor(latency_histogram),
            backend_healthy: Family::default(),
            backend_ejected: Family::default(),
            backend_ejections: Family::default(),
            backend_overflow: Family::default(),
            backend_idle: Family::default(),
            retries: Family::default(),
            retry_budget_exhausted: Family::default(),
            pool_panic: Family::default(),
            connections_open: Family::default(),
            connections_total: Family::default(),
            connections_rejected: Family::default(),
            access_log_dropped: Counter::default(),
            access_log_write_errors: Counter::default(),
            reloads: Family::default(),
            rule_hits: Family::default(),
            config_generation: Gauge::default(),
        };
        m.register();
        m
    }

    fn register(&self) {
        let Ok(mut r) = self.registry.lock() else {
            return;
        };
        r.register(
            "requests",
            "Requests answered, by route and status class",
            self.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time from request head to last response byte, by route",
            self.duration.clone(),
        );
        r.register(
            "request_body_bytes",
            "Request body bytes received, by route",
            self.bytes_in.clone(),
        );
        r.register(
            "response_body_bytes",
            "Response body bytes sent, by route",
            self.bytes_out.clone(),
        );
        r.register(
            "upstream_errors",
            "Failed tries on backends, by pool, backend and kind",
            self.upstream_errors.clone(),
        );
        r.register(
            "backend_requests",
            "Tries sent to a backend, by pool and backend",
            self.backend_requests.clone(),
        );
        r.register(
            "backend_response_seconds",
            "Time from sending a try to its response head, by pool and backend",
            self.backend_latency.clone(),
        );
        r.register(
            "backend_healthy",
            "1 when the backend passes its active health checks (or has none), else 0",
            self.backend_healthy.clone(),
        );
        r.register(
            "backend_ejected",
            "1 while outlier detection has the backend ejected, else 0",
            self.backend_ejected.clone(),
        );
        r.register(
            "backend_ejections",
            "Times outlier detection ejected the backend",
            self.backend_ejections.clone(),
        );
        r.register(
            "backend_overflow",
            "Requests answered 503 because the backend's circuit breaker was full",
            self.backend_overflow.clone(),
        );
        r.register(
            "backend_idle_connections",
            "Idle keep-alive connections parked for the backend (HTTP/1.1 pools; sampled every second)",
            self.backend_idle.clone(),
        );
        r.register(
            "upstream_retries",
            "Tries repeated on another backend, by pool",
            self.retries.clone(),
        );
        r.register(
            "upstream_retry_budget_exhausted",
            "Retries not made because the pool's retry budget was spent",
            self.retry_budget_exhausted.clone(),
        );
        r.register(
            "pool_panic",
            "1 while the pool is in panic mode (too few healthy backends: spreading over all)",
            self.pool_panic.clone(),
        );
        r.register(
            "connections_open",
            "Open downstream connections, by listener",
            self.connections_open.clone(),
        );
        r.register(
            "connections",
            "Downstream connections accepted, by listener",
            self.connections_total.clone(),
        );
        r.register(
            "connections_rejected",
            "Connections closed at accept by a connection limit or a deny list, by reason",
            self.connections_rejected.clone(),
        );
        r.register(
            "access_log_dropped",
            "Access-log records dropped because the buffer was full",
            self.access_log_dropped.clone(),
        );
        r.register(
            "access_log_write_errors",
            "Access-log writes that failed",
            self.access_log_write_errors.clone(),
        );
        r.register(
            "config_reloads",
            "Config reload attempts, by result",
            self.reloads.clone(),
        );
        r.register(
            "rule_hits",
            "Requests a rule matched, by rule id, phase and action",
            self.rule_hits.clone(),
        );
        r.register(
            "config_generation",
            "Generation number of the running config (1 = first)",
            self.config_generation.clone(),
        );
    }

    /// Exports the cache's counters and store totals, read at each scrape.
    /// Called once, when the server creates its cache.
    pub fn register_cache(&self, cache: outpost_cache::Cache) {
        if let Ok(mut r) = self.registry.lock() {
            r.register_collector(Box::new(CacheCollector { cache }));
        }
    }

    /// The hit counter of one rule, resolved once per config.
    pub fn rule_hits(&self, rule: &str, phase: &'static str, action: &'static str) -> Counter {
        let labels = RuleLabels {
            rule: rule.to_string(),
            phase,
            action,
        };
        self.rule_hits.get_or_create(&labels).clone()
    }

    /// Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Ok(r) = self.registry.lock() {
            // Writing into a String cannot fail.
            let _ = prometheus_client::encoding::text::encode(&mut out, &r);
        }
        out
    }

    pub fn route(&self, route: &str) -> RouteMetrics {
        let label = RouteLabel {
            route: route.to_string(),
        };
        RouteMetrics {
            by_class: CLASSES.map(|class| {
                self.requests
                    .get_or_create(&RequestLabels {
                        route: route.to_string(),
                        class,
                    })
                    .clone()
            }),
            duration: self.duration.get_or_create(&label).clone(),
            bytes_in: self.bytes_in.get_or_create(&label).clone(),
            bytes_out: self.bytes_out.get_or_create(&label).clone(),
        }
    }

    pub fn upstream_error(&self, pool: &str, backend: &str, kind: &'static str) {
        self.upstream_errors
            .get_or_create(&UpstreamErrorLabels {
                pool: pool.to_string(),
                backend: backend.to_string(),
                kind,
            })
            .inc();
    }

    /// The handles one backend updates, resolved when it is created.
    pub fn backend(&self, pool: &str, backend: &str) -> crate::pool::BackendMetrics {
        let l = BackendLabels {
            pool: pool.to_string(),
            backend: backend.to_string(),
        };
        crate::pool::BackendMetrics {
            requests: self.backend_requests.get_or_create(&l).clone(),
            latency: self.backend_latency.get_or_create(&l).clone(),
            healthy: self.backend_healthy.get_or_create(&l).clone(),
            ejected: self.backend_ejected.get_or_create(&l).clone(),
            ejections: self.backend_ejections.get_or_create(&l).clone(),
            overflow: self.backend_overflow.get_or_create(&l).clone(),
            idle: self.backend_idle.get_or_create(&l).clone(),
        }
    }

    /// Drops the series of a backend that discovery removed, so address
    /// churn does not grow the exposition without bound.
    pub fn forget_backend(&self, pool: &str, backend: &str) {
        let l = BackendLabels {
            pool: pool.to_string(),
            backend: backend.to_string(),
        };
        self.backend_requests.remove(&l);
        self.backend_latency.remove(&l);
        self.backend_healthy.remove(&l);
        self.backend_ejected.remove(&l);
        self.backend_ejections.remove(&l);
        self.backend_overflow.remove(&l);
        self.backend_idle.remove(&l);
        for kind in crate::error::ErrorKind::UPSTREAM_KINDS {
            self.upstream_errors.remove(&UpstreamErrorLabels {
                pool: l.pool.clone(),
                backend: l.backend.clone(),
                kind: kind.as_str(),
            });
        }
    }

    pub fn retry(&self, pool: &str) {
        let l = PoolLabel {
            pool: pool.to_string(),
        };
        self.retries.get_or_create(&l).inc();
    }

    pub fn retry_budget_exhausted(&self, pool: &str) {
        let l = PoolLabel {
            pool: pool.to_string(),
        };
        self.retry_budget_exhausted.get_or_create(&l).inc();
    }

    pub fn pool_panic(&self, pool: &str, panic: bool) {
        let l = PoolLabel {
            pool: pool.to_string(),
        };
        self.pool_panic.get_or_create(&l).set(i64::from(panic));
    }

    pub fn listener(&self, name: &str) -> (Gauge, Counter) {
        let l = ListenerLabel {
            listener: name.to_string(),
        };
        (
            self.connections_open.get_or_create(&l).clone(),
            self.connections_total.get_or_create(&l).clone(),
        )
    }

    pub fn connection_rejected(&self, why: crate::conn_limit::Refused) {
        let reason = match why {
            crate::conn_limit::Refused::Total => "max_connections",
            crate::conn_limit::Refused::PerClient => "max_connections_per_client",
        };
        self.connections_rejected
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// A connection closed at accept because its address is in a
    /// `security.deny_at_accept` list.
    pub fn connection_denied(&self) {
        self.connections_rejected
            .get_or_create(&ReasonLabel {
                reason: "deny_at_accept",
            })
            .inc();
    }

    pub fn reload(&self, ok: bool) {
        self.reloads
            .get_or_create(&ResultLabel {
                result: if ok { "ok" } else { "rejected" },
            })
            .inc();
    }
}

/// The cache's metrics, from a snapshot taken at scrape time.
#[derive(Debug)]
struct CacheCollector {
    cache: outpost_cache::Cache,
}

impl Collector for CacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let m = self.cache.metrics();
        let counters: [(&str, &str, u64); 17] = [
            (
                "cache_hits",
                "Requests answered from the cache (fresh or served stale)",
                m.hits,
            ),
            (
                "cache_misses",
                "Lookups that found nothing usable for the request's variant",
                m.misses,
            ),
            (
                "cache_stale_served",
                "Stale objects served without waiting for the origin (stale-while-revalidate, max-stale)",
                m.stale_served,
            ),
            (
                "cache_stale_if_error_served",
                "Stale objects served because the origin failed (stale-if-error)",
                m.stale_if_error_served,
            ),
            (
                "cache_revalidated_not_modified",
                "Revalidations the origin answered 304 (object refreshed in place)",
                m.revalidated_304,
            ),
            (
                "cache_revalidated_replaced",
                "Revalidations the origin answered with a new 2xx response",
                m.revalidated_200,
            ),
            (
                "cache_coalesced_waits",
                "Requests that waited on another request's origin fetch of the same key",
                m.coalesced_waits,
            ),
            (
                "cache_coalesce_timeouts",
                "Coalesced waits that gave up after coalesce_wait and went to the origin",
                m.coalesce_timeouts,
            ),
            (
                "cache_bypasses",
                "Requests the route's settings sent around the cache",
                m.bypasses,
            ),
            ("cache_stores", "Objects stored", m.stores),
            (
                "cache_not_stored",
                "Origin responses not stored (policy, size or abort)",
                m.not_stored,
            ),
            (
                "cache_fills_too_large",
                "Fills that outgrew max_object_bytes or the fill buffer budget",
                m.fills_too_large,
            ),
            (
                "cache_follower_resumes",
                "Coalesced requests continued from the origin with a range request when the shared body outgrew the fill",
                m.follower_resumes,
            ),
            (
                "cache_follower_resume_failures",
                "Follower resumes the origin could not serve",
                m.follower_resume_failures,
            ),
            ("cache_purges", "Purge requests carried out", m.purges),
            (
                "cache_purged_objects",
                "Objects deleted or marked stale by purges",
                m.purged_objects,
            ),
            (
                "cache_evictions",
                "Objects evicted to make room",
                m.evictions,
            ),
        ];
        for (name, help, value) in counters {
            let c = ConstCounter::new(value);
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        let invalidations = ConstCounter::new(m.invalidations);
        invalidations.encode(encoder.encode_descriptor(
            "cache_invalidations",
            "URLs invalidated after unsafe methods (POST, PUT, DELETE, ...)",
            None,
            invalidations.metric_type(),
        )?)?;
        let saturate = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let gauges: [(&str, &str, i64); 3] = [
            (
                "cache_bytes",
                "Bytes the store holds now (bodies, headers, keys and per-object overhead)",
                saturate(m.bytes_stored),
            ),
            ("cache_objects", "Objects stored now", saturate(m.objects)),
            (
                "cache_capacity_bytes",
                "The store's bound (cache.max_bytes)",
                saturate(self.cache.config().capacity_bytes),
            ),
        ];
        for (name, help, value) in gauges {
            let g = ConstGauge::new(value);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        Ok(())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl RouteMetrics {
    pub fn observe(&self, status: u16, seconds: f64, bytes_in: u64, bytes_out: u64) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.by_class[class].inc();
        self.duration.observe(seconds);
        if bytes_in > 0 {
            self.bytes_in.inc_by(bytes_in);
        }
        self.bytes_out.inc_by(bytes_out);
    }
}
