//! Compiles a parsed TOML table into a typed `Config`, collecting every error.
//!
//! Each section (and each element of an array section) is deserialized on its
//! own so that one bad listener does not hide a bad route; then cross-references
//! (route -> pool), uniqueness and files (certificates, static roots) are checked.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::de::DeserializeOwned;

use crate::error::ConfigError;
use crate::model::*;
use crate::raw::*;
use crate::units;

mod cache;
mod pools;
mod routes;
mod rules;

/// Most bytes a regex in a route may compile to, to bound memory. 1 MiB.
pub(super) const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Most listeners, pools, routes or origins per pool accepted in one config.
const MAX_ITEMS: usize = 10_000;

const SECTIONS: &[&str] = &[
    "server",
    "limits",
    "timeouts",
    "listeners",
    "pools",
    "routes",
    "lists",
    "security",
    "rules",
    "access_log",
    "admin",
    "cache",
];

pub(super) struct Ctx<'a> {
    base: &'a Path,
    errors: Vec<ConfigError>,
}

impl Ctx<'_> {
    pub(super) fn err(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        self.errors.push(ConfigError::new(path, msg));
    }

    pub(super) fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// Deserializes `value` as `T`, recording an error located at `path` (plus
    /// the inner path serde reports) on failure.
    fn de<T: DeserializeOwned>(&mut self, path: &str, value: toml::Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let inner = e.path().to_string();
                let full = match (path.is_empty(), inner == ".") {
                    (_, true) => path.to_string(),
                    (true, false) => inner,
                    (false, false) => format!("{path}.{inner}").replace(".[", "["),
                };
                self.err(full, e.into_inner().to_string().trim_end().to_string());
                None
            }
        }
    }

    fn duration(
        &mut self,
        path: &str,
        raw: Option<&RawDuration>,
        default: std::time::Duration,
    ) -> std::time::Duration {
        match raw.map(units::duration) {
            None => default,
            Some(Ok(d)) => d,
            Some(Err(m)) => {
                self.err(path, m);
                default
            }
        }
    }

    fn size(&mut self, path: &str, raw: Option<&RawSize>, default: u64) -> u64 {
        match raw.map(units::size) {
            None => default,
            Some(Ok(d)) => d,
            Some(Err(m)) => {
                self.err(path, m);
                default
            }
        }
    }

    /// Deserializes an array section element by element.
    fn array<T: DeserializeOwned>(
        &mut self,
        name: &str,
        value: Option<toml::Value>,
    ) -> Vec<Option<T>> {
        match value {
            None => Vec::new(),
            Some(toml::Value::Array(items)) => {
                if items.len() > MAX_ITEMS {
                    self.err(name, format!("at most {MAX_ITEMS} entries are allowed"));
                }
                items
                    .into_iter()
                    .take(MAX_ITEMS)
                    .enumerate()
                    .map(|(i, v)| self.de(&format!("{name}[{i}]"), v))
                    .collect()
            }
            Some(_) => {
                self.err(name, format!("expected an array of tables ([[{name}]])"));
                Vec::new()
            }
        }
    }

    fn table<T: DeserializeOwned + Default>(
        &mut self,
        name: &str,
        value: Option<toml::Value>,
    ) -> T {
        value.and_then(|v| self.de(name, v)).unwrap_or_default()
    }
}

pub fn compile(mut table: toml::Table, base: &Path) -> Result<Config, Vec<ConfigError>> {
    let mut cx = Ctx {
        base,
        errors: Vec::new(),
    };
    let unknown: Vec<String> = table
        .keys()
        .filter(|k| !SECTIONS.contains(&k.as_str()))
        .cloned()
        .collect();
    for key in unknown {
        cx.err(
            key,
            format!("unknown section; expected one of: {}", SECTIONS.join(", ")),
        );
    }
    let raw_server: RawServer = cx.table("server", table.remove("server"));
    let raw_limits: RawLimits = cx.table("limits", table.remove("limits"));
    let raw_timeouts: RawTimeouts = cx.table("timeouts", table.remove("timeouts"));
    let raw_listeners: Vec<Option<RawListener>> = cx.array("listeners", table.remove("listeners"));
    let raw_pools: Vec<Option<RawPool>> = cx.array("pools", table.remove("pools"));
    let raw_routes: Vec<Option<RawRoute>> = cx.array("routes", table.remove("routes"));
    let raw_security: RawSecurity = cx.table("security", table.remove("security"));
    let raw_rules: Vec<Option<RawRule>> = cx.array("rules", table.remove("rules"));
    let raw_log: RawAccessLog = cx.table("access_log", table.remove("access_log"));
    let raw_admin: RawAdmin = cx.table("admin", table.remove("admin"));
    let raw_cache: RawCache = cx.table("cache", table.remove("cache"));

    let server = server(&mut cx, &raw_server);
    let limits = limits(&mut cx, &raw_limits);
    let timeouts = timeouts(&mut cx, &raw_timeouts);
    let listeners = listeners(&mut cx, &raw_listeners);
    let pools = pools::pools(&mut cx, &raw_pools, &timeouts);
    let cache = cache::cache_config(&mut cx, &raw_cache);
    let routes = routes::routes(&mut cx, &raw_routes, &raw_pools, &raw_listeners, &cache);
    let lists = rules::lists(&mut cx, table.remove("lists"));
    let rules = rules::rules(&mut cx, &raw_rules, &lists);
    let security = rules::security(&mut cx, &raw_security, &lists);
    let access_log = access_log(&mut cx, &raw_log);
    let admin = admin(&mut cx, &raw_admin);

    if raw_listeners.is_empty() {
        cx.err("listeners", "at least one [[listeners]] entry is required");
    }
    if cx.errors.is_empty() {
        Ok(Config {
            server,
            limits,
            timeouts,
            listeners,
            pools,
            routes,
            lists,
            security,
            rules,
            access_log,
            admin,
            cache,
        })
    } else {
        Err(cx.errors)
    }
}

fn server(cx: &mut Ctx<'_>, raw: &RawServer) -> Server {
    let d = Server::default();
    let workers = raw.workers.unwrap_or(d.workers);
    if workers > 1024 {
        cx.err(
            "server.workers",
            "must be at most 1024 (0 means one per core)",
        );
    }
    Server {
        workers,
        shutdown_timeout: cx.duration(
            "server.shutdown_timeout",
            raw.shutdown_timeout.as_ref(),
            d.shutdown_timeout,
        ),
        watch_config: raw.watch_config.unwrap_or(d.watch_config),
    }
}

fn limits(cx: &mut Ctx<'_>, raw: &RawLimits) -> Limits {
    let d = Limits::default();
    let header_bytes = cx.size(
        "limits.max_header_bytes",
        raw.max_header_bytes.as_ref(),
        d.max_header_bytes as u64,
    );
    let uri_bytes = cx.size(
        "limits.max_uri_bytes",
        raw.max_uri_bytes.as_ref(),
        d.max_uri_bytes as u64,
    );
    let l = Limits {
        max_connections: raw.max_connections.unwrap_or(d.max_connections),
        max_connections_per_client: raw
            .max_connections_per_client
            .unwrap_or(d.max_connections_per_client),
        max_header_bytes: header_bytes.min(usize::MAX as u64) as usize,
        max_headers: raw.max_headers.unwrap_or(d.max_headers),
        max_uri_bytes: uri_bytes.min(usize::MAX as u64) as usize,
        max_body_bytes: cx.size(
            "limits.max_body_bytes",
            raw.max_body_bytes.as_ref(),
            d.max_body_bytes,
        ),
        h2_max_concurrent_streams: raw
            .h2_max_concurrent_streams
            .unwrap_or(d.h2_max_concurrent_streams),
    };
    // hyper needs room for at least a small head and refuses buffers under 8 KiB.
    if !(8192..=16 << 20).contains(&l.max_header_bytes) {
        cx.err("limits.max_header_bytes", "must be between 8KiB and 16MiB");
    }
    if !(1..=10_000).contains(&l.max_headers) {
        cx.err("limits.max_headers", "must be between 1 and 10000");
    }
    if !(16..=65_534).contains(&l.max_uri_bytes) {
        cx.err("limits.max_uri_bytes", "must be between 16 and 65534 bytes");
    }
    if l.max_connections == 0 {
        cx.err("limits.max_connections", "must be at least 1");
    }
    if !(1..=10_000).contains(&l.h2_max_concurrent_streams) {
        cx.err(
            "limits.h2_max_concurrent_streams",
            "must be between 1 and 10000",
        );
    }
    l
}

fn timeouts(cx: &mut Ctx<'_>, raw: &RawTimeouts) -> Timeouts {
    let d = Timeouts::default();
    let t = Timeouts {
        header_read: cx.duration(
            "timeouts.header_read",
            raw.header_read.as_ref(),
            d.header_read,
        ),
        idle: cx.duration("timeouts.idle", raw.idle.as_ref(), d.idle),
        connect: cx.duration("timeouts.connect", raw.connect.as_ref(), d.connect),
        upstream_response: cx.duration(
            "timeouts.upstream_response",
            raw.upstream_response.as_ref(),
            d.upstream_response,
        ),
    };
    for (name, v) in [
        ("header_read", t.header_read),
        ("idle", t.idle),
        ("connect", t.connect),
        ("upstream_response", t.upstream_response),
    ] {
        if v.is_zero() {
            cx.err(format!("timeouts.{name}"), "must be greater than zero");
        }
    }
    t
}

fn listeners(cx: &mut Ctx<'_>, raw: &[Option<RawListener>]) -> Vec<Listener> {
    let mut names = HashSet::new();
    let mut addrs = HashSet::new();
    let mut out = Vec::new();
    for (i, l) in raw.iter().enumerate() {
        let Some(l) = l else { continue };
        let p = format!("listeners[{i}]");
        check_name(cx, &format!("{p}.name"), &l.name);
        if !names.insert(l.name.clone()) {
            cx.err(
                format!("{p}.name"),
                format!("duplicate listener name {:?}", l.name),
            );
        }
        let address = match l.address.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                cx.err(format!("{p}.address"), format!("invalid socket address {:?}: expected IP:PORT like \"0.0.0.0:8080\" or \"[::]:443\"", l.address));
                continue;
            }
        };
        if address.port() != 0 && !addrs.insert(address) {
            cx.err(
                format!("{p}.address"),
                format!("address {address} is used by another listener"),
            );
        }
        let tls = l
            .tls
            .as_ref()
            .map(|t| listener_tls(cx, &format!("{p}.tls"), t));
        out.push(Listener {
            name: l.name.clone(),
            address,
            tls: tls.flatten(),
        });
    }
    out
}

fn listener_tls(cx: &mut Ctx<'_>, p: &str, raw: &RawListenerTls) -> Option<ListenerTls> {
    if raw.certificates.is_empty() {
        cx.err(
            format!("{p}.certificates"),
            "a TLS listener needs at least one certificate",
        );
        return None;
    }
    let mut certificates = Vec::new();
    for (i, pair) in raw.certificates.iter().enumerate() {
        let cp = format!("{p}.certificates[{i}]");
        let cert_path = cx.resolve(&pair.cert);
        let key_path = cx.resolve(&pair.key);
        let chain = match CertificateDer::pem_file_iter(&cert_path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        {
            Ok(c) if c.is_empty() => {
                cx.err(
                    format!("{cp}.cert"),
                    format!("{}: no certificate found in PEM file", cert_path.display()),
                );
                None
            }
            Ok(c) => Some(c),
            Err(e) => {
                cx.err(
                    format!("{cp}.cert"),
                    format!("{}: {e}", cert_path.display()),
                );
                None
            }
        };
        let key = match PrivateKeyDer::from_pem_file(&key_path) {
            Ok(k) => Some(k),
            Err(e) => {
                cx.err(format!("{cp}.key"), format!("{}: {e}", key_path.display()));
                None
            }
        };
        if let (Some(chain), Some(key)) = (chain, key) {
            certificates.push(CertKey {
                cert_path,
                key_path,
                chain,
                key,
            });
        }
    }
    (certificates.len() == raw.certificates.len()).then_some(ListenerTls { certificates })
}

fn access_log(cx: &mut Ctx<'_>, raw: &RawAccessLog) -> AccessLog {
    let target = match raw.path.as_deref() {
        None | Some("stdout") | Some("-") => LogTarget::Stdout,
        Some(p) => LogTarget::File(cx.resolve(p)),
    };
    let buffer = raw.buffer.unwrap_or(16_384);
    if !(1..=1 << 20).contains(&buffer) {
        cx.err("access_log.buffer", "must be between 1 and 1048576 records");
    }
    AccessLog {
        enabled: raw.enabled.unwrap_or(true),
        target,
        buffer,
    }
}

fn admin(cx: &mut Ctx<'_>, raw: &RawAdmin) -> Admin {
    let d = Admin::default();
    let address = match raw.address.as_deref().map(str::parse::<SocketAddr>) {
        None => d.address,
        Some(Ok(a)) => a,
        Some(Err(_)) => {
            cx.err(
                "admin.address",
                "invalid socket address: expected IP:PORT like \"127.0.0.1:9901\"",
            );
            d.address
        }
    };
    let token = match (&raw.token, &raw.token_env) {
        (Some(_), Some(_)) => {
            cx.err("admin", "give token or token_env, not both");
            None
        }
        (Some(t), None) => Some(t.clone()),
        (None, Some(var)) => match std::env::var(var) {
            Ok(t) if !t.is_empty() => Some(t),
            _ => {
                cx.err(
                    "admin.token_env",
                    format!("environment variable {var} is not set or empty"),
                );
                None
            }
        },
        (None, None) => None,
    };
    if let Some(t) = &token
        && t.len() < 16
    {
        cx.err("admin.token", "must be at least 16 characters");
    }
    Admin {
        enabled: raw.enabled.unwrap_or(d.enabled),
        address,
        token,
    }
}

pub(super) fn check_name(cx: &mut Ctx<'_>, path: &str, name: &str) {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !ok {
        cx.err(
            path,
            format!("invalid name {name:?}: use 1-64 letters, digits, '-', '_' or '.'"),
        );
    }
}
