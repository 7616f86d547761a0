//! Tests of `outpost_rules::ip`: prefix parsing, list files, and the
//! poptrie lookups against a linear-scan reference.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use outpost_rules::ip::{
    Cidr, CidrError, IpList, MAX_ENTRY_LEN, MAX_LIST_ENTRIES, MAX_REPORTED_ERRORS, parse_list,
};
use proptest::prelude::*;

/// The obviously-correct answer: scan every prefix, keep the longest.
fn reference(prefixes: &[Cidr], ip: IpAddr) -> Option<Cidr> {
    prefixes
        .iter()
        .map(|c| c.unmapped())
        .filter(|c| c.contains(ip))
        .max_by_key(|c| c.len())
}

fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Asserts the list and the reference agree on `ip` for both lookups.
fn check(list: &IpList, prefixes: &[Cidr], ip: IpAddr) {
    let want = reference(prefixes, ip);
    assert_eq!(list.longest_match(ip), want, "longest_match({ip})");
    assert_eq!(list.contains(ip), want.is_some(), "contains({ip})");
}

/// Asserts the batched lookup agrees with one-by-one lookups.
fn check_many(list: &IpList, ips: &[IpAddr]) {
    let mut many = vec![false; ips.len()];
    list.contains_many(ips, &mut many);
    for (&ip, &got) in ips.iter().zip(&many) {
        assert_eq!(got, list.contains(ip), "contains_many({ip})");
    }
}

/// The first and last address of each prefix and their neighbours: where
/// an off-by-one in slot ranges would show.
fn boundaries(c: Cidr) -> Vec<IpAddr> {
    match c.addr() {
        IpAddr::V4(a) => {
            let first = u32::from(a);
            let last = first | u32::MAX.checked_shr(c.len().into()).unwrap_or(0);
            [first.wrapping_sub(1), first, last, last.wrapping_add(1)]
                .map(|x| IpAddr::V4(x.into()))
                .to_vec()
        }
        IpAddr::V6(a) => {
            let first = u128::from(a);
            let last = first | u128::MAX.checked_shr(c.len().into()).unwrap_or(0);
            [first.wrapping_sub(1), first, last, last.wrapping_add(1)]
                .map(|x| IpAddr::V6(x.into()))
                .to_vec()
        }
    }
}

fn mapped(v4: Ipv4Addr) -> IpAddr {
    IpAddr::V6(v4.to_ipv6_mapped())
}

/// A prefix near one of a few bases, so random sets nest and overlap.
fn v4_prefix() -> impl Strategy<Value = Cidr> {
    let base = prop::sample::select(vec![0x0a00_0000u32, 0xc0a8_0100, 0x0102_0304, 0xffff_ffff]);
    (base, any::<u32>(), 0u32..32, 0u8..=32).prop_map(|(b, r, shift, len)| {
        let a = b ^ (r >> shift);
        let masked = a & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
        Cidr::new(IpAddr::V4(masked.into()), len).unwrap()
    })
}

fn v6_prefix() -> impl Strategy<Value = Cidr> {
    let base = prop::sample::select(vec![0x2001_0db8u128 << 96, 0, 0xfe80u128 << 112, u128::MAX]);
    (base, any::<u128>(), 0u32..128, 0u8..=128).prop_map(|(b, r, shift, len)| {
        let a = b ^ (r >> shift);
        let masked = a & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
        Cidr::new(IpAddr::V6(masked.into()), len).unwrap()
    })
}

/// IPv4 prefixes written in mapped form (`::ffff:a.b.c.d/96+n`).
fn mapped_prefix() -> impl Strategy<Value = Cidr> {
    v4_prefix().prop_map(|c| match c.addr() {
        IpAddr::V4(a) => Cidr::new(mapped(a), c.len() + 96).unwrap(),
        IpAddr::V6(_) => c,
    })
}

fn any_prefix() -> impl Strategy<Value = Cidr> {
    prop_oneof![4 => v4_prefix(), 4 => v6_prefix(), 1 => mapped_prefix()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn lookups_match_the_linear_scan(
        prefixes in prop::collection::vec(any_prefix(), 0..400),
        v4s in prop::collection::vec(any::<u32>(), 50),
        v6s in prop::collection::vec(any::<u128>(), 50),
    ) {
        let list = IpList::new(prefixes.iter().copied());
        let mut probes: Vec<IpAddr> = prefixes.iter().flat_map(|&c| boundaries(c)).collect();
        probes.extend(v4s.iter().map(|&x| IpAddr::V4(x.into())));
        probes.extend(v6s.iter().map(|&x| IpAddr::V6(x.into())));
        let mapped_probes: Vec<IpAddr> = probes
            .iter()
            .filter_map(|p| match p {
                IpAddr::V4(a) => Some(mapped(*a)),
                IpAddr::V6(_) => None,
            })
            .collect();
        probes.extend(mapped_probes);
        for &p in &probes {
            check(&list, &prefixes, p);
        }
        check_many(&list, &probes);
    }
}

/// A seeded generator for the large-table test (no extra dependency).
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Over 16384 prefixes the tables switch to the full top array; check that
/// size class too, with lengths spread over every level of both families.
#[test]
fn large_tables_match_the_linear_scan() {
    let mut s = 7;
    let mut prefixes = Vec::new();
    for _ in 0..17_000 {
        let r = splitmix(&mut s);
        let len = (r % 33) as u8;
        let a = (r >> 32) as u32 & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
        prefixes.push(Cidr::new(IpAddr::V4(a.into()), len).unwrap());
        let len6 = (r % 129) as u8;
        let hi = u128::from(splitmix(&mut s)) << 64 | u128::from(r);
        let a6 = hi & u128::MAX.checked_shl(128 - u32::from(len6)).unwrap_or(0);
        prefixes.push(Cidr::new(IpAddr::V6(a6.into()), len6).unwrap());
    }
    let list = IpList::new(prefixes.iter().copied());
    let probes: Vec<IpAddr> = prefixes
        .iter()
        .step_by(97)
        .flat_map(|&c| boundaries(c))
        .collect();
    for &p in &probes {
        check(&list, &prefixes, p);
    }
    check_many(&list, &probes);
}

/// From 131,072 prefixes IPv6 tables take a 20-bit top array: that class
/// against a reference that probes every length in a hash set (a linear
/// scan per probe would take minutes in a debug build). Half the prefixes
/// crowd under 2001::/16, so paths run deep below the top array.
#[test]
fn huge_ipv6_tables_match_a_reference() {
    use std::collections::HashSet;
    let mask = |a: u128, len: u8| a & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    let mut s = 11;
    let mut set = HashSet::new();
    let mut prefixes = Vec::new();
    const LENS: [u8; 12] = [0, 12, 19, 20, 24, 29, 32, 38, 44, 48, 64, 128];
    while prefixes.len() < 140_000 {
        let r = splitmix(&mut s);
        let len = if r % 4 == 0 {
            (r >> 8) as u8 % 129
        } else {
            LENS[(r >> 8) as usize % LENS.len()]
        };
        let hi = u128::from(splitmix(&mut s)) << 64 | u128::from(r);
        let a = if r % 2 == 0 {
            (0x2001u128 << 112) | (hi >> 16)
        } else {
            hi
        };
        let a = mask(a, len);
        if set.insert((a, len)) {
            prefixes.push(Cidr::new(IpAddr::V6(a.into()), len).unwrap());
        }
    }
    let list = IpList::new(prefixes.iter().copied());
    let mut probes: Vec<IpAddr> = prefixes
        .iter()
        .step_by(13)
        .flat_map(|&c| boundaries(c))
        .collect();
    for _ in 0..20_000 {
        let hi = u128::from(splitmix(&mut s)) << 64 | u128::from(splitmix(&mut s));
        probes.push(IpAddr::V6(hi.into()));
        probes.push(IpAddr::V6(((0x2001u128 << 112) | (hi >> 16)).into()));
    }
    for &p in &probes {
        let IpAddr::V6(v6) = p else { unreachable!() };
        // Mapped addresses are looked up as IPv4; the IPv6 set has none of them.
        if v6.to_ipv4_mapped().is_some() {
            continue;
        }
        let a = u128::from(v6);
        let want = (0..=128u8)
            .rev()
            .find(|&l| set.contains(&(mask(a, l), l)))
            .map(|l| Cidr::new(IpAddr::V6(mask(a, l).into()), l).unwrap());
        assert_eq!(list.longest_match(p), want, "longest_match({p})");
    }
    check_many(&list, &probes);
}

#[test]
fn empty_and_default_lists_match_nothing() {
    for list in [IpList::new([]), IpList::default()] {
        assert!(list.is_empty());
        assert!(!list.contains(ip("0.0.0.0")));
        assert_eq!(list.longest_match(ip("::")), None);
    }
}

#[test]
fn longest_prefix_wins_and_duplicates_collapse() {
    let list = IpList::new(["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.0.0/16"].map(cidr));
    assert_eq!(list.len(), 3);
    assert_eq!(
        list.longest_match(ip("10.1.2.3")),
        Some(cidr("10.1.2.0/24"))
    );
    assert_eq!(
        list.longest_match(ip("10.1.3.3")),
        Some(cidr("10.1.0.0/16"))
    );
    assert_eq!(list.longest_match(ip("10.2.0.0")), Some(cidr("10.0.0.0/8")));
    assert_eq!(list.longest_match(ip("11.0.0.0")), None);
}

#[test]
fn mapped_addresses_match_ipv4_entries_and_mapped_entries_become_ipv4() {
    let list = IpList::new(["192.0.2.0/24", "::ffff:198.51.100.0/120", "::/0"].map(cidr));
    assert!(list.contains(ip("::ffff:192.0.2.7")));
    assert_eq!(
        list.longest_match(ip("198.51.100.1")),
        Some(cidr("198.51.100.0/24"))
    );
    // `::/0` is an IPv6 entry: IPv4 clients, mapped or not, do not match it.
    assert!(!list.contains(ip("203.0.113.1")));
    assert!(!list.contains(ip("::ffff:203.0.113.1")));
    assert!(list.contains(ip("2001:db8::1")));
}

#[test]
fn zero_length_and_full_length_prefixes() {
    let list = IpList::new(["0.0.0.0/0", "255.255.255.255/32", "::/0", "::1/128"].map(cidr));
    assert_eq!(list.longest_match(ip("1.2.3.4")), Some(cidr("0.0.0.0/0")));
    assert_eq!(
        list.longest_match(ip("255.255.255.255")),
        Some(cidr("255.255.255.255/32"))
    );
    assert_eq!(list.longest_match(ip("::1")), Some(cidr("::1/128")));
    assert_eq!(list.longest_match(ip("::2")), Some(cidr("::/0")));
}

#[test]
fn memory_scales_with_the_list() {
    let small = IpList::new(["10.0.0.0/8", "2001:db8::/32"].map(cidr));
    assert!(
        small.memory_bytes() < 4096,
        "{} bytes",
        small.memory_bytes()
    );
    let is_send_sync = |_: &(dyn Send + Sync)| {};
    is_send_sync(&small);
}

#[test]
fn cidr_parsing_edge_cases() {
    assert_eq!(cidr("10.0.0.0/8").to_string(), "10.0.0.0/8");
    assert_eq!(cidr("192.0.2.1").len(), 32);
    assert_eq!(cidr("::1").len(), 128);
    assert_eq!(cidr("::/0").to_string(), "::/0");
    assert_eq!(cidr("10.0.0.0/08"), cidr("10.0.0.0/8"));
    assert_eq!(
        "10.0.0.1/8".parse::<Cidr>(),
        Err(CidrError::HostBits("10.0.0.1/8".into(), cidr("10.0.0.0/8")))
    );
    assert_eq!(
        "10.0.0.0/33".parse::<Cidr>(),
        Err(CidrError::Length { len: 33, max: 32 })
    );
    assert_eq!(
        "::/129".parse::<Cidr>(),
        Err(CidrError::Length { len: 129, max: 128 })
    );
    for bad in [
        "",
        "/8",
        "10.0.0.0/",
        "10.0.0.0/+8",
        "10.0.0.0/-1",
        "10.0.0.0/0008",
        "10.0.0.0/8/8",
        "010.0.0.0/8",
        "10.0.0/8",
        "10.0.0.0 /8",
        " 10.0.0.0/8",
        "fe80::1%eth0",
        "10.0.0.0/99999999999",
        "1.2.3.4/٣",
        "example.com",
    ] {
        assert!(
            matches!(bad.parse::<Cidr>(), Err(CidrError::Syntax(_))),
            "{bad:?} should be a syntax error"
        );
    }
    assert!(cidr("::ffff:10.0.0.0/104").unmapped() == cidr("10.0.0.0/8"));
    assert!(cidr("::fffe:0:0/95").unmapped() == cidr("::fffe:0:0/95"));
    assert!(cidr("::ffff:0:0/96").unmapped() == cidr("0.0.0.0/0"));
}

#[test]
fn cidr_new_checks_length_and_host_bits() {
    assert!(Cidr::new(ip("10.0.0.0"), 33).is_err());
    assert!(Cidr::new(ip("10.0.0.1"), 31).is_err());
    assert!(Cidr::new(ip("::"), 128).is_ok());
}

#[test]
fn parse_list_syntax() {
    let text = "\u{feff}# office\r\n10.0.0.0/8\r\n\r\n  192.0.2.1  # a host\n\t2001:db8::/32\t\nbogus\n10.0.0.1/8";
    let (good, bad) = parse_list(text);
    assert_eq!(
        good,
        ["10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32"].map(cidr)
    );
    assert_eq!(bad.len(), 2);
    assert_eq!(bad[0].line, 6);
    assert!(bad[0].message.contains("bogus"), "{}", bad[0].message);
    assert_eq!(bad[1].line, 7);
    assert!(
        bad[1].message.contains("did you mean 10.0.0.0/8"),
        "{}",
        bad[1].message
    );
}

#[test]
fn parse_list_empty_and_comment_only() {
    assert_eq!(parse_list(""), (vec![], vec![]));
    assert_eq!(parse_list("# nothing\n\n   \n#"), (vec![], vec![]));
}

#[test]
fn parse_list_truncates_long_lines_in_messages() {
    let long = "1".repeat(10_000) + "é";
    let (good, bad) = parse_list(&format!("10.0.0.0/8\n{long}\n"));
    assert_eq!(good.len(), 1);
    assert_eq!(bad[0].line, 2);
    assert!(bad[0].message.len() < 200, "{}", bad[0].message);
    // At the limit: a 64-byte entry is parsed (and fails as syntax), not cut.
    let edge = "a".repeat(MAX_ENTRY_LEN);
    let (_, bad) = parse_list(&edge);
    assert!(
        bad[0].message.contains("not an IP address"),
        "{}",
        bad[0].message
    );
}

#[test]
fn parse_list_caps_reported_errors() {
    let text = "x\n".repeat(MAX_REPORTED_ERRORS + 50);
    let (_, bad) = parse_list(&text);
    assert_eq!(bad.len(), MAX_REPORTED_ERRORS + 1);
    let last = bad.last().unwrap();
    assert_eq!(last.line, MAX_REPORTED_ERRORS + 1);
    assert!(
        last.message.starts_with("50 more bad lines"),
        "{}",
        last.message
    );
}

#[test]
fn parse_list_stops_at_max_entries() {
    let text = "1.2.3.4\n".repeat(MAX_LIST_ENTRIES) + "\n# end\n5.6.7.8\n9.9.9.9\n";
    let (good, bad) = parse_list(&text);
    assert_eq!(good.len(), MAX_LIST_ENTRIES);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].line, MAX_LIST_ENTRIES + 3);
    assert_eq!(IpList::new(good).len(), 1);
}

#[test]
fn ipv6_forms() {
    let list = IpList::new(["2001:db8::/48", "2001:db8:0:1::/64", "fe80::/10"].map(cidr));
    let v6 = |s: &str| IpAddr::V6(s.parse::<Ipv6Addr>().unwrap());
    assert_eq!(
        list.longest_match(v6("2001:db8:0:1::5")),
        Some(cidr("2001:db8:0:1::/64"))
    );
    assert_eq!(
        list.longest_match(v6("2001:db8:0:2::5")),
        Some(cidr("2001:db8::/48"))
    );
    assert_eq!(
        list.longest_match(v6("febf:ffff::")),
        Some(cidr("fe80::/10"))
    );
    assert_eq!(list.longest_match(v6("fec0::")), None);
}

/// Lone long prefixes are reached through skip nodes; an address leaving
/// the skipped path anywhere must fall back to the shorter prefix.
#[test]
fn lone_long_prefixes_and_addresses_off_their_path() {
    let prefixes = [
        "2001:db8::1/128",
        "2001:db8::/32",
        "10.1.2.3/32",
        "10.0.0.0/8",
    ]
    .map(cidr);
    let list = IpList::new(prefixes);
    for probe in [
        "2001:db8::1",
        "2001:db8::",
        "2001:db8::3",
        "2001:db8:8000::1",
        "2001:db8:0:0:8000::1",
        "2001:db9::1",
        "10.1.2.3",
        "10.1.2.2",
        "10.129.2.3",
        "11.1.2.3",
    ] {
        check(&list, &prefixes, ip(probe));
    }
}

/// `contains_many` writes as far as the shorter of its two slices goes,
/// across batch boundaries, whichever of the two is longer.
#[test]
fn contains_many_stops_at_the_shorter_slice() {
    let list = IpList::new([cidr("10.0.0.0/8"), cidr("2001:db8::/32")]);
    let ips: Vec<IpAddr> = (0..70u32)
        .map(|i| match i % 3 {
            0 => IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | i)),
            1 => IpAddr::V6(Ipv6Addr::from(0x2001_0db8u128 << 96 | u128::from(i))),
            _ => IpAddr::V4(Ipv4Addr::from(0x0b00_0000 | i)),
        })
        .collect();
    let mut long = vec![true; 100];
    list.contains_many(&ips, &mut long);
    for (i, &got) in long.iter().enumerate() {
        let want = if i < ips.len() { i % 3 != 2 } else { true };
        assert_eq!(got, want, "out[{i}] with a longer output");
    }
    let mut short = vec![false; 40];
    list.contains_many(&ips, &mut short);
    for (i, &got) in short.iter().enumerate() {
        assert_eq!(got, i % 3 != 2, "out[{i}] with a shorter output");
    }
    // IPv4 only (a separate path), with the last batch partly filled.
    let v4: Vec<IpAddr> = ips.iter().copied().filter(IpAddr::is_ipv4).collect();
    let mut long = vec![true; 100];
    list.contains_many(&v4, &mut long);
    for (i, &got) in long.iter().enumerate() {
        let want = v4.get(i).is_none_or(|&ip| list.contains(ip));
        assert_eq!(got, want, "out[{i}] of IPv4 only with a longer output");
    }
}
