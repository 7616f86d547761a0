//! Validation (RFC 9111 §4.3): the conditional headers sent to the origin,
//! how a 304 refreshes a stored response's headers (§3.2, §4.3.4), and
//! answering a client's own conditional request from a stored response
//! (RFC 9110 §13.1.1, §13.1.3).

use http::header::{
    CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, ETAG, IF_MATCH, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE, LAST_MODIFIED, PROXY_AUTHENTICATE, RANGE, TE,
    TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::directives::split_list;

/// Prepares the headers of a request that fills the cache: the client's
/// own conditionals and `Range` are removed (the cache wants a full,
/// storable response), and, when revalidating `stored`, its validators are
/// sent as `If-None-Match` and `If-Modified-Since`.
pub fn fill_request_headers(request: &mut HeaderMap, stored: Option<&HeaderMap>) {
    for name in [
        IF_NONE_MATCH,
        IF_MODIFIED_SINCE,
        IF_MATCH,
        IF_UNMODIFIED_SINCE,
        IF_RANGE,
        RANGE,
    ] {
        request.remove(name);
    }
    if let Some(stored) = stored {
        request.extend(conditional_headers(stored));
    }
}

/// The conditional headers that validate a stored response: its `ETag` as
/// `If-None-Match`, its `Last-Modified` as `If-Modified-Since`.
pub fn conditional_headers(stored: &HeaderMap) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(etag) = stored.get(ETAG) {
        h.insert(IF_NONE_MATCH, etag.clone());
    }
    if let Some(lm) = stored.get(LAST_MODIFIED) {
        h.insert(IF_MODIFIED_SINCE, lm.clone());
    }
    h
}

/// Whether a 304 may refresh the stored response (RFC 9111 §4.3.4): when
/// the 304 carries an `ETag`, the stored one must be the same validator; a
/// 304 without one selects the stored response.
pub fn not_modified_matches(stored: &HeaderMap, not_modified: &HeaderMap) -> bool {
    match (stored.get(ETAG), not_modified.get(ETAG)) {
        (Some(s), Some(n)) => s == n,
        (None, Some(_)) => false,
        _ => true,
    }
}

/// Header fields a 304 never updates: framing and content coding that the
/// stored body depends on, and hop-by-hop fields (RFC 9111 §3.1, §3.2).
fn kept_from_stored(name: &HeaderName) -> bool {
    [
        CONTENT_LENGTH,
        CONTENT_ENCODING,
        CONTENT_RANGE,
        TRANSFER_ENCODING,
        CONNECTION,
        TE,
        TRAILER,
        UPGRADE,
        PROXY_AUTHENTICATE,
    ]
    .contains(name)
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// Merges a 304's header fields into the stored ones (RFC 9111 §3.2): each
/// field in the 304 replaces all stored lines of that name, except the
/// fields the stored body depends on and hop-by-hop fields (including
/// those named in the 304's `Connection`).
pub fn merge_not_modified(stored: &HeaderMap, not_modified: &HeaderMap) -> HeaderMap {
    let mut merged = stored.clone();
    let connection: Vec<String> = not_modified
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(split_list)
        .map(str::to_ascii_lowercase)
        .collect();
    for name in not_modified.keys() {
        if kept_from_stored(name) || connection.iter().any(|c| c == name.as_str()) {
            continue;
        }
        merged.remove(name);
        for v in not_modified.get_all(name) {
            merged.append(name.clone(), v.clone());
        }
    }
    merged
}

/// Whether a client's conditional GET/HEAD is satisfied by the stored
/// response, so a 304 may answer it (RFC 9110 §13.2.2: `If-None-Match`
/// with weak comparison takes precedence over `If-Modified-Since`).
pub fn client_not_modified(request: &HeaderMap, stored: &HeaderMap) -> bool {
    if request.contains_key(IF_NONE_MATCH) {
        let Some(etag) = stored.get(ETAG).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        return request
            .get_all(IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(split_list)
            .any(|tag| tag == "*" || weak_eq(tag, etag));
    }
    // Dates are parsed only when the client asked: most hits carry none.
    let Some(since) = request.get(IF_MODIFIED_SINCE).and_then(http_date) else {
        return false;
    };
    stored
        .get(LAST_MODIFIED)
        .and_then(http_date)
        .is_some_and(|m| m <= since)
}

fn weak_eq(a: &str, b: &str) -> bool {
    a.trim_start_matches("W/") == b.trim_start_matches("W/")
}

pub(crate) fn http_date(v: &HeaderValue) -> Option<std::time::SystemTime> {
    v.to_str()
        .ok()
        .and_then(|s| httpdate::parse_http_date(s.trim()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_comparison_ignores_the_prefix() {
        assert!(weak_eq("W/\"a\"", "\"a\""));
        assert!(!weak_eq("\"a\"", "\"b\""));
    }
}
