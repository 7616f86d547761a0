//! Outpost's CDN cache as pure logic, phase 6 of the request pipeline. It
//! owns cache keys ([`key`]), the RFC 9111 policy ([`policy`]), a
//! byte-bounded S3-FIFO store with purge indexes ([`store`]), request
//! coalescing with streaming fills ([`fill`]), purge requests ([`purge`])
//! and counters ([`metrics`]). No sockets and no runtime: time is always an
//! argument, and the only async parts are the fill readers, built on
//! `tokio::sync` alone. [`Cache`] ties it together for the proxy; the
//! crate README shows the call sequence.

mod cache;
pub mod directives;
pub mod fill;
pub mod key;
pub mod metrics;
pub mod policy;
pub mod purge;
pub mod settings;
pub mod store;

pub use cache::{
    BodyPlan, Bypass, CACHE_STATUS, Cache, CacheRequest, ConfigError, Outcome, RequestInfo, Served,
};
pub use fill::{FillError, FillOutcome, FillReader, FillWriter, Refreshed, ValidatorMismatch};
pub use key::{CacheKey, KeyError, VariantKey, Vary};
pub use metrics::{Metrics, MetricsSnapshot};
pub use policy::{CacheStatus, Decision, ExchangeTimes, Forward, NotStorable};
pub use purge::{Purge, PurgeError, PurgeMode, PurgeOutcome, PurgeTarget};
pub use settings::{CacheConfig, DefaultTtls, KeySettings, QueryMode, RouteSettings};
pub use store::{Object, ResponseHead, Store, StoreConfig};
