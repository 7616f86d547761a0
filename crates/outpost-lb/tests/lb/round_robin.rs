//! Smooth weighted round-robin: exact proportions over each cycle, nginx's
//! interleaving, plain rotation for equal weights, exact across threads.

use std::sync::Arc;

use outpost_lb::{NoLoads, Policy, Selector};

use crate::util::{all, backends, weighted};

fn picks(s: &Selector, n: usize) -> Vec<usize> {
    (0..n)
        .map(|_| s.pick(None, &NoLoads, &[]).expect("a backend"))
        .collect()
}

#[test]
fn one_cycle_is_exactly_proportional() {
    for weights in [&[5, 1, 1][..], &[3, 2, 1, 4], &[10, 20, 30], &[7]] {
        let b = weighted(weights);
        let s = Selector::build(&Policy::RoundRobin, &b, &all(&b));
        let g = weights.iter().fold(0, |g, &w| gcd(g, w));
        let cycle: u32 = weights.iter().map(|w| w / g).sum();
        // Any window of one cycle, wherever the cursor started.
        for _ in 0..3 {
            let mut counts = vec![0u32; b.len()];
            for i in picks(&s, cycle as usize) {
                counts[i] += 1;
            }
            let want: Vec<u32> = weights.iter().map(|w| w / g).collect();
            assert_eq!(counts, want, "{weights:?}");
        }
    }
}

/// nginx's order for 5:1:1 is a,a,b,a,c,a,a: the light backends are spread
/// out, never a run of five heavy picks as naive weighted round-robin does.
#[test]
fn weights_5_1_1_interleave_like_nginx() {
    let b = weighted(&[5, 1, 1]);
    let s = Selector::build(&Policy::RoundRobin, &b, &all(&b));
    let got = picks(&s, 70);
    let nginx = [0, 0, 1, 0, 2, 0, 0];
    let doubled: Vec<usize> = nginx.iter().chain(&nginx).copied().collect();
    assert!(
        doubled.windows(7).any(|w| w == &got[..7]),
        "{:?} is not a rotation of {nginx:?}",
        &got[..7]
    );
    assert!(
        got.chunks(7).all(|c| c == &got[..7]),
        "not periodic: {got:?}"
    );
    let longest = got
        .chunk_by(|a, b| a == b)
        .map(<[usize]>::len)
        .max()
        .unwrap_or(0);
    assert!(longest <= 4, "a run of {longest}: {got:?}");
}

#[test]
fn equal_weights_are_plain_rotation() {
    let b = backends(5);
    let s = Selector::build(&Policy::RoundRobin, &b, &all(&b));
    let got = picks(&s, 50);
    for w in got.windows(2) {
        assert_eq!(w[1], (w[0] + 1) % 5, "{got:?}");
    }
}

/// One atomic cursor: 4 threads × 7,000 picks = 4,000 cycles of 5:1:1, so
/// the totals are exact whatever the interleaving of the threads.
#[test]
fn exact_across_threads() {
    let b = weighted(&[5, 1, 1]);
    let s = Arc::new(Selector::build(&Policy::RoundRobin, &b, &all(&b)));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || picks(&s, 7_000))
        })
        .collect();
    let mut counts = [0u32; 3];
    for h in handles {
        for i in h.join().expect("picker thread") {
            counts[i] += 1;
        }
    }
    assert_eq!(counts, [20_000, 4_000, 4_000]);
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}
