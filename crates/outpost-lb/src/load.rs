//! How live load reaches the selector: the [`Loads`] trait, implemented by
//! the caller over whatever counters it keeps (the proxy keeps atomics per
//! backend). The selector only reads; it never records anything itself.

/// Live per-backend load, provided by the caller. Indices are indices into
/// the `backends` slice the selector was built from.
pub trait Loads {
    /// Requests to backend `i` that have started and not finished.
    fn in_flight(&self, i: usize) -> u32;

    /// Backend `i`'s response latency EWMA in microseconds; 0 = unknown.
    fn latency_us(&self, i: usize) -> u32;

    /// The sum of [`Loads::in_flight`] over the selector's eligible
    /// backends, if the caller keeps it. Bounded-load picks need it; the
    /// default `None` makes the selector sum the eligible backends itself,
    /// one read per backend per pick.
    fn total_in_flight(&self) -> Option<u64> {
        None
    }
}

/// No load at all: every backend idle, every latency unknown. For policies
/// that ignore load (round-robin, random, unbounded hashing).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLoads;

impl Loads for NoLoads {
    fn in_flight(&self, _: usize) -> u32 {
        0
    }

    fn latency_us(&self, _: usize) -> u32 {
        0
    }

    fn total_in_flight(&self) -> Option<u64> {
        Some(0)
    }
}

impl<L: Loads + ?Sized> Loads for &L {
    fn in_flight(&self, i: usize) -> u32 {
        (**self).in_flight(i)
    }

    fn latency_us(&self, i: usize) -> u32 {
        (**self).latency_us(i)
    }

    fn total_in_flight(&self) -> Option<u64> {
        (**self).total_in_flight()
    }
}
