//! Configuration errors. Every error carries the path of the offending value
//! (`routes[2].pool`) so `outpost check` can list them all at once.

use std::fmt;
use std::path::Path;

/// One problem in a configuration, located by its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path with indices, e.g. `listeners[0].tls.certificates[1].key`; empty for the whole file.
    pub path: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read config file: {0}")]
    Io(#[from] std::io::Error),
    #[error("config has {} error(s)", .0.len())]
    Invalid(Vec<ConfigError>),
}

impl LoadError {
    /// The errors as the CLI prints them: one per line, prefixed with the file.
    pub fn render(&self, file: &Path) -> String {
        match self {
            LoadError::Io(e) => format!("{}: cannot read config file: {e}\n", file.display()),
            LoadError::Invalid(errors) => {
                let mut out = String::new();
                for e in errors {
                    out.push_str(&format!("{}: {e}\n", file.display()));
                }
                out.push_str(&format!(
                    "{}: {} error(s); config rejected\n",
                    file.display(),
                    errors.len()
                ));
                out
            }
        }
    }

    /// The individual errors (an I/O error counts as one with an empty path).
    pub fn errors(&self) -> Vec<ConfigError> {
        match self {
            LoadError::Io(e) => vec![ConfigError::new(
                "",
                format!("cannot read config file: {e}"),
            )],
            LoadError::Invalid(errors) => errors.clone(),
        }
    }
}
