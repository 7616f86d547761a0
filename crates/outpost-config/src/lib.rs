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
