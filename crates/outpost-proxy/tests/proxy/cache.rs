//! The cache through real sockets: a scripted origin that counts its
//! requests behind a cached pool route. Misses then hits, response
//! directives, Vary variants, revalidation, stale-while-revalidate and
//! stale-if-error, coalescing of concurrent misses, HEAD and Range from
//! stored objects, the Authorization and Set-Cookie rules, invalidation by
//! unsafe methods, every purge kind through the admin API, `Cache-Status`
//! on every response, the access log's `cache_status` and the metrics.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::{HeaderMap, Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::util::*;

const TOKEN: &str = "0123456789abcdef-token";

/// One listener `main`, route `cached` on pool `origin` with
/// `[routes.cache]` + `cache_keys`, an admin listener with a token, and
/// `extra` top-level text (e.g. an access-log section; off otherwise).
fn config(origin: SocketAddr, cache_keys: &str, extra: &str) -> String {
    let log = if extra.contains("[access_log]") {
        ""
    } else {
        "[access_log]\nenabled = false\n"
    };
    format!(
        r#"
{extra}
{log}
[admin]
address = "127.0.0.1:0"
token = "{TOKEN}"
[[listeners]]
name = "main"
address = "127.0.0.1:0"
[[pools]]
name = "origin"
origins = ["{origin}"]
[[routes]]
name = "cached"
pool = "origin"
[routes.cache]
{cache_keys}
"#
    )
}

/// An origin answering `body` with the given response headers.
async fn fixed(headers: &'static [(&'static str, &'static str)], body: &'static str) -> Origin {
    Origin::start(move |_req: Request<Incoming>| async move {
        let mut r = Response::builder();
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.body(full(body)).unwrap()
    })
    .await
}

fn cache_status(h: &HeaderMap) -> String {
    h.get("cache-status")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

async fn get_with(url: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, bytes::Bytes) {
    let mut r = Request::get(url);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    send(&h1_client(), r.body(full("")).unwrap()).await
}

async fn purge(op: &Outpost, json: &str, token: &str) -> (StatusCode, serde_json::Value) {
    let admin = op.server.admin_addr().await.unwrap();
    let req = Request::post(format!("http://{admin}/purge"))
        .header("authorization", format!("Bearer {token}"))
        .body(full(json.to_string()))
        .unwrap();
    let (status, _, body) = send(&h1_client(), req).await;
    let v = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    (status, v)
}

async fn metrics(op: &Outpost) -> String {
    let admin = op.server.admin_addr().await.unwrap();
    let (_, _, body) = get(&format!("http://{admin}/metrics")).await;
    String::from_utf8_lossy(&body).into_owned()
}

#[tokio::test]
async fn a_miss_is_stored_and_the_next_request_is_a_hit() {
    let origin = fixed(&[("cache-control", "max-age=60")], "hello cache").await;
    let op = Outpost::start(&config(origin.addr, "", "")).await;
    let url = op.url("main", "/a").await;

    let (status, h, body) = get(&url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "hello cache");
    assert_eq!(
        cache_status(&h),
        "outpost; fwd=uri-miss; fwd-status=200; stored"
    );

    let (status, h, body) = get(&url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "hello cache");
    let cs = cache_status(&h);
    assert!(cs.starts_with("outpost; hit; ttl="), "{cs}");
    assert!(h.contains_key("age"));
    assert_eq!(h["content-length"], "11");
    assert_eq!(origin.hits(), 1);

    let text = metrics(&op).await;
    assert!(text.contains("outpost_cache_hits_total 1"), "{text}");
    assert!(text.contains("outpost_cache_misses_total 1"), "{text}");
    assert!(text.contains("outpost_cache_objects 1"), "{text}");
}

#[tokio::test]
async fn response_directives_decide_what_is_stored() {
    let origin = Origin::start(|req: Request<Incoming>| async move {
        let cc = match req.uri().path() {
            "/no-store" => "no-store, max-age=60",
            "/private" => "private, max-age=60",
            "/s-maxage" => "max-age=0, s-maxage=60",
            "/zero" => "max-age=0",
            _ => "max-age=60",
        };
        Response::builder()
            .header("cache-control", cc)
            .body(full(req.uri().path().to_string()))
            .unwrap()
    })
    .await;
    let op = Outpost::start(&config(origin.addr, "", "")).await;
    let mut expect = 0;
    for (path, stored) in [
        ("/no-store", false),
        ("/private", false),
        ("/s-maxage", true),
        ("/zero", false),
        ("/max-age", true),
    ] {
        let url = op.url("main", path).await;
        let (_, h1, _) = get(&url).await;
        let (_, h2, body) = get(&url).await;
        assert_eq!(body, path);
        expect += if stored { 1 } else { 2 };
        assert_eq!(origin.hits(), expect, "{path}");
        assert_eq!(cache_status(&h1).contains("stored"), stored, "{path}");
        assert_eq!(cache_status(&h2).contains("hit"), stored, "{path}");
    }
}

#[tokio::test]
async fn vary_keeps_one_variant_per_header_value() {
    let origin = Origin::start(|req: Request<Incoming>| async move {
        let lang = req
            .headers()
            .get("accept-language")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        Response::builder()
            .header("cache-control", "max-age=60")
            .header("vary", "Accept-Language")
            .body(full(format!("lang={lang}")))
            .unwrap()
    })
    .await;
    let op = Outpost::start(&config(origin.addr, "", "")).await;
    let url = op.url("main", "/v").await;
    let (_, h, b) = get_with(&url, &[("accept-language", "en")]).await;
    assert_eq!(b, "lang=en");
    assert!(cache_status(&h).contains("fwd=uri-miss"));
    let (_, h, b) = get_with(&url, &[("accept-language", "fr")]).await;
    assert_eq!(b, "lang=fr");
    assert!(
        cache_status(&h).contains("fwd=vary-miss"),
        "{}",
        cache_status(&h)
    );
    for lang in ["en", "fr"] {
        let (_, h, b) = get_with(&url, &[("accept-language", lang)]).await;
        assert_eq!(b, format!("lang={lang}"));
        assert!(cache_status(&h).contains("hit"));
    }
    assert_eq!(origin.hits(), 2);
}

/// An origin whose responses carry `ETag: "v1"` and answer a matching
/// `If-None-Match` with 304; counts the 304s.
struct Validating {
    origin: Origin,
    not_modified: Arc<AtomicUsize>,
}

async fn validating(cache_control: &'static str, age: &'static str) -> Validating {
    let not_modified = Arc::new(AtomicUsize::new(0));
    let nm = not_modified.clone();
    let origin = Origin::start(move |req: Request<Incoming>| {
        let nm = nm.clone();
        async move {
            let matches = req
                .headers()
                .get("if-none-match")
                .is_some_and(|v| v == "\"v1\"");
            let r = Response::builder()
                .header("cache-control", cache_control)
                .header("etag", "\"v1\"")
                .header("age", age)
                .header("cache-tag", "t1, t2");
            if matches {
                nm.fetch_add(1, Ordering::SeqCst);
                return r.status(304).body(full("")).unwrap();
            }
            r.body(full("validated body")).unwrap()
        }
    })
    .await;
    Validating {
        origin,
        not_modified,
    }
}

#[tokio::test]
async fn a_stale_object_is_revalidated_and_a_304_refreshes_it() {
    // max-age=0 with a validator: stored, and every reuse revalidates.
    let v = validating("max-age=0", "0").await;
    let op = Outpost::start(&config(v.origin.addr, "", "")).await;
    let url = op.url("main", "/r").await;
    let (_, h, _) = get(&url).await;
    assert!(cache_status(&h).contains("stored"));
    let (status, h, body) = get(&url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "validated body");
    assert_eq!(
        cache_status(&h),
        "outpost; fwd=stale; fwd-status=304; ttl=0; stored"
    );
    assert_eq!(v.not_modified.load(Ordering::SeqCst), 1);
    assert_eq!(v.origin.hits(), 2);
    let text = metrics(&op).await;
    assert!(
        text.contains("outpost_cache_revalidated_not_modified_total 1"),
        "{text}"
    );
    // The purge tags are kept for purges but not shown to clients.
    assert!(!h.contains_key("cache-tag"));
}

#[tokio::test]
async fn stale_while_revalidate_serves_stale_and_refreshes_once() {
    // The first answer arrives already 61 s old (stale, inside the
    // stale-while-revalidate window); the refresh brings a fresh one.
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let origin = Origin::start(move |_req: Request<Incoming>| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        async move {
            let (age, body) = if n == 0 { ("61", "old") } else { ("0", "new") };
            if n > 0 {
                // Keep the refresh in flight while the concurrent requests arrive.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Response::builder()
                .header("cache-control", "max-age=60, stale-while-revalidate=600")
                .header("age", age)
                .body(full(body))
                .unwrap()
        }
    })
    .await;
    let op = Outpost::start(&config(origin.addr, "", "")).await;
    let url = op.url("main", "/swr").await;
    let (_, _, body) = get(&url).await;
    assert_eq!(body, "old");

    let requests = (0..20).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { get(&url).await })
    });
    for r in futures_util::future::join_all(requests).await {
        let (status, h, body) = r.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "old");
        let cs = cache_status(&h);
        assert!(cs.starts_with("outpost; hit; ttl=-"), "{cs}");
    }
    assert!(
        wait_until_async(|| {
            let url = url.clone();
            async move { get(&url).await.2 == "new" }
        })
        .await
    );
    assert_eq!(origin.hits(), 2, "exactly one background refresh");
}

#[tokio::test]
async fn stale_if_error_serves_the_stale_object_when_the_origin_fails_or_is_gone() {
    let failing = Arc::new(AtomicUsize::new(0));
    let f = failing.clone();
    let origin = Origin::start(move |_req: Request<Incoming>| {
        let f = f.clone();
        async move {
            if f.load(Ordering::SeqCst) == 1 {
                return Response::builder().status(503).body(full("down")).unwrap();
            }
            Response::builder()
                .header("cache-control", "max-age=60, stale-if-error=600")
                .header("age", "61")
                .body(full("kept"))
                .unwrap()
        }
    })
    .await;
    let toml = config(origin.addr, "", "");
    let op = Outpost::start(&toml).await;
    let url = op.url("main", "/sie").await;
    assert_eq!(get(&url).await.2, "kept");

    failing.store(1, Ordering::SeqCst);
    let (status, h, body) = get(&url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "kept");
    let cs = cache_status(&h);
    assert!(
        cs.starts_with("outpost; fwd=stale; fwd-status=503; ttl=-")
            && cs.ends_with("detail=stale-if-error"),
        "{cs}"
    );

    // The origin gone altogether (and the store kept across the reload).
    let dead = closed_port().await;
    op.reload(&toml.replace(&origin.addr.to_string(), &dead.to_string()))
        .await
        .unwrap();
    let (status, h, body) = get(&url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "kept");
    let cs = cache_status(&h);
    assert!(!cs.contains("fwd-status"), "{cs}");
    assert!(cs.ends_with("detail=stale-if-error"), "{cs}");
    let text = metrics(&op).await;
    assert!(
        text.contains("outpost_cache_stale_if_error_served_total 2"),
        "{text}"
    );

    // Without stale-if-error an origin failure is the error it is.
    let (status, h, _) = get(&op.url("main", "/never-stored").await).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(cache_status(&h), "outpost; fwd=uri-miss");
}

#[tokio::test]
async fn a_hundred_concurrent_cold_requests_make_one_origin_fetch() {
    let origin = Origin::start(|_req: Request<Incoming>| async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Response::builder()
            .header("cache-control", "max-age=60")
            .body(full("x".repeat(100_000)))
            .unwrap()
    })
    .await;
    let op = Outpost::start(&config(origin.addr, "", "")).await;
    let url = op.url("main", "/cold").await;
    let requests = (0..100).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { get(&url).await })
    });
    let mut collapsed = 0;
    for r in futures_util::future::join_all(requests).await {
        let (status, h, body) = r.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.len(), 100_000);
        collapsed += usize::from(cache_status(&h).contains("collapsed"));
    }
    assert_eq!(origin.hits(), 1);
    assert_eq!(collapsed, 99);
    let text = metrics(&op).await;
    assert!(
        text.contains("outpost_cache_coalesced_waits_total 99"),
        "{text}"
    );
}

/// 100,000 bytes of `abc…zabc…`, so any slice of it is recognisable.
fn letters() -> String {
    (0..100_000u32)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}

/// An origin answering [`letters`] with `ETag: "v1"` after `delay`; it
/// checks that the cache asks for the whole response, never forwarding a
/// client's `Range` or `If-None-Match`.
async fn tagged_origin(delay: Duration) -> Origin {
    Origin::start(move |req: Request<Incoming>| async move {
        assert!(req.headers().get("range").is_none());
        assert!(req.headers().get("if-none-match").is_none());
        tokio::time::sleep(delay).await;
        Response::builder()
            .header("cache-control", "max-age=60")
            .header("etag", "\"v1\"")
            .body(full(letters()))
            .unwrap()
    })
    .await
}

/// GETs `url` until the answer is a cache hit (a fill finishing in the
/// background), at most 50 times 20 ms apart; returns the last answer.
async fn until_hit(url: &str) -> (StatusCode, HeaderMap, bytes::Bytes) {
    let mut answer = get(url).await;
    for _ in 0..50 {
        if cache_status(&answer.1).contains("hit") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        answer = get(url).await;
    }
    answer
}

#[tokio::test]
async fn coalesced_requests_get_their_own_range_and_conditional_answers() {
    // 100 KB so the body arrives in several chunks while followers stream it.
    let expected = letters();
    let origin = tagged_origin(Duration::from_millis(300)).await;
    let op = Outpost::start(&config(origin.addr, "", "")).await;
    let url = op.url("main", "/shared").await;
    let leader = {
        let url = url.clone();
        tokio::spawn(async move { get(&url).await })
    };
    assert!(wait_until(|| origin.hits() == 1).await);
    let (ranged, tail, conditional, other_tag) = tokio::join!(
        get_with(&url, &[("range", "bytes=50000-50009")]),
        get_with(&url, &[("range", "bytes=-5")]),
        get_with(&url, &[("if-none-match", "\"v1\"")]),
        get_with(&url, &[("if-none-match", "\"v0\"")]),
    );
    let leader = leader.await.unwrap();
    assert_eq!(leader.0, StatusCode::OK);
    assert_eq!(leader.2, expected.as_bytes());
    assert_eq!(ranged.0, StatusCode::PARTIAL_CONTENT);
    assert_eq!(ranged.1["content-range"], "bytes 50000-50009/100000");
    assert_eq!(ranged.2, expected.as_bytes()[50_000..50_010]);
    assert_eq!(tail.0, StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.2, expected.as_bytes()[99_995..]);
    assert_eq!(conditional.0, StatusCode::NOT_MODIFIED);
    assert!(conditional.2.is_empty());
    assert_eq!(other_tag.0, StatusCode::OK);
    assert_eq!(other_tag.2.len(), 100_000);
    for (_, h, _) in [&ranged, &tail, &conditional, &other_tag] {
        assert!(cache_status(h).contains("collapsed"), "{h:?}");
    }
    assert_eq!(origin.hits(), 1);
}

#[tokio::test]
async fn a_miss_with_range_or_conditionals_gets_its_answer_and_still_fills() {
    let expected = letters();
    let origin = tagged_origin(Duration::ZERO).await;
    let op = Outpost::start(&config(origin.addr, "", "")).await;
    let ranged = op.url("main", "/ranged").await;
    let (status, h, got) = get_with(&ranged, &[("range", "bytes=10-19")]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(h["content-range"], "bytes 10-19/100000");
    assert_eq!(got, expected.as_bytes()[10..20]);
    assert!(cache_status(&h).contains("stored"), "{h:?}");
    // The rest of the body was read into the cache after the range was sent.
    let hit = until_hit(&ranged).await;
    assert!(cache_status(&hit.1).contains("hit"), "{:?}", hit.1);
    assert_eq!(hit.2, expected.as_bytes());

    let conditional = op.url("main", "/conditional").await;
    let (status, _, got) = get_with(&conditional, &[("if-none-match", "\"v1\"")]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(got.is_empty());
    let hit = until_hit(&conditional).await;
    assert!(cache_status(&hit.1).contains("hit"), "{:?}", hit.1);
    assert_eq!(hit.2.len(), 100_000);
    assert_eq!(origin.hits(), 2);
}

/// A response that is not stored (`private`) still answers the client's
/// own request: the cache asked the origin without the client's `Range`
/// and conditionals, so it applies them itself, as for a stored response.
#[tokio::test]
async fn a_response_not_stored_still_answers_the_clients_range_and_conditionals() {
    let expected = letters();
    let origin = Origin::start(move |req: Request<Incoming>| async move {
        assert!(req.headers().get("range").is_none());
        assert!(req.headers().get("if-none-match").is_none());
        Response::builder()
            .header("cache-control", "private, max-age=60")
            .header("etag", "\"v1\"")
            .body(full(letters()))
            .unwrap()
    })
    .await;
    let op = Outpost::start(&config(origin.addr, "", "")).await;
    let url = op.url("main", "/private").await;

    let (status, h, got) = get_with(&url, &[("range", "bytes=10-19")]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(h["content-range"], "bytes 10-19/100000");
    assert_eq!(got, expected.as_bytes()[10..20]);
    let cs = cache_status(&h);
    assert!(
        cs.contains("fwd=uri-miss") && !cs.contains("stored"),
        "{cs}"
    );

    let (status, _, got) = get_with(&url, &[("range", "bytes=-5")]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(got, expected.as_bytes()[99_995..]);
    let (status, _, got) = get_with(&url, &[("if-none-match", "\"v1\"")]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(got.is_empty());
    // Without either, the whole response, as before.
    let (status, h, got) = get_with(&url, &[("if-none-match", "\"v0\"")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, expected.as_bytes());
    assert_eq!(h["content-length"], "100000");
    assert_eq!(origin.hits(), 4, "nothing was stored");
}

#[tokio::test]
async fn head_and_range_requests_are_answered_from_the_stored_object() {
    let origin = fixed(
        &[("cache-control", "max-age=60"), ("etag", "\"e\"")],
        "0123456789",
    )
    .await;
    let op = Outpost::start(&config(origin.addr, "", "")).await;
    let url = op.url("main", "/file").await;
    get(&url).await;

    let req = Request::head(&url).body(full("")).unwrap();
    let (status, h, body) = send(&h1_client(), req).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_empty());
    assert_eq!(h["content-length"], "10");
    assert!(cache_status(&h).contains("hit"));

    let (status, h, body) = get_with(&url, &[("range", "bytes=2-5")]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, "2345");
    assert_eq!(h["content-range"], "bytes 2-5/10");

    let (status, _, body) = get_with(&url, &[("range", "bytes=-3")]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, "789");

    let (status, h, _) = get_with(&url, &[("range", "bytes=20-")]).await;
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(h["content-range"], "bytes */10");

    let (status, _, body) = get_with(&url, &[("if-none-match", "\"e\"")]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(origin.hits(), 1);
}

#[tokio::test]
async fn authorization_and_set_cookie_keep_responses_out_of_the_cache() {
    let origin = Origin::start(|req: Request<Incoming>| async move {
        let r = Response::builder();
        let r = match req.uri().path() {
            "/public" => r.header("cache-control", "public, max-age=60"),
            "/cookie" => r
                .header("cache-control", "max-age=60")
                .header("set-cookie", "session=1"),
            _ => r.header("cache-control", "max-age=60"),
        };
        r.body(full("body")).unwrap()
    })
    .await;
    let op = Outpost::start(&config(origin.addr, "", "")).await;
    let auth = [("authorization", "Bearer user-token")];
    let url = op.url("main", "/private-by-auth").await;
    get_with(&url, &auth).await;
    let (_, h, _) = get_with(&url, &auth).await;
    assert_eq!(origin.hits(), 2, "authorized responses are not shared");
    assert_eq!(cache_status(&h), "outpost; fwd=uri-miss; fwd-status=200");

    let url = op.url("main", "/public").await;
    get_with(&url, &auth).await;
    let (_, h, _) = get_with(&url, &auth).await;
    assert_eq!(origin.hits(), 3, "public makes them shareable");
    assert!(cache_status(&h).contains("hit"));

    let url = op.url("main", "/cookie").await;
    get(&url).await;
    let (_, h, _) = get(&url).await;
    assert_eq!(origin.hits(), 5, "Set-Cookie responses are not stored");
    assert!(h.contains_key("set-cookie"));
}

#[tokio::test]
async fn set_cookie_responses_are_stored_when_the_route_says_so() {
    let origin = fixed(
        &[("cache-control", "max-age=60"), ("set-cookie", "a=1")],
        "body",
    )
    .await;
    let op = Outpost::start(&config(origin.addr, "cache_set_cookie = true", "")).await;
    let url = op.url("main", "/c").await;
    get(&url).await;
    let (_, h, _) = get(&url).await;
    assert_eq!(origin.hits(), 1);
    assert_eq!(h["set-cookie"], "a=1");
}

#[tokio::test]
async fn unsafe_methods_go_to_the_origin_and_invalidate_the_url() {
    let origin = fixed(&[("cache-control", "max-age=60")], "item").await;
    let op = Outpost::start(&config(origin.addr, "", "")).await;
    let url = op.url("main", "/item?id=1").await;
    get(&url).await;
    get(&url).await;
    assert_eq!(origin.hits(), 1);
    let req = Request::post(&url).body(full("update")).unwrap();
    let (status, h, _) = send(&h1_client(), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cache_status(&h), "outpost; fwd=method; fwd-status=200");
    assert_eq!(origin.hits(), 2);
    let (_, h, _) = get(&url).await;
    assert!(
        cache_status(&h).contains("fwd=uri-miss"),
        "{}",
        cache_status(&h)
    );
    assert_eq!(origin.hits(), 3);
}

#[tokio::test]
async fn bypass_rules_and_request_directives() {
    let origin = fixed(&[("cache-control", "max-age=60")], "b").await;
    let op = Outpost::start(&config(
        origin.addr,
        "bypass_cookies = [\"session\"]\nbypass_headers = [\"x-debug\"]",
        "",
    ))
    .await;
    let url = op.url("main", "/b").await;
    get(&url).await;
    let (_, h, _) = get_with(&url, &[("cookie", "session=abc")]).await;
    assert_eq!(cache_status(&h), "outpost; fwd=bypass; fwd-status=200");
    let (_, h, _) = get_with(&url, &[("x-debug", "1")]).await;
    assert_eq!(cache_status(&h), "outpost; fwd=bypass; fwd-status=200");
    assert_eq!(origin.hits(), 3);
    let (status, h, _) = get_with(
        &op.url("main", "/not-there").await,
        &[("cache-control", "only-if-cached")],
    )
    .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(cache_status(&h), "outpost; fwd=miss; detail=only-if-cached");
    assert_eq!(origin.hits(), 3);
}

/// Fills `/p/a` and `/p/b` (tag `t1`) and `/q` (tag `t2`); answers
/// revalidations with 304.
async fn filled(op: &Outpost) {
    for path in ["/p/a", "/p/b", "/q"] {
        let (_, h, _) = get(&op.url("main", path).await).await;
        assert!(cache_status(&h).contains("stored"), "{path}");
    }
}

#[tokio::test]
async fn every_purge_kind_hard_and_soft_through_the_admin_api() {
    let not_modified = Arc::new(AtomicUsize::new(0));
    let nm = not_modified.clone();
    let origin = Origin::start(move |req: Request<Incoming>| {
        let nm = nm.clone();
        async move {
            let tag = if req.uri().path().starts_with("/p/") {
                "t1"
            } else {
                "t2"
            };
            let r = Response::builder()
                .header("cache-control", "max-age=600")
                .header("etag", "\"v\"")
                .header("cache-tag", tag);
            if req.headers().contains_key("if-none-match") {
                nm.fetch_add(1, Ordering::SeqCst);
                return r.status(304).body(full("")).unwrap();
            }
            r.body(full("object")).unwrap()
        }
    })
    .await;
    let op = Outpost::start(&config(origin.addr, "", "")).await;
    let host = "127.0.0.1";
    let cases = [
        (
            format!(r#"{{"kind":"url","url":"{host}/p/a"}}"#),
            vec!["/p/a"],
            1,
        ),
        (
            format!(r#"{{"kind":"prefix","prefix":"{host}/p/"}}"#),
            vec!["/p/a", "/p/b"],
            2,
        ),
        (
            format!(r#"{{"kind":"host","host":"{host}"}}"#),
            vec!["/p/a", "/p/b", "/q"],
            3,
        ),
        (
            r#"{"kind":"tag","tag":"t1"}"#.to_string(),
            vec!["/p/a", "/p/b"],
            2,
        ),
        (
            r#"{"kind":"all"}"#.to_string(),
            vec!["/p/a", "/p/b", "/q"],
            3,
        ),
    ];
    for (target, purged, count) in cases {
        for mode in ["hard", "soft"] {
            // Start each case from a clean, fully stored state.
            purge(&op, r#"{"target":{"kind":"all"}}"#, TOKEN).await;
            filled(&op).await;
            let body = format!(r#"{{"target":{target},"mode":"{mode}"}}"#);
            let (status, answer) = purge(&op, &body, TOKEN).await;
            assert_eq!(status, StatusCode::OK, "{body}: {answer}");
            assert_eq!(answer["objects"], count, "{body}");
            assert!(answer["elapsed_ms"].is_number());
            for path in ["/p/a", "/p/b", "/q"] {
                let (_, h, b) = get(&op.url("main", path).await).await;
                assert_eq!(b, "object");
                let cs = cache_status(&h);
                let want = match (purged.contains(&path), mode) {
                    (false, _) => "hit",
                    (true, "hard") => "fwd=uri-miss",
                    (true, _) => "fwd=stale; fwd-status=304",
                };
                assert!(cs.contains(want), "{body} {path}: {cs}");
            }
        }
    }
    assert!(not_modified.load(Ordering::SeqCst) > 0);

    let (status, _) = purge(&op, r#"{"target":{"kind":"all"}}"#, "wrong-token-0123456").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, answer) = purge(&op, r#"{"target":{"kind":"everything"}}"#, TOKEN).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid purge request: unknown variant `everything`"),
        "{answer}"
    );
    let (status, answer) = purge(&op, r#"{"target":{"kind":"url","url":"/no-host"}}"#, TOKEN).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"], "invalid purge url \"/no-host\"");
    // The body bound (64 KiB): a longer one is refused before parsing.
    let padded = format!(
        r#"{{"target":{{"kind":"tag","tag":"{}"}}}}"#,
        "x".repeat(64 * 1024)
    );
    let (status, answer) = purge(&op, &padded, TOKEN).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    let text = metrics(&op).await;
    assert!(text.contains("outpost_cache_purges_total"), "{text}");
}

#[tokio::test]
async fn the_access_log_records_the_cache_status() {
    let origin = fixed(&[("cache-control", "max-age=60")], "logged").await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let extra = format!("[access_log]\npath = \"{}\"\n", log.display());
    let op = Outpost::start_in(&config(origin.addr, "", &extra), dir).await;
    let url = op.url("main", "/l").await;
    get(&url).await;
    get(&url).await;
    send(
        &h1_client(),
        Request::builder()
            .method(Method::DELETE)
            .uri(&url)
            .body(full(""))
            .unwrap(),
    )
    .await;
    assert!(
        wait_until(|| std::fs::read_to_string(&log)
            .map(|s| s.lines().count() >= 3)
            .unwrap_or(false))
        .await
    );
    let statuses: Vec<Option<String>> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<outpost_logs::record::AccessRecord>(l)
                .unwrap()
                .cache_status
        })
        .collect();
    assert_eq!(
        statuses,
        [
            Some("miss".into()),
            Some("hit".into()),
            Some("method".into())
        ]
    );
}

#[tokio::test]
async fn routes_without_a_cache_table_are_not_cached() {
    let origin = fixed(&[("cache-control", "max-age=60")], "plain").await;
    let op = Outpost::start(&proxy_config(origin.addr, "", "")).await;
    let url = op.url("main", "/x").await;
    let (_, h, _) = get(&url).await;
    get(&url).await;
    assert!(!h.contains_key("cache-status"));
    assert_eq!(origin.hits(), 2);
}

/// A body of `chunks`, each sent after `gap` (no `Content-Length`: chunked).
fn trickle(chunks: Vec<String>, gap: Duration) -> Body {
    use http_body_util::BodyExt as _;
    let stream = futures_util::stream::unfold(chunks.into_iter(), move |mut it| async move {
        let chunk = it.next()?;
        tokio::time::sleep(gap).await;
        let frame = hyper::body::Frame::data(bytes::Bytes::from(chunk));
        Some((Ok::<_, Box<dyn std::error::Error + Send + Sync>>(frame), it))
    });
    http_body_util::StreamBody::new(stream).boxed()
}

#[tokio::test]
async fn a_fill_completes_in_the_background_when_its_client_goes_away() {
    let origin = Origin::start(|_req: Request<Incoming>| async move {
        Response::builder()
            .header("cache-control", "max-age=60")
            .body(trickle(
                vec!["first-".into(), "second".into()],
                Duration::from_millis(150),
            ))
            .unwrap()
    })
    .await;
    let op = Outpost::start(&config(origin.addr, "", "")).await;
    let url = op.url("main", "/slow").await;
    // Read the head only, then go away (the body is dropped mid-stream).
    let resp = h1_client()
        .request(Request::get(&url).body(full("")).unwrap())
        .await
        .unwrap();
    assert!(cache_status(resp.headers()).contains("stored"));
    drop(resp);
    assert!(
        wait_until_async(|| {
            let url = url.clone();
            async move {
                let (_, h, b) = get(&url).await;
                cache_status(&h).contains("hit") && b == "first-second"
            }
        })
        .await
    );
    assert_eq!(origin.hits(), 1);
}

#[tokio::test]
async fn a_follower_waits_at_most_coalesce_wait_then_fetches_itself() {
    let origin = Origin::start(|_req: Request<Incoming>| async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        Response::builder()
            .header("cache-control", "max-age=60")
            .body(full("late"))
            .unwrap()
    })
    .await;
    let op = Outpost::start(&config(origin.addr, "coalesce_wait = \"100ms\"", "")).await;
    let url = op.url("main", "/late").await;
    let (a, b) = tokio::join!(get(&url), async {
        // Let the first request become the leader.
        assert!(wait_until(|| origin.hits() == 1).await);
        get(&url).await
    });
    assert_eq!(a.2, "late");
    assert_eq!(b.2, "late");
    assert!(!cache_status(&b.1).contains("collapsed"));
    assert_eq!(origin.hits(), 2);
    let text = metrics(&op).await;
    assert!(
        text.contains("outpost_cache_coalesce_timeouts_total 1"),
        "{text}"
    );
}

#[tokio::test]
async fn bodies_over_max_object_bytes_pass_through_uncached() {
    let origin = Origin::start(|req: Request<Incoming>| async move {
        let r = Response::builder().header("cache-control", "max-age=60");
        match req.uri().path() {
            // Declared too large: refused before the first byte.
            "/declared" => r.body(full("d".repeat(2000))).unwrap(),
            // Found too large while streaming.
            "/streamed" => r
                .body(trickle(vec!["s".repeat(700); 2], Duration::ZERO))
                .unwrap(),
            _ => r.body(full("small")).unwrap(),
        }
    })
    .await;
    let op = Outpost::start(&config(origin.addr, "max_object_bytes = \"1KiB\"", "")).await;
    for (path, len) in [("/declared", 2000), ("/streamed", 1400)] {
        let url = op.url("main", path).await;
        for _ in 0..2 {
            let (status, h, body) = get(&url).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body.len(), len, "{path}");
            assert!(!cache_status(&h).contains("hit"), "{path}");
        }
    }
    assert_eq!(origin.hits(), 4);
    let (_, h, _) = get(&op.url("main", "/small").await).await;
    assert!(cache_status(&h).contains("stored"));
}

#[tokio::test]
async fn http2_clients_get_hits_too() {
    let origin = fixed(&[("cache-control", "max-age=60")], "over h2").await;
    let op = Outpost::start(&config(origin.addr, "", "")).await;
    let url = op.url("main", "/h2").await;
    let client = h2c_client();
    for want in ["fwd=uri-miss", "hit"] {
        let req = Request::get(&url).body(full("")).unwrap();
        let (status, h, body) = send(&client, req).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "over h2");
        assert!(cache_status(&h).contains(want), "{}", cache_status(&h));
    }
    assert_eq!(origin.hits(), 1);
}

/// An origin streaming [`letters`] in 2,000-byte chunks 20 ms apart (no
/// `Content-Length`), with a strong `ETag`; a `Range: bytes=N-` request
/// with a matching `If-Range` gets a `206` of the rest at once. Records the
/// `Range` headers it saw. With `honor_range` false it answers such a
/// request with the whole body (`200`, same `ETag`), as origins without
/// range support do.
async fn resumable_origin(ranges: Arc<std::sync::Mutex<Vec<String>>>, honor_range: bool) -> Origin {
    Origin::start(move |req: Request<Incoming>| {
        let ranges = ranges.clone();
        async move {
            let all = letters();
            if let Some(r) = req.headers().get("range") {
                let r = r.to_str().unwrap().to_string();
                ranges.lock().unwrap().push(r.clone());
                assert_eq!(req.headers()["if-range"], "\"big\"");
                if !honor_range {
                    return Response::builder()
                        .header("etag", "\"big\"")
                        .body(full(all))
                        .unwrap();
                }
                let from: usize = r["bytes=".len()..r.len() - 1].parse().unwrap();
                return Response::builder()
                    .status(StatusCode::PARTIAL_CONTENT)
                    .header("etag", "\"big\"")
                    .header(
                        "content-range",
                        format!("bytes {from}-{}/{}", all.len() - 1, all.len()),
                    )
                    .body(full(all[from..].to_string()))
                    .unwrap();
            }
            let chunks = all
                .as_bytes()
                .chunks(2000)
                .map(|c| String::from_utf8(c.to_vec()).unwrap())
                .collect();
            Response::builder()
                .header("cache-control", "max-age=60")
                .header("etag", "\"big\"")
                .body(trickle(chunks, Duration::from_millis(20)))
                .unwrap()
        }
    })
    .await
}

#[tokio::test]
async fn a_follower_resumes_with_a_range_request_when_the_shared_body_outgrows_the_fill() {
    for honor_range in [true, false] {
        follower_resumes(honor_range).await;
    }
}

async fn follower_resumes(honor_range: bool) {
    let expected = letters();
    let ranges = Arc::new(std::sync::Mutex::new(Vec::new()));
    let origin = resumable_origin(ranges.clone(), honor_range).await;
    // 16 KiB may be shared; the body is 100 KB, sent over about a second.
    let op = Outpost::start(&config(origin.addr, "max_object_bytes = \"16KiB\"", "")).await;
    let url = op.url("main", "/big").await;
    let leader = {
        let url = url.clone();
        tokio::spawn(async move { get(&url).await })
    };
    assert!(wait_until(|| origin.hits() == 1).await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Joins while the fill still buffers, so it streams shared bytes first.
    let (status, h, body) = get(&url).await;
    assert_eq!(status, StatusCode::OK);
    assert!(cache_status(&h).contains("collapsed"), "{h:?}");
    assert_eq!(body.len(), expected.len());
    assert!(body == expected.as_bytes(), "the resumed body differs");
    let leader = leader.await.unwrap();
    assert_eq!(leader.2, expected.as_bytes());
    let ranges = ranges.lock().unwrap().clone();
    assert_eq!(ranges.len(), 1, "{ranges:?}");
    let from: u64 = ranges[0]["bytes=".len()..ranges[0].len() - 1]
        .parse()
        .unwrap();
    assert!(from > 0 && from <= 16 * 1024, "resumed at {from}");
    assert_eq!(origin.hits(), 2);
    let m = op.server.shared.cache.metrics();
    assert_eq!((m.follower_resumes, m.follower_resume_failures), (1, 0));
}

/// An origin's chunked trailers reach the client whose request fetched the
/// response, but they are not stored: later hits come without them and
/// without the `Trailer` field that announced them.
#[tokio::test]
async fn trailers_reach_the_fetching_client_and_are_not_announced_on_hits() {
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    let (origin, _) = scripted(move |_, _| {
        counted.fetch_add(1, Ordering::SeqCst);
        reply(
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n\
             Trailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n\
             5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n",
            1024,
            false,
        )
    })
    .await;
    let op = Outpost::start(&config(origin, "", "")).await;
    let url = op.url("main", "/t").await;

    let req = Request::get(&url)
        .header("te", "trailers")
        .body(full(""))
        .unwrap();
    let resp = h1_client().request(req).await.unwrap();
    assert!(cache_status(resp.headers()).contains("stored"));
    assert_eq!(resp.headers()["trailer"], "X-Sum");
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap();
    assert_eq!(body.trailers().expect("trailers forwarded")["x-sum"], "42");
    assert_eq!(body.to_bytes(), "hello world");

    for client in [h1_client(), h2c_client()] {
        let req = Request::get(&url)
            .header("te", "trailers")
            .body(full(""))
            .unwrap();
        let resp = client.request(req).await.unwrap();
        let cs = cache_status(resp.headers());
        assert!(cs.contains("hit"), "{cs}");
        assert!(
            !resp.headers().contains_key("trailer"),
            "{:?}",
            resp.headers()
        );
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap();
        assert!(body.trailers().is_none());
        assert_eq!(body.to_bytes(), "hello world");
    }
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}
