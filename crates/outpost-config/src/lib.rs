//! Outpost's configuration: the TOML schema (`raw`), its compilation into typed
//! values (`compile`), and the typed model the runtime uses (`model`).
//!
//! Loading never stops at the first problem: every error is collected with its
//! path, so an operator fixes a file in one pass. See `docs/config.md`.

mod compile;
mod error;
mod model;
mod raw;
mod units;

use std::path::Path;

pub use error::{ConfigError, LoadError};
pub use model::*;

/// Reads and compiles the config file at `path`. Relative paths inside the file
/// (certificates, static roots, log files) resolve against the file's directory.
pub fn load_file(path: &Path) -> Result<Config, LoadError> {
    let text = std::fs::read_to_string(path)?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    load_str(&text, base).map_err(LoadError::Invalid)
}

/// Compiles config text; relative paths resolve against `base_dir`.
pub fn load_str(text: &str, base_dir: &Path) -> Result<Config, Vec<ConfigError>> {
    let table: toml::Table = toml::from_str(text).map_err(|e| vec![syntax_error(&e, text)])?;
    compile::compile(table, base_dir)
}

fn syntax_error(e: &toml::de::Error, text: &str) -> ConfigError {
    let message = e.message().to_string();
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            ConfigError::new(
                "",
                format!("TOML syntax error at line {line}, column {col}: {message}"),
            )
        }
        None => ConfigError::new("", format!("TOML syntax error: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MINIMAL: &str = "[[listeners]]\nname = \"l\"\naddress = \"127.0.0.1:0\"\n";

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let c = load_str(MINIMAL, Path::new(".")).unwrap();
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.limits.max_header_bytes, 64 * 1024);
        assert_eq!(c.limits.max_body_bytes, 1 << 30);
        assert_eq!(c.timeouts.idle, Duration::from_secs(60));
        assert_eq!(c.server.shutdown_timeout, Duration::from_secs(30));
        assert!(c.access_log.enabled);
        assert_eq!(c.access_log.target, LogTarget::Stdout);
        assert_eq!(c.admin.address.to_string(), "127.0.0.1:9901");
    }

    #[test]
    fn pools_inherit_global_timeouts_and_paths_resolve_against_the_file() {
        let text = format!(
            "{MINIMAL}[timeouts]\nconnect = \"2s\"\n[[pools]]\nname = \"p\"\norigins = [\"[::1]:80\"]\nresponse_timeout = \"250ms\"\n\
             [access_log]\npath = \"logs/a.log\"\n"
        );
        let c = load_str(&text, Path::new("/etc/outpost")).unwrap();
        assert_eq!(c.pools[0].connect_timeout, Duration::from_secs(2));
        assert_eq!(c.pools[0].response_timeout, Duration::from_millis(250));
        assert_eq!(
            c.access_log.target,
            LogTarget::File("/etc/outpost/logs/a.log".into())
        );
    }

    #[test]
    fn errors_are_collected_not_first_only() {
        let text = "[[listeners]]\nname = \"a b\"\naddress = \"x\"\n[[routes]]\nname = \"r\"\npool = \"none\"\n[limits]\nmax_headers = 0\n";
        let errors = load_str(text, Path::new(".")).unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "limits.max_headers",
                "listeners[0].name",
                "listeners[0].address",
                "routes[0].pool"
            ]
        );
    }

    #[test]
    fn no_listener_is_an_error() {
        let errors = load_str("", Path::new(".")).unwrap_err();
        assert_eq!(
            errors[0].to_string(),
            "listeners: at least one [[listeners]] entry is required"
        );
    }
}
