//! Whether a response may be stored by a shared cache (RFC 9111 §3,
//! including §3.5 for `Authorization`), and with what freshness. The route
//! can widen this (`default_ttl`, `ttl_override`,
//! `ignore_origin_directives`, `cache_set_cookie`) but never for requests
//! with `Authorization`, which stay under the RFC's rule.

use std::time::Duration;

use http::header::{CONTENT_LENGTH, ETAG, LAST_MODIFIED, SET_COOKIE};
use http::{HeaderMap, Method, StatusCode};

use crate::directives::{RequestDirectives, ResponseDates, ResponseDirectives};
use crate::key::Vary;
use crate::policy::freshness::{
    ExchangeTimes, Freshness, LifetimeSource, corrected_initial_age, lifetime,
};
use crate::settings::RouteSettings;

/// Why a response is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotStorable {
    /// Only responses to GET are stored (HEAD is answered from them).
    #[error("request method is not GET")]
    Method,
    /// 1xx, 206 and 304 are never stored as new objects.
    #[error("status is not stored")]
    Status,
    /// Request or response `no-store`.
    #[error("no-store")]
    NoStore,
    /// Response `private`.
    #[error("private")]
    Private,
    /// Request had `Authorization` and the response did not allow sharing.
    #[error("authorized request without public, s-maxage or must-revalidate")]
    Authorization,
    /// Response sets a cookie and the route does not cache those.
    #[error("response sets a cookie")]
    SetCookie,
    /// `Vary: *` or an unusable `Vary`.
    #[error("vary")]
    Vary,
    /// No explicit, default or heuristic lifetime, or a zero lifetime
    /// without a validator or stale window to make storing useful.
    #[error("no freshness information")]
    NoFreshness,
    /// Declared or streamed body larger than the route allows, or than
    /// the fill buffer budget or a store shard.
    #[error("body larger than max_object_bytes")]
    TooLarge,
    /// The fill ended before a complete response arrived.
    #[error("incomplete response")]
    Incomplete,
}

/// The facts about the request that storability depends on.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// Request method.
    pub method: &'a Method,
    /// Request directives.
    pub directives: &'a RequestDirectives,
    /// Whether the request carried `Authorization`.
    pub authorization: bool,
}

/// A response's admission to the store: its freshness and age at arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// What reuse decisions need later.
    pub freshness: Freshness,
    /// Where the lifetime came from.
    pub source: LifetimeSource,
    /// RFC 9111 §4.2.3 `corrected_initial_age`.
    pub corrected_initial_age: Duration,
}

/// Decides whether a response may be stored (RFC 9111 §3) and, if so,
/// with what freshness.
pub fn admit(
    settings: &RouteSettings,
    req: RequestFacts<'_>,
    status: StatusCode,
    headers: &HeaderMap,
    times: ExchangeTimes,
) -> Result<Admission, NotStorable> {
    if req.method != Method::GET {
        return Err(NotStorable::Method);
    }
    if status.is_informational()
        || status == StatusCode::PARTIAL_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Err(NotStorable::Status);
    }
    let d = ResponseDirectives::parse(headers);
    check_directives(settings, req, &d, headers)?;
    if declared_length(headers).is_some_and(|l| l > settings.max_object_bytes) {
        return Err(NotStorable::TooLarge);
    }
    let dates = ResponseDates::parse(headers);
    let (lifetime, source) = lifetime(settings, status, &d, &dates, times.response_time)
        .ok_or(NotStorable::NoFreshness)?;
    let freshness = freshness_of(settings, &d, lifetime);
    let validator = headers.contains_key(ETAG) || headers.contains_key(LAST_MODIFIED);
    let stale_window =
        !freshness.stale_if_error.is_zero() || !freshness.stale_while_revalidate.is_zero();
    if lifetime.is_zero() && !validator && !stale_window {
        return Err(NotStorable::NoFreshness);
    }
    Ok(Admission {
        freshness,
        source,
        corrected_initial_age: corrected_initial_age(&dates, times),
    })
}

/// The directive-based refusals: no-store, private, Authorization (§3.5),
/// Set-Cookie and Vary.
fn check_directives(
    settings: &RouteSettings,
    req: RequestFacts<'_>,
    d: &ResponseDirectives,
    headers: &HeaderMap,
) -> Result<(), NotStorable> {
    let obey = !settings.ignore_origin_directives;
    if req.directives.no_store || (obey && d.no_store) {
        return Err(NotStorable::NoStore);
    }
    if obey && d.private {
        return Err(NotStorable::Private);
    }
    if req.authorization && !(d.public || d.s_maxage.is_some() || d.must_revalidate) {
        return Err(NotStorable::Authorization);
    }
    if !settings.cache_set_cookie && headers.contains_key(SET_COOKIE) {
        return Err(NotStorable::SetCookie);
    }
    if Vary::parse(headers) == Vary::Any {
        return Err(NotStorable::Vary);
    }
    Ok(())
}

/// The reuse rules recorded with the object. With
/// `ignore_origin_directives` the origin's revalidation and stale
/// directives are ignored too.
fn freshness_of(settings: &RouteSettings, d: &ResponseDirectives, lifetime: Duration) -> Freshness {
    if settings.ignore_origin_directives {
        return Freshness {
            lifetime,
            ..Freshness::default()
        };
    }
    Freshness {
        lifetime,
        stale_while_revalidate: d.stale_while_revalidate.unwrap_or(Duration::ZERO),
        stale_if_error: d.stale_if_error.unwrap_or(Duration::ZERO),
        no_cache: d.no_cache,
        must_revalidate: d.must_revalidate || d.proxy_revalidate || d.s_maxage.is_some(),
        immutable: d.immutable,
    }
}

/// `Content-Length`, when present and valid.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse().ok())
}
