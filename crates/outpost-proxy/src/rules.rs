//! Phases 4 (security) and 5 (edge logic): the config's rules, run against a
//! borrowed view of the request. The decision comes from `outpost-rules`
//! (pure); this module only applies it to hyper's request and response:
//! answering `block` and `redirect`, editing request headers, rewriting the
//! path and query, and setting response headers.

use std::sync::Arc;

use http::header::{CONTENT_TYPE, LOCATION};
use http::uri::PathAndQuery;
use http::{HeaderValue, Request, Response, Uri};
use outpost_rules::engine::{HeaderEdit, RuleSet, Terminal, Verdict};
use outpost_rules::{Request as RuleRequest, TlsFacts};

use crate::body::OutBody;
use crate::error::{ErrorKind, ProxyError};
use crate::pipeline::ConnInfo;

/// Runs every rule phase for `req`. Allocates nothing when no rule matches.
pub fn evaluate<'r, B>(
    rules: &'r RuleSet,
    req: &Request<B>,
    conn: &ConnInfo,
    host: &str,
) -> Verdict<'r> {
    if rules.is_empty() {
        return Verdict::default();
    }
    let tls = conn.tls_version.map(|version| TlsFacts {
        version,
        sni: conn.sni.as_deref(),
    });
    let uri = req.uri().path_and_query().map_or("/", PathAndQuery::as_str);
    let view = RuleRequest::new(
        conn.peer.ip(),
        req.method().as_str(),
        host,
        uri,
        req.version(),
        req.headers(),
        tls,
    );
    rules.evaluate(&view)
}

/// The ids of the matched rules, for the access log.
pub fn hit_ids(rules: &RuleSet, verdict: &Verdict<'_>) -> Vec<Arc<str>> {
    verdict
        .hits
        .iter()
        .map(|h| rules.id(h.rule).clone())
        .collect()
}

/// The response of a terminating rule.
pub fn answer(terminal: &Terminal<'_>) -> Response<OutBody> {
    match terminal {
        Terminal::Block(b) => {
            let mut r = Response::new(OutBody::full(b.body.clone()));
            *r.status_mut() = b.status;
            r.headers_mut().insert(CONTENT_TYPE, b.content_type.clone());
            r
        }
        Terminal::Redirect { status, location } => {
            let mut r = Response::new(OutBody::Empty);
            *r.status_mut() = *status;
            // Built from a validated template and the request's own URI parts;
            // a value hyper would refuse is dropped rather than sent broken.
            if let Ok(v) = HeaderValue::from_str(location) {
                r.headers_mut().insert(LOCATION, v);
            }
            r
        }
    }
}

/// Applies header edits and rewrites to the request sent on.
pub fn apply_to_request<B>(verdict: &Verdict<'_>, req: &mut Request<B>) -> Result<(), ProxyError> {
    for edit in &verdict.request_headers {
        match edit {
            HeaderEdit::Set(name, value) => {
                let v = HeaderValue::from_str(value).map_err(|_| ErrorKind::RuleOutput)?;
                req.headers_mut().insert(*name, v);
            }
            HeaderEdit::Remove(name) => {
                req.headers_mut().remove(*name);
            }
        }
    }
    if verdict.path.is_some() || verdict.query.is_some() {
        let path = verdict.path.as_deref().unwrap_or(req.uri().path());
        let query = match &verdict.query {
            Some(q) => q.as_deref(),
            None => req.uri().query(),
        };
        let pq = match query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = Some(PathAndQuery::try_from(pq).map_err(|_| ErrorKind::RuleOutput)?);
        *req.uri_mut() = Uri::from_parts(parts).map_err(|_| ErrorKind::RuleOutput)?;
    }
    Ok(())
}

/// Sets the response headers rules asked for.
pub fn apply_to_response(verdict: &Verdict<'_>, resp: &mut Response<OutBody>) {
    for (name, value) in &verdict.response_headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            resp.headers_mut().insert(*name, v);
        }
    }
}
