//! Freshness lifetime (RFC 9111 §4.2.1, §4.2.2), age (§4.2.3) and the reuse
//! decision for a stored response given the request's directives (§4.2.4,
//! §5.2.1, RFC 5861). Every function takes the times it needs.

use std::time::{Duration, SystemTime};

use http::StatusCode;

use crate::directives::{MaxStale, RequestDirectives, ResponseDates, ResponseDirectives};
use crate::settings::RouteSettings;

/// Statuses heuristically cacheable by default (RFC 9110 §15.1).
pub const HEURISTIC_STATUSES: [u16; 12] =
    [200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501];

/// Fraction of `Date - Last-Modified` used as heuristic lifetime: 10%.
const HEURISTIC_DIVISOR: u32 = 10;

/// When a request reaches the origin and when its response head arrived;
/// both are needed for the age calculation (RFC 9111 §4.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeTimes {
    /// Clock time the request was sent to the origin.
    pub request_time: SystemTime,
    /// Clock time the response head arrived.
    pub response_time: SystemTime,
}

impl ExchangeTimes {
    /// Both times at one instant (tests, or an origin that answers at once).
    pub fn at(now: SystemTime) -> Self {
        ExchangeTimes {
            request_time: now,
            response_time: now,
        }
    }
}

/// Where a freshness lifetime came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifetimeSource {
    /// The route's `ttl_override`.
    Override,
    /// `s-maxage`.
    SMaxAge,
    /// `max-age`.
    MaxAge,
    /// `Expires - Date`.
    Expires,
    /// The route's default TTL for the status.
    RouteDefault,
    /// 10% of `Date - Last-Modified`, capped.
    Heuristic,
}

/// What the cache records at store time to decide reuse later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Freshness {
    /// Freshness lifetime.
    pub lifetime: Duration,
    /// `stale-while-revalidate` window after expiry.
    pub stale_while_revalidate: Duration,
    /// `stale-if-error` window after expiry.
    pub stale_if_error: Duration,
    /// `no-cache`: revalidate before every reuse.
    pub no_cache: bool,
    /// `must-revalidate`, `proxy-revalidate` or `s-maxage`: never serve
    /// stale (RFC 9111 §5.2.2.2, .8, .10).
    pub must_revalidate: bool,
    /// `immutable`: while fresh, a client's reload does not revalidate.
    pub immutable: bool,
}

/// The explicit lifetime the origin gave, if any: `s-maxage`, then
/// `max-age`, then `Expires - Date` (the response time standing in for a
/// missing `Date`; an invalid `Expires` means already expired).
pub fn explicit_lifetime(
    d: &ResponseDirectives,
    dates: &ResponseDates,
    response_time: SystemTime,
) -> Option<(Duration, LifetimeSource)> {
    if let Some(s) = d.s_maxage {
        return Some((s, LifetimeSource::SMaxAge));
    }
    if let Some(m) = d.max_age {
        return Some((m, LifetimeSource::MaxAge));
    }
    let expires = dates.expires?;
    let lifetime = expires
        .and_then(|e| e.duration_since(dates.date.unwrap_or(response_time)).ok())
        .unwrap_or(Duration::ZERO);
    Some((lifetime, LifetimeSource::Expires))
}

/// Heuristic lifetime (RFC 9111 §4.2.2): 10% of `Date - Last-Modified`,
/// at most `cap`; zero without `Last-Modified`.
pub fn heuristic_lifetime(
    dates: &ResponseDates,
    response_time: SystemTime,
    cap: Duration,
) -> Duration {
    let Some(lm) = dates.last_modified else {
        return Duration::ZERO;
    };
    let date = dates.date.unwrap_or(response_time);
    date.duration_since(lm)
        .map(|d| d / HEURISTIC_DIVISOR)
        .unwrap_or(Duration::ZERO)
        .min(cap)
}

/// Whether `status` may get a heuristic lifetime without `public`.
pub fn heuristically_cacheable(status: StatusCode) -> bool {
    HEURISTIC_STATUSES.contains(&status.as_u16())
}

/// The lifetime to store a response with, by precedence: route override,
/// origin's explicit lifetime, route default for the status, heuristic
/// (only for heuristically cacheable statuses or `public`). `None` when
/// nothing allows caching it. With `ignore_origin_directives`, only the
/// override and the route default count.
pub fn lifetime(
    settings: &RouteSettings,
    status: StatusCode,
    d: &ResponseDirectives,
    dates: &ResponseDates,
    response_time: SystemTime,
) -> Option<(Duration, LifetimeSource)> {
    if let Some(o) = settings.ttl_override {
        return Some((o, LifetimeSource::Override));
    }
    if !settings.ignore_origin_directives {
        if let Some(e) = explicit_lifetime(d, dates, response_time) {
            return Some(e);
        }
    }
    if let Some(t) = settings.default_ttl.get(status) {
        return Some((t, LifetimeSource::RouteDefault));
    }
    if settings.ignore_origin_directives || !(heuristically_cacheable(status) || d.public) {
        return None;
    }
    Some((
        heuristic_lifetime(dates, response_time, settings.heuristic_max),
        LifetimeSource::Heuristic,
    ))
}

/// `corrected_initial_age` of RFC 9111 §4.2.3: the larger of the apparent
/// age and the `Age` value plus the response delay. Never negative.
pub fn corrected_initial_age(dates: &ResponseDates, times: ExchangeTimes) -> Duration {
    let apparent_age = dates
        .date
        .and_then(|d| times.response_time.duration_since(d).ok())
        .unwrap_or(Duration::ZERO);
    let response_delay = times
        .response_time
        .duration_since(times.request_time)
        .unwrap_or(Duration::ZERO);
    let corrected_age_value = dates.age.unwrap_or(Duration::ZERO) + response_delay;
    apparent_age.max(corrected_age_value)
}

/// `current_age` of RFC 9111 §4.2.3: the corrected initial age plus the
/// time resident in this cache. A clock that stepped back adds nothing.
pub fn current_age(
    corrected_initial_age: Duration,
    response_time: SystemTime,
    now: SystemTime,
) -> Duration {
    corrected_initial_age + now.duration_since(response_time).unwrap_or(Duration::ZERO)
}

/// How a stored response may be used for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Serve it as it is.
    Fresh,
    /// Serve it although stale. `refresh`: start one background
    /// revalidation (stale-while-revalidate); false when only the client's
    /// `max-stale` allowed it.
    ServeStale {
        /// Whether to refresh it in the background.
        refresh: bool,
    },
    /// Validate with the origin first (conditional request). When the
    /// origin fails or answers 5xx and `stale_if_error` is true, serve the
    /// stored response instead.
    Revalidate {
        /// Whether stale-if-error allows serving it on an origin error.
        stale_if_error: bool,
    },
    /// The request said `only-if-cached` and the stored response cannot be
    /// used without the origin: answer 504.
    GatewayTimeout,
}

/// Decides how a stored response with freshness `f` and current `age` may
/// answer a request with directives `req`. A soft-purged response is
/// stale from the purge on: it is revalidated, never served by
/// stale-while-revalidate, but stale-if-error still covers it.
pub fn decide(
    f: &Freshness,
    age: Duration,
    soft_purged: bool,
    req: &RequestDirectives,
) -> Decision {
    let fresh = !soft_purged && f.lifetime > age;
    let staleness = age.saturating_sub(f.lifetime);
    if fresh && (f.immutable || acceptable_fresh(f, age, req)) && min_fresh_ok(f, age, req) {
        return Decision::Fresh;
    }
    let may_be_stale = !f.must_revalidate && !f.no_cache;
    if !fresh && may_be_stale && !soft_purged && !req.no_cache {
        if max_stale_ok(req.max_stale, staleness) {
            return Decision::ServeStale { refresh: false };
        }
        if within(staleness, f.stale_while_revalidate) {
            return Decision::ServeStale { refresh: true };
        }
    }
    if req.only_if_cached {
        return Decision::GatewayTimeout;
    }
    let window = f
        .stale_if_error
        .max(req.stale_if_error.unwrap_or(Duration::ZERO));
    Decision::Revalidate {
        stale_if_error: may_be_stale && within(staleness, window),
    }
}

/// A fresh response also satisfies the request's `no-cache` and
/// `max-age` (`max-age=0` always revalidates, as browsers mean it).
fn acceptable_fresh(f: &Freshness, age: Duration, req: &RequestDirectives) -> bool {
    !f.no_cache
        && !req.no_cache
        && req
            .max_age
            .is_none_or(|m| !m.is_zero() && age.as_secs() <= m.as_secs())
}

fn min_fresh_ok(f: &Freshness, age: Duration, req: &RequestDirectives) -> bool {
    req.min_fresh
        .is_none_or(|m| f.lifetime.saturating_sub(age) >= m)
}

fn max_stale_ok(max_stale: Option<MaxStale>, staleness: Duration) -> bool {
    match max_stale {
        None => false,
        Some(MaxStale::Any) => true,
        Some(MaxStale::Within(w)) => staleness <= w,
    }
}

fn within(staleness: Duration, window: Duration) -> bool {
    !window.is_zero() && staleness <= window
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(lifetime: u64) -> Freshness {
        Freshness {
            lifetime: Duration::from_secs(lifetime),
            ..Freshness::default()
        }
    }

    #[test]
    fn fresh_iff_lifetime_exceeds_age() {
        let req = RequestDirectives::default();
        assert_eq!(
            decide(&f(10), Duration::from_secs(9), false, &req),
            Decision::Fresh
        );
        assert!(matches!(
            decide(&f(10), Duration::from_secs(10), false, &req),
            Decision::Revalidate { .. }
        ));
    }

    #[test]
    fn soft_purged_is_never_fresh() {
        let req = RequestDirectives::default();
        let mut fr = f(100);
        fr.stale_while_revalidate = Duration::from_secs(100);
        assert_eq!(
            decide(&fr, Duration::ZERO, true, &req),
            Decision::Revalidate {
                stale_if_error: false
            }
        );
    }
}
