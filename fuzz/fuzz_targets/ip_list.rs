//! Any bytes as an IP list file: parsing must never panic, every bad line
//! must carry a line number and a bounded message, and the table built from
//! the good entries must agree with a linear scan on addresses at and around
//! each entry's edges (and their IPv4-mapped forms), one by one and batched.
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use outpost_rules::ip::{Cidr, IpList, MAX_LIST_ENTRIES, MAX_REPORTED_ERRORS, parse_list};

/// The obviously-correct answer: scan every entry, keep the longest.
fn reference(entries: &[Cidr], ip: IpAddr) -> Option<Cidr> {
    entries
        .iter()
        .map(|c| c.unmapped())
        .filter(|c| c.contains(ip))
        .max_by_key(|c| c.len())
}

/// An entry's first and last address and the ones just outside.
fn probes(c: Cidr) -> [IpAddr; 4] {
    match c.addr() {
        IpAddr::V4(a) => {
            let first = u32::from(a);
            let last = first | u32::MAX.checked_shr(c.len().into()).unwrap_or(0);
            [first.wrapping_sub(1), first, last, last.wrapping_add(1)].map(|x| IpAddr::V4(x.into()))
        }
        IpAddr::V6(a) => {
            let first = u128::from(a);
            let last = first | u128::MAX.checked_shr(c.len().into()).unwrap_or(0);
            [first.wrapping_sub(1), first, last, last.wrapping_add(1)].map(|x| IpAddr::V6(x.into()))
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (good, bad) = parse_list(text);
    assert!(good.len() <= MAX_LIST_ENTRIES);
    assert!(bad.len() <= MAX_REPORTED_ERRORS + 1);
    for e in &bad {
        assert!(e.line >= 1 && !e.message.is_empty() && e.message.len() < 512);
    }
    // The reference is quadratic: keep the check to small lists.
    let entries = &good[..good.len().min(256)];
    let list = IpList::new(entries.iter().copied());
    let mut all = Vec::new();
    for &c in entries {
        for ip in probes(c) {
            let want = reference(entries, ip);
            assert_eq!(list.longest_match(ip), want, "{ip}");
            assert_eq!(list.contains(ip), want.is_some(), "{ip}");
            all.push(ip);
            // The mapped form of an IPv4 probe, so batches mix families.
            if let IpAddr::V4(a) = ip {
                all.push(IpAddr::V6(a.to_ipv6_mapped()));
            }
        }
    }
    // Batched lookups (32 at a time, partial last batch) agree too.
    let mut many = vec![false; all.len()];
    list.contains_many(&all, &mut many);
    for (&ip, &got) in all.iter().zip(&many) {
        assert_eq!(got, reference(entries, ip).is_some(), "contains_many({ip})");
    }
});
