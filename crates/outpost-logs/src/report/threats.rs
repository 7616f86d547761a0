//! `outpost logs threats`: findings with evidence counts and sample lines.
//!
//! Per-client detectors (state per IP, at most `max_tracked_ips` IPs):
//! * scanner: at least `scanner_min_404_paths` distinct paths answered 404;
//! * credential stuffing: at least `stuffing_min_failures` POSTs to login-like paths
//!   answered 401 or 403;
//! * flood: at least `flood_per_minute` requests within one clock minute.
//!
//! Per-line detectors (`signatures`): path traversal, SQL injection, XSS and shell
//! injection in the path and query, and methods outside `allowed_methods`.

mod signatures;

use std::collections::HashSet;

use serde::Serialize;

use crate::counter::{Counter, hash_key};
use crate::engine::{Analyzer, LineRef, Sample, merge_samples};
use crate::fields::{Fields, Need};
use crate::keymap::KeyMap;
use crate::report::{Align, Block, Document, Table, display_key};
use crate::time::{MINUTE_MS, format_utc};

pub use signatures::{DETECTORS, LOGIN_HINTS};

/// Distinct 404 paths remembered per IP (bounds a scanner's memory).
const MAX_DISTINCT_404: usize = 4096;
/// Attacking IPs tracked per signature detector.
const SIGNATURE_IPS: usize = 10_000;

/// Detector thresholds and limits; every field is a command-line option.
#[derive(Debug, Clone, Serialize)]
pub struct ThreatConfig {
    /// Distinct 404 paths from one IP that make it a scanner. Default 20.
    pub scanner_min_404_paths: u64,
    /// Failed logins (POST to a login-like path answered 401/403) from one IP. Default 10.
    pub stuffing_min_failures: u64,
    /// Requests from one IP within one clock minute. Default 600.
    pub flood_per_minute: u64,
    /// Methods that are not unusual. Default GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS.
    pub allowed_methods: Vec<String>,
    /// IPs with per-client state; later new IPs are not tracked. Default 500,000 (~250 B each).
    pub max_tracked_ips: usize,
    /// Sample lines per finding. Default 3.
    pub samples: usize,
    /// Findings listed per detector. Default 10.
    pub top: usize,
}

impl Default for ThreatConfig {
    fn default() -> Self {
        ThreatConfig {
            scanner_min_404_paths: 20,
            stuffing_min_failures: 10,
            flood_per_minute: 600,
            allowed_methods: ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
                .map(String::from)
                .to_vec(),
            max_tracked_ips: 500_000,
            samples: 3,
            top: 10,
        }
    }
}

/// Requests per clock minute, as runs of equal minutes in line order: the first and last
/// runs stay open for merging with neighbouring chunks; the busiest closed run is kept.
#[derive(Debug, Clone, Copy, Default)]
struct Flood {
    first: (i64, u64),
    last: (i64, u64),
    single: bool,
    mid: (u64, i64),
}

impl Flood {
    fn push(&mut self, minute: i64, n: u64) {
        if self.first.1 == 0 {
            (self.first, self.last, self.single) = ((minute, n), (minute, n), true);
        } else if self.last.0 == minute {
            self.last.1 += n;
            if self.single {
                self.first.1 = self.last.1;
            }
        } else {
            if !self.single {
                self.mid = self.mid.max((self.last.1, self.last.0));
            }
            self.last = (minute, n);
            self.single = false;
        }
    }

    fn merge(&mut self, b: Flood) {
        if b.first.1 == 0 {
            return;
        }
        self.push(b.first.0, b.first.1);
        self.mid = self.mid.max(b.mid);
        if !b.single {
            self.push(b.last.0, b.last.1);
        }
    }

    /// (most requests in one minute, that minute's start in ms).
    fn peak(&self) -> (u64, i64) {
        let (mut best, mut at) = (self.mid.0, self.mid.1);
        for (m, c) in [self.first, self.last] {
            if c > best || (c == best && m < at) {
                (best, at) = (c, m);
            }
        }
        (best, at * MINUTE_MS)
    }
}

#[derive(Debug, Clone, Default)]
struct IpState {
    not_found: u64,
    paths_404: HashSet<u64, foldhash::fast::FixedState>,
    login_failures: u64,
    flood: Flood,
    scan_samples: Vec<Sample>,
    login_samples: Vec<Sample>,
    flood_samples: Vec<Sample>,
}

impl IpState {
    fn merge(&mut self, b: IpState, max: usize) {
        self.not_found += b.not_found;
        for h in b.paths_404 {
            if self.paths_404.len() < MAX_DISTINCT_404 {
                self.paths_404.insert(h);
            }
        }
        self.login_failures += b.login_failures;
        self.flood.merge(b.flood);
        merge_samples(&mut self.scan_samples, b.scan_samples, max);
        merge_samples(&mut self.login_samples, b.login_samples, max);
        merge_samples(&mut self.flood_samples, b.flood_samples, max);
    }
}

#[derive(Debug, Clone)]
struct SigState {
    count: u64,
    patterns: Vec<u64>,
    ips: Counter,
    samples: Vec<Sample>,
}

pub struct ThreatsAcc {
    ips: KeyMap<IpState>,
    sigs: Vec<SigState>,
    methods: Counter,
    method_ips: Counter,
    method_samples: Vec<Sample>,
    norm: Vec<u8>,
    tmp: Vec<u8>,
}

pub struct ThreatsAnalyzer(pub ThreatConfig, signatures::Matcher);

impl ThreatsAnalyzer {
    pub fn new(config: ThreatConfig) -> ThreatsAnalyzer {
        ThreatsAnalyzer(config, signatures::Matcher::new())
    }
}

impl Analyzer for ThreatsAnalyzer {
    type Acc = ThreatsAcc;

    fn need(&self) -> Need {
        Need::IP | Need::TIME | Need::REQUEST | Need::STATUS
    }

    fn new_acc(&self) -> ThreatsAcc {
        let sig = || SigState {
            count: 0,
            patterns: Vec::new(),
            ips: Counter::new(Some(SIGNATURE_IPS)),
            samples: Vec::new(),
        };
        ThreatsAcc {
            ips: KeyMap::new(self.0.max_tracked_ips),
            sigs: (0..DETECTORS.len()).map(|_| sig()).collect(),
            methods: Counter::new(Some(1024)),
            method_ips: Counter::new(Some(SIGNATURE_IPS)),
            method_samples: Vec::new(),
            norm: Vec::new(),
            tmp: Vec::new(),
        }
    }

    fn add(&self, acc: &mut ThreatsAcc, f: &Fields<'_>, line: &LineRef<'_>) {
        self.per_ip(acc, f, line);
        self.signatures(acc, f, line);
        if !self
            .0
            .allowed_methods
            .iter()
            .any(|m| m.as_bytes() == f.method)
        {
            acc.methods.add(
                if f.method.is_empty() {
                    b"(no method)"
                } else {
                    f.method
                },
                1,
                0,
            );
            acc.method_ips.add(f.ip, 1, 0);
            if acc.method_samples.len() < self.0.samples {
                acc.method_samples.push(Sample::new(line));
            }
        }
    }

    fn merge(&self, into: &mut ThreatsAcc, from: ThreatsAcc) {
        let max = self.0.samples;
        into.ips.merge(from.ips, |a, b| a.merge(b, max));
        for (a, b) in into.sigs.iter_mut().zip(from.sigs) {
            a.count += b.count;
            if a.patterns.len() < b.patterns.len() {
                a.patterns.resize(b.patterns.len(), 0);
            }
            for (x, y) in a.patterns.iter_mut().zip(b.patterns) {
                *x += y;
            }
            a.ips.merge(b.ips);
            merge_samples(&mut a.samples, b.samples, max);
        }
        into.methods.merge(from.methods);
        into.method_ips.merge(from.method_ips);
        merge_samples(&mut into.method_samples, from.method_samples, max);
    }

    fn samples<'s>(&self, acc: &'s mut ThreatsAcc) -> Vec<&'s mut Sample> {
        let mut out: Vec<&mut Sample> = Vec::new();
        for s in acc.ips.values_mut() {
            out.extend(
                s.scan_samples
                    .iter_mut()
                    .chain(&mut s.login_samples)
                    .chain(&mut s.flood_samples),
            );
        }
        for s in &mut acc.sigs {
            out.extend(s.samples.iter_mut());
        }
        out.extend(acc.method_samples.iter_mut());
        out
    }
}

impl ThreatsAnalyzer {
    fn per_ip(&self, acc: &mut ThreatsAcc, f: &Fields<'_>, line: &LineRef<'_>) {
        let c = &self.0;
        let Some(st) = acc.ips.entry(f.ip) else {
            return;
        };
        if let Some(t) = f.time_ms {
            st.flood.push(t.div_euclid(MINUTE_MS), 1);
            if st.flood.last.1 >= c.flood_per_minute.max(1) && st.flood_samples.len() < c.samples {
                st.flood_samples.push(Sample::new(line));
            }
        }
        if f.status == 404 {
            st.not_found += 1;
            if st.paths_404.len() < MAX_DISTINCT_404 {
                st.paths_404.insert(hash_key(f.path));
            }
            let half = (c.scanner_min_404_paths / 2).max(1);
            if st.paths_404.len() as u64 >= half && st.scan_samples.len() < c.samples {
                st.scan_samples.push(Sample::new(line));
            }
        }
        if (f.status == 401 || f.status == 403)
            && f.method == b"POST"
            && is_login_path(f.path, &mut acc.tmp)
        {
            st.login_failures += 1;
            let half = (c.stuffing_min_failures / 2).max(1);
            if st.login_failures >= half && st.login_samples.len() < c.samples {
                st.login_samples.push(Sample::new(line));
            }
        }
    }

    fn signatures(&self, acc: &mut ThreatsAcc, f: &Fields<'_>, line: &LineRef<'_>) {
        signatures::normalise(f.path, f.query, &mut acc.norm, &mut acc.tmp);
        let found = self.1.matches(&acc.norm);
        for ((d, st), hit) in DETECTORS.iter().zip(&mut acc.sigs).zip(found) {
            if let Some(p) = hit {
                st.count += 1;
                if st.patterns.len() < d.patterns.len() {
                    st.patterns.resize(d.patterns.len(), 0);
                }
                st.patterns[p] += 1;
                st.ips.add(f.ip, 1, 0);
                if st.samples.len() < self.0.samples {
                    st.samples.push(Sample::new(line));
                }
            }
        }
    }
}

fn is_login_path(path: &[u8], tmp: &mut Vec<u8>) -> bool {
    tmp.clear();
    tmp.extend(path.iter().map(u8::to_ascii_lowercase));
    LOGIN_HINTS
        .iter()
        .any(|h| memchr::memmem::find(tmp, h.as_bytes()).is_some())
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub detector: &'static str,
    /// What the finding is about: an IP, or `*` for a signature seen from many IPs.
    pub subject: String,
    /// The detector's evidence count (distinct paths, failures, requests, matching lines).
    pub count: u64,
    pub evidence: String,
    pub samples: Vec<Sample>,
}

/// The result of `threats`.
#[derive(Debug, Clone, Serialize)]
pub struct ThreatsReport {
    pub config: ThreatConfig,
    pub findings: Vec<Finding>,
    /// IPs not tracked by the per-client detectors because `max_tracked_ips` was reached.
    pub untracked_ip_lookups: u64,
}

impl ThreatsAnalyzer {
    pub fn report(&self, acc: &ThreatsAcc) -> ThreatsReport {
        let mut findings = Vec::new();
        findings.extend(self.ip_findings(acc));
        for (d, st) in DETECTORS.iter().zip(&acc.sigs) {
            if st.count == 0 {
                continue;
            }
            let mut pats: Vec<(u64, &str)> = st
                .patterns
                .iter()
                .zip(d.patterns)
                .filter(|(n, _)| **n > 0)
                .map(|(n, p)| (*n, *p))
                .collect();
            pats.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
            let pats: Vec<String> = pats
                .iter()
                .take(5)
                .map(|(n, p)| format!("{:?} ×{n}", p))
                .collect();
            findings.push(Finding {
                detector: d.name,
                subject: "*".into(),
                count: st.count,
                evidence: format!(
                    "{} requests with {} signatures: {}; top IPs: {}",
                    st.count,
                    d.what,
                    pats.join(", "),
                    top_ips(&st.ips)
                ),
                samples: st.samples.clone(),
            });
        }
        if !acc.methods.is_empty() {
            let methods: Vec<String> = acc
                .methods
                .top(5)
                .iter()
                .map(|c| format!("{} ×{}", display_key(&c.key), c.count))
                .collect();
            findings.push(Finding {
                detector: "unusual_method",
                subject: "*".into(),
                count: acc.methods.total(),
                evidence: format!(
                    "methods: {}; top IPs: {}",
                    methods.join(", "),
                    top_ips(&acc.method_ips)
                ),
                samples: acc.method_samples.clone(),
            });
        }
        ThreatsReport {
            config: self.0.clone(),
            findings,
            untracked_ip_lookups: acc.ips.dropped,
        }
    }

    fn ip_findings(&self, acc: &ThreatsAcc) -> Vec<Finding> {
        let c = &self.0;
        let (mut scan, mut stuff, mut flood) = (Vec::new(), Vec::new(), Vec::new());
        for (ip, st) in acc.ips.iter() {
            let ip = display_key(ip);
            let distinct = st.paths_404.len() as u64;
            if distinct >= c.scanner_min_404_paths {
                // Distinct paths are remembered up to MAX_DISTINCT_404 per IP.
                let capped = if distinct as usize >= MAX_DISTINCT_404 {
                    "+"
                } else {
                    ""
                };
                let evidence = format!(
                    "{distinct}{capped} distinct paths answered 404 ({} 404s)",
                    st.not_found
                );
                scan.push(finding(
                    "scanner",
                    &ip,
                    distinct,
                    evidence,
                    &st.scan_samples,
                ));
            }
            if st.login_failures >= c.stuffing_min_failures {
                let evidence = format!(
                    "{} POSTs to login-like paths answered 401/403",
                    st.login_failures
                );
                stuff.push(finding(
                    "credential_stuffing",
                    &ip,
                    st.login_failures,
                    evidence,
                    &st.login_samples,
                ));
            }
            let (peak, at) = st.flood.peak();
            if peak >= c.flood_per_minute && peak > 0 {
                let evidence = format!("{peak} requests in the minute starting {}", format_utc(at));
                flood.push(finding("flood", &ip, peak, evidence, &st.flood_samples));
            }
        }
        let mut out = Vec::new();
        for mut group in [scan, stuff, flood] {
            group.sort_by(|a, b| {
                b.count
                    .cmp(&a.count)
                    .then_with(|| a.subject.cmp(&b.subject))
            });
            group.truncate(c.top);
            out.extend(group);
        }
        out
    }
}

fn finding(
    detector: &'static str,
    ip: &str,
    count: u64,
    evidence: String,
    samples: &[Sample],
) -> Finding {
    Finding {
        detector,
        subject: ip.to_string(),
        count,
        evidence,
        samples: samples.to_vec(),
    }
}

fn top_ips(c: &Counter) -> String {
    let ips: Vec<String> = c
        .top(3)
        .iter()
        .map(|e| format!("{} ×{}", display_key(&e.key), e.count))
        .collect();
    ips.join(", ")
}

impl ThreatsReport {
    pub fn document(&self) -> Document {
        let mut t = Table::new(
            "threat findings",
            &[
                ("detector", Align::Left),
                ("subject", Align::Left),
                ("count", Align::Right),
                ("evidence", Align::Left),
            ],
        );
        let mut lines = Vec::new();
        for f in &self.findings {
            t.rows.push(vec![
                f.detector.to_string(),
                f.subject.clone(),
                f.count.to_string(),
                f.evidence.clone(),
            ]);
            if !f.samples.is_empty() {
                lines.push(format!("{} {}:", f.detector, f.subject));
                lines.extend(
                    f.samples
                        .iter()
                        .map(|s| format!("  {}:{}: {}", s.file, s.line, s.text)),
                );
            }
        }
        let mut blocks = vec![Block::Table(t)];
        if !lines.is_empty() {
            blocks.push(Block::Text {
                title: "samples".into(),
                lines,
            });
        }
        if self.findings.is_empty() {
            blocks.push(Block::Text {
                title: String::new(),
                lines: vec!["no findings".into()],
            });
        }
        if self.untracked_ip_lookups > 0 {
            blocks.push(Block::Text {
                title: String::new(),
                lines: vec![format!(
                    "per-IP detectors tracked the first {} IPs only; {} lines from further IPs were not tracked",
                    self.config.max_tracked_ips, self.untracked_ip_lookups
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
    fn flood_runs_merge_across_chunks() {
        let (mut a, mut b) = (Flood::default(), Flood::default());
        for m in [1, 1, 2, 2, 2, 3] {
            a.push(m, 1);
        }
        for m in [3, 3, 3, 4] {
            b.push(m, 1);
        }
        a.merge(b);
        assert_eq!(a.peak(), (4, 3 * MINUTE_MS));
        let mut single = Flood::default();
        single.push(9, 5);
        assert_eq!(single.peak(), (5, 9 * MINUTE_MS));
    }

    #[test]
    fn login_paths() {
        let mut tmp = Vec::new();
        assert!(is_login_path(b"/wp-login.php", &mut tmp));
        assert!(is_login_path(b"/api/v1/Auth/Token", &mut tmp));
        assert!(!is_login_path(b"/products", &mut tmp));
    }
}
