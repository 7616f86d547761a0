//! `outpost logs timeline`: requests, errors and bytes per time bucket, as a table and as
//! sparklines. `Buckets` is shared with `errors` (error rate over time). Memory is bounded
//! by `MAX_BUCKETS` distinct buckets; lines past it are counted as dropped.

use std::collections::HashMap;

use serde::Serialize;

use crate::engine::{Analyzer, LineRef};
use crate::fields::{Fields, Need};
use crate::report::{Align, Block, Document, Table, human_bytes, percent};
use crate::time::{MINUTE_MS, format_duration, format_utc};

/// Most distinct buckets held (about 40 MB); one year of minutes is 525,600.
pub const MAX_BUCKETS: usize = 1_000_000;
/// Automatic bucket widths, smallest first; `auto` picks the first giving at most
/// `AUTO_MAX_ROWS` rows.
const AUTO_WIDTHS: [i64; 8] = [1, 5, 15, 60, 360, 1440, 10_080, 43_200];
const AUTO_MAX_ROWS: i64 = 60;
/// Gaps between buckets are filled with zero rows up to this many rows.
const MAX_FILLED_ROWS: i64 = 100_000;

type FixedState = foldhash::fast::FixedState;

/// Counts in one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub requests: u64,
    pub errors_4xx: u64,
    pub errors_5xx: u64,
    pub bytes: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.errors_4xx += o.errors_4xx;
        self.errors_5xx += o.errors_5xx;
        self.bytes += o.bytes;
    }
}

/// Per-bucket counts keyed by bucket start (ms). `width_ms == None` collects per minute and
/// picks a width when the report is built.
#[derive(Debug, Clone)]
pub struct Buckets {
    width_ms: Option<i64>,
    map: HashMap<i64, Counts, FixedState>,
    /// Lines without a timestamp, or past `MAX_BUCKETS`.
    pub dropped: u64,
}

impl Buckets {
    pub fn new(width_ms: Option<i64>) -> Buckets {
        Buckets {
            width_ms,
            map: HashMap::with_hasher(FixedState::with_seed(7)),
            dropped: 0,
        }
    }

    #[inline]
    pub fn add(&mut self, f: &Fields<'_>) {
        let Some(t) = f.time_ms else {
            self.dropped += 1;
            return;
        };
        let w = self.width_ms.unwrap_or(MINUTE_MS);
        let key = t.div_euclid(w) * w;
        if self.map.len() >= MAX_BUCKETS && !self.map.contains_key(&key) {
            self.dropped += 1;
            return;
        }
        let c = self.map.entry(key).or_default();
        c.requests += 1;
        c.bytes += f.bytes;
        match f.status / 100 {
            4 => c.errors_4xx += 1,
            5 => c.errors_5xx += 1,
            _ => {}
        }
    }

    pub fn merge(&mut self, other: Buckets) {
        self.dropped += other.dropped;
        for (k, v) in other.map {
            if self.map.len() >= MAX_BUCKETS && !self.map.contains_key(&k) {
                self.dropped += v.requests;
                continue;
            }
            self.map.entry(k).or_default().add(&v);
        }
    }

    /// Rows in time order at the chosen (or automatic) width, gaps filled with zeros.
    pub fn rows(&self) -> (i64, Vec<(i64, Counts)>) {
        let (Some(&min), Some(&max)) = (self.map.keys().min(), self.map.keys().max()) else {
            return (self.width_ms.unwrap_or(MINUTE_MS), Vec::new());
        };
        let width = self.width_ms.unwrap_or_else(|| {
            let span_min = (max - min) / MINUTE_MS + 1;
            let w = AUTO_WIDTHS
                .iter()
                .find(|&&w| (span_min + w - 1) / w <= AUTO_MAX_ROWS);
            w.copied().unwrap_or(43_200) * MINUTE_MS
        });
        let mut merged: HashMap<i64, Counts, FixedState> =
            HashMap::with_hasher(FixedState::with_seed(7));
        for (k, v) in &self.map {
            merged
                .entry(k.div_euclid(width) * width)
                .or_default()
                .add(v);
        }
        let (start, end) = (min.div_euclid(width) * width, max.div_euclid(width) * width);
        let rows = if (end - start) / width < MAX_FILLED_ROWS {
            (0..=(end - start) / width)
                .map(|i| start + i * width)
                .map(|k| (k, merged.get(&k).copied().unwrap_or_default()))
                .collect()
        } else {
            let mut v: Vec<(i64, Counts)> = merged.into_iter().collect();
            v.sort_by_key(|r| r.0);
            v
        };
        (width, rows)
    }
}

/// A sparkline of `values` with the eight block characters.
pub fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|&v| {
            if max == 0 || v == 0 {
                ' '
            } else {
                BARS[((v * 7 + max / 2) / max).min(7) as usize]
            }
        })
        .collect()
}

pub struct TimelineAnalyzer {
    /// Bucket width in ms; `None` is automatic.
    pub width_ms: Option<i64>,
}

impl Analyzer for TimelineAnalyzer {
    type Acc = Buckets;

    fn need(&self) -> Need {
        Need::TIME | Need::STATUS | Need::BYTES
    }

    fn new_acc(&self) -> Buckets {
        Buckets::new(self.width_ms)
    }

    fn add(&self, acc: &mut Buckets, f: &Fields<'_>, _line: &LineRef<'_>) {
        acc.add(f);
    }

    fn merge(&self, into: &mut Buckets, from: Buckets) {
        into.merge(from);
    }
}

/// One bucket of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineRow {
    /// Bucket start, UTC.
    pub start: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// The result of `timeline`.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineReport {
    pub bucket: String,
    pub rows: Vec<TimelineRow>,
    /// Lines without a usable timestamp.
    pub without_time: u64,
}

impl TimelineAnalyzer {
    pub fn report(&self, acc: &Buckets) -> TimelineReport {
        let (width, rows) = acc.rows();
        TimelineReport {
            bucket: format_duration(width),
            rows: rows
                .into_iter()
                .map(|(k, counts)| TimelineRow {
                    start: format_utc(k),
                    counts,
                })
                .collect(),
            without_time: acc.dropped,
        }
    }
}

impl TimelineReport {
    pub fn document(&self) -> Document {
        let mut t = Table::new(
            &format!("timeline ({} buckets, UTC)", self.bucket),
            &[
                ("start", Align::Left),
                ("requests", Align::Right),
                ("4xx", Align::Right),
                ("5xx", Align::Right),
                ("error rate", Align::Right),
                ("bytes", Align::Right),
            ],
        );
        for r in &self.rows {
            let c = &r.counts;
            t.rows.push(vec![
                r.start.clone(),
                c.requests.to_string(),
                c.errors_4xx.to_string(),
                c.errors_5xx.to_string(),
                percent(c.errors_4xx + c.errors_5xx, c.requests),
                human_bytes(c.bytes),
            ]);
        }
        let series =
            |f: fn(&Counts) -> u64| self.rows.iter().map(|r| f(&r.counts)).collect::<Vec<_>>();
        let lines = vec![
            format!("requests |{}|", sparkline(&series(|c| c.requests))),
            format!(
                "errors   |{}|",
                sparkline(&series(|c| c.errors_4xx + c.errors_5xx))
            ),
            format!("bytes    |{}|", sparkline(&series(|c| c.bytes))),
        ];
        let mut blocks = vec![
            Block::Table(t),
            Block::Text {
                title: "sparklines".into(),
                lines,
            },
        ];
        if self.without_time > 0 {
            blocks.push(Block::Text {
                title: String::new(),
                lines: vec![format!(
                    "{} lines had no usable timestamp",
                    self.without_time
                )],
            });
        }
        Document { blocks }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_width_and_gap_filling() {
        let mut b = Buckets::new(None);
        for min in [0i64, 1, 2, 119] {
            b.add(&Fields {
                time_ms: Some(min * MINUTE_MS + 5),
                status: 500,
                ..Default::default()
            });
        }
        b.add(&Fields::default());
        let (w, rows) = b.rows();
        assert_eq!(w, 5 * MINUTE_MS, "120 minutes fit in 24 rows of 5m");
        assert_eq!(rows.len(), 24);
        assert_eq!(rows[0].1.requests, 3);
        assert_eq!(rows[23].1.errors_5xx, 1);
        assert_eq!(b.dropped, 1);
    }

    #[test]
    fn sparkline_scales() {
        assert_eq!(sparkline(&[0, 1, 2, 4, 8]), " ▂▃▅█");
    }
}
