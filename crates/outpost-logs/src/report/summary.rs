//! `outpost logs summary`: totals, time range, unique client IPs (HyperLogLog, or exact
//! with `--exact`), bandwidth, status classes and latency percentiles when the format
//! carries request durations.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::counter::Counter;
use crate::engine::{Analyzer, LineRef};
use crate::fields::{Fields, Need};
use crate::hll::HyperLogLog;
use crate::report::{Block, Document, human_bytes, percent};
use crate::time::format_utc;

/// Durations are recorded in microseconds between 1 µs and one hour, 2 significant digits.
const MAX_DURATION_US: u64 = 3_600_000_000;

pub struct SummaryAnalyzer {
    /// Count unique IPs exactly (memory grows with distinct IPs).
    pub exact: bool,
}

pub struct SummaryAcc {
    requests: u64,
    bytes: u64,
    first: Option<i64>,
    last: Option<i64>,
    hll: HyperLogLog,
    exact: Option<Counter>,
    classes: [u64; 6],
    durations: Option<Histogram<u64>>,
}

impl Analyzer for SummaryAnalyzer {
    type Acc = SummaryAcc;

    fn need(&self) -> Need {
        Need::IP | Need::TIME | Need::STATUS | Need::BYTES | Need::DURATION
    }

    fn new_acc(&self) -> SummaryAcc {
        SummaryAcc {
            requests: 0,
            bytes: 0,
            first: None,
            last: None,
            hll: HyperLogLog::default(),
            exact: self.exact.then(|| Counter::new(None)),
            classes: [0; 6],
            durations: None,
        }
    }

    fn add(&self, acc: &mut SummaryAcc, f: &Fields<'_>, _line: &LineRef<'_>) {
        acc.requests += 1;
        acc.bytes += f.bytes;
        if let Some(t) = f.time_ms {
            acc.first = Some(acc.first.map_or(t, |v| v.min(t)));
            acc.last = Some(acc.last.map_or(t, |v| v.max(t)));
        }
        match &mut acc.exact {
            Some(c) => c.add(f.ip, 1, 0),
            None => acc.hll.add(f.ip),
        }
        acc.classes[usize::from(f.status / 100).min(5)] += 1;
        if let Some(d) = f.duration_ms {
            let us = ((d * 1000.0).round() as u64).clamp(1, MAX_DURATION_US);
            if acc.durations.is_none() {
                acc.durations = Histogram::new_with_bounds(1, MAX_DURATION_US, 2).ok();
            }
            if let Some(h) = &mut acc.durations {
                h.saturating_record(us);
            }
        }
    }

    fn merge(&self, into: &mut SummaryAcc, from: SummaryAcc) {
        into.requests += from.requests;
        into.bytes += from.bytes;
        into.first = min_opt(into.first, from.first, i64::min);
        into.last = min_opt(into.last, from.last, i64::max);
        into.hll.merge(&from.hll);
        if let (Some(a), Some(b)) = (&mut into.exact, from.exact) {
            a.merge(b);
        }
        for (a, b) in into.classes.iter_mut().zip(from.classes) {
            *a += b;
        }
        match (&mut into.durations, from.durations) {
            (Some(a), Some(b)) => {
                let _ = a.add(&b);
            }
            (None, Some(b)) => into.durations = Some(b),
            _ => {}
        }
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>, f: fn(i64, i64) -> i64) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (a, b) => a.or(b),
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The result of `summary`.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryReport {
    pub requests: u64,
    pub bytes: u64,
    pub first: Option<String>,
    pub last: Option<String>,
    pub unique_ips: u64,
    pub unique_ips_exact: bool,
    pub status_1xx: u64,
    pub status_2xx: u64,
    pub status_3xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    /// Requests per second over the time range.
    pub mean_rps: Option<f64>,
    pub latency: Option<Latency>,
}

impl SummaryAnalyzer {
    pub fn report(&self, acc: &SummaryAcc) -> SummaryReport {
        let unique_ips = match &acc.exact {
            Some(c) => c.len() as u64,
            None => acc.hll.estimate(),
        };
        let q = |h: &Histogram<u64>, p: f64| h.value_at_quantile(p) as f64 / 1000.0;
        let latency = acc
            .durations
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(|h| Latency {
                samples: h.len(),
                p50_ms: q(h, 0.5),
                p90_ms: q(h, 0.9),
                p99_ms: q(h, 0.99),
                max_ms: h.max() as f64 / 1000.0,
            });
        let mean_rps = match (acc.first, acc.last) {
            (Some(a), Some(b)) if b > a => {
                Some((acc.requests as f64 * 1000.0 / (b - a) as f64 * 100.0).round() / 100.0)
            }
            _ => None,
        };
        SummaryReport {
            requests: acc.requests,
            bytes: acc.bytes,
            first: acc.first.map(format_utc),
            last: acc.last.map(format_utc),
            unique_ips,
            unique_ips_exact: self.exact,
            status_1xx: acc.classes[1],
            status_2xx: acc.classes[2],
            status_3xx: acc.classes[3],
            status_4xx: acc.classes[4],
            status_5xx: acc.classes[5],
            mean_rps,
            latency,
        }
    }
}

impl SummaryReport {
    pub fn document(&self) -> Document {
        let n = self.requests;
        let mut pairs = vec![
            ("requests".to_string(), n.to_string()),
            (
                "first".to_string(),
                self.first.clone().unwrap_or_else(|| "-".into()),
            ),
            (
                "last".to_string(),
                self.last.clone().unwrap_or_else(|| "-".into()),
            ),
            (
                "mean rate".to_string(),
                self.mean_rps
                    .map_or("-".into(), |r| format!("{r:.2} req/s")),
            ),
            (
                "unique IPs".to_string(),
                format!(
                    "{}{}",
                    self.unique_ips,
                    if self.unique_ips_exact {
                        ""
                    } else {
                        " (estimate, ±1%)"
                    }
                ),
            ),
            (
                "bandwidth".to_string(),
                format!("{} ({} bytes)", human_bytes(self.bytes), self.bytes),
            ),
        ];
        for (name, v) in [
            ("1xx", self.status_1xx),
            ("2xx", self.status_2xx),
            ("3xx", self.status_3xx),
            ("4xx", self.status_4xx),
            ("5xx", self.status_5xx),
        ] {
            pairs.push((name.to_string(), format!("{v} ({})", percent(v, n))));
        }
        let mut blocks = vec![Block::Pairs {
            title: "summary".into(),
            pairs,
        }];
        if let Some(l) = &self.latency {
            blocks.push(Block::Pairs {
                title: format!("latency ({} requests with durations)", l.samples),
                pairs: vec![
                    ("p50".into(), format!("{} ms", l.p50_ms)),
                    ("p90".into(), format!("{} ms", l.p90_ms)),
                    ("p99".into(), format!("{} ms", l.p99_ms)),
                    ("max".into(), format!("{} ms", l.max_ms)),
                ],
            });
        }
        Document { blocks }
    }
}
