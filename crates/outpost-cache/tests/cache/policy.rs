//! RFC 9111 policy through the cache: storability, freshness, age, the
//! reuse decision per request directive, validation, invalidation and
//! Cache-Status.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use outpost_cache::directives::{RequestDirectives, ResponseDates, ResponseDirectives};
use outpost_cache::policy::{
    self, CacheStatus, Decision, ExchangeTimes, Forward, Freshness, LifetimeSource, NotStorable,
    RequestFacts,
};
use outpost_cache::{DefaultTtls, FillOutcome, Outcome, RouteSettings};

use crate::util::{
    cache, date, fill, get, head, headers, is_fresh_hit, request, route, secs, stored, t0,
};

fn admit(
    status: u16,
    resp: &[(&str, &str)],
    req: &[(&str, &str)],
) -> Result<policy::Admission, NotStorable> {
    admit_with(&RouteSettings::default(), status, resp, req)
}

fn admit_with(
    settings: &RouteSettings,
    status: u16,
    resp: &[(&str, &str)],
    req: &[(&str, &str)],
) -> Result<policy::Admission, NotStorable> {
    let req = headers(req);
    let directives = RequestDirectives::parse(&req);
    let facts = RequestFacts {
        method: &Method::GET,
        directives: &directives,
        authorization: req.contains_key(http::header::AUTHORIZATION),
    };
    policy::admit(
        settings,
        facts,
        StatusCode::from_u16(status).unwrap(),
        &headers(resp),
        ExchangeTimes::at(t0()),
    )
}

fn lifetime(status: u16, resp: &[(&str, &str)]) -> Option<Duration> {
    admit(status, resp, &[]).ok().map(|a| a.freshness.lifetime)
}

#[test]
fn s_maxage_beats_max_age_beats_expires() {
    let d = date(t0());
    let exp = date(t0() + secs(500));
    assert_eq!(
        lifetime(
            200,
            &[
                ("cache-control", "max-age=10, s-maxage=20"),
                ("expires", &exp)
            ]
        ),
        Some(secs(20))
    );
    assert_eq!(
        lifetime(200, &[("cache-control", "max-age=10"), ("expires", &exp)]),
        Some(secs(10))
    );
    assert_eq!(
        lifetime(200, &[("date", &d), ("expires", &exp)]),
        Some(secs(500))
    );
}

#[test]
fn expires_without_date_uses_response_time_and_invalid_expires_is_stale() {
    let exp = date(t0() + secs(60));
    assert_eq!(lifetime(200, &[("expires", &exp)]), Some(secs(60)));
    let a = admit(200, &[("expires", "garbage"), ("etag", "\"x\"")], &[]).unwrap();
    assert_eq!(a.freshness.lifetime, Duration::ZERO);
    assert_eq!(a.source, LifetimeSource::Expires);
}

#[test]
fn heuristic_only_for_heuristic_statuses_or_public() {
    let lm = date(t0() - secs(10_000));
    let d = date(t0());
    // 10% of Date - Last-Modified.
    assert_eq!(
        lifetime(200, &[("date", &d), ("last-modified", &lm)]),
        Some(secs(1000))
    );
    assert_eq!(
        lifetime(404, &[("date", &d), ("last-modified", &lm)]),
        Some(secs(1000))
    );
    // 302 and 500 are not heuristically cacheable...
    assert_eq!(
        admit(302, &[("date", &d), ("last-modified", &lm)], &[]),
        Err(NotStorable::NoFreshness)
    );
    assert_eq!(
        admit(500, &[("date", &d), ("last-modified", &lm)], &[]),
        Err(NotStorable::NoFreshness)
    );
    // ...unless public, or with explicit freshness.
    assert_eq!(
        lifetime(
            302,
            &[
                ("cache-control", "public"),
                ("date", &d),
                ("last-modified", &lm)
            ]
        ),
        Some(secs(1000))
    );
    assert_eq!(
        lifetime(500, &[("cache-control", "max-age=5")]),
        Some(secs(5))
    );
}

#[test]
fn heuristic_is_capped() {
    let lm = date(t0() - secs(100 * 24 * 3600));
    assert_eq!(
        lifetime(200, &[("date", &date(t0())), ("last-modified", &lm)]),
        Some(secs(24 * 3600))
    );
}

#[test]
fn heuristic_zero_without_validator_is_not_stored() {
    assert_eq!(admit(200, &[], &[]), Err(NotStorable::NoFreshness));
    assert!(admit(200, &[("etag", "\"a\"")], &[]).is_ok());
}

#[test]
fn no_store_private_and_statuses_are_refused() {
    assert_eq!(
        admit(200, &[("cache-control", "max-age=60, no-store")], &[]),
        Err(NotStorable::NoStore)
    );
    assert_eq!(
        admit(
            200,
            &[("cache-control", "max-age=60")],
            &[("cache-control", "no-store")]
        ),
        Err(NotStorable::NoStore)
    );
    assert_eq!(
        admit(200, &[("cache-control", "max-age=60, private")], &[]),
        Err(NotStorable::Private)
    );
    assert_eq!(
        admit(206, &[("cache-control", "max-age=60")], &[]),
        Err(NotStorable::Status)
    );
    assert_eq!(
        admit(304, &[("cache-control", "max-age=60")], &[]),
        Err(NotStorable::Status)
    );
}

#[test]
fn authorization_needs_public_s_maxage_or_must_revalidate() {
    let auth = [("authorization", "Bearer x")];
    assert_eq!(
        admit(200, &[("cache-control", "max-age=60")], &auth),
        Err(NotStorable::Authorization)
    );
    assert!(admit(200, &[("cache-control", "max-age=60, public")], &auth).is_ok());
    assert!(admit(200, &[("cache-control", "s-maxage=60")], &auth).is_ok());
    assert!(
        admit(
            200,
            &[("cache-control", "max-age=60, must-revalidate")],
            &auth
        )
        .is_ok()
    );
    // ignore_origin_directives does not lift the rule.
    let r = RouteSettings {
        ignore_origin_directives: true,
        ttl_override: Some(secs(60)),
        ..RouteSettings::default()
    };
    assert_eq!(
        admit_with(&r, 200, &[], &auth),
        Err(NotStorable::Authorization)
    );
}

#[test]
fn set_cookie_needs_route_permission() {
    let resp = [("cache-control", "max-age=60"), ("set-cookie", "a=b")];
    assert_eq!(admit(200, &resp, &[]), Err(NotStorable::SetCookie));
    let r = RouteSettings {
        cache_set_cookie: true,
        ..RouteSettings::default()
    };
    assert!(admit_with(&r, 200, &resp, &[]).is_ok());
}

#[test]
fn vary_star_is_not_stored() {
    assert_eq!(
        admit(
            200,
            &[("cache-control", "max-age=60"), ("vary", "accept, *")],
            &[]
        ),
        Err(NotStorable::Vary)
    );
}

#[test]
fn declared_length_over_limit_is_refused() {
    let r = RouteSettings {
        max_object_bytes: 100,
        ..RouteSettings::default()
    };
    assert!(
        admit_with(
            &r,
            200,
            &[("cache-control", "max-age=60"), ("content-length", "100")],
            &[]
        )
        .is_ok()
    );
    assert_eq!(
        admit_with(
            &r,
            200,
            &[("cache-control", "max-age=60"), ("content-length", "101")],
            &[]
        ),
        Err(NotStorable::TooLarge)
    );
}

#[test]
fn route_default_ttl_override_and_ignore_origin() {
    let mut r = RouteSettings::default();
    let mut ttls = DefaultTtls::default();
    ttls.set(StatusCode::INTERNAL_SERVER_ERROR, secs(5))
        .set(StatusCode::OK, secs(7));
    r.default_ttl = ttls;
    assert_eq!(
        admit_with(&r, 500, &[], &[]).unwrap().freshness.lifetime,
        secs(5)
    );
    assert_eq!(
        admit_with(&r, 200, &[], &[]).unwrap().source,
        LifetimeSource::RouteDefault
    );
    // The origin's lifetime wins over the default...
    assert_eq!(
        admit_with(&r, 200, &[("cache-control", "max-age=60")], &[])
            .unwrap()
            .freshness
            .lifetime,
        secs(60)
    );
    // ...and the override over everything.
    r.ttl_override = Some(secs(3600));
    assert_eq!(
        admit_with(&r, 200, &[("cache-control", "max-age=60")], &[])
            .unwrap()
            .freshness
            .lifetime,
        secs(3600)
    );
    // ignore_origin_directives stores despite no-store/private.
    r.ignore_origin_directives = true;
    let a = admit_with(
        &r,
        200,
        &[("cache-control", "no-store, private, must-revalidate")],
        &[],
    )
    .unwrap();
    assert!(!a.freshness.must_revalidate);
    r.ttl_override = None;
    assert_eq!(
        admit_with(&r, 404, &[("cache-control", "max-age=60")], &[]),
        Err(NotStorable::NoFreshness)
    );
}

#[test]
fn age_follows_rfc_9111_4_2_3() {
    let times = ExchangeTimes {
        request_time: t0(),
        response_time: t0() + secs(2),
    };
    // Age header 10 + response delay 2 beats apparent age 1.
    let dates = ResponseDates::parse(&headers(&[("date", &date(t0() + secs(1))), ("age", "10")]));
    let initial = policy::corrected_initial_age(&dates, times);
    assert_eq!(initial, secs(12));
    // Apparent age wins when larger; a Date in the future counts 0.
    let dates = ResponseDates::parse(&headers(&[("date", &date(t0() - secs(100)))]));
    assert_eq!(policy::corrected_initial_age(&dates, times), secs(102));
    let future = ResponseDates::parse(&headers(&[("date", &date(t0() + secs(100)))]));
    assert_eq!(policy::corrected_initial_age(&future, times), secs(2));
    // Resident time adds; a clock stepping back adds nothing.
    assert_eq!(
        policy::current_age(initial, times.response_time, t0() + secs(32)),
        secs(42)
    );
    assert_eq!(
        policy::current_age(initial, times.response_time, t0()),
        secs(12)
    );
}

#[test]
fn age_and_cache_status_headers_are_emitted() {
    let c = cache();
    let req = get(&c, "/a", &[]);
    fill(
        &c,
        &req,
        head(200, &[("cache-control", "max-age=100"), ("age", "10")]),
        b"hello",
        t0(),
    );
    let Outcome::Hit { object, .. } = c.lookup(&req, t0() + secs(5)) else {
        panic!()
    };
    let status = CacheStatus::hit(object.ttl(t0() + secs(5)));
    let served = c.serve(&req, &object, &status, t0() + secs(5));
    assert_eq!(served.head.headers["age"], "15");
    assert_eq!(served.head.headers["cache-status"], "outpost; hit; ttl=85");
    assert_eq!(served.head.headers["content-length"], "5");
}

fn fresh(lifetime: u64) -> Freshness {
    Freshness {
        lifetime: secs(lifetime),
        ..Freshness::default()
    }
}

fn req_dirs(v: &str) -> RequestDirectives {
    RequestDirectives::parse(&headers(&[("cache-control", v)]))
}

#[test]
fn request_no_cache_and_max_age_zero_revalidate() {
    let f = fresh(100);
    assert_eq!(
        policy::decide(&f, secs(1), false, &req_dirs("no-cache")),
        Decision::Revalidate {
            stale_if_error: false
        }
    );
    assert_eq!(
        policy::decide(&f, secs(0), false, &req_dirs("max-age=0")),
        Decision::Revalidate {
            stale_if_error: false
        }
    );
    assert_eq!(
        policy::decide(&f, secs(5), false, &req_dirs("max-age=10")),
        Decision::Fresh
    );
    assert!(matches!(
        policy::decide(&f, secs(11), false, &req_dirs("max-age=10")),
        Decision::Revalidate { .. }
    ));
    let p = RequestDirectives::parse(&headers(&[("pragma", "no-cache")]));
    assert!(matches!(
        policy::decide(&f, secs(1), false, &p),
        Decision::Revalidate { .. }
    ));
}

#[test]
fn immutable_ignores_reload_while_fresh() {
    let mut f = fresh(100);
    f.immutable = true;
    assert_eq!(
        policy::decide(&f, secs(1), false, &req_dirs("no-cache")),
        Decision::Fresh
    );
    assert!(matches!(
        policy::decide(&f, secs(100), false, &req_dirs("no-cache")),
        Decision::Revalidate { .. }
    ));
}

#[test]
fn min_fresh_and_max_stale() {
    let f = fresh(100);
    assert_eq!(
        policy::decide(&f, secs(80), false, &req_dirs("min-fresh=20")),
        Decision::Fresh
    );
    assert!(matches!(
        policy::decide(&f, secs(81), false, &req_dirs("min-fresh=20")),
        Decision::Revalidate { .. }
    ));
    assert_eq!(
        policy::decide(&f, secs(150), false, &req_dirs("max-stale=50")),
        Decision::ServeStale { refresh: false }
    );
    assert!(matches!(
        policy::decide(&f, secs(151), false, &req_dirs("max-stale=50")),
        Decision::Revalidate { .. }
    ));
    assert_eq!(
        policy::decide(&f, secs(10_000), false, &req_dirs("max-stale")),
        Decision::ServeStale { refresh: false }
    );
}

#[test]
fn must_revalidate_proxy_revalidate_and_no_cache_forbid_stale() {
    for set in [
        |f: &mut Freshness| f.must_revalidate = true,
        |f: &mut Freshness| f.no_cache = true,
    ] {
        let mut f = fresh(100);
        f.stale_while_revalidate = secs(100);
        f.stale_if_error = secs(100);
        set(&mut f);
        assert_eq!(
            policy::decide(&f, secs(150), false, &req_dirs("max-stale")),
            Decision::Revalidate {
                stale_if_error: false
            }
        );
    }
    let mut f = fresh(100);
    f.no_cache = true;
    assert!(matches!(
        policy::decide(&f, secs(1), false, &RequestDirectives::default()),
        Decision::Revalidate { .. }
    ));
    let d = admit(
        200,
        &[("cache-control", "max-age=5, proxy-revalidate")],
        &[],
    )
    .unwrap();
    assert!(d.freshness.must_revalidate);
    let d = admit(200, &[("cache-control", "s-maxage=5")], &[]).unwrap();
    assert!(d.freshness.must_revalidate);
}

#[test]
fn stale_while_revalidate_and_stale_if_error_windows() {
    let mut f = fresh(100);
    f.stale_while_revalidate = secs(30);
    f.stale_if_error = secs(300);
    let none = RequestDirectives::default();
    assert_eq!(
        policy::decide(&f, secs(130), false, &none),
        Decision::ServeStale { refresh: true }
    );
    assert_eq!(
        policy::decide(&f, secs(131), false, &none),
        Decision::Revalidate {
            stale_if_error: true
        }
    );
    assert_eq!(
        policy::decide(&f, secs(401), false, &none),
        Decision::Revalidate {
            stale_if_error: false
        }
    );
    // A client's stale-if-error widens the window.
    assert_eq!(
        policy::decide(&f, secs(401), false, &req_dirs("stale-if-error=1000")),
        Decision::Revalidate {
            stale_if_error: true
        }
    );
    // Soft-purged: no stale-while-revalidate, stale-if-error still protects.
    assert_eq!(
        policy::decide(&f, secs(10), true, &none),
        Decision::Revalidate {
            stale_if_error: true
        }
    );
}

#[test]
fn only_if_cached_answers_504_when_unusable() {
    let f = fresh(100);
    assert_eq!(
        policy::decide(&f, secs(1), false, &req_dirs("only-if-cached")),
        Decision::Fresh
    );
    assert_eq!(
        policy::decide(&f, secs(101), false, &req_dirs("only-if-cached")),
        Decision::GatewayTimeout
    );
    let c = cache();
    let req = get(&c, "/missing", &[("cache-control", "only-if-cached")]);
    assert!(matches!(c.lookup(&req, t0()), Outcome::GatewayTimeout));
}

#[test]
fn conditional_headers_and_fill_request_headers() {
    let stored = headers(&[("etag", "\"v1\""), ("last-modified", &date(t0()))]);
    let mut req = headers(&[
        ("if-none-match", "\"client\""),
        ("range", "bytes=0-1"),
        ("accept", "*/*"),
    ]);
    policy::fill_request_headers(&mut req, Some(&stored));
    assert_eq!(req["if-none-match"], "\"v1\"");
    assert_eq!(req["if-modified-since"], date(t0()).as_str());
    assert!(!req.contains_key("range"));
    assert_eq!(req["accept"], "*/*");
}

#[test]
fn not_modified_merge_refreshes_headers_but_keeps_framing() {
    let stored = headers(&[
        ("etag", "\"v1\""),
        ("cache-control", "max-age=10"),
        ("content-length", "5"),
        ("content-encoding", "gzip"),
        ("x-old", "1"),
    ]);
    let nm = headers(&[
        ("etag", "\"v1\""),
        ("cache-control", "max-age=99"),
        ("content-length", "0"),
        ("x-new", "2"),
        ("connection", "x-hop"),
        ("x-hop", "gone"),
    ]);
    assert!(policy::not_modified_matches(&stored, &nm));
    let merged = policy::merge_not_modified(&stored, &nm);
    assert_eq!(merged["cache-control"], "max-age=99");
    assert_eq!(merged["content-length"], "5");
    assert_eq!(merged["content-encoding"], "gzip");
    assert_eq!(merged["x-old"], "1");
    assert_eq!(merged["x-new"], "2");
    assert!(!merged.contains_key("x-hop"));
    assert!(!policy::not_modified_matches(
        &stored,
        &headers(&[("etag", "\"v2\"")])
    ));
}

#[test]
fn revalidation_304_refreshes_the_stored_object() {
    let c = cache();
    let req = get(&c, "/r", &[]);
    let first = head(
        200,
        &[
            ("cache-control", "max-age=10"),
            ("etag", "\"v1\""),
            ("x-version", "1"),
        ],
    );
    fill(&c, &req, first, b"body", t0());
    let later = t0() + secs(20);
    let Outcome::Revalidate { writer, stale, .. } = c.lookup(&req, later) else {
        panic!("expected revalidate")
    };
    let nm = head(
        304,
        &[
            ("cache-control", "max-age=100"),
            ("etag", "\"v1\""),
            ("x-version", "2"),
        ],
    );
    let refreshed = writer
        .not_modified(&stale, &nm, ExchangeTimes::at(later))
        .unwrap();
    assert!(refreshed.stored);
    assert_eq!(refreshed.object.head().headers["x-version"], "2");
    assert_eq!(refreshed.object.body(), &[Bytes::from_static(b"body")]);
    let Outcome::Hit {
        object,
        stale: false,
        ..
    } = c.lookup(&req, later + secs(50))
    else {
        panic!("expected hit")
    };
    assert_eq!(object.head().headers["x-version"], "2");
    assert_eq!(c.metrics().revalidated_304, 1);
}

#[test]
fn revalidation_with_a_new_200_replaces_and_counts() {
    let c = cache();
    let req = get(&c, "/r", &[]);
    fill(
        &c,
        &req,
        head(200, &[("cache-control", "max-age=10"), ("etag", "\"v1\"")]),
        b"one",
        t0(),
    );
    let out = fill(
        &c,
        &req,
        head(200, &[("cache-control", "max-age=10"), ("etag", "\"v2\"")]),
        b"two",
        t0() + secs(20),
    );
    assert!(stored(&out));
    assert_eq!(c.metrics().revalidated_200, 1);
    let Outcome::Hit { object, .. } = c.lookup(&req, t0() + secs(21)) else {
        panic!()
    };
    assert_eq!(object.body(), &[Bytes::from_static(b"two")]);
}

#[test]
fn mismatched_304_is_rejected() {
    let c = cache();
    let req = get(&c, "/r", &[]);
    fill(
        &c,
        &req,
        head(200, &[("cache-control", "max-age=1"), ("etag", "\"v1\"")]),
        b"x",
        t0(),
    );
    let Outcome::Revalidate { writer, stale, .. } = c.lookup(&req, t0() + secs(5)) else {
        panic!()
    };
    assert!(
        writer
            .not_modified(
                &stale,
                &head(304, &[("etag", "\"v9\"")]),
                ExchangeTimes::at(t0())
            )
            .is_err()
    );
}

#[test]
fn invalidation_after_unsafe_methods() {
    let c = cache();
    let r = route();
    for url in ["/item", "/list", "/other", "/elsewhere"] {
        fill(
            &c,
            &get(&c, url, &[]),
            head(200, &[("cache-control", "max-age=100")]),
            b"x",
            t0(),
        );
    }
    let uri: http::Uri = "/item".parse().unwrap();
    let empty = HeaderMap::new();
    let info = |m: &'static Method| outpost_cache::RequestInfo {
        method: m,
        scheme: "https",
        host: "example.com",
        uri: &uri,
        headers: &empty,
    };
    let resp = headers(&[
        ("location", "https://example.com/list"),
        ("content-location", "https://evil.example/other"),
    ]);
    // Safe methods and error statuses invalidate nothing.
    assert_eq!(
        c.invalidate(&r, info(&Method::GET), StatusCode::OK, &resp),
        0
    );
    assert_eq!(
        c.invalidate(
            &r,
            info(&Method::POST),
            StatusCode::INTERNAL_SERVER_ERROR,
            &resp
        ),
        0
    );
    // A successful POST invalidates the target and the same-origin Location.
    assert_eq!(
        c.invalidate(&r, info(&Method::POST), StatusCode::CREATED, &resp),
        2
    );
    assert!(!is_fresh_hit(&c, &get(&c, "/item", &[]), t0()));
    assert!(!is_fresh_hit(&c, &get(&c, "/list", &[]), t0()));
    assert!(is_fresh_hit(&c, &get(&c, "/other", &[]), t0()));
    let rel = headers(&[("content-location", "/elsewhere")]);
    assert_eq!(
        c.invalidate(&r, info(&Method::DELETE), StatusCode::NO_CONTENT, &rel),
        1
    );
    assert!(!is_fresh_hit(&c, &get(&c, "/elsewhere", &[]), t0()));
}

#[test]
fn cache_status_values() {
    let name = "outpost";
    assert_eq!(
        CacheStatus::hit(30).to_header_value(name),
        "outpost; hit; ttl=30"
    );
    assert_eq!(
        CacheStatus::hit(-5).to_header_value(name),
        "outpost; hit; ttl=-5"
    );
    let mut miss = CacheStatus::forward(Forward::UriMiss);
    miss.stored = true;
    miss.fwd_status = Some(200);
    assert_eq!(
        miss.to_header_value(name),
        "outpost; fwd=uri-miss; fwd-status=200; stored"
    );
    let mut stale = CacheStatus::forward(Forward::Stale);
    stale.fwd_status = Some(304);
    stale.ttl = Some(60);
    assert_eq!(
        stale.to_header_value(name),
        "outpost; fwd=stale; fwd-status=304; ttl=60"
    );
    let mut collapsed = CacheStatus::forward(Forward::Miss);
    collapsed.collapsed = true;
    collapsed.detail = Some("stale-if-error");
    assert_eq!(
        collapsed.to_header_value(name),
        "outpost; fwd=miss; collapsed; detail=stale-if-error"
    );
    assert!(policy::is_sf_token("outpost-edge"));
    assert!(!policy::is_sf_token("1bad"));
}

#[test]
fn response_no_cache_is_stored_but_always_revalidated() {
    let c = cache();
    let req = get(&c, "/nc", &[]);
    assert!(stored(&fill(
        &c,
        &req,
        head(
            200,
            &[
                ("cache-control", "max-age=100, no-cache"),
                ("etag", "\"a\"")
            ]
        ),
        b"x",
        t0()
    )));
    assert!(matches!(
        c.lookup(&req, t0() + secs(1)),
        Outcome::Revalidate { .. }
    ));
}

#[test]
fn private_and_authorization_through_the_cache() {
    let c = cache();
    let req = get(&c, "/p", &[]);
    let out = fill(
        &c,
        &req,
        head(200, &[("cache-control", "private, max-age=100")]),
        b"x",
        t0(),
    );
    assert!(matches!(out, FillOutcome::NotStored(NotStorable::Private)));
    let auth = request(&c, &route(), "GET", "/auth", &[("authorization", "x")]);
    let out = fill(
        &c,
        &auth,
        head(200, &[("cache-control", "max-age=100")]),
        b"x",
        t0(),
    );
    assert!(matches!(
        out,
        FillOutcome::NotStored(NotStorable::Authorization)
    ));
    let out = fill(
        &c,
        &auth,
        head(200, &[("cache-control", "public, max-age=100")]),
        b"x",
        t0(),
    );
    assert!(stored(&out));
}

#[test]
fn response_directives_parse_is_consistent_with_admission() {
    let d = ResponseDirectives::parse(&headers(&[("cache-control", "immutable, max-age=5")]));
    assert!(d.immutable);
    assert!(
        admit(200, &[("cache-control", "immutable, max-age=5")], &[])
            .unwrap()
            .freshness
            .immutable
    );
    let _ = Arc::new(());
}
