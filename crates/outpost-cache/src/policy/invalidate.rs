//! Invalidation after unsafe methods (RFC 9111 §4.4): a non-error response
//! to a method that is not safe invalidates the target URI, and the
//! `Location` and `Content-Location` URIs when they share its origin.

use http::header::{CONTENT_LOCATION, LOCATION};
use http::{HeaderMap, Method, StatusCode, Uri};

use crate::key::{index_host, index_url, key_query};
use crate::settings::KeySettings;

/// One URL to invalidate, as the purge index names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTarget {
    /// Host, lowercase, without port.
    pub host: String,
    /// Path and the query as the route's key keeps it, sorted.
    pub url: String,
}

/// Whether a method is safe (RFC 9110 §9.2.1).
pub fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// The URLs to invalidate after `method` on `uri` (at `host`) got `status`
/// with response `headers`: none for safe methods or error statuses;
/// otherwise the target, plus `Location` and `Content-Location` when they
/// are relative or name the same host (RFC 9111 §4.4). At most three.
pub fn invalidation_targets(
    key: &KeySettings,
    method: &Method,
    host: &str,
    uri: &Uri,
    status: StatusCode,
    headers: &HeaderMap,
) -> Vec<UrlTarget> {
    if is_safe(method) || !(status.is_success() || status.is_redirection()) {
        return Vec::new();
    }
    let host = index_host(host);
    let mut targets = vec![target(key, &host, uri)];
    for name in [LOCATION, CONTENT_LOCATION] {
        let Some(uri) = headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.parse::<Uri>().ok())
        else {
            continue;
        };
        let same_origin = uri.host().is_none_or(|h| index_host(h) == host);
        let t = target(key, &host, &uri);
        if same_origin && uri.path().starts_with('/') && !targets.contains(&t) {
            targets.push(t);
        }
    }
    targets
}

fn target(key: &KeySettings, host: &str, uri: &Uri) -> UrlTarget {
    let query = key_query(&key.query, uri.query().unwrap_or(""));
    UrlTarget {
        host: host.to_owned(),
        url: index_url(uri.path(), &query),
    }
}
