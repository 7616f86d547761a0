//! A config compiled into everything the data path needs: router, route
//! handles, upstream pools, TLS server configs and the access logger. A new
//! `Runtime` is built for every accepted config and swapped in atomically;
//! requests keep the `Arc<Runtime>` they started with. Pools and the access
//! logger are carried over from the previous runtime when their config is
//! unchanged, so keep-alive connections and the log file survive reloads; a
//! changed pool keeps the health state of its unchanged backends.

use std::collections::HashMap;
use std::sync::Arc;

use outpost_cache::Cache;
use outpost_config::{Config, ConfigError, RouteAction, RouteCache};
use prometheus_client::metrics::counter::Counter;
use rustls::ServerConfig;

use crate::access_log::AccessLogger;
use crate::metrics::{Metrics, NO_ROUTE, RouteMetrics};
use crate::pool::UpstreamPool;
use crate::router::Router;

pub struct Runtime {
    /// 1 for the first config, +1 per accepted reload.
    pub generation: u64,
    pub config: Config,
    pub router: Router,
    pub routes: Vec<RouteRuntime>,
    pub pools: Vec<Arc<UpstreamPool>>,
    /// TLS server configs by listener name.
    pub tls: HashMap<String, Arc<ServerConfig>>,
    pub logger: Option<AccessLogger>,
    pub no_route: Arc<RouteMetrics>,
    /// Hit counters by global rule index.
    pub rule_hits: Vec<Counter>,
    pub metrics: Arc<Metrics>,
    /// The process's one cache (shared by every runtime; see `Shared`).
    pub cache: Cache,
}

pub struct RouteRuntime {
    pub name: Arc<str>,
    pub action: RouteAction,
    pub metrics: Arc<RouteMetrics>,
    /// `Some` when the route caches (pool routes only).
    pub cache: Option<RouteCache>,
}

/// How long starting or reloading waits for origin names to resolve before
/// serving anyway (requests to an unresolved origin get 503). 5 s.
const RESOLVE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl Runtime {
    /// Waits (bounded) until every pool resolved its origin names once.
    pub async fn wait_resolved(&self) {
        let waits = self.pools.iter().map(|p| p.wait_resolved(RESOLVE_WAIT));
        futures_util::future::join_all(waits).await;
    }

    /// Builds a runtime, reusing `prev`'s pools and logger where unchanged.
    /// Errors are located like config errors (`listeners[1].tls...`).
    /// `cache` is the process's store, which outlives every runtime.
    pub fn build(
        config: Config,
        prev: Option<&Runtime>,
        metrics: Arc<Metrics>,
        cache: Cache,
    ) -> Result<Runtime, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut tls = HashMap::new();
        for (i, l) in config.listeners.iter().enumerate() {
            if let Some(t) = &l.tls {
                match crate::tls::server_config(t, &format!("listeners[{i}].tls")) {
                    Ok(sc) => {
                        tls.insert(l.name.clone(), sc);
                    }
                    Err(e) => errors.extend(e),
                }
            }
        }
        let mut pools = Vec::new();
        for (i, p) in config.pools.iter().enumerate() {
            let reused = prev.and_then(|r| r.pools.iter().find(|old| old.config == *p).cloned());
            // A changed pool of the same name hands its backends' health on.
            let same_name = prev.and_then(|r| r.pools.iter().find(|old| old.config.name == p.name));
            let built = match reused {
                Some(pool) => Ok(pool),
                None => UpstreamPool::new(p, same_name.map(|a| a.as_ref()), metrics.clone()),
            };
            match built {
                Ok(pool) => pools.push(pool),
                Err(m) => errors.push(ConfigError::new(format!("pools[{i}]"), m)),
            }
        }
        let logger = if config.access_log.enabled {
            match prev
                .and_then(|r| r.logger.as_ref())
                .filter(|l| l.config == config.access_log)
            {
                Some(l) => Some(l.clone()),
                None => match AccessLogger::start(&config.access_log, metrics.clone()) {
                    Ok(l) => Some(l),
                    Err(e) => {
                        errors.push(ConfigError::new(
                            "access_log.path",
                            format!("cannot open access log: {e}"),
                        ));
                        None
                    }
                },
            }
        } else {
            None
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let routes = config
            .routes
            .iter()
            .map(|r| RouteRuntime {
                name: Arc::from(r.name.as_str()),
                action: r.action.clone(),
                metrics: Arc::new(metrics.route(&r.name)),
                cache: r.cache.clone(),
            })
            .collect();
        let rules = &config.rules;
        let rule_hits = (0..rules.len())
            .map(|i| {
                metrics.rule_hits(rules.id(i), rules.phase(i).as_str(), rules.action(i).name())
            })
            .collect();
        Ok(Runtime {
            generation: prev.map_or(1, |p| p.generation + 1),
            router: Router::new(&config.routes),
            routes,
            pools,
            tls,
            logger,
            no_route: Arc::new(metrics.route(NO_ROUTE)),
            rule_hits,
            metrics,
            cache,
            config,
        })
    }
}
