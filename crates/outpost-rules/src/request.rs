//! The request as rules see it: a borrowed, read-only view built once per
//! request by the proxy (or by `outpost rules test` from a command line), so
//! evaluating a rule never copies headers or re-parses the URI.

use std::net::IpAddr;

use http::{HeaderMap, HeaderName, HeaderValue, Version};

/// The facts a rule can look at, borrowed from the request being served.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Client address, with IPv4-mapped IPv6 (`::ffff:1.2.3.4`) already unmapped.
    pub client_ip: IpAddr,
    /// Method as sent (`GET`), case preserved.
    pub method: &'a str,
    /// Host without port, lowercased (from the URI authority or the Host header).
    pub host: &'a str,
    /// Path and query as received (`/a%20b?x=1`); never empty.
    pub uri: &'a str,
    /// `uri` up to the `?`.
    pub path: &'a str,
    /// `uri` after the `?`, without it; `None` when there is no `?`.
    pub query: Option<&'a str>,
    pub version: Version,
    pub headers: &'a HeaderMap,
    /// `Some` on TLS connections.
    pub tls: Option<TlsFacts<'a>>,
}

/// What the TLS layer negotiated, for `ssl`, `tls.version` and `tls.sni`.
#[derive(Debug, Clone, Copy)]
pub struct TlsFacts<'a> {
    /// `TLSv1.2` or `TLSv1.3`.
    pub version: &'static str,
    /// The server name the client asked for, if it sent one.
    pub sni: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// Builds the view; splits `uri` into path and query once.
    pub fn new(
        client_ip: IpAddr,
        method: &'a str,
        host: &'a str,
        uri: &'a str,
        version: Version,
        headers: &'a HeaderMap,
        tls: Option<TlsFacts<'a>>,
    ) -> Self {
        let (path, query) = match memchr::memchr(b'?', uri.as_bytes()) {
            Some(i) => (&uri[..i], Some(&uri[i + 1..])),
            None => (uri, None),
        };
        Request {
            client_ip: unmap(client_ip),
            method,
            host,
            uri,
            path,
            query,
            version,
            headers,
            tls,
        }
    }

    /// `HTTP/1.0`, `HTTP/1.1`, `HTTP/2` or `HTTP/3` (the access log's spelling).
    pub fn version_str(&self) -> &'static str {
        match self.version {
            Version::HTTP_09 => "HTTP/0.9",
            Version::HTTP_10 => "HTTP/1.0",
            Version::HTTP_2 => "HTTP/2",
            Version::HTTP_3 => "HTTP/3",
            _ => "HTTP/1.1",
        }
    }
}

/// `::ffff:a.b.c.d` becomes `a.b.c.d`; everything else is unchanged.
pub(crate) fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A request owned in full, for tools and tests: `outpost rules test` builds
/// one from `'GET https://example.com/admin?x=1'`, an IP and `-H` headers.
#[derive(Debug, Clone)]
pub struct OwnedRequest {
    pub client_ip: IpAddr,
    pub method: String,
    pub host: String,
    pub uri: String,
    pub version: Version,
    pub headers: HeaderMap,
    /// `Some((tls version, sni))` for `https://` targets.
    pub tls: Option<(&'static str, Option<String>)>,
}

/// Why a command-line request could not be understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseRequestError {
    #[error("expected 'METHOD URL' or 'URL', e.g. 'GET https://example.com/path?x=1'")]
    Shape,
    #[error("URL must start with http:// or https://")]
    Scheme,
    #[error("URL has no host")]
    NoHost,
    #[error("invalid method {0:?}")]
    Method(String),
    #[error("invalid header {0:?}: expected 'Name: value'")]
    Header(String),
}

impl OwnedRequest {
    /// Parses `[METHOD] URL` plus `Name: value` headers. An `https` URL
    /// stands for a TLS 1.3 connection whose SNI is the URL's host.
    pub fn parse(
        line: &str,
        client_ip: IpAddr,
        headers: &[String],
    ) -> Result<Self, ParseRequestError> {
        let mut words = line.split_whitespace();
        let (method, url) = match (words.next(), words.next(), words.next()) {
            (Some(url), None, None) => ("GET", url),
            (Some(m), Some(url), None) => (m, url),
            _ => return Err(ParseRequestError::Shape),
        };
        http::Method::from_bytes(method.as_bytes())
            .map_err(|_| ParseRequestError::Method(method.to_owned()))?;
        let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(ParseRequestError::Scheme);
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..split];
        let host = strip_port(authority).to_ascii_lowercase();
        if host.is_empty() {
            return Err(ParseRequestError::NoHost);
        }
        let uri = match &rest[split..] {
            "" => "/".to_owned(),
            r if r.starts_with('?') => format!("/{r}"),
            r => r.to_owned(),
        };
        let mut map = HeaderMap::new();
        for h in headers {
            let (name, value) = h
                .split_once(':')
                .ok_or_else(|| ParseRequestError::Header(h.clone()))?;
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| ParseRequestError::Header(h.clone()))?;
            let value = HeaderValue::from_str(value.trim())
                .map_err(|_| ParseRequestError::Header(h.clone()))?;
            map.append(name, value);
        }
        if !map.contains_key(http::header::HOST) {
            let value = HeaderValue::from_str(authority).map_err(|_| ParseRequestError::NoHost)?;
            map.insert(http::header::HOST, value);
        }
        Ok(OwnedRequest {
            client_ip,
            method: method.to_owned(),
            tls: https.then(|| ("TLSv1.3", Some(host.clone()))),
            host,
            uri,
            version: Version::HTTP_11,
            headers: map,
        })
    }

    /// The borrowed view rules evaluate.
    pub fn view(&self) -> Request<'_> {
        let tls = self.tls.as_ref().map(|(version, sni)| TlsFacts {
            version,
            sni: sni.as_deref(),
        });
        Request::new(
            self.client_ip,
            &self.method,
            &self.host,
            &self.uri,
            self.version,
            &self.headers,
            tls,
        )
    }
}

/// `example.com:8080` -> `example.com`; `[::1]:80` -> `::1`.
fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_command_line_request() {
        let ip: IpAddr = "::ffff:1.2.3.4".parse().unwrap();
        let r = OwnedRequest::parse(
            "POST https://Example.com:8443/admin?x=1",
            ip,
            &["X-A: b".into()],
        )
        .unwrap();
        let v = r.view();
        assert_eq!(v.client_ip, "1.2.3.4".parse::<IpAddr>().unwrap());
        assert_eq!(
            (v.method, v.host, v.path, v.query),
            ("POST", "example.com", "/admin", Some("x=1"))
        );
        assert_eq!(v.headers["x-a"], "b");
        assert_eq!(v.tls.unwrap().sni, Some("example.com"));
        let r = OwnedRequest::parse("http://[::1]?q", ip, &[]).unwrap();
        assert_eq!((r.host.as_str(), r.uri.as_str()), ("::1", "/?q"));
        assert!(r.tls.is_none());
        assert_eq!(
            OwnedRequest::parse("GET example.com/", ip, &[]).unwrap_err(),
            ParseRequestError::Scheme
        );
        assert!(matches!(
            OwnedRequest::parse("GET http://a/ x", ip, &[]),
            Err(ParseRequestError::Shape)
        ));
        assert!(matches!(
            OwnedRequest::parse("GET http://a/", ip, &["nocolon".into()]),
            Err(ParseRequestError::Header(_))
        ));
    }
}
