//! Parsing of Cache-Control and the date fields.

use std::time::Duration;

use outpost_cache::directives::{MaxStale, RequestDirectives, ResponseDates, ResponseDirectives};

use crate::util::{date, headers, secs, t0};

#[test]
fn response_directives_all_parse() {
    let h = headers(&[
        (
            "cache-control",
            "max-age=60, s-maxage=120, no-cache, private, public, must-revalidate, proxy-revalidate, immutable, \
         stale-while-revalidate=30, stale-if-error=300",
        ),
        ("cache-control", "no-store, x-unknown=\"a,b\""),
    ]);
    let d = ResponseDirectives::parse(&h);
    assert_eq!(d.max_age, Some(secs(60)));
    assert_eq!(d.s_maxage, Some(secs(120)));
    assert!(
        d.no_cache
            && d.private
            && d.public
            && d.must_revalidate
            && d.proxy_revalidate
            && d.immutable
    );
    assert!(d.no_store);
    assert_eq!(d.stale_while_revalidate, Some(secs(30)));
    assert_eq!(d.stale_if_error, Some(secs(300)));
}

#[test]
fn request_directives_all_parse() {
    let h = headers(&[(
        "cache-control",
        "no-cache, no-store, max-age=0, max-stale=10, min-fresh=5, only-if-cached, stale-if-error=60",
    )]);
    let d = RequestDirectives::parse(&h);
    assert!(d.no_cache && d.no_store && d.only_if_cached);
    assert_eq!(d.max_age, Some(Duration::ZERO));
    assert_eq!(d.max_stale, Some(MaxStale::Within(secs(10))));
    assert_eq!(d.min_fresh, Some(secs(5)));
    assert_eq!(d.stale_if_error, Some(secs(60)));
}

#[test]
fn quoted_values_and_whitespace_are_tolerated() {
    let d = ResponseDirectives::parse(&headers(&[("cache-control", " max-age = \"30\" ,,public")]));
    assert_eq!(d.max_age, Some(secs(30)));
    assert!(d.public);
}

#[test]
fn dates_parse_and_invalid_expires_is_marked() {
    let h = headers(&[
        ("date", &date(t0())),
        ("expires", "0"),
        ("age", "42"),
        ("last-modified", &date(t0() - secs(100))),
    ]);
    let d = ResponseDates::parse(&h);
    assert_eq!(d.date, Some(t0()));
    assert_eq!(d.expires, Some(None));
    assert_eq!(d.age, Some(secs(42)));
    assert_eq!(d.last_modified, Some(t0() - secs(100)));
    let bad_age = ResponseDates::parse(&headers(&[("age", "-3")]));
    assert_eq!(bad_age.age, None);
}
