//! The cache as the proxy drives it: variants, HEAD, Range, conditionals,
//! bypass, stale-while-revalidate, stale-if-error, metrics.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderName, StatusCode};
use outpost_cache::policy::ExchangeTimes;
use outpost_cache::{BodyPlan, Bypass, CacheStatus, Forward, Outcome, RequestInfo, RouteSettings};

use crate::util::{
    cache, fill, get, head, headers, is_fresh_hit, request, route, secs, stored, t0,
};

#[test]
fn one_variant_per_vary_combination() {
    let c = cache();
    let gzip = get(&c, "/v", &[("accept-encoding", "gzip")]);
    let br = get(&c, "/v", &[("accept-encoding", "br")]);
    let resp = || {
        head(
            200,
            &[
                ("cache-control", "max-age=100"),
                ("vary", "Accept-Encoding"),
            ],
        )
    };
    assert!(stored(&fill(&c, &gzip, resp(), b"gz", t0())));
    match c.lookup(&br, t0()) {
        Outcome::Miss { forward, .. } => assert_eq!(forward, Forward::VaryMiss),
        other => panic!("{other:?}"),
    }
    assert!(stored(&fill(&c, &br, resp(), b"br", t0())));
    for (req, body) in [(&gzip, b"gz"), (&br, b"br")] {
        let Outcome::Hit { object, .. } = c.lookup(req, t0()) else {
            panic!()
        };
        assert_eq!(object.body(), &[Bytes::copy_from_slice(body)]);
    }
    assert_eq!(c.metrics().objects, 2);
}

#[test]
fn a_new_vary_replaces_old_variants() {
    let c = cache();
    let a = get(
        &c,
        "/v",
        &[("accept-encoding", "gzip"), ("accept-language", "en")],
    );
    fill(
        &c,
        &a,
        head(
            200,
            &[("cache-control", "max-age=1"), ("vary", "accept-encoding")],
        ),
        b"1",
        t0(),
    );
    let later = t0() + secs(10);
    fill(
        &c,
        &a,
        head(
            200,
            &[
                ("cache-control", "max-age=100"),
                ("vary", "accept-language"),
            ],
        ),
        b"2",
        later,
    );
    assert_eq!(c.metrics().objects, 1);
    assert!(is_fresh_hit(
        &c,
        &get(&c, "/v", &[("accept-language", "en")]),
        later
    ));
    assert!(!is_fresh_hit(
        &c,
        &get(&c, "/v", &[("accept-language", "de")]),
        later
    ));
}

#[test]
fn vary_star_is_never_served_from_cache() {
    let c = cache();
    let req = get(&c, "/star", &[]);
    assert!(!stored(&fill(
        &c,
        &req,
        head(200, &[("cache-control", "max-age=100"), ("vary", "*")]),
        b"x",
        t0()
    )));
    assert!(!is_fresh_hit(&c, &req, t0()));
}

#[test]
fn head_is_answered_from_a_stored_get() {
    let c = cache();
    let r = route();
    fill(
        &c,
        &get(&c, "/h", &[]),
        head(200, &[("cache-control", "max-age=100")]),
        b"hello",
        t0(),
    );
    let h = request(&c, &r, "HEAD", "/h", &[]);
    let Outcome::Hit { object, .. } = c.lookup(&h, t0()) else {
        panic!()
    };
    let served = c.serve(&h, &object, &CacheStatus::hit(100), t0());
    assert_eq!(served.head.status, StatusCode::OK);
    assert_eq!(served.head.headers["content-length"], "5");
    assert_eq!(served.body, BodyPlan::Empty);
}

#[test]
fn head_misses_are_not_stored() {
    let c = cache();
    let h = request(&c, &route(), "HEAD", "/h", &[]);
    assert!(!stored(&fill(
        &c,
        &h,
        head(200, &[("cache-control", "max-age=100")]),
        b"",
        t0()
    )));
    assert_eq!(c.metrics().objects, 0);
}

#[test]
fn range_is_answered_from_a_stored_full_response() {
    let c = cache();
    let resp = head(200, &[("cache-control", "max-age=100"), ("etag", "\"e\"")]);
    let mut w = match c.lookup(&get(&c, "/r", &[]), t0()) {
        Outcome::Miss { writer, .. } => writer,
        _ => panic!(),
    };
    w.start(&resp, ExchangeTimes::at(t0())).unwrap();
    w.push(Bytes::from_static(b"0123"));
    w.push(Bytes::from_static(b"456789"));
    w.finish();
    type Case = (
        &'static [(&'static str, &'static str)],
        StatusCode,
        Option<&'static str>,
        &'static [u8],
    );
    let cases: [Case; 5] = [
        (
            &[("range", "bytes=2-5")],
            StatusCode::PARTIAL_CONTENT,
            Some("bytes 2-5/10"),
            b"2345",
        ),
        (
            &[("range", "bytes=-3")],
            StatusCode::PARTIAL_CONTENT,
            Some("bytes 7-9/10"),
            b"789",
        ),
        (
            &[("range", "bytes=8-")],
            StatusCode::PARTIAL_CONTENT,
            Some("bytes 8-9/10"),
            b"89",
        ),
        (
            &[("range", "bytes=0-1,4-5")],
            StatusCode::OK,
            None,
            b"0123456789",
        ),
        (
            &[("range", "bytes=2-3"), ("if-range", "\"other\"")],
            StatusCode::OK,
            None,
            b"0123456789",
        ),
    ];
    for (h, status, content_range, body) in cases {
        let req = get(&c, "/r", h);
        let Outcome::Hit { object, .. } = c.lookup(&req, t0()) else {
            panic!()
        };
        let served = c.serve(&req, &object, &CacheStatus::hit(1), t0());
        assert_eq!(served.head.status, status, "{h:?}");
        assert_eq!(
            served
                .head
                .headers
                .get("content-range")
                .map(|v| v.to_str().unwrap()),
            content_range
        );
        let bytes: Vec<u8> = match served.body {
            BodyPlan::Full => object.body().iter().flat_map(|b| b.to_vec()).collect(),
            BodyPlan::Range(r) => object.body_range(r).flat_map(|b| b.to_vec()).collect(),
            BodyPlan::Empty => Vec::new(),
        };
        assert_eq!(bytes, body);
    }
    let req = get(&c, "/r", &[("range", "bytes=10-")]);
    let Outcome::Hit { object, .. } = c.lookup(&req, t0()) else {
        panic!()
    };
    let served = c.serve(&req, &object, &CacheStatus::hit(1), t0());
    assert_eq!(served.head.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(served.head.headers["content-range"], "bytes */10");
}

#[test]
fn client_conditionals_get_304_from_cache() {
    let c = cache();
    let lm = httpdate::fmt_http_date(t0() - secs(60));
    fill(
        &c,
        &get(&c, "/c", &[]),
        head(
            200,
            &[
                ("cache-control", "max-age=100"),
                ("etag", "W/\"e\""),
                ("last-modified", &lm),
            ],
        ),
        b"x",
        t0(),
    );
    for h in [
        [("if-none-match", "\"e\"")],
        [("if-modified-since", lm.as_str())],
    ] {
        let req = get(&c, "/c", &h);
        let Outcome::Hit { object, .. } = c.lookup(&req, t0()) else {
            panic!()
        };
        let served = c.serve(&req, &object, &CacheStatus::hit(1), t0());
        assert_eq!(served.head.status, StatusCode::NOT_MODIFIED);
        assert_eq!(served.body, BodyPlan::Empty);
    }
    let req = get(&c, "/c", &[("if-none-match", "\"other\"")]);
    let Outcome::Hit { object, .. } = c.lookup(&req, t0()) else {
        panic!()
    };
    assert_eq!(
        c.serve(&req, &object, &CacheStatus::hit(1), t0())
            .head
            .status,
        StatusCode::OK
    );
}

#[test]
fn bypass_rules() {
    let c = cache();
    let r = Arc::new(RouteSettings {
        bypass_cookies: vec!["session".into()],
        bypass_headers: vec![HeaderName::from_static("x-preview")],
        ..RouteSettings::default()
    });
    let uri: http::Uri = "/x".parse().unwrap();
    let try_prepare = |method: &http::Method, h: &[(&str, &str)]| {
        let h = headers(h);
        c.prepare(
            &r,
            RequestInfo {
                method,
                scheme: "https",
                host: "a.com",
                uri: &uri,
                headers: &h,
            },
        )
        .err()
    };
    assert_eq!(
        try_prepare(&http::Method::GET, &[("cookie", "a=1; session=2")]),
        Some(Bypass::Cookie("session".into()))
    );
    assert!(matches!(
        try_prepare(&http::Method::GET, &[("x-preview", "1")]),
        Some(Bypass::Header(_))
    ));
    assert_eq!(try_prepare(&http::Method::POST, &[]), Some(Bypass::Method));
    assert_eq!(try_prepare(&http::Method::GET, &[("cookie", "a=1")]), None);
    let off = Arc::new(RouteSettings {
        enabled: false,
        ..RouteSettings::default()
    });
    let h = headers(&[]);
    let info = RequestInfo {
        method: &http::Method::GET,
        scheme: "https",
        host: "a.com",
        uri: &uri,
        headers: &h,
    };
    assert_eq!(c.prepare(&off, info).err(), Some(Bypass::Disabled));
    assert_eq!(c.metrics().bypasses, 4);
}

#[test]
fn stale_while_revalidate_refreshes_once_in_the_background() {
    let c = cache();
    let req = get(&c, "/swr", &[]);
    fill(
        &c,
        &req,
        head(
            200,
            &[
                ("cache-control", "max-age=10, stale-while-revalidate=60"),
                ("etag", "\"1\""),
            ],
        ),
        b"old",
        t0(),
    );
    let later = t0() + secs(20);
    let Outcome::Hit {
        stale: true,
        refresh: Some(refresh),
        object,
    } = c.lookup(&req, later)
    else {
        panic!()
    };
    // A second request while the refresh runs is served stale, no second refresh.
    assert!(matches!(
        c.lookup(&req, later),
        Outcome::Hit {
            stale: true,
            refresh: None,
            ..
        }
    ));
    let refreshed = refresh
        .not_modified(
            &object,
            &head(304, &[("etag", "\"1\"")]),
            ExchangeTimes::at(later),
        )
        .unwrap();
    assert!(refreshed.stored);
    assert!(is_fresh_hit(&c, &req, later + secs(1)));
    assert_eq!(c.metrics().stale_served, 2);
}

#[test]
fn stale_if_error_is_offered_within_its_window() {
    let c = cache();
    let req = get(&c, "/sie", &[]);
    fill(
        &c,
        &req,
        head(200, &[("cache-control", "max-age=10, stale-if-error=100")]),
        b"x",
        t0(),
    );
    let Outcome::Revalidate {
        stale_if_error,
        writer,
        ..
    } = c.lookup(&req, t0() + secs(50))
    else {
        panic!()
    };
    assert!(stale_if_error);
    // The origin answers 503: not storable, so the proxy serves stale.
    let mut writer = writer;
    assert!(
        writer
            .start(&head(503, &[]), ExchangeTimes::at(t0()))
            .is_err()
    );
    writer.abort();
    c.counters().stale_if_error_served();
    let Outcome::Revalidate { stale_if_error, .. } = c.lookup(&req, t0() + secs(200)) else {
        panic!()
    };
    assert!(!stale_if_error);
    assert_eq!(c.metrics().stale_if_error_served, 1);
}

#[test]
fn set_cookie_responses_are_not_stored_unless_allowed() {
    let c = cache();
    let resp = || {
        head(
            200,
            &[("cache-control", "max-age=100"), ("set-cookie", "a=b")],
        )
    };
    assert!(!stored(&fill(&c, &get(&c, "/sc", &[]), resp(), b"x", t0())));
    let allow = Arc::new(RouteSettings {
        cache_set_cookie: true,
        ..RouteSettings::default()
    });
    assert!(stored(&fill(
        &c,
        &request(&c, &allow, "GET", "/sc", &[]),
        resp(),
        b"x",
        t0()
    )));
}

#[test]
fn metrics_count_hits_misses_and_stores() {
    let c = cache();
    let req = get(&c, "/m", &[]);
    fill(
        &c,
        &req,
        head(200, &[("cache-control", "max-age=100")]),
        b"abc",
        t0(),
    );
    assert!(is_fresh_hit(&c, &req, t0()));
    assert!(is_fresh_hit(&c, &req, t0()));
    let m = c.metrics();
    assert_eq!((m.hits, m.misses, m.stores, m.objects), (2, 1, 1, 1));
    assert!(m.bytes_stored > 3);
}
