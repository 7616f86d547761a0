//! Phase 3, route: host + path + method to a route, compiled once per config.
//!
//! Precedence ("most specific wins"), documented in docs/config.md:
//! 1. host tier: exact host, then wildcards (longest suffix first), then routes
//!    without `hosts`; a tier with no matching route falls through to the next;
//! 2. within a tier, by path: exact, then regex (in config order), then prefix
//!    (longest first), then routes without a path;
//! 3. then routes restricted by `methods` before unrestricted ones, then config order.

use std::collections::HashMap;

use http::Method;
use outpost_config::{HostPattern, PathMatch, Route};

pub struct Router {
    exact: HashMap<String, Vec<usize>>,
    /// (suffix with leading dot, candidates), longest suffix first.
    wildcards: Vec<(String, Vec<usize>)>,
    any_host: Vec<usize>,
    routes: Vec<RouteMatcher>,
}

struct RouteMatcher {
    path: PathMatch,
    methods: Option<Vec<Method>>,
    listeners: Option<Vec<String>>,
}

impl Router {
    pub fn new(routes: &[Route]) -> Self {
        let mut exact: HashMap<String, Vec<usize>> = HashMap::new();
        let mut wild: HashMap<String, Vec<usize>> = HashMap::new();
        let mut any_host = Vec::new();
        for (i, r) in routes.iter().enumerate() {
            if r.hosts.is_empty() {
                any_host.push(i);
            }
            for h in &r.hosts {
                match h {
                    HostPattern::Exact(n) => exact.entry(n.clone()).or_default().push(i),
                    HostPattern::Wildcard(s) => wild.entry(s.clone()).or_default().push(i),
                }
            }
        }
        let key = |i: &usize| precedence(&routes[*i], *i);
        for v in exact.values_mut() {
            v.sort_by_key(key);
        }
        let mut wildcards: Vec<(String, Vec<usize>)> = wild.into_iter().collect();
        for (_, v) in &mut wildcards {
            v.sort_by_key(key);
        }
        wildcards.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        any_host.sort_by_key(key);
        let routes = routes
            .iter()
            .map(|r| RouteMatcher {
                path: r.path.clone(),
                methods: r.methods.clone(),
                listeners: r.listeners.clone(),
            })
            .collect();
        Router {
            exact,
            wildcards,
            any_host,
            routes,
        }
    }

    /// The index of the route for a request, or `None` (answered 404).
    /// `host` must already be normalized by `normalize_host`.
    pub fn find(&self, listener: &str, host: &str, method: &Method, path: &str) -> Option<usize> {
        let req = Req {
            listener,
            method,
            path,
        };
        if let Some(c) = self.exact.get(host)
            && let Some(i) = self.first(c, &req)
        {
            return Some(i);
        }
        for (suffix, c) in &self.wildcards {
            if host.len() > suffix.len()
                && host.ends_with(suffix.as_str())
                && let Some(i) = self.first(c, &req)
            {
                return Some(i);
            }
        }
        self.first(&self.any_host, &req)
    }

    fn first(&self, candidates: &[usize], req: &Req<'_>) -> Option<usize> {
        candidates.iter().copied().find(|&i| {
            let r = &self.routes[i];
            let path_ok = match &r.path {
                PathMatch::Any => true,
                PathMatch::Exact(p) => req.path == p,
                PathMatch::Prefix(p) => req.path.starts_with(p.as_str()),
                PathMatch::Regex(re) => re.is_match(req.path),
            };
            path_ok
                && r.methods.as_ref().is_none_or(|ms| ms.contains(req.method))
                && r.listeners
                    .as_ref()
                    .is_none_or(|ls| ls.iter().any(|l| l == req.listener))
        })
    }
}

struct Req<'a> {
    listener: &'a str,
    method: &'a Method,
    path: &'a str,
}

/// Sort key inside one host tier.
fn precedence(r: &Route, index: usize) -> (u8, usize, u8, usize) {
    let (rank, len) = match &r.path {
        PathMatch::Exact(_) => (0, 0),
        PathMatch::Regex(_) => (1, index),
        PathMatch::Prefix(p) => (2, usize::MAX - p.len()),
        PathMatch::Any => (3, 0),
    };
    (rank, len, u8::from(r.methods.is_none()), index)
}

/// Lower-cases a Host value and removes the port and a trailing dot.
/// `[::1]:8080` becomes `[::1]`.
pub fn normalize_host(raw: &str) -> String {
    let without_port = if raw.starts_with('[') {
        raw.find(']').map_or(raw, |i| &raw[..=i])
    } else {
        raw.rsplit_once(':').map_or(raw, |(h, _)| h)
    };
    without_port.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_config::{FixedResponse, RouteAction};

    fn route(name: &str, hosts: &[&str], path: PathMatch, methods: Option<&[&str]>) -> Route {
        Route {
            name: name.into(),
            hosts: hosts
                .iter()
                .map(|h| match h.strip_prefix('*') {
                    Some(s) => HostPattern::Wildcard(s.into()),
                    None => HostPattern::Exact((*h).into()),
                })
                .collect(),
            path,
            methods: methods.map(|m| m.iter().map(|m| m.parse().unwrap()).collect()),
            listeners: None,
            action: RouteAction::Respond(FixedResponse {
                status: http::StatusCode::OK,
                headers: Default::default(),
                body: String::new(),
            }),
            cache: None,
        }
    }

    #[test]
    fn most_specific_wins() {
        let re = |s: &str| PathMatch::Regex(regex::Regex::new(s).unwrap());
        let routes = vec![
            route("any", &[], PathMatch::Any, None),
            route(
                "prefix-short",
                &["a.com"],
                PathMatch::Prefix("/".into()),
                None,
            ),
            route(
                "prefix-long",
                &["a.com"],
                PathMatch::Prefix("/api/".into()),
                None,
            ),
            route("exact", &["a.com"], PathMatch::Exact("/api/x".into()), None),
            route("regex", &["a.com"], re(r"\.php$"), None),
            route("wild", &["*.a.com"], PathMatch::Any, None),
            route("wild-long", &["*.b.a.com"], PathMatch::Any, None),
            route(
                "post-only",
                &["a.com"],
                PathMatch::Prefix("/api/".into()),
                Some(&["POST"]),
            ),
        ];
        let r = Router::new(&routes);
        let get = Method::GET;
        let name =
            |h: &str, m: &Method, p: &str| r.find("l", h, m, p).map(|i| routes[i].name.as_str());
        assert_eq!(name("a.com", &get, "/api/x"), Some("exact"));
        assert_eq!(name("a.com", &get, "/api/y"), Some("prefix-long"));
        assert_eq!(name("a.com", &Method::POST, "/api/y"), Some("post-only"));
        assert_eq!(name("a.com", &get, "/api/y.php"), Some("regex"));
        assert_eq!(name("a.com", &get, "/other"), Some("prefix-short"));
        assert_eq!(name("x.a.com", &get, "/"), Some("wild"));
        assert_eq!(name("x.b.a.com", &get, "/"), Some("wild-long"));
        assert_eq!(name("b.a.com", &get, "/"), Some("wild"));
        assert_eq!(name("other.org", &get, "/"), Some("any"));
    }

    #[test]
    fn falls_through_tiers_and_misses() {
        let routes = vec![route(
            "api",
            &["a.com"],
            PathMatch::Prefix("/api".into()),
            None,
        )];
        let r = Router::new(&routes);
        assert_eq!(r.find("l", "a.com", &Method::GET, "/api"), Some(0));
        assert_eq!(r.find("l", "a.com", &Method::GET, "/"), None);
        assert_eq!(r.find("l", "b.com", &Method::GET, "/api"), None);
    }

    #[test]
    fn host_normalization() {
        assert_eq!(normalize_host("Example.COM:8080"), "example.com");
        assert_eq!(normalize_host("example.com."), "example.com");
        assert_eq!(normalize_host("[::1]:8080"), "[::1]");
        assert_eq!(normalize_host("[::1]"), "[::1]");
    }
}
