//! Answering a `Range` request from a stored full response (RFC 9110
//! §14). One byte range is served as 206; several ranges, or a `Range`
//! that cannot be parsed, get the full 200 (a server may ignore `Range`);
//! an unsatisfiable one gets 416. `If-Range` that does not match the
//! stored validator also gets the full response.

use std::ops::Range;

use http::HeaderMap;
use http::header::{ETAG, IF_RANGE, LAST_MODIFIED, RANGE};

use crate::policy::revalidate::http_date;

/// How to answer a request for a stored body of `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeAnswer {
    /// 200 with the whole body.
    Full,
    /// 206 with these bytes and `Content-Range: bytes start-end/len`.
    Partial(Range<u64>),
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Decides how to answer `request`'s `Range` from a stored response with
/// `stored` headers and a body of `len` bytes.
pub fn answer_range(request: &HeaderMap, stored: &HeaderMap, len: u64) -> RangeAnswer {
    let Some(range) = request.get(RANGE).and_then(|v| v.to_str().ok()) else {
        return RangeAnswer::Full;
    };
    if !if_range_matches(request, stored) {
        return RangeAnswer::Full;
    }
    let Some(spec) = range.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Full;
    };
    if spec.contains(',') {
        return RangeAnswer::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Full;
    };
    let parse = |s: &str| -> Option<Option<u64>> {
        let s = s.trim();
        if s.is_empty() {
            Some(None)
        } else {
            s.parse().ok().map(Some)
        }
    };
    match (parse(first), parse(last)) {
        (Some(Some(a)), Some(b)) if b.is_none_or(|b| b >= a) => {
            if a >= len {
                return RangeAnswer::Unsatisfiable;
            }
            let end = b.map_or(len, |b| (b + 1).min(len));
            RangeAnswer::Partial(a..end)
        }
        (Some(None), Some(Some(suffix))) => {
            if suffix == 0 || len == 0 {
                return RangeAnswer::Unsatisfiable;
            }
            RangeAnswer::Partial(len.saturating_sub(suffix)..len)
        }
        _ => RangeAnswer::Full,
    }
}

/// `If-Range` holds when absent, when it is the stored strong `ETag`, or
/// when it is the stored `Last-Modified` date exactly.
fn if_range_matches(request: &HeaderMap, stored: &HeaderMap) -> bool {
    let Some(cond) = request.get(IF_RANGE) else {
        return true;
    };
    if cond.as_bytes().starts_with(b"\"") {
        return stored.get(ETAG) == Some(cond);
    }
    match (
        http_date(cond),
        stored.get(LAST_MODIFIED).and_then(http_date),
    ) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The `Content-Range` value for a partial answer.
pub fn content_range(range: &Range<u64>, len: u64) -> String {
    format!(
        "bytes {}-{}/{len}",
        range.start,
        range.end.saturating_sub(1)
    )
}
