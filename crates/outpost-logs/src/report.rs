//! Reports: each submodule holds one report's `Analyzer` (per-line logic and merge) and
//! its result type (serialisable for `--json`). Results render to a `Document` of tables,
//! key/value blocks and charts, which `render` turns into aligned text or CSV.

pub mod errors;
pub mod summary;
pub mod threats;
pub mod timeline;
pub mod top;

/// Column alignment in text output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table with a title.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub title: String,
    pub columns: Vec<(String, Align)>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(title: &str, columns: &[(&str, Align)]) -> Table {
        Table {
            title: title.to_string(),
            columns: columns
                .iter()
                .map(|(n, a)| ((*n).to_string(), *a))
                .collect(),
            rows: Vec::new(),
        }
    }
}

/// One block of a rendered report.
#[derive(Debug, Clone)]
pub enum Block {
    Table(Table),
    /// Labelled values, one per line.
    Pairs {
        title: String,
        pairs: Vec<(String, String)>,
    },
    /// Pre-formatted lines (sparklines, sample lines); text output only.
    Text {
        title: String,
        lines: Vec<String>,
    },
}

/// A report ready to render.
#[derive(Debug, Clone, Default)]
pub struct Document {
    pub blocks: Vec<Block>,
}

/// Renders a key from the log for display: lossy UTF-8, `(empty)` for an empty key.
pub fn display_key(key: &[u8]) -> String {
    if key.is_empty() {
        "(empty)".to_string()
    } else {
        String::from_utf8_lossy(key).into_owned()
    }
}

/// `part / whole` as a percentage with one decimal, e.g. `12.5%`.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "0.0%".to_string()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

/// Bytes in binary units: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The status code as a 3-byte key.
pub fn status_key(status: u16) -> [u8; 3] {
    let s = status.min(999);
    [
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(percent(1, 8), "12.5%");
        assert_eq!(percent(1, 0), "0.0%");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(&status_key(404), b"404");
        assert_eq!(display_key(b""), "(empty)");
    }
}
