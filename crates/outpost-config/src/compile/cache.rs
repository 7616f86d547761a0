//! `[cache]` and `[routes.cache]`: the size of the process-wide store and
//! each route's cache behaviour, compiled into `outpost_cache::CacheConfig`
//! and `outpost_cache::RouteSettings`, every value checked with its path
//! (`routes[2].cache.ttl.200`). The cache crate's own bounds
//! (`RouteSettings::validate`) are applied here too, so a config that
//! compiles never fails later in the data path.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, StatusCode};
use outpost_cache::policy::is_sf_token;
use outpost_cache::store::MAX_SHARDS;
use outpost_cache::{CacheConfig, DefaultTtls, KeySettings, QueryMode, RouteSettings};

use super::Ctx;
use crate::model::RouteCache;
use crate::raw::{RawCache, RawCacheKey, RawDuration, RawRouteCache};

/// Smallest store accepted: 1 MiB.
const MIN_STORE_BYTES: u64 = 1 << 20;
/// Longest `coalesce_wait` accepted: 60 s.
const MAX_COALESCE_WAIT: Duration = Duration::from_secs(60);
/// Most fills in flight accepted for `max_fills`: 1,000,000.
const MAX_FILLS: usize = 1_000_000;
/// Longest cookie name accepted in a key or bypass list: 256 bytes.
const MAX_COOKIE_NAME: usize = 256;

/// Compiles `[cache]` (all keys optional; the defaults are
/// `CacheConfig::default()`'s).
pub(super) fn cache_config(cx: &mut Ctx<'_>, raw: &RawCache) -> CacheConfig {
    let d = CacheConfig::default();
    let c = CacheConfig {
        capacity_bytes: cx.size("cache.max_bytes", raw.max_bytes.as_ref(), d.capacity_bytes),
        shards: raw.shards.unwrap_or(d.shards),
        max_object_bytes: cx.size(
            "cache.max_object_bytes",
            raw.max_object_bytes.as_ref(),
            d.max_object_bytes,
        ),
        max_fills: raw.max_fills.unwrap_or(d.max_fills),
        max_fill_bytes: cx.size(
            "cache.max_fill_bytes",
            raw.max_fill_bytes.as_ref(),
            d.max_fill_bytes,
        ),
        name: raw.name.clone().unwrap_or(d.name),
    };
    if c.capacity_bytes < MIN_STORE_BYTES {
        cx.err("cache.max_bytes", "must be at least 1MiB");
    }
    if c.max_object_bytes == 0 {
        cx.err("cache.max_object_bytes", "must be at least 1 byte");
    } else if c.max_object_bytes > c.capacity_bytes {
        cx.err("cache.max_object_bytes", "must be at most cache.max_bytes");
    }
    if !(1..=MAX_SHARDS).contains(&c.shards) {
        cx.err(
            "cache.shards",
            format!("must be between 1 and {MAX_SHARDS}"),
        );
    }
    if !(1..=MAX_FILLS).contains(&c.max_fills) {
        cx.err(
            "cache.max_fills",
            format!("must be between 1 and {MAX_FILLS}"),
        );
    }
    if c.max_fill_bytes < c.max_object_bytes {
        cx.err(
            "cache.max_fill_bytes",
            "must be at least cache.max_object_bytes (a fill buffers one whole object)",
        );
    }
    if !is_sf_token(&c.name) {
        cx.err(
            "cache.name",
            format!(
                "invalid name {:?}: a structured-field token (a letter, then letters, digits or !#$%&'*+-.^_`|~:/)",
                c.name
            ),
        );
    }
    c
}

/// Compiles one route's `[routes.cache]` table at path `p`
/// (`routes[2].cache`). Everything is checked even when `enabled = false`,
/// which compiles to `None` (the route is not cached).
pub(super) fn route_cache(
    cx: &mut Ctx<'_>,
    p: &str,
    raw: &RawRouteCache,
    global: &CacheConfig,
) -> Option<RouteCache> {
    let d = RouteSettings::default();
    let key = key_settings(cx, &format!("{p}.key"), raw.key.as_ref());
    let default_ttl = ttls(cx, &format!("{p}.ttl"), &raw.ttl);
    let ttl_override = raw
        .ttl_override
        .as_ref()
        .map(|t| cx.duration(&format!("{p}.ttl_override"), Some(t), Duration::ZERO));
    let max_object_bytes = cx.size(
        &format!("{p}.max_object_bytes"),
        raw.max_object_bytes.as_ref(),
        global.max_object_bytes,
    );
    if max_object_bytes > global.max_object_bytes {
        cx.err(
            format!("{p}.max_object_bytes"),
            format!(
                "must be at most cache.max_object_bytes ({} bytes)",
                global.max_object_bytes
            ),
        );
    }
    let tag_header = match &raw.tag_header {
        None => d.tag_header.clone(),
        Some(h) => header_name(cx, &format!("{p}.tag_header"), h).unwrap_or(d.tag_header),
    };
    let coalesce_wait = cx.duration(
        &format!("{p}.coalesce_wait"),
        raw.coalesce_wait.as_ref(),
        d.coalesce_wait,
    );
    if coalesce_wait > MAX_COALESCE_WAIT {
        cx.err(format!("{p}.coalesce_wait"), "must be at most 60s");
    }
    let settings = RouteSettings {
        enabled: true,
        key,
        default_ttl,
        ttl_override,
        ignore_origin_directives: raw
            .ignore_origin_directives
            .unwrap_or(d.ignore_origin_directives),
        max_object_bytes,
        bypass_cookies: cookie_names(cx, &format!("{p}.bypass_cookies"), &raw.bypass_cookies),
        bypass_headers: header_names(cx, &format!("{p}.bypass_headers"), &raw.bypass_headers),
        cache_set_cookie: raw.cache_set_cookie.unwrap_or(d.cache_set_cookie),
        tag_header,
        heuristic_max: cx.duration(
            &format!("{p}.heuristic_max"),
            raw.heuristic_max.as_ref(),
            d.heuristic_max,
        ),
        coalesce_wait,
    };
    if let Err(errors) = settings.validate() {
        for e in errors {
            // The crate names the shared bypass bound `bypass`; the file has
            // two keys for it.
            let field = if e.path == "bypass" {
                "bypass_cookies"
            } else {
                e.path.as_str()
            };
            cx.err(format!("{p}.{field}"), e.message);
        }
    }
    (raw.enabled != Some(false)).then(|| RouteCache {
        settings: Arc::new(settings),
        strip_tag_header: raw.strip_tag_header.unwrap_or(true),
    })
}

fn key_settings(cx: &mut Ctx<'_>, p: &str, raw: Option<&RawCacheKey>) -> KeySettings {
    let d = KeySettings::default();
    let Some(raw) = raw else { return d };
    KeySettings {
        scheme: raw.scheme.unwrap_or(d.scheme),
        host: raw.host.unwrap_or(d.host),
        query: query_mode(cx, &format!("{p}.query"), raw.query.as_ref()),
        headers: header_names(cx, &format!("{p}.headers"), &raw.headers),
        cookies: cookie_names(cx, &format!("{p}.cookies"), &raw.cookies),
    }
}

fn query_mode(cx: &mut Ctx<'_>, p: &str, raw: Option<&toml::Value>) -> QueryMode {
    const EXPECTED: &str =
        "expected \"all\", \"none\", \"sorted\" or an array of parameter names (an allow-list)";
    match raw {
        None => QueryMode::All,
        Some(toml::Value::String(s)) => match s.as_str() {
            "all" => QueryMode::All,
            "none" => QueryMode::None,
            "sorted" => QueryMode::Sorted,
            other => {
                cx.err(p, format!("unknown query mode {other:?}; {EXPECTED}"));
                QueryMode::All
            }
        },
        Some(toml::Value::Array(items)) => {
            let mut names = Vec::new();
            for (i, v) in items.iter().enumerate() {
                match v.as_str() {
                    Some(n) if !n.is_empty() && !n.contains(['&', '=']) => names.push(n.to_owned()),
                    _ => cx.err(
                        format!("{p}[{i}]"),
                        "expected a non-empty parameter name without '&' or '='",
                    ),
                }
            }
            QueryMode::AllowList(names)
        }
        Some(_) => {
            cx.err(p, EXPECTED);
            QueryMode::All
        }
    }
}

/// `ttl = { 200 = "5m", 404 = "30s" }`: statuses the cache may store
/// (200..=599 except 206 and 304, which are never stored as objects).
fn ttls(cx: &mut Ctx<'_>, p: &str, raw: &BTreeMap<String, RawDuration>) -> DefaultTtls {
    let mut out = DefaultTtls::default();
    for (code, d) in raw {
        let path = format!("{p}.{code}");
        let status = code
            .parse::<u16>()
            .ok()
            .filter(|c| (200..=599).contains(c) && *c != 206 && *c != 304)
            .and_then(|c| StatusCode::from_u16(c).ok());
        let ttl = cx.duration(&path, Some(d), Duration::ZERO);
        match status {
            Some(s) => {
                out.set(s, ttl);
            }
            None => cx.err(
                path,
                format!(
                    "invalid status {code:?}: expected a status code from 200 to 599 (206 and 304 are never stored)"
                ),
            ),
        }
    }
    out
}

fn header_name(cx: &mut Ctx<'_>, p: &str, name: &str) -> Option<HeaderName> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| cx.err(p, format!("invalid header name {name:?}")))
        .ok()
}

fn header_names(cx: &mut Ctx<'_>, p: &str, names: &[String]) -> Vec<HeaderName> {
    names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| header_name(cx, &format!("{p}[{i}]"), n))
        .collect()
}

/// Cookie names are RFC 6265 tokens: no separators, no whitespace.
fn cookie_names(cx: &mut Ctx<'_>, p: &str, names: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let ok = !n.is_empty()
            && n.len() <= MAX_COOKIE_NAME
            && n.bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
        if ok {
            out.push(n.clone());
        } else {
            cx.err(format!("{p}[{i}]"), format!("invalid cookie name {n:?}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::load_str;

    const BASE: &str = "[[listeners]]\nname = \"l\"\naddress = \"127.0.0.1:0\"\n\
        [[pools]]\nname = \"p\"\norigins = [\"127.0.0.1:1\"]\n\
        [[routes]]\nname = \"r\"\npool = \"p\"\n";

    fn errors(extra: &str) -> Vec<String> {
        match load_str(&format!("{BASE}{extra}"), Path::new(".")) {
            Ok(_) => Vec::new(),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_route_table_compiles_to_settings_with_defaults() {
        let c = load_str(
            &format!(
                "{BASE}[routes.cache]\nttl = {{ 200 = \"5m\" }}\n[routes.cache.key]\nquery = [\"v\"]\nheaders = [\"Accept-Language\"]\n"
            ),
            Path::new("."),
        )
        .unwrap();
        let rc = c.routes[0].cache.as_ref().unwrap();
        let s = &rc.settings;
        assert!(rc.strip_tag_header);
        assert_eq!(
            s.default_ttl.get(http::StatusCode::OK),
            Some(std::time::Duration::from_secs(300))
        );
        assert_eq!(
            s.key.query,
            outpost_cache::QueryMode::AllowList(vec!["v".into()])
        );
        assert_eq!(s.key.headers[0].as_str(), "accept-language");
        assert_eq!(s.tag_header.as_str(), "cache-tag");
        assert_eq!(s.max_object_bytes, 8 << 20);
        assert_eq!(c.cache.capacity_bytes, 256 << 20);
    }

    #[test]
    fn disabled_tables_compile_to_no_cache_and_absent_tables_too() {
        let c = load_str(
            &format!("{BASE}[routes.cache]\nenabled = false\n"),
            Path::new("."),
        )
        .unwrap();
        assert!(c.routes[0].cache.is_none());
        let c = load_str(BASE, Path::new(".")).unwrap();
        assert!(c.routes[0].cache.is_none());
    }

    #[test]
    fn every_error_has_its_path() {
        let e = errors(
            "[routes.cache]\nttl = { 200 = \"soon\", 206 = \"1m\", abc = \"1m\" }\n\
             max_object_bytes = \"16MiB\"\ntag_header = \"bad header\"\ncoalesce_wait = \"2m\"\n\
             bypass_cookies = [\"a;b\"]\n[routes.cache.key]\nquery = \"some\"\n\
             [cache]\nmax_bytes = \"1KiB\"\nname = \"1x\"\n",
        );
        assert_eq!(
            e,
            [
                "cache.max_bytes: must be at least 1MiB",
                "cache.max_object_bytes: must be at most cache.max_bytes",
                "cache.name: invalid name \"1x\": a structured-field token (a letter, then letters, digits or !#$%&'*+-.^_`|~:/)",
                "routes[0].cache.key.query: unknown query mode \"some\"; expected \"all\", \"none\", \"sorted\" or an array of parameter names (an allow-list)",
                "routes[0].cache.ttl.200: invalid duration \"soon\": expected a number and a unit like \"30s\" or \"250ms\"",
                "routes[0].cache.ttl.206: invalid status \"206\": expected a status code from 200 to 599 (206 and 304 are never stored)",
                "routes[0].cache.ttl.abc: invalid status \"abc\": expected a status code from 200 to 599 (206 and 304 are never stored)",
                "routes[0].cache.max_object_bytes: must be at most cache.max_object_bytes (8388608 bytes)",
                "routes[0].cache.tag_header: invalid header name \"bad header\"",
                "routes[0].cache.coalesce_wait: must be at most 60s",
                "routes[0].cache.bypass_cookies[0]: invalid cookie name \"a;b\"",
            ]
        );
    }

    #[test]
    fn the_crate_bounds_apply() {
        let headers: Vec<String> = (0..17).map(|i| format!("\"x-h{i}\"")).collect();
        let e = errors(&format!(
            "[routes.cache.key]\nheaders = [{}]\n",
            headers.join(", ")
        ));
        assert_eq!(e, ["routes[0].cache.key.headers: at most 16 headers"]);
    }

    #[test]
    fn only_pool_routes_cache() {
        let e =
            errors("[[routes]]\nname = \"fixed\"\nrespond = { status = 200 }\n[routes.cache]\n");
        assert_eq!(
            e,
            [
                "routes[1].cache: caching is only available on pool routes; static and respond routes are answered locally"
            ]
        );
    }
}
