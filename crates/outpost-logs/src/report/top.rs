//! `outpost logs top`: requests (or bytes) per key, with share of the total. Counting is
//! bounded Space-Saving by default (`counter::DEFAULT_CAPACITY` keys) and exact with
//! `--exact`.

use serde::Serialize;

use crate::counter::Counter;
use crate::engine::{Analyzer, LineRef};
use crate::fields::{Fields, Need};
use crate::report::{Align, Block, Document, Table, display_key, human_bytes, percent, status_key};

/// The key `top` groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TopBy {
    Ip,
    Path,
    Status,
    Ua,
    Referer,
    Host,
    Method,
}

impl TopBy {
    pub fn name(self) -> &'static str {
        match self {
            TopBy::Ip => "ip",
            TopBy::Path => "path",
            TopBy::Status => "status",
            TopBy::Ua => "ua",
            TopBy::Referer => "referer",
            TopBy::Host => "host",
            TopBy::Method => "method",
        }
    }

    fn need(self) -> Need {
        match self {
            TopBy::Ip => Need::IP,
            TopBy::Path | TopBy::Method => Need::REQUEST,
            TopBy::Status => Need::STATUS,
            TopBy::Ua => Need::UA,
            TopBy::Referer => Need::REFERER,
            TopBy::Host => Need::HOST,
        }
    }
}

/// Options of `top`.
#[derive(Debug, Clone)]
pub struct TopOptions {
    pub by: TopBy,
    /// Rank by response bytes instead of requests.
    pub bytes: bool,
    /// Rows to show.
    pub n: usize,
    /// `None` counts exactly; `Some(k)` bounds memory to k counters (Space-Saving).
    pub capacity: Option<usize>,
}

pub struct TopAnalyzer(pub TopOptions);

pub struct TopAcc {
    counter: Counter,
    requests: u64,
    bytes: u64,
}

impl Analyzer for TopAnalyzer {
    type Acc = TopAcc;

    fn need(&self) -> Need {
        let mut n = self.0.by.need();
        if self.0.bytes {
            n |= Need::BYTES;
        }
        n
    }

    fn new_acc(&self) -> TopAcc {
        TopAcc {
            counter: Counter::new(self.0.capacity),
            requests: 0,
            bytes: 0,
        }
    }

    #[inline]
    fn add(&self, acc: &mut TopAcc, f: &Fields<'_>, _line: &LineRef<'_>) {
        let status;
        let key: &[u8] = match self.0.by {
            TopBy::Ip => f.ip,
            TopBy::Path => f.path,
            TopBy::Status => {
                status = status_key(f.status);
                &status
            }
            TopBy::Ua => f.ua,
            TopBy::Referer => f.referer,
            TopBy::Host => f.host,
            TopBy::Method => f.method,
        };
        acc.requests += 1;
        acc.bytes += f.bytes;
        if self.0.bytes {
            acc.counter.add(key, f.bytes, 1);
        } else {
            acc.counter.add(key, 1, f.bytes);
        }
    }

    fn merge(&self, into: &mut TopAcc, from: TopAcc) {
        into.counter.merge(from.counter);
        into.requests += from.requests;
        into.bytes += from.bytes;
    }
}

/// One row of `top`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TopRow {
    pub key: String,
    pub requests: u64,
    /// Response bytes; only counted with `--bytes` (0 otherwise).
    pub bytes: u64,
    /// Share of the ranked metric (requests, or bytes with `--bytes`), in percent.
    pub share: f64,
    /// Upper bound on the overestimate of the ranked metric (0 when exact).
    pub error: u64,
}

/// The result of `top`.
#[derive(Debug, Clone, Serialize)]
pub struct TopReport {
    pub by: TopBy,
    pub metric: &'static str,
    pub total_requests: u64,
    pub total_bytes: u64,
    pub distinct_keys_tracked: usize,
    pub approximate: bool,
    /// Keys not listed were seen at most this many times each (0 when exact).
    pub unlisted_max: u64,
    pub rows: Vec<TopRow>,
}

impl TopAnalyzer {
    pub fn report(&self, acc: &TopAcc) -> TopReport {
        let total = if self.0.bytes {
            acc.bytes
        } else {
            acc.requests
        };
        let rows = acc
            .counter
            .top(self.0.n)
            .into_iter()
            .map(|c| {
                let (requests, bytes) = if self.0.bytes {
                    (c.extra, c.count)
                } else {
                    (c.count, c.extra)
                };
                let share = if total == 0 {
                    0.0
                } else {
                    (c.count as f64 * 1000.0 / total as f64).round() / 10.0
                };
                TopRow {
                    key: display_key(&c.key),
                    requests,
                    bytes,
                    share,
                    error: c.err,
                }
            })
            .collect();
        TopReport {
            by: self.0.by,
            metric: if self.0.bytes { "bytes" } else { "requests" },
            total_requests: acc.requests,
            total_bytes: acc.bytes,
            distinct_keys_tracked: acc.counter.len(),
            approximate: acc.counter.is_approximate(),
            unlisted_max: acc.counter.error_bound(),
            rows,
        }
    }
}

impl TopReport {
    pub fn document(&self) -> Document {
        let by = self.by.name();
        let bytes = self.metric == "bytes";
        let mut t = if bytes {
            let cols = [
                ("#", Align::Right),
                ("bytes", Align::Right),
                ("share", Align::Right),
                ("requests", Align::Right),
                (by, Align::Left),
            ];
            Table::new(&format!("top {by} by bytes"), &cols)
        } else {
            let cols = [
                ("#", Align::Right),
                ("requests", Align::Right),
                ("share", Align::Right),
                (by, Align::Left),
            ];
            Table::new(&format!("top {by} by requests"), &cols)
        };
        for (i, r) in self.rows.iter().enumerate() {
            let rank = (i + 1).to_string();
            t.rows.push(if bytes {
                vec![
                    rank,
                    human_bytes(r.bytes),
                    percent(r.bytes, self.total_bytes),
                    r.requests.to_string(),
                    r.key.clone(),
                ]
            } else {
                vec![
                    rank,
                    r.requests.to_string(),
                    percent(r.requests, self.total_requests),
                    r.key.clone(),
                ]
            });
        }
        let mut blocks = vec![Block::Table(t)];
        if self.approximate {
            let max_err = self.rows.iter().map(|r| r.error).max().unwrap_or(0);
            blocks.push(Block::Text {
                title: String::new(),
                lines: vec![format!(
                    "approximate (Space-Saving): listed counts may be over by at most {max_err}; unlisted keys were seen at most {} times each; --exact counts exactly",
                    self.unlisted_max
                )],
            });
        }
        Document { blocks }
    }
}
