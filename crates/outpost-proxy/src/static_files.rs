//! The built-in `static` origin: serves a directory with content types, ETag and
//! Last-Modified validators, conditional requests, single byte ranges and index
//! files. Paths are percent-decoded, `..` is refused outright, and the final
//! path is canonicalized and must stay under the root, so symlinks cannot
//! escape it.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use outpost_config::StaticSite;
use tokio::io::AsyncSeekExt;

use crate::body::{FileBody, OutBody};
use crate::error::status_page;

/// Serves one request from `site`. `path` is the raw (percent-encoded) request path.
pub async fn serve(
    site: &StaticSite,
    method: &Method,
    path: &str,
    query: Option<&str>,
    req: &HeaderMap,
) -> Response<OutBody> {
    if method != Method::GET && method != Method::HEAD {
        let mut r = status_page(StatusCode::METHOD_NOT_ALLOWED);
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let rel = match &site.strip_prefix {
        Some(p) => path.strip_prefix(p.as_str()).unwrap_or(path),
        None => path,
    };
    let Some(candidate) = map_path(&site.root, rel) else {
        return status_page(StatusCode::BAD_REQUEST);
    };
    let Some((file_path, meta, was_dir)) = resolve(site, &candidate).await else {
        return status_page(StatusCode::NOT_FOUND);
    };
    if was_dir && !path.ends_with('/') {
        {
            let target = match query {
                Some(q) => format!("{path}/?{q}"),
                None => format!("{path}/"),
            };
            let mut r = status_page(StatusCode::MOVED_PERMANENTLY);
            if let Ok(v) = HeaderValue::from_str(&target) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            return r;
        }
    }
    if meta.is_dir() {
        return status_page(StatusCode::NOT_FOUND);
    }
    if !file_path.starts_with(&site.root) {
        return status_page(StatusCode::FORBIDDEN);
    }
    send_file(&file_path, &meta, method, req).await
}

/// Decodes the request path and joins its segments under `root`; `None` when a
/// segment is `..`, contains a NUL or backslash, or does not decode to UTF-8.
pub fn map_path(root: &Path, raw: &str) -> Option<PathBuf> {
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()?;
    let mut out = root.to_path_buf();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => return None,
            s if s.contains('\0') || s.contains('\\') => return None,
            s => out.push(s),
        }
    }
    Some(out)
}

/// Canonicalizes the candidate (following symlinks) and, for directories, finds
/// an index file. Returns `None` for missing files and for anything that
/// resolves outside the root; the flag says whether the candidate was a directory.
async fn resolve(
    site: &StaticSite,
    candidate: &Path,
) -> Option<(PathBuf, std::fs::Metadata, bool)> {
    let real = tokio::fs::canonicalize(candidate).await.ok()?;
    if !real.starts_with(&site.root) {
        return None;
    }
    let meta = tokio::fs::metadata(&real).await.ok()?;
    if !meta.is_dir() {
        return Some((real, meta, false));
    }
    for name in &site.index {
        let idx = real.join(name);
        if let Ok(ireal) = tokio::fs::canonicalize(&idx).await
            && ireal.starts_with(&site.root)
            && let Ok(m) = tokio::fs::metadata(&ireal).await
            && m.is_file()
        {
            return Some((ireal, m, true));
        }
    }
    Some((real, meta, true))
}

async fn send_file(
    path: &Path,
    meta: &std::fs::Metadata,
    method: &Method,
    req: &HeaderMap,
) -> Response<OutBody> {
    let len = meta.len();
    let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let etag = etag(mtime, len);
    let last_modified = httpdate::fmt_http_date(mtime);
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&last_modified) {
        headers.insert(header::LAST_MODIFIED, v);
    }
    if not_modified(req, &etag, mtime) {
        return with_headers(StatusCode::NOT_MODIFIED, headers, OutBody::Empty);
    }
    let range = match req.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) if if_range_ok(req, &etag, mtime) => parse_range(r, len),
        _ => RangeResult::Full,
    };
    let (status, start, count) = match range {
        RangeResult::Full => (StatusCode::OK, 0, len),
        RangeResult::Partial(s, e) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {s}-{e}/{len}")) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            (StatusCode::PARTIAL_CONTENT, s, e - s + 1)
        }
        RangeResult::Unsatisfiable => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            return with_headers(StatusCode::RANGE_NOT_SATISFIABLE, headers, OutBody::Empty);
        }
    };
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if method == Method::HEAD {
        return with_headers(status, headers, OutBody::Empty);
    }
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(_) => return status_page(StatusCode::NOT_FOUND),
    };
    if start > 0 && file.seek(SeekFrom::Start(start)).await.is_err() {
        return status_page(StatusCode::INTERNAL_SERVER_ERROR);
    }
    with_headers(status, headers, OutBody::File(FileBody::new(file, count)))
}

fn etag(mtime: SystemTime, len: u64) -> String {
    let d = mtime
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    format!("\"{:x}-{:x}-{len:x}\"", d.as_secs(), d.subsec_nanos())
}

/// RFC 9110 §13.1.2/§13.1.3: If-None-Match (weak comparison) wins over If-Modified-Since.
fn not_modified(req: &HeaderMap, etag: &str, mtime: SystemTime) -> bool {
    if let Some(inm) = req.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        let bare = etag.trim_start_matches("W/");
        return inm
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.trim_start_matches("W/") == bare);
    }
    match req
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| httpdate::parse_http_date(s).ok())
    {
        Some(since) => secs(mtime) <= secs(since),
        None => false,
    }
}

/// If-Range: the range applies only when the validator still matches (strong comparison).
fn if_range_ok(req: &HeaderMap, etag: &str, mtime: SystemTime) -> bool {
    match req.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(v) if v.starts_with('"') => v == etag,
        Some(v) => httpdate::parse_http_date(v).is_ok_and(|d| secs(d) == secs(mtime)),
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(Debug, PartialEq, Eq)]
pub enum RangeResult {
    Full,
    /// Inclusive byte positions.
    Partial(u64, u64),
    Unsatisfiable,
}

/// Parses a single `bytes=` range against a length. Multiple ranges and
/// malformed headers are ignored (the full body is sent, as RFC 9110 allows).
pub fn parse_range(h: &str, len: u64) -> RangeResult {
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return RangeResult::Full;
    };
    if spec.contains(',') {
        return RangeResult::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeResult::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let parsed = if a.is_empty() {
        match b.parse::<u64>() {
            Ok(0) => return RangeResult::Unsatisfiable,
            Ok(n) => Some((len.saturating_sub(n), len.saturating_sub(1))),
            Err(_) => None,
        }
    } else {
        match (a.parse::<u64>(), b.is_empty()) {
            (Ok(s), true) => Some((s, len.saturating_sub(1))),
            (Ok(s), false) => match b.parse::<u64>() {
                Ok(e) if e >= s => Some((s, e.min(len.saturating_sub(1)))),
                _ => None,
            },
            _ => None,
        }
    };
    match parsed {
        None => RangeResult::Full,
        Some((s, _)) if len == 0 || s >= len => RangeResult::Unsatisfiable,
        Some((s, e)) => RangeResult::Partial(s, e),
    }
}

/// Content type by file extension; unknown types are `application/octet-stream`.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "map" => "application/json",
        "txt" | "md" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "csv" => "text/csv; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        _ => "application/octet-stream",
    }
}

fn with_headers(status: StatusCode, headers: HeaderMap, body: OutBody) -> Response<OutBody> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeResult::Partial(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), RangeResult::Partial(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), RangeResult::Partial(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), RangeResult::Partial(0, 99));
        assert_eq!(
            parse_range("bytes=50-1000", 100),
            RangeResult::Partial(50, 99)
        );
        assert_eq!(parse_range("bytes=100-", 100), RangeResult::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), RangeResult::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeResult::Full);
        assert_eq!(parse_range("bytes=9-1", 100), RangeResult::Full);
        assert_eq!(parse_range("items=0-1", 100), RangeResult::Full);
        assert_eq!(parse_range("bytes=x-1", 100), RangeResult::Full);
    }

    #[test]
    fn paths_never_climb() {
        let root = Path::new("/srv/site");
        assert_eq!(
            map_path(root, "/a/b.txt"),
            Some(PathBuf::from("/srv/site/a/b.txt"))
        );
        assert_eq!(
            map_path(root, "/a/./b%20c"),
            Some(PathBuf::from("/srv/site/a/b c"))
        );
        for bad in [
            "/../etc/passwd",
            "/a/%2e%2e/%2e%2e/etc",
            "/a/%2E%2E/x",
            "/x%00y",
            "/a\\..\\b",
            "/%ff",
        ] {
            assert_eq!(map_path(root, bad), None, "{bad}");
        }
    }

    #[test]
    fn types() {
        assert_eq!(
            content_type(Path::new("a/INDEX.HTML")),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            content_type(Path::new("x.unknown")),
            "application/octet-stream"
        );
    }
}
