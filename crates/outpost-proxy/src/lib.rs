//! Outpost's data path. A request passes named phases (docs/phases.md):
//! accept (`server`), read (hyper with our limits), route (`router`), origin
//! (`static_files`, fixed responses, or `proxy` over `upstream` pools),
//! response (`body`), and log (`observe`, `access_log`, `metrics`). Errors are
//! typed (`error`) and become responses in exactly one place.

mod access_log;
mod admin;
mod body;
pub mod error;
mod headers;
mod idle;
pub mod metrics;
mod observe;
mod pipeline;
mod proxy;
pub mod router;
mod runtime;
mod server;
pub mod static_files;
mod tls;
mod upstream;

pub use admin::constant_time_eq;
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
