//! `[[pools]]`: origins (weighted, names resolved to backends), TLS towards
//! them, and the load-balancing, health, outlier, retry and circuit-breaker
//! settings, each checked with its path.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::{Ctx, check_name};
use crate::model::*;
use crate::raw::*;

/// Largest origin weight.
const MAX_WEIGHT: u32 = 1000;
/// Most DNS servers per pool.
const MAX_RESOLVERS: usize = 8;
/// Most retries per request.
const MAX_RETRIES: u32 = 10;
/// Longest health-check path or body match, in bytes.
const MAX_HEALTH_TEXT: usize = 4096;

pub(super) fn pools(cx: &mut Ctx<'_>, raw: &[Option<RawPool>], t: &Timeouts) -> Vec<Pool> {
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for (i, p) in raw.iter().enumerate() {
        let Some(p) = p else { continue };
        let path = format!("pools[{i}]");
        check_name(cx, &format!("{path}.name"), &p.name);
        if !names.insert(p.name.clone()) {
            cx.err(
                format!("{path}.name"),
                format!("duplicate pool name {:?}", p.name),
            );
        }
        out.push(pool(cx, &path, p, t));
    }
    out
}

fn pool(cx: &mut Ctx<'_>, path: &str, p: &RawPool, t: &Timeouts) -> Pool {
    let origins = origins(cx, path, &p.origins);
    let tls = p
        .tls
        .as_ref()
        .map(|raw| upstream_tls(cx, &format!("{path}.tls"), raw));
    let protocol = protocol(cx, path, p.protocol.as_deref(), tls.is_some());
    let balance = balance(cx, &format!("{path}.balance"), p.balance.as_ref());
    let health = p
        .health
        .as_ref()
        .map(|h| health(cx, &format!("{path}.health"), h));
    let outlier = outlier(cx, &format!("{path}.outlier"), p.outlier.as_ref());
    let retry = retry(cx, &format!("{path}.retry"), p.retry.as_ref());
    let circuit_breaker = circuit_breaker(
        cx,
        &format!("{path}.circuit_breaker"),
        p.circuit_breaker.as_ref(),
    );
    let resolve_interval = cx.duration(
        &format!("{path}.resolve_interval"),
        p.resolve_interval.as_ref(),
        Duration::from_secs(30),
    );
    if resolve_interval < Duration::from_millis(100) {
        cx.err(format!("{path}.resolve_interval"), "must be at least 100ms");
    }
    Pool {
        name: p.name.clone(),
        origins,
        tls,
        protocol,
        max_idle_per_origin: p.max_idle_per_origin.unwrap_or(64),
        idle_timeout: cx.duration(
            &format!("{path}.idle_timeout"),
            p.idle_timeout.as_ref(),
            Duration::from_secs(90),
        ),
        connect_timeout: cx.duration(
            &format!("{path}.connect_timeout"),
            p.connect_timeout.as_ref(),
            t.connect,
        ),
        response_timeout: cx.duration(
            &format!("{path}.response_timeout"),
            p.response_timeout.as_ref(),
            t.upstream_response,
        ),
        balance,
        health,
        outlier,
        retry,
        circuit_breaker,
        resolve_interval,
        resolvers: resolvers(cx, &format!("{path}.resolvers"), p.resolvers.as_deref()),
    }
}

fn origins(cx: &mut Ctx<'_>, path: &str, raw: &[RawOrigin]) -> Vec<Origin> {
    if raw.is_empty() {
        cx.err(
            format!("{path}.origins"),
            "a pool needs at least one origin",
        );
    }
    let mut out = Vec::new();
    for (j, o) in raw.iter().enumerate() {
        let (address, weight) = match o {
            RawOrigin::Address(a) => (a, None),
            RawOrigin::Weighted(w) => (&w.address, w.weight),
        };
        let weight = weight.unwrap_or(1);
        if !(1..=MAX_WEIGHT).contains(&weight) {
            cx.err(
                format!("{path}.origins[{j}].weight"),
                format!("must be between 1 and {MAX_WEIGHT}"),
            );
        }
        match parse_origin(address) {
            Ok((host, port)) => out.push(Origin { host, port, weight }),
            Err(m) => cx.err(format!("{path}.origins[{j}]"), m),
        }
    }
    out
}

fn protocol(cx: &mut Ctx<'_>, path: &str, raw: Option<&str>, tls: bool) -> UpstreamProtocol {
    match raw {
        None | Some("http1") => UpstreamProtocol::Http1,
        Some("http2") => UpstreamProtocol::Http2,
        Some("auto") if tls => UpstreamProtocol::Auto,
        Some("auto") => {
            cx.err(format!("{path}.protocol"), "\"auto\" negotiates with ALPN and needs [pools.tls]; use \"http1\" or \"http2\" on cleartext");
            UpstreamProtocol::Http1
        }
        Some(other) => {
            cx.err(
                format!("{path}.protocol"),
                format!("unknown protocol {other:?}; expected \"http1\", \"http2\" or \"auto\""),
            );
            UpstreamProtocol::Http1
        }
    }
}

fn balance(cx: &mut Ctx<'_>, path: &str, raw: Option<&RawBalance>) -> Balance {
    let default = RawBalance::default();
    let raw = raw.unwrap_or(&default);
    let choices = raw.choices.unwrap_or(2);
    if !(2..=8).contains(&choices) {
        cx.err(format!("{path}.choices"), "must be between 2 and 8");
    }
    let policy = match raw.policy.as_deref().unwrap_or("round_robin") {
        "round_robin" => BalancePolicy::RoundRobin,
        "least_request" => BalancePolicy::LeastRequest {
            choices,
            latency_weighted: raw.latency_weighted.unwrap_or(false),
        },
        "random" => BalancePolicy::Random,
        "maglev" => BalancePolicy::Maglev,
        "ring_hash" => BalancePolicy::RingHash,
        other => {
            cx.err(
                format!("{path}.policy"),
                format!("unknown policy {other:?}; expected one of: round_robin, least_request, random, maglev, ring_hash"),
            );
            BalancePolicy::RoundRobin
        }
    };
    let only_for = |cx: &mut Ctx<'_>, set: bool, key: &str, needs: &str, ok: bool| {
        if set && !ok {
            cx.err(format!("{path}.{key}"), format!("applies only to {needs}"));
        }
    };
    let hashing = policy.is_hashing();
    let least = matches!(policy, BalancePolicy::LeastRequest { .. });
    only_for(
        cx,
        raw.hash_on.is_some(),
        "hash_on",
        "policy = \"maglev\" or \"ring_hash\"",
        hashing,
    );
    only_for(
        cx,
        raw.bounded_load.is_some(),
        "bounded_load",
        "policy = \"maglev\" or \"ring_hash\"",
        hashing,
    );
    only_for(
        cx,
        raw.choices.is_some(),
        "choices",
        "policy = \"least_request\"",
        least,
    );
    only_for(
        cx,
        raw.latency_weighted.is_some(),
        "latency_weighted",
        "policy = \"least_request\"",
        least,
    );
    if let Some(c) = raw.bounded_load
        && !(c > 1.0 && c <= 100.0)
    {
        cx.err(
            format!("{path}.bounded_load"),
            "must be greater than 1.0 (1.25 is typical) and at most 100",
        );
    }
    let panic = raw.panic_threshold.unwrap_or(50);
    if panic > 100 {
        cx.err(format!("{path}.panic_threshold"), "a percentage: 0 to 100");
    }
    Balance {
        policy,
        hash_on: hash_key(cx, &format!("{path}.hash_on"), raw.hash_on.as_deref()),
        bounded_load: raw.bounded_load,
        panic_threshold: f64::from(panic.min(100)) / 100.0,
    }
}

fn hash_key(cx: &mut Ctx<'_>, path: &str, raw: Option<&str>) -> HashKey {
    let Some(raw) = raw else {
        return HashKey::ClientIp;
    };
    let key = match raw.split_once(':') {
        None if raw == "client_ip" => Some(HashKey::ClientIp),
        None if raw == "path" => Some(HashKey::Path),
        Some(("header", n)) if http::HeaderName::from_bytes(n.as_bytes()).is_ok() => {
            Some(HashKey::Header(n.to_ascii_lowercase()))
        }
        Some(("cookie", n)) if valid_token(n) => Some(HashKey::Cookie(n.to_string())),
        Some(("query", n)) if !n.is_empty() && n.len() <= 256 => {
            Some(HashKey::Query(n.to_string()))
        }
        _ => None,
    };
    key.unwrap_or_else(|| {
        cx.err(path, format!("invalid key {raw:?}; expected \"client_ip\", \"path\", \"header:NAME\", \"cookie:NAME\" or \"query:NAME\""));
        HashKey::ClientIp
    })
}

fn valid_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

fn health(cx: &mut Ctx<'_>, path: &str, raw: &RawHealth) -> HealthCheck {
    let interval = cx.duration(
        &format!("{path}.interval"),
        raw.interval.as_ref(),
        Duration::from_secs(5),
    );
    if interval < Duration::from_millis(50) {
        cx.err(format!("{path}.interval"), "must be at least 50ms");
    }
    let timeout = cx.duration(
        &format!("{path}.timeout"),
        raw.timeout.as_ref(),
        Duration::from_secs(2),
    );
    if timeout.is_zero() {
        cx.err(format!("{path}.timeout"), "must be greater than zero");
    }
    let jitter = cx.duration(
        &format!("{path}.jitter"),
        raw.jitter.as_ref(),
        interval / 10,
    );
    let threshold = |cx: &mut Ctx<'_>, key: &str, v: Option<u32>| {
        let v = v.unwrap_or(2);
        if !(1..=100).contains(&v) {
            cx.err(format!("{path}.{key}"), "must be between 1 and 100");
        }
        v.clamp(1, 100)
    };
    let healthy_threshold = threshold(cx, "healthy_threshold", raw.healthy_threshold);
    let unhealthy_threshold = threshold(cx, "unhealthy_threshold", raw.unhealthy_threshold);
    HealthCheck {
        kind: health_kind(cx, path, raw),
        interval,
        timeout,
        jitter,
        healthy_threshold,
        unhealthy_threshold,
    }
}

fn health_kind(cx: &mut Ctx<'_>, path: &str, raw: &RawHealth) -> HealthKind {
    let http_only = [
        ("method", raw.method.is_some()),
        ("path", raw.path.is_some()),
        ("host", raw.host.is_some()),
        ("expect_status", raw.expect_status.is_some()),
        ("body_contains", raw.body_contains.is_some()),
    ];
    match raw.kind.as_deref().unwrap_or("http") {
        "tcp" => {
            for (key, set) in http_only {
                if set {
                    cx.err(format!("{path}.{key}"), "applies only to type = \"http\"");
                }
            }
            HealthKind::Tcp
        }
        "http" => http_check(cx, path, raw),
        other => {
            cx.err(
                format!("{path}.type"),
                format!("unknown check type {other:?}; expected \"http\" or \"tcp\""),
            );
            HealthKind::Tcp
        }
    }
}

fn http_check(cx: &mut Ctx<'_>, path: &str, raw: &RawHealth) -> HealthKind {
    let method = raw.method.clone().unwrap_or_else(|| "GET".into());
    if http::Method::from_bytes(method.as_bytes()).is_err() {
        cx.err(
            format!("{path}.method"),
            format!("invalid method {method:?}"),
        );
    }
    let check_path = raw.path.clone().unwrap_or_else(|| "/".into());
    if !check_path.starts_with('/')
        || check_path.len() > MAX_HEALTH_TEXT
        || check_path.parse::<http::uri::PathAndQuery>().is_err()
    {
        cx.err(
            format!("{path}.path"),
            "must be an absolute path like \"/healthz\" (query allowed, at most 4096 bytes)",
        );
    }
    if let Some(h) = &raw.host
        && http::HeaderValue::from_str(h).is_err()
    {
        cx.err(format!("{path}.host"), "not a valid Host header value");
    }
    if raw
        .body_contains
        .as_ref()
        .is_some_and(|b| b.is_empty() || b.len() > MAX_HEALTH_TEXT)
    {
        cx.err(format!("{path}.body_contains"), "must be 1 to 4096 bytes");
    }
    let expect = match raw.expect_status.as_deref().map(status_range) {
        None => (200, 399),
        Some(Ok(r)) => r,
        Some(Err(())) => {
            cx.err(
                format!("{path}.expect_status"),
                "expected a status like \"200\" or an inclusive range like \"200-399\" (100..=599)",
            );
            (200, 399)
        }
    };
    HealthKind::Http {
        method,
        path: check_path,
        host: raw.host.clone(),
        expect,
        body_contains: raw.body_contains.clone(),
    }
}

fn status_range(s: &str) -> Result<(u16, u16), ()> {
    let (lo, hi) = s.split_once('-').unwrap_or((s, s));
    let lo: u16 = lo.trim().parse().map_err(|_| ())?;
    let hi: u16 = hi.trim().parse().map_err(|_| ())?;
    if (100..=599).contains(&lo) && (lo..=599).contains(&hi) {
        Ok((lo, hi))
    } else {
        Err(())
    }
}

fn outlier(cx: &mut Ctx<'_>, path: &str, raw: Option<&RawOutlier>) -> Option<Outlier> {
    let default = RawOutlier::default();
    let raw = raw.unwrap_or(&default);
    let base_ejection = cx.duration(
        &format!("{path}.base_ejection"),
        raw.base_ejection.as_ref(),
        Duration::from_secs(10),
    );
    let max_ejection = cx.duration(
        &format!("{path}.max_ejection"),
        raw.max_ejection.as_ref(),
        Duration::from_secs(300),
    );
    if base_ejection.is_zero() || max_ejection < base_ejection {
        cx.err(
            format!("{path}.max_ejection"),
            "base_ejection must be positive and max_ejection at least base_ejection",
        );
    }
    let pct = raw.max_ejected_percent.unwrap_or(50);
    if pct > 100 {
        cx.err(
            format!("{path}.max_ejected_percent"),
            "a percentage: 0 to 100",
        );
    }
    raw.enabled.unwrap_or(true).then_some(Outlier {
        consecutive_5xx: raw.consecutive_5xx.unwrap_or(5),
        consecutive_errors: raw.consecutive_errors.unwrap_or(3),
        base_ejection,
        max_ejection,
        max_ejected_percent: pct.min(100),
    })
}

fn retry(cx: &mut Ctx<'_>, path: &str, raw: Option<&RawRetry>) -> Retry {
    let default = RawRetry::default();
    let raw = raw.unwrap_or(&default);
    let max_retries = raw.max_retries.unwrap_or(2);
    if max_retries > MAX_RETRIES {
        cx.err(
            format!("{path}.max_retries"),
            format!("at most {MAX_RETRIES}"),
        );
    }
    let per_try_timeout = raw.per_try_timeout.as_ref().map(|d| {
        let d = cx.duration(
            &format!("{path}.per_try_timeout"),
            Some(d),
            Duration::from_secs(1),
        );
        if d.is_zero() {
            cx.err(
                format!("{path}.per_try_timeout"),
                "must be greater than zero",
            );
        }
        d
    });
    let budget = raw.budget.unwrap_or(0.2);
    if !(0.0..=1.0).contains(&budget) {
        cx.err(
            format!("{path}.budget"),
            "a share of requests between 0.0 and 1.0 (0.2 = 20%)",
        );
    }
    Retry {
        max_retries: max_retries.min(MAX_RETRIES),
        per_try_timeout,
        budget: budget.clamp(0.0, 1.0),
        budget_min_per_second: raw.budget_min_per_second.unwrap_or(10),
    }
}

fn circuit_breaker(
    cx: &mut Ctx<'_>,
    path: &str,
    raw: Option<&RawCircuitBreaker>,
) -> CircuitBreaker {
    let default = RawCircuitBreaker::default();
    let raw = raw.unwrap_or(&default);
    let mut limit = |key: &str, v: Option<usize>, default: usize, min: usize| {
        let v = v.unwrap_or(default);
        if !(min..=1_000_000).contains(&v) {
            cx.err(
                format!("{path}.{key}"),
                format!("must be between {min} and 1000000"),
            );
        }
        v.clamp(min, 1_000_000)
    };
    CircuitBreaker {
        max_connections: limit("max_connections", raw.max_connections, 1024, 1),
        max_pending: limit("max_pending", raw.max_pending, 1024, 0),
        max_requests: limit("max_requests", raw.max_requests, 10_000, 1),
    }
}

fn resolvers(cx: &mut Ctx<'_>, path: &str, raw: Option<&[String]>) -> Vec<SocketAddr> {
    let raw = raw.unwrap_or_default();
    if raw.len() > MAX_RESOLVERS {
        cx.err(path, format!("at most {MAX_RESOLVERS} servers"));
    }
    raw.iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let parsed = s
                .parse::<SocketAddr>()
                .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)));
            match parsed {
                Ok(a) => Some(a),
                Err(_) => {
                    cx.err(
                        format!("{path}[{i}]"),
                        format!("expected IP or IP:PORT, got {s:?}"),
                    );
                    None
                }
            }
        })
        .take(MAX_RESOLVERS)
        .collect()
}
fn upstream_tls(cx: &mut Ctx<'_>, p: &str, raw: &RawUpstreamTls) -> UpstreamTls {
    let ca = raw.ca.as_ref().and_then(|ca| {
        let path = cx.resolve(ca);
        match CertificateDer::pem_file_iter(&path).and_then(|it| it.collect::<Result<Vec<_>, _>>())
        {
            Ok(c) if !c.is_empty() => Some(c),
            Ok(_) => {
                cx.err(
                    format!("{p}.ca"),
                    format!("{}: no certificate found in PEM file", path.display()),
                );
                None
            }
            Err(e) => {
                cx.err(format!("{p}.ca"), format!("{}: {e}", path.display()));
                None
            }
        }
    });
    if let Some(sni) = &raw.sni
        && rustls_pki_types::ServerName::try_from(sni.as_str()).is_err()
    {
        cx.err(
            format!("{p}.sni"),
            format!("{sni:?} is not a valid server name"),
        );
    }
    UpstreamTls {
        sni: raw.sni.clone(),
        ca,
        verify: raw.verify.unwrap_or(true),
    }
}

/// Parses `host:port` or `[v6]:port` into an origin.
fn parse_origin(s: &str) -> Result<(String, u16), String> {
    let bad = || {
        format!(
            "invalid origin {s:?}: expected HOST:PORT like \"127.0.0.1:8080\", \"[::1]:8080\" or \"api.internal:443\""
        )
    };
    if s.contains("://") || s.contains('/') {
        return Err(format!(
            "{}; give the scheme with [pools.tls], not in the address",
            bad()
        ));
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
        h.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        (h, p)
    } else {
        s.rsplit_once(':').ok_or_else(bad)?
    };
    let port: u16 = port.parse().map_err(|_| bad())?;
    let valid_host = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b':');
    if !valid_host || port == 0 {
        return Err(bad());
    }
    Ok((host.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load_str;
    use std::path::Path;

    const BASE: &str =
        "[[listeners]]\nname = \"l\"\naddress = \"127.0.0.1:0\"\n[[pools]]\nname = \"p\"\n";

    #[test]
    fn balancing_health_retry_and_breaker_settings_compile() {
        let text = format!(
            "{BASE}origins = [\"10.0.0.1:80\", {{ address = \"api.internal:8080\", weight = 3 }}]\n\
             resolvers = [\"127.0.0.1:5353\", \"::1\"]\nresolve_interval = \"2s\"\n\
             [pools.balance]\npolicy = \"maglev\"\nhash_on = \"header:X-User\"\nbounded_load = 1.25\npanic_threshold = 30\n\
             [pools.health]\npath = \"/healthz\"\nexpect_status = \"200-204\"\nbody_contains = \"ok\"\ninterval = \"1s\"\n\
             [pools.outlier]\nconsecutive_5xx = 0\n\
             [pools.retry]\nmax_retries = 1\nper_try_timeout = \"300ms\"\nbudget = 0.1\n\
             [pools.circuit_breaker]\nmax_requests = 7\n"
        );
        let c = load_str(&text, Path::new(".")).unwrap();
        let p = &c.pools[0];
        assert_eq!(p.origins[1].weight, 3);
        assert_eq!(p.origins[1].host, "api.internal");
        assert_eq!(p.resolvers[1], "[::1]:53".parse().unwrap());
        assert_eq!(p.balance.policy, BalancePolicy::Maglev);
        assert_eq!(p.balance.hash_on, HashKey::Header("x-user".into()));
        assert_eq!(p.balance.bounded_load, Some(1.25));
        assert!((p.balance.panic_threshold - 0.3).abs() < 1e-9);
        let h = p.health.as_ref().unwrap();
        assert_eq!(h.interval, Duration::from_secs(1));
        assert_eq!(h.jitter, Duration::from_millis(100));
        assert!(matches!(
            &h.kind,
            HealthKind::Http {
                expect: (200, 204),
                ..
            }
        ));
        assert_eq!(p.outlier.as_ref().unwrap().consecutive_5xx, 0);
        assert_eq!(p.outlier.as_ref().unwrap().consecutive_errors, 3);
        assert_eq!(p.retry.per_try_timeout, Some(Duration::from_millis(300)));
        assert_eq!(p.circuit_breaker.max_requests, 7);
        assert_eq!(p.circuit_breaker.max_connections, 1024);
    }

    #[test]
    fn defaults_are_round_robin_without_active_checks() {
        let c = load_str(
            &format!("{BASE}origins = [\"10.0.0.1:80\"]\n"),
            Path::new("."),
        )
        .unwrap();
        let p = &c.pools[0];
        assert_eq!(p.balance.policy, BalancePolicy::RoundRobin);
        assert!(p.health.is_none());
        assert!(p.outlier.is_some());
        assert_eq!(p.retry.max_retries, 2);
        assert_eq!(p.resolve_interval, Duration::from_secs(30));
    }

    #[test]
    fn every_bad_setting_is_reported_with_its_path() {
        let text = format!(
            "{BASE}origins = [{{ address = \"10.0.0.1:80\", weight = 0 }}]\nresolvers = [\"dns\"]\n\
             [pools.balance]\npolicy = \"fastest\"\nhash_on = \"ip\"\nchoices = 3\n\
             [pools.health]\ntype = \"tcp\"\npath = \"/x\"\ninterval = \"1ms\"\n\
             [pools.retry]\nmax_retries = 11\nbudget = 2.0\n\
             [pools.circuit_breaker]\nmax_requests = 0\n"
        );
        let errors = load_str(&text, Path::new(".")).unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        for want in [
            "pools[0].origins[0].weight",
            "pools[0].resolvers[0]",
            "pools[0].balance.policy",
            "pools[0].balance.hash_on",
            "pools[0].balance.choices",
            "pools[0].health.interval",
            "pools[0].health.path",
            "pools[0].retry.max_retries",
            "pools[0].retry.budget",
            "pools[0].circuit_breaker.max_requests",
        ] {
            assert!(paths.contains(&want), "{want} missing from {paths:?}");
        }
        let maglev_only =
            format!("{BASE}origins = [\"10.0.0.1:80\"]\n[pools.balance]\nbounded_load = 0.5\n");
        let errors = load_str(&maglev_only, Path::new(".")).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].message.contains("applies only to"));
    }

    #[test]
    fn origins() {
        assert_eq!(
            parse_origin("127.0.0.1:80").unwrap(),
            ("127.0.0.1".to_string(), 80)
        );
        assert_eq!(
            parse_origin("[::1]:8080").unwrap(),
            ("::1".to_string(), 8080)
        );
        assert_eq!(parse_origin("API.internal:443").unwrap().0, "api.internal");
        for bad in [
            "localhost",
            "http://x:80",
            "x:0",
            "x:99999",
            ":80",
            "[::1:80",
            "a b:80",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}
