//! `outpost logs errors`: 4xx and 5xx counts by status and by path, and the error rate
//! over time. Paths are counted with the same bounded counter as `top`.

use serde::Serialize;

use crate::counter::Counter;
use crate::engine::{Analyzer, LineRef};
use crate::fields::{Fields, Need};
use crate::report::timeline::Buckets;
use crate::report::{Align, Block, Document, Table, display_key, percent};
use crate::time::{format_duration, format_utc};

pub struct ErrorsAnalyzer {
    /// Rows in the by-path table.
    pub n: usize,
    pub capacity: Option<usize>,
    pub width_ms: Option<i64>,
}

pub struct ErrorsAcc {
    requests: u64,
    by_status: Box<[u64; 1000]>,
    paths: Counter,
    buckets: Buckets,
}

impl Analyzer for ErrorsAnalyzer {
    type Acc = ErrorsAcc;

    fn need(&self) -> Need {
        Need::STATUS | Need::REQUEST | Need::TIME
    }

    fn new_acc(&self) -> ErrorsAcc {
        ErrorsAcc {
            requests: 0,
            by_status: Box::new([0; 1000]),
            paths: Counter::new(self.capacity),
            buckets: Buckets::new(self.width_ms),
        }
    }

    fn add(&self, acc: &mut ErrorsAcc, f: &Fields<'_>, _line: &LineRef<'_>) {
        acc.requests += 1;
        acc.buckets.add(f);
        if let Some(c) = acc.by_status.get_mut(usize::from(f.status)) {
            *c += 1;
        }
        if f.status >= 400 && f.status < 600 {
            acc.paths.add(f.path, 1, u64::from(f.status >= 500));
        }
    }

    fn merge(&self, into: &mut ErrorsAcc, from: ErrorsAcc) {
        into.requests += from.requests;
        for (a, b) in into.by_status.iter_mut().zip(from.by_status.iter()) {
            *a += b;
        }
        into.paths.merge(from.paths);
        into.buckets.merge(from.buckets);
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusRow {
    pub status: u16,
    pub count: u64,
    pub share_of_requests: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PathRow {
    pub path: String,
    pub errors: u64,
    pub errors_4xx: u64,
    pub errors_5xx: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RateRow {
    pub start: String,
    pub requests: u64,
    pub errors_4xx: u64,
    pub errors_5xx: u64,
    /// (4xx + 5xx) / requests, in percent.
    pub error_rate: f64,
}

/// The result of `errors`.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorsReport {
    pub requests: u64,
    pub errors_4xx: u64,
    pub errors_5xx: u64,
    pub by_status: Vec<StatusRow>,
    pub by_path: Vec<PathRow>,
    pub paths_approximate: bool,
    pub bucket: String,
    pub over_time: Vec<RateRow>,
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

impl ErrorsAnalyzer {
    pub fn report(&self, acc: &ErrorsAcc) -> ErrorsReport {
        let sum = |lo: usize| acc.by_status[lo..lo + 100].iter().sum::<u64>();
        let by_status = (400..600)
            .filter(|&s| acc.by_status[s] > 0)
            .map(|s| StatusRow {
                status: s as u16,
                count: acc.by_status[s],
                share_of_requests: pct(acc.by_status[s], acc.requests),
            })
            .collect();
        let by_path = acc
            .paths
            .top(self.n)
            .into_iter()
            .map(|c| PathRow {
                path: display_key(&c.key),
                errors: c.count,
                errors_4xx: c.count - c.extra.min(c.count),
                errors_5xx: c.extra,
            })
            .collect();
        let (width, rows) = acc.buckets.rows();
        let over_time = rows
            .into_iter()
            .map(|(k, c)| RateRow {
                start: format_utc(k),
                requests: c.requests,
                errors_4xx: c.errors_4xx,
                errors_5xx: c.errors_5xx,
                error_rate: pct(c.errors_4xx + c.errors_5xx, c.requests),
            })
            .collect();
        ErrorsReport {
            requests: acc.requests,
            errors_4xx: sum(400),
            errors_5xx: sum(500),
            by_status,
            by_path,
            paths_approximate: acc.paths.is_approximate(),
            bucket: format_duration(width),
            over_time,
        }
    }
}

impl ErrorsReport {
    pub fn document(&self) -> Document {
        let pairs = vec![
            ("requests".to_string(), self.requests.to_string()),
            (
                "4xx".to_string(),
                format!(
                    "{} ({})",
                    self.errors_4xx,
                    percent(self.errors_4xx, self.requests)
                ),
            ),
            (
                "5xx".to_string(),
                format!(
                    "{} ({})",
                    self.errors_5xx,
                    percent(self.errors_5xx, self.requests)
                ),
            ),
        ];
        let mut st = Table::new(
            "errors by status",
            &[
                ("status", Align::Right),
                ("count", Align::Right),
                ("share", Align::Right),
            ],
        );
        for r in &self.by_status {
            st.rows.push(vec![
                r.status.to_string(),
                r.count.to_string(),
                percent(r.count, self.requests),
            ]);
        }
        let mut pt = Table::new(
            "errors by path",
            &[
                ("errors", Align::Right),
                ("4xx", Align::Right),
                ("5xx", Align::Right),
                ("path", Align::Left),
            ],
        );
        for r in &self.by_path {
            pt.rows.push(vec![
                r.errors.to_string(),
                r.errors_4xx.to_string(),
                r.errors_5xx.to_string(),
                r.path.clone(),
            ]);
        }
        let mut tt = Table::new(
            &format!("error rate over time ({} buckets, UTC)", self.bucket),
            &[
                ("start", Align::Left),
                ("requests", Align::Right),
                ("4xx", Align::Right),
                ("5xx", Align::Right),
                ("error rate", Align::Right),
            ],
        );
        for r in &self.over_time {
            tt.rows.push(vec![
                r.start.clone(),
                r.requests.to_string(),
                r.errors_4xx.to_string(),
                r.errors_5xx.to_string(),
                format!("{:.1}%", r.error_rate),
            ]);
        }
        let rates: Vec<u64> = self
            .over_time
            .iter()
            .map(|r| (r.error_rate * 10.0) as u64)
            .collect();
        Document {
            blocks: vec![
                Block::Pairs {
                    title: "errors".into(),
                    pairs,
                },
                Block::Table(st),
                Block::Table(pt),
                Block::Table(tt),
                Block::Text {
                    title: "error rate".into(),
                    lines: vec![format!("|{}|", crate::report::timeline::sparkline(&rates))],
                },
            ],
        }
    }
}
