//! Shared helpers: a fixed clock, header builders, a small cache, and a
//! one-call "fetch from the origin and store" fill.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use outpost_cache::policy::ExchangeTimes;
use outpost_cache::{
    Cache, CacheConfig, CacheRequest, FillOutcome, Outcome, RequestInfo, ResponseHead,
    RouteSettings,
};

/// A fixed "now": 2026-01-01T00:00:00Z.
pub fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

pub fn date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

pub fn head(status: u16, pairs: &[(&str, &str)]) -> ResponseHead {
    ResponseHead::new(StatusCode::from_u16(status).unwrap(), headers(pairs))
}

pub fn route() -> Arc<RouteSettings> {
    Arc::new(RouteSettings::default())
}

pub fn cache() -> Cache {
    Cache::new(CacheConfig {
        capacity_bytes: 16 * 1024 * 1024,
        shards: 4,
        max_object_bytes: 1024 * 1024,
        ..CacheConfig::default()
    })
    .unwrap()
}

/// A prepared GET (or `method`) for `url` like `/path?q` on example.com.
pub fn request(
    cache: &Cache,
    route: &Arc<RouteSettings>,
    method: &str,
    url: &str,
    h: &[(&str, &str)],
) -> Arc<CacheRequest> {
    let uri: Uri = url.parse().unwrap();
    let method: Method = method.parse().unwrap();
    let h = headers(h);
    let info = RequestInfo {
        method: &method,
        scheme: "https",
        host: "example.com",
        uri: &uri,
        headers: &h,
    };
    cache.prepare(route, info).unwrap()
}

pub fn get(cache: &Cache, url: &str, h: &[(&str, &str)]) -> Arc<CacheRequest> {
    request(cache, &route(), "GET", url, h)
}

/// Runs a whole fill for `req` at `now` with the origin answering
/// `response` and `body`: the request must miss or revalidate.
pub fn fill(
    cache: &Cache,
    req: &Arc<CacheRequest>,
    response: ResponseHead,
    body: &[u8],
    now: SystemTime,
) -> FillOutcome {
    let mut writer = match cache.lookup(req, now) {
        Outcome::Miss { writer, .. } | Outcome::Revalidate { writer, .. } => writer,
        other => panic!("expected a miss, got {other:?}"),
    };
    if writer.start(&response, ExchangeTimes::at(now)).is_ok() {
        writer.push(Bytes::copy_from_slice(body));
    }
    writer.finish()
}

/// Whether a GET for `url` with headers `h` is a fresh hit at `now`.
pub fn is_fresh_hit(cache: &Cache, req: &Arc<CacheRequest>, now: SystemTime) -> bool {
    matches!(cache.lookup(req, now), Outcome::Hit { stale: false, .. })
}

pub fn stored(o: &FillOutcome) -> bool {
    matches!(o, FillOutcome::Stored(_))
}
