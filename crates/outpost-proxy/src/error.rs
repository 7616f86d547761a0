//! The data path's one error type and the one place errors become responses.
//!
//! Every phase returns `ProxyError { kind, side }`. The status code, whether a
//! retry is safe and the access-log `error` field all derive from the kind; the
//! client never sees internal error text (pingora's error model).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::body::OutBody;

/// Which side of the proxy caused a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client: a bad or oversized request.
    Downstream,
    /// The origin: refused, slow, or broken.
    Upstream,
    /// Outpost itself.
    Internal,
}

/// What went wrong, precisely enough to choose a status and a retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed request the parser accepted but the pipeline cannot use.
    BadRequest,
    /// Request target longer than `limits.max_uri_bytes`.
    UriTooLong,
    /// Request body longer than `limits.max_body_bytes`.
    BodyTooLarge,
    /// The client went away or sent a broken body while we were forwarding it.
    ClientBody,
    /// No route matches host, path and method.
    NoRoute,
    /// TCP connect to the origin failed (refused, unreachable, DNS).
    ConnectFailed,
    /// TCP or TLS connect to the origin took longer than the connect timeout.
    ConnectTimeout,
    /// TLS handshake with the origin failed (certificate, protocol).
    UpstreamTls,
    /// The origin did not send a response head within the response timeout.
    ResponseTimeout,
    /// The origin closed or reset the connection, or sent a malformed response.
    UpstreamProtocol,
    /// No backend of the pool may take the request (none resolved, or all
    /// unavailable with panic mode off).
    NoBackend,
    /// The backend's circuit breaker is full (`max_requests`, or
    /// `max_connections` with `max_pending` already waiting).
    UpstreamOverflow,
    /// A rule's rewrite or header template produced a value that is not a
    /// valid path, query or header value for this request.
    RuleOutput,
    /// A bug or resource failure inside Outpost.
    Internal,
}

/// A failure in one phase of the request pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyError {
    pub kind: ErrorKind,
    pub side: Side,
}

impl ErrorKind {
    /// Every kind on the upstream side (the `kind` label values of
    /// `outpost_upstream_errors_total`).
    pub const UPSTREAM_KINDS: [ErrorKind; 7] = [
        ErrorKind::ConnectFailed,
        ErrorKind::ConnectTimeout,
        ErrorKind::UpstreamTls,
        ErrorKind::ResponseTimeout,
        ErrorKind::UpstreamProtocol,
        ErrorKind::NoBackend,
        ErrorKind::UpstreamOverflow,
    ];

    pub fn side(self) -> Side {
        use ErrorKind::*;
        match self {
            BadRequest | UriTooLong | BodyTooLarge | ClientBody | NoRoute => Side::Downstream,
            ConnectFailed | ConnectTimeout | UpstreamTls | ResponseTimeout | UpstreamProtocol
            | NoBackend | UpstreamOverflow => Side::Upstream,
            RuleOutput | Internal => Side::Internal,
        }
    }

    /// Safe to try another backend with any request: nothing reached the
    /// origin's application. (Idempotent requests may also be retried after a
    /// reset or a per-try timeout; `proxy` decides that.)
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::ConnectFailed | ErrorKind::ConnectTimeout | ErrorKind::UpstreamTls
        )
    }

    pub fn status(self) -> StatusCode {
        use ErrorKind::*;
        match self {
            BadRequest | ClientBody => StatusCode::BAD_REQUEST,
            UriTooLong => StatusCode::URI_TOO_LONG,
            BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            NoRoute => StatusCode::NOT_FOUND,
            ConnectFailed | UpstreamTls | UpstreamProtocol => StatusCode::BAD_GATEWAY,
            ConnectTimeout | ResponseTimeout => StatusCode::GATEWAY_TIMEOUT,
            NoBackend | UpstreamOverflow => StatusCode::SERVICE_UNAVAILABLE,
            RuleOutput | Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable name used in the access log `error` field and metric labels.
    pub fn as_str(self) -> &'static str {
        use ErrorKind::*;
        match self {
            BadRequest => "bad_request",
            UriTooLong => "uri_too_long",
            BodyTooLarge => "body_too_large",
            ClientBody => "client_body",
            NoRoute => "no_route",
            ConnectFailed => "upstream_connect",
            ConnectTimeout => "upstream_connect_timeout",
            UpstreamTls => "upstream_tls",
            ResponseTimeout => "upstream_timeout",
            UpstreamProtocol => "upstream_protocol",
            NoBackend => "no_backend",
            UpstreamOverflow => "upstream_overflow",
            RuleOutput => "rule_output",
            Internal => "internal",
        }
    }
}

impl From<ErrorKind> for ProxyError {
    fn from(kind: ErrorKind) -> Self {
        ProxyError {
            kind,
            side: kind.side(),
        }
    }
}

impl std::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind.as_str())
    }
}

impl std::error::Error for ProxyError {}

/// The only function that turns an error into a client response. The body is a
/// short fixed text per status; internal details stay in logs and metrics.
pub fn error_response(err: ProxyError) -> Response<OutBody> {
    let status = err.kind.status();
    let mut resp = status_page(status);
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if err.side == Side::Downstream && status != StatusCode::NOT_FOUND {
        // The request stream may be in an unknown state; do not reuse the connection.
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// A short plain-text page for a status (`404 Not Found`), used for every
/// answer Outpost writes itself.
pub fn status_page(status: StatusCode) -> Response<OutBody> {
    let text = format!(
        "{} {}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let mut resp = Response::new(OutBody::full(Bytes::from(text)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_come_from_kind() {
        assert_eq!(ErrorKind::ConnectFailed.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            ErrorKind::ResponseTimeout.status(),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            ErrorKind::BodyTooLarge.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert!(ErrorKind::ConnectFailed.retryable());
        assert!(
            ErrorKind::UPSTREAM_KINDS
                .iter()
                .all(|k| k.side() == Side::Upstream)
        );
        assert!(!ErrorKind::ResponseTimeout.retryable());
        let r = error_response(ErrorKind::UriTooLong.into());
        assert_eq!(r.status(), StatusCode::URI_TOO_LONG);
        assert_eq!(r.headers()[header::CONNECTION], "close");
    }
}
