//! Log formats: Outpost JSON, `combined`, `common` and custom NGINX `log_format` strings,
//! auto-detected per file from its first lines. `LineParser` is the compiled, shareable
//! (Sync) parser for one file and one set of needed fields.

use crate::fields::{Fields, Need};
use crate::json;
use crate::template::{COMBINED, COMMON, Template, TemplateError};

/// How many leading lines format detection looks at.
const DETECT_LINES: usize = 50;

/// A log format chosen on the command line, or `Auto`.
#[derive(Debug, Clone)]
pub enum FormatChoice {
    Auto,
    Json,
    Combined,
    Common,
    Custom(String),
}

/// The format of one input, as detected or chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Combined,
    Common,
    Custom,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Combined => "combined",
            Format::Common => "common",
            Format::Custom => "custom",
        }
    }
}

#[derive(Debug)]
enum Kind {
    Json,
    Template(Template, usize),
}

/// A parser for one input's lines, limited to the fields `need` asks for.
#[derive(Debug)]
pub struct LineParser {
    kind: Kind,
    need: Need,
    pub format: Format,
}

impl LineParser {
    /// Builds the parser for `choice`, detecting the format from `sample` (the start of
    /// the input) when `choice` is `Auto`.
    pub fn new(
        choice: &FormatChoice,
        sample: &[u8],
        need: Need,
    ) -> Result<LineParser, TemplateError> {
        let format = match choice {
            FormatChoice::Auto => detect(sample),
            FormatChoice::Json => Format::Json,
            FormatChoice::Combined => Format::Combined,
            FormatChoice::Common => Format::Common,
            FormatChoice::Custom(_) => Format::Custom,
        };
        let kind = match (format, choice) {
            (Format::Json, _) => Kind::Json,
            (Format::Combined, _) => template(COMBINED, need)?,
            (Format::Common, _) => template(COMMON, need)?,
            (Format::Custom, FormatChoice::Custom(s)) => template(s, need)?,
            (Format::Custom, _) => template(COMBINED, need)?,
        };
        Ok(LineParser { kind, need, format })
    }

    /// Parses one line (without its newline).
    #[inline]
    pub fn parse<'a>(&self, line: &'a [u8], f: &mut Fields<'a>) -> Option<()> {
        match &self.kind {
            Kind::Json => json::parse(line, self.need, f),
            Kind::Template(t, last) => t.parse(line, self.need, *last, f),
        }
    }

    /// Whether the format can carry request durations.
    pub fn has_durations(&self) -> bool {
        match &self.kind {
            Kind::Json => true,
            Kind::Template(t, _) => t.provides().has(Need::DURATION),
        }
    }
}

fn template(fmt: &str, need: Need) -> Result<Kind, TemplateError> {
    let t = Template::compile(fmt)?;
    let last = t.last_needed(need);
    Ok(Kind::Template(t, last))
}

/// Detects the format from the first lines: JSON when most start with `{`, else
/// `combined` when most match it, else `common`.
pub fn detect(sample: &[u8]) -> Format {
    let lines: Vec<&[u8]> = sample
        .split(|&c| c == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .take(DETECT_LINES)
        .collect();
    let json = lines.iter().filter(|l| l.first() == Some(&b'{')).count();
    if json * 2 > lines.len() {
        return Format::Json;
    }
    let matches = |fmt: &str| {
        Template::compile(fmt).map_or(0, |t| {
            let last = t.last_needed(Need::ALL);
            lines
                .iter()
                .filter(|l| {
                    t.parse(l, Need::ALL, last, &mut Fields::default())
                        .is_some()
                })
                .count()
        })
    };
    let combined = matches(COMBINED);
    if combined * 2 >= lines.len() && combined > 0 {
        return Format::Combined;
    }
    if matches(COMMON) > combined {
        Format::Common
    } else {
        Format::Combined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_format() {
        assert_eq!(detect(b"{\"ts\":\"x\"}\n{\"ts\":\"y\"}\n"), Format::Json);
        let combined =
            br#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "ua""#;
        assert_eq!(detect(combined), Format::Combined);
        let common = br#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5"#;
        assert_eq!(detect(common), Format::Common);
        assert_eq!(detect(b""), Format::Combined);
    }
}
