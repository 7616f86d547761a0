//! Phase 9, log: what is known about a request as it passes the phases, and its
//! completion into one access-log record plus metric updates. Completion runs
//! when the response body ends or is dropped, so durations and byte counts
//! cover the whole exchange, errors included.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use outpost_logs::record::AccessRecord;

use crate::access_log::AccessLogger;
use crate::metrics::RouteMetrics;

/// An in-flight request's observation; finished exactly once by `CountedBody`.
pub struct Pending {
    pub start: Instant,
    pub status: u16,
    pub bytes_in: Arc<AtomicU64>,
    /// Shared per route: cloning it per request is one refcount, not eight.
    pub metrics: Arc<RouteMetrics>,
    /// `None` when the access log is disabled: nothing is formatted then.
    pub record: Option<(Box<AccessRecord>, AccessLogger)>,
}

impl Pending {
    pub fn finish(self, bytes_out: u64, _complete: bool) {
        let elapsed = self.start.elapsed();
        let bytes_in = self.bytes_in.load(Ordering::Relaxed);
        self.metrics
            .observe(self.status, elapsed.as_secs_f64(), bytes_in, bytes_out);
        if let Some((mut rec, logger)) = self.record {
            rec.status = self.status;
            rec.bytes_in = bytes_in;
            rec.bytes_out = bytes_out;
            rec.duration_ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3;
            logger.log(rec);
        }
    }
}
