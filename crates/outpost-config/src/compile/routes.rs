//! Compiling `[[routes]]`: host patterns, path matchers, methods, listener
//! restrictions and the route's action (pool, static site, fixed response).

use std::collections::{BTreeMap, HashSet};

use crate::compile::{Ctx, REGEX_SIZE_LIMIT, check_name};
use crate::model::*;
use crate::raw::*;

pub(super) fn routes(
    cx: &mut Ctx<'_>,
    raw: &[Option<RawRoute>],
    raw_pools: &[Option<RawPool>],
    raw_listeners: &[Option<RawListener>],
    cache_config: &outpost_cache::CacheConfig,
) -> Vec<Route> {
    let listener_names: HashSet<&str> = raw_listeners
        .iter()
        .flatten()
        .map(|l| l.name.as_str())
        .collect();
    let mut names = HashSet::new();
    let pool_index: BTreeMap<&str, usize> = raw_pools
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    let mut out = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let Some(r) = r else { continue };
        let p = format!("routes[{i}]");
        check_name(cx, &format!("{p}.name"), &r.name);
        if !names.insert(r.name.clone()) {
            cx.err(
                format!("{p}.name"),
                format!("duplicate route name {:?}", r.name),
            );
        }
        let hosts = r
            .hosts
            .iter()
            .enumerate()
            .filter_map(|(j, h)| {
                host_pattern(h)
                    .map_err(|m| cx.err(format!("{p}.hosts[{j}]"), m))
                    .ok()
            })
            .collect();
        let path = path_match(cx, &p, r);
        let methods = r.methods.as_ref().map(|ms| {
            ms.iter()
                .enumerate()
                .filter_map(|(j, m)| {
                    http::Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                        .map_err(|_| {
                            cx.err(format!("{p}.methods[{j}]"), format!("invalid method {m:?}"))
                        })
                        .ok()
                })
                .collect()
        });
        for (j, l) in r.listeners.iter().flatten().enumerate() {
            if !listener_names.contains(l.as_str()) {
                cx.err(
                    format!("{p}.listeners[{j}]"),
                    format!("no listener named {l:?}"),
                );
            }
        }
        let cache = r
            .cache
            .as_ref()
            .and_then(|c| route_cache(cx, &p, r, c, cache_config));
        if let Some(action) = route_action(cx, &p, r, &pool_index) {
            out.push(Route {
                name: r.name.clone(),
                hosts,
                path,
                methods,
                listeners: r.listeners.clone(),
                action,
                cache,
            });
        }
    }
    out
}

/// Caching sits between the edge logic and an upstream origin; static and
/// fixed responses are produced locally and never cached.
fn route_cache(
    cx: &mut Ctx<'_>,
    p: &str,
    r: &RawRoute,
    raw: &RawRouteCache,
    global: &outpost_cache::CacheConfig,
) -> Option<RouteCache> {
    if r.pool.is_none() {
        cx.err(
            format!("{p}.cache"),
            "caching is only available on pool routes; static and respond routes are answered locally",
        );
        return None;
    }
    super::cache::route_cache(cx, &format!("{p}.cache"), raw, global)
}

fn host_pattern(h: &str) -> Result<HostPattern, String> {
    let lower = h.trim().to_ascii_lowercase();
    let (wild, name) = match lower.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, lower.as_str()),
    };
    let ok = !name.is_empty()
        && name.len() <= 253
        && !name.contains(':')
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !ok {
        return Err(format!(
            "invalid host {h:?}: expected a name like \"example.com\" or \"*.example.com\" (no port)"
        ));
    }
    Ok(if wild {
        HostPattern::Wildcard(format!(".{name}"))
    } else {
        HostPattern::Exact(name.to_string())
    })
}

fn path_match(cx: &mut Ctx<'_>, p: &str, r: &RawRoute) -> PathMatch {
    let given = [
        r.path_exact.is_some(),
        r.path_prefix.is_some(),
        r.path_regex.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        cx.err(p, "give at most one of path_exact, path_prefix, path_regex");
    }
    if let Some(e) = &r.path_exact {
        if !e.starts_with('/') {
            cx.err(format!("{p}.path_exact"), "must start with \"/\"");
        }
        PathMatch::Exact(e.clone())
    } else if let Some(pre) = &r.path_prefix {
        if !pre.starts_with('/') {
            cx.err(format!("{p}.path_prefix"), "must start with \"/\"");
        }
        PathMatch::Prefix(pre.clone())
    } else if let Some(re) = &r.path_regex {
        match regex::RegexBuilder::new(re)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
        {
            Ok(re) => PathMatch::Regex(re),
            Err(e) => {
                cx.err(format!("{p}.path_regex"), format!("invalid regex: {e}"));
                PathMatch::Any
            }
        }
    } else {
        PathMatch::Any
    }
}

fn route_action(
    cx: &mut Ctx<'_>,
    p: &str,
    r: &RawRoute,
    pools: &BTreeMap<&str, usize>,
) -> Option<RouteAction> {
    let count = [
        r.pool.is_some(),
        r.static_files.is_some(),
        r.respond.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if count != 1 {
        cx.err(p, "give exactly one of pool, static, respond");
        return None;
    }
    if let Some(pool) = &r.pool {
        match pools.get(pool.as_str()) {
            Some(i) => Some(RouteAction::Pool(*i)),
            None => {
                cx.err(format!("{p}.pool"), format!("no pool named {pool:?}"));
                None
            }
        }
    } else if let Some(s) = &r.static_files {
        static_site(cx, &format!("{p}.static"), s).map(RouteAction::Static)
    } else {
        r.respond
            .as_ref()
            .and_then(|f| fixed_response(cx, &format!("{p}.respond"), f))
            .map(RouteAction::Respond)
    }
}

fn static_site(cx: &mut Ctx<'_>, p: &str, raw: &RawStatic) -> Option<StaticSite> {
    let root = cx.resolve(&raw.root);
    let root = match std::fs::canonicalize(&root) {
        Ok(r) if r.is_dir() => r,
        Ok(r) => {
            cx.err(
                format!("{p}.root"),
                format!("{} is not a directory", r.display()),
            );
            return None;
        }
        Err(e) => {
            cx.err(format!("{p}.root"), format!("{}: {e}", root.display()));
            return None;
        }
    };
    let index = raw
        .index
        .clone()
        .unwrap_or_else(|| vec!["index.html".to_string()]);
    for (i, f) in index.iter().enumerate() {
        if f.is_empty() || f.contains('/') || f == ".." || f == "." {
            cx.err(format!("{p}.index[{i}]"), "must be a plain file name");
        }
    }
    if let Some(sp) = &raw.strip_prefix
        && !sp.starts_with('/')
    {
        cx.err(format!("{p}.strip_prefix"), "must start with \"/\"");
    }
    Some(StaticSite {
        root,
        index,
        strip_prefix: raw.strip_prefix.clone(),
    })
}

fn fixed_response(cx: &mut Ctx<'_>, p: &str, raw: &RawRespond) -> Option<FixedResponse> {
    let status = match http::StatusCode::from_u16(raw.status.unwrap_or(200)) {
        Ok(s) if s.as_u16() >= 200 => s,
        _ => {
            cx.err(
                format!("{p}.status"),
                "must be a status code from 200 to 999",
            );
            return None;
        }
    };
    let before = cx.errors.len();
    for (k, v) in &raw.headers {
        if http::HeaderName::from_bytes(k.as_bytes()).is_err() {
            cx.err(format!("{p}.headers.{k}"), "invalid header name");
        } else if http::HeaderValue::from_str(v).is_err() {
            cx.err(format!("{p}.headers.{k}"), "invalid header value");
        }
    }
    (cx.errors.len() == before).then(|| FixedResponse {
        status,
        headers: raw.headers.clone(),
        body: raw.body.clone().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            host_pattern("*.Example.com").unwrap(),
            HostPattern::Wildcard(".example.com".into())
        );
        assert_eq!(
            host_pattern("a.b").unwrap(),
            HostPattern::Exact("a.b".into())
        );
        for bad in ["", "*.", "a..b", "a:80", "*"] {
            assert!(host_pattern(bad).is_err(), "{bad}");
        }
    }
}
