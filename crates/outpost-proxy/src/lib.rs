//! Outpost's data path. A request passes named phases (docs/phases.md):
//! accept (`server`), read (hyper with our limits), route (`router`), cache
//! (`cache`, over the `outpost-cache` crate), origin (`static_files`, fixed
//! responses, or `proxy` over `upstream` pools),
//! response (`body`), and log (`observe`, `access_log`, `metrics`). Errors are
//! typed (`error`) and become responses in exactly one place.

mod access_log;
mod admin;
mod body;
mod cache;
mod coalesce;
mod conn_limit;
pub mod error;
mod h1codec;
mod h1pool;
mod headers;
mod idle;
pub mod metrics;
mod observe;
mod pipeline;
mod pool;
mod proxy;
pub mod router;
mod rules;
mod runtime;
mod server;
pub mod static_files;
mod tls;
mod upstream;

pub use runtime::Runtime;
pub use server::{Server, StartError};

/// Checks what only the data path can check (TLS keys usable, pools
/// buildable) without binding anything; used by `outpost check`.
pub fn validate(config: &outpost_config::Config) -> Result<(), Vec<outpost_config::ConfigError>> {
    let mut errors = Vec::new();
    for (i, l) in config.listeners.iter().enumerate() {
        if let Some(t) = &l.tls
            && let Err(e) = tls::server_config(t, &format!("listeners[{i}].tls"))
        {
            errors.extend(e);
        }
    }
    for (i, p) in config.pools.iter().enumerate() {
        if let Some(t) = &p.tls
            && let Err(m) = tls::client_config(t, p.protocol)
        {
            errors.push(outpost_config::ConfigError::new(
                format!("pools[{i}].tls"),
                m,
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Entry points for the fuzz targets in `fuzz/` (stable API not promised).
#[doc(hidden)]
pub mod fuzzing {
    use http::HeaderMap;

    /// Runs a parsed request head through every pure step of the pipeline.
    pub fn request_head(method: &str, path: &str, mut headers: HeaderMap) {
        let host = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(crate::router::normalize_host)
            .unwrap_or_default();
        let Ok(method) = http::Method::from_bytes(method.as_bytes()) else {
            return;
        };
        let routes = vec![outpost_config::Route {
            name: "r".into(),
            hosts: vec![outpost_config::HostPattern::Wildcard(".example.com".into())],
            path: outpost_config::PathMatch::Prefix("/api".into()),
            methods: Some(vec![http::Method::GET]),
            listeners: None,
            action: outpost_config::RouteAction::Respond(outpost_config::FixedResponse {
                status: http::StatusCode::OK,
                headers: Default::default(),
                body: String::new(),
            }),
            cache: None,
        }];
        let router = crate::router::Router::new(&routes);
        let _ = router.find("l", &host, &method, path);
        let _ = crate::static_files::map_path(std::path::Path::new("/srv"), path);
        if let Some(r) = headers
            .get(http::header::RANGE)
            .and_then(|v| v.to_str().ok())
        {
            let _ = crate::static_files::parse_range(r, 1000);
        }
        let upgrade = crate::headers::is_upgrade_request(&headers);
        let _ = crate::headers::request_id(&mut headers);
        crate::headers::strip_hop_by_hop(&mut headers, upgrade);
        crate::headers::add_forwarded(&mut headers, "127.0.0.1", false, &host, "1.1 outpost");
    }

    /// Parses a DNS answer as the stub resolver does.
    pub fn dns_response(data: &[u8]) {
        let id = data.first().map_or(0, |&b| {
            u16::from(b) << 8 | u16::from(data.get(1).copied().unwrap_or(0))
        });
        let _ = crate::pool::dns::parse_response(data, id);
    }

    /// Reads bytes as an origin's HTTP/1.1 response the way `h1pool` does:
    /// the head (first byte: whether the request was HEAD), then a chunked
    /// body when the head says so, fed in pieces of varying size.
    pub fn origin_response(data: &[u8]) {
        use crate::h1codec::{ChunkedDecoder, Decoded, ResponseFraming, parse_response_head};
        let Some((&first, rest)) = data.split_first() else {
            return;
        };
        let piece = usize::from(first >> 1).max(1);
        let mut buf = bytes::BytesMut::new();
        let mut input = rest.chunks(piece);
        let head = loop {
            match parse_response_head(&mut buf, first & 1 == 1) {
                Ok(Some(h)) => break h,
                Ok(None) => match input.next() {
                    Some(p) => buf.extend_from_slice(p),
                    None => return,
                },
                Err(_) => return,
            }
        };
        if head.framing != ResponseFraming::Chunked {
            return;
        }
        let mut dec = ChunkedDecoder::default();
        loop {
            match dec.decode(&mut buf) {
                Ok(Decoded::Data(d)) => assert!(!d.is_empty()),
                Ok(Decoded::NeedMore) => match input.next() {
                    Some(p) => buf.extend_from_slice(p),
                    None => return,
                },
                Ok(Decoded::End) | Err(_) => return,
            }
        }
    }
}
