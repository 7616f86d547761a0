//! The cache's counters: plain atomics bumped on the data path, read as a
//! [`MetricsSnapshot`] that the proxy maps to Prometheus names (which live
//! in the proxy's metrics module, not here).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::StoreStats;

/// Counters since start. All relaxed: they are statistics, not
/// synchronization.
#[derive(Debug, Default)]
pub struct Metrics {
    hits: AtomicU64,
    misses: AtomicU64,
    stale_served: AtomicU64,
    stale_if_error_served: AtomicU64,
    revalidated_304: AtomicU64,
    revalidated_200: AtomicU64,
    coalesced_waits: AtomicU64,
    coalesce_timeouts: AtomicU64,
    bypasses: AtomicU64,
    stores: AtomicU64,
    not_stored: AtomicU64,
    fills_too_large: AtomicU64,
    follower_resumes: AtomicU64,
    follower_resume_failures: AtomicU64,
    purges: AtomicU64,
    purged_objects: AtomicU64,
    invalidations: AtomicU64,
}

/// A point-in-time copy of every counter and the store's totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetricsSnapshot {
    /// Requests answered from the cache (fresh or stale-served).
    pub hits: u64,
    /// Lookups that found nothing usable for the request's variant.
    pub misses: u64,
    /// Stale objects served (stale-while-revalidate or client `max-stale`).
    pub stale_served: u64,
    /// Stale objects served because the origin failed (stale-if-error).
    pub stale_if_error_served: u64,
    /// Revalidations answered 304 (object refreshed in place).
    pub revalidated_304: u64,
    /// Revalidations answered with a full new 2xx response.
    pub revalidated_200: u64,
    /// Requests that waited on another request's fill.
    pub coalesced_waits: u64,
    /// Coalesced waits that gave up and went to the origin.
    pub coalesce_timeouts: u64,
    /// Requests the route's settings sent around the cache.
    pub bypasses: u64,
    /// Objects stored.
    pub stores: u64,
    /// Origin responses not stored (policy, size or abort).
    pub not_stored: u64,
    /// Fills that outgrew `max_object_bytes` or the fill buffer budget.
    pub fills_too_large: u64,
    /// Coalesced requests that went on from the origin with a range request
    /// when the shared body outgrew the fill.
    pub follower_resumes: u64,
    /// Such resumes the origin could not serve (the request failed).
    pub follower_resume_failures: u64,
    /// Purge requests carried out.
    pub purges: u64,
    /// Objects deleted or marked stale by purges.
    pub purged_objects: u64,
    /// URLs invalidated after unsafe methods.
    pub invalidations: u64,
    /// Charged bytes stored now.
    pub bytes_stored: u64,
    /// Objects stored now.
    pub objects: u64,
    /// Objects evicted to make room, since start.
    pub evictions: u64,
}

macro_rules! bump {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $name(&self) {
                self.$name.fetch_add(1, Ordering::Relaxed);
            }
        )*
    };
}

impl Metrics {
    bump!(
        /// Counts a hit.
        hits,
        /// Counts a miss.
        misses,
        /// Counts a stale object served without waiting for the origin.
        stale_served,
        /// Counts a stale object served because the origin failed. The
        /// proxy calls this: only it sees the origin fail.
        stale_if_error_served,
        /// Counts a revalidation answered 304.
        revalidated_304,
        /// Counts a revalidation answered with a new response.
        revalidated_200,
        /// Counts a request that joined another's fill.
        coalesced_waits,
        /// Counts a coalesced wait that timed out. The proxy calls this: it
        /// owns the timer.
        coalesce_timeouts,
        /// Counts a bypassed request.
        bypasses,
        /// Counts a stored object.
        stores,
        /// Counts a response not stored.
        not_stored,
        /// Counts a fill that grew too large to buffer.
        fills_too_large,
        /// Counts a coalesced request continued from the origin. The proxy
        /// calls this: it makes the range request.
        follower_resumes,
        /// Counts a resume the origin could not serve. The proxy calls this.
        follower_resume_failures,
        /// Counts an invalidated URL.
        invalidations,
    );

    /// Counts one purge that affected `objects` objects.
    pub(crate) fn purged(&self, objects: u64) {
        self.purges.fetch_add(1, Ordering::Relaxed);
        self.purged_objects.fetch_add(objects, Ordering::Relaxed);
    }

    /// Copies every counter, with the store's totals.
    pub fn snapshot(&self, store: StoreStats) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            hits: get(&self.hits),
            misses: get(&self.misses),
            stale_served: get(&self.stale_served),
            stale_if_error_served: get(&self.stale_if_error_served),
            revalidated_304: get(&self.revalidated_304),
            revalidated_200: get(&self.revalidated_200),
            coalesced_waits: get(&self.coalesced_waits),
            coalesce_timeouts: get(&self.coalesce_timeouts),
            bypasses: get(&self.bypasses),
            stores: get(&self.stores),
            not_stored: get(&self.not_stored),
            fills_too_large: get(&self.fills_too_large),
            follower_resumes: get(&self.follower_resumes),
            follower_resume_failures: get(&self.follower_resume_failures),
            purges: get(&self.purges),
            purged_objects: get(&self.purged_objects),
            invalidations: get(&self.invalidations),
            bytes_stored: store.bytes,
            objects: store.objects,
            evictions: store.evictions,
        }
    }
}
