//! Property tests: on random logs (with malformed lines mixed in), `top` and the line
//! tallies equal a simple reference implementation, whatever the chunking (tiny chunks
//! force many parallel accumulators and merges); in bounded mode, Space-Saving's
//! guarantees hold (each count is an upper bound, count - error a lower bound).

use std::collections::HashMap;

use outpost_logs::engine::ScanConfig;
use outpost_logs::report::top::{TopBy, TopOptions, TopRow};
use outpost_logs::{Analysis, Filter, FormatChoice, Report, ReportSpec};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Line {
    ip: u8,
    path: u8,
    status: u16,
    bytes: u32,
    bad: bool,
}

fn line() -> impl Strategy<Value = Line> {
    (
        0u8..40,
        0u8..25,
        prop::sample::select(vec![200u16, 200, 200, 304, 404, 500]),
        0u32..5000,
        prop::bool::weighted(0.05),
    )
        .prop_map(|(ip, path, status, bytes, bad)| Line {
            ip,
            path,
            status,
            bytes,
            bad,
        })
}

fn render(lines: &[Line]) -> Vec<u8> {
    let mut out = String::new();
    for l in lines {
        if l.bad {
            out.push_str("garbage line without structure\n");
            continue;
        }
        out.push_str(&format!(
            "10.0.{}.{} - - [27/Nov/2026:10:00:00 +0000] \"GET /p/{} HTTP/1.1\" {} {} \"-\" \"ua\"\n",
            l.ip / 10, l.ip, l.path, l.status, l.bytes
        ));
    }
    out.into_bytes()
}

fn run_top(
    buf: &[u8],
    by: TopBy,
    bytes: bool,
    capacity: Option<usize>,
    chunk: usize,
) -> (Vec<TopRow>, u64, u64) {
    let filter = Filter::default();
    let spec = ReportSpec::Top(TopOptions {
        by,
        bytes,
        n: 1000,
        capacity,
    });
    let mut a = Analysis::new(spec, &filter);
    let idx = a.add_input("prop".into());
    let cfg = ScanConfig {
        format: &FormatChoice::Combined,
        filter: &filter,
        progress: None,
        chunk,
    };
    a.feed(idx, buf, 0, 0, &cfg);
    let Report::Top(r) = a.report() else {
        panic!("top report")
    };
    (r.rows, a.tally().lines, a.tally().malformed)
}

/// Reference: (key, weight) sums sorted by weight desc, key asc.
fn reference(
    lines: &[Line],
    key: impl Fn(&Line) -> String,
    weight: impl Fn(&Line) -> u64,
) -> Vec<(String, u64)> {
    let mut m: HashMap<String, u64> = HashMap::new();
    for l in lines.iter().filter(|l| !l.bad) {
        *m.entry(key(l)).or_default() += weight(l);
    }
    let mut v: Vec<(String, u64)> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

fn ip_key(l: &Line) -> String {
    format!("10.0.{}.{}", l.ip / 10, l.ip)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn exact_top_matches_reference(lines in prop::collection::vec(line(), 0..400), chunk in 1usize..600) {
        let buf = render(&lines);
        let (rows, n, bad) = run_top(&buf, TopBy::Ip, false, None, chunk);
        prop_assert_eq!(n, lines.len() as u64);
        prop_assert_eq!(bad, lines.iter().filter(|l| l.bad).count() as u64);
        let got: Vec<(String, u64)> = rows.iter().map(|r| (r.key.clone(), r.requests)).collect();
        prop_assert_eq!(got, reference(&lines, ip_key, |_| 1));

        let (rows, _, _) = run_top(&buf, TopBy::Path, true, None, chunk);
        let got: Vec<(String, u64)> = rows.iter().map(|r| (r.key.clone(), r.bytes)).collect();
        prop_assert_eq!(got, reference(&lines, |l| format!("/p/{}", l.path), |l| u64::from(l.bytes)));

        let (rows, _, _) = run_top(&buf, TopBy::Status, false, None, chunk);
        let got: Vec<(String, u64)> = rows.iter().map(|r| (r.key.clone(), r.requests)).collect();
        prop_assert_eq!(got, reference(&lines, |l| l.status.to_string(), |_| 1));
    }

    #[test]
    fn bounded_top_keeps_its_guarantees(lines in prop::collection::vec(line(), 1..400), chunk in 1usize..600, k in 2usize..12) {
        // One heavy hitter with over half of the traffic.
        let mut lines = lines;
        let n = lines.len();
        lines.extend((0..n + 5).map(|_| Line { ip: 99, path: 0, status: 200, bytes: 1, bad: false }));
        let buf = render(&lines);
        let truth: HashMap<String, u64> = reference(&lines, ip_key, |_| 1).into_iter().collect();
        let (rows, _, _) = run_top(&buf, TopBy::Ip, false, Some(k), chunk);
        prop_assert!(rows.len() <= k);
        prop_assert_eq!(rows[0].key.as_str(), "10.0.9.99");
        for r in &rows {
            let t = truth.get(&r.key).copied().unwrap_or(0);
            prop_assert!(r.requests >= t, "{} counted {} < true {}", r.key, r.requests, t);
            prop_assert!(r.requests - r.error <= t, "{} lower bound {} > true {}", r.key, r.requests - r.error, t);
        }
    }
}
