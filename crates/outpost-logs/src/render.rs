//! Turns a `Document` into aligned text (optionally coloured, for terminals) or CSV, and
//! writes the input footer (lines read, malformed lines, read errors).

use std::fmt::Write as _;

use crate::engine::{InputInfo, Tally};
use crate::report::{Align, Block, Document, Table};

const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// Renders aligned text tables; `color` adds ANSI bold headers.
pub fn text(doc: &Document, color: bool) -> String {
    let mut out = String::new();
    for (i, block) in doc.blocks.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match block {
            Block::Table(t) => table(&mut out, t, color),
            Block::Pairs { title, pairs } => {
                heading(&mut out, title, color);
                let w = pairs
                    .iter()
                    .map(|(k, _)| k.chars().count())
                    .max()
                    .unwrap_or(0);
                for (k, v) in pairs {
                    let _ = writeln!(out, "  {k:<w$}  {v}");
                }
            }
            Block::Text { title, lines } => {
                heading(&mut out, title, color);
                for l in lines {
                    let _ = writeln!(out, "{l}");
                }
            }
        }
    }
    out
}

fn heading(out: &mut String, title: &str, color: bool) {
    if title.is_empty() {
        return;
    }
    if color {
        let _ = writeln!(out, "{BOLD}{title}{RESET}");
    } else {
        let _ = writeln!(out, "{title}");
    }
}

fn table(out: &mut String, t: &Table, color: bool) {
    heading(out, &t.title, color);
    let mut widths: Vec<usize> = t.columns.iter().map(|(n, _)| n.chars().count()).collect();
    for row in &t.rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        let last = cells.len().saturating_sub(1);
        for (i, ((cell, (_, align)), w)) in cells.iter().zip(&t.columns).zip(&widths).enumerate() {
            let pad = w.saturating_sub(cell.chars().count());
            s.push_str("  ");
            match align {
                Align::Right => {
                    s.extend(std::iter::repeat_n(' ', pad));
                    s.push_str(cell);
                }
                Align::Left if i == last => s.push_str(cell),
                Align::Left => {
                    s.push_str(cell);
                    s.extend(std::iter::repeat_n(' ', pad));
                }
            }
        }
        s
    };
    let header = line(t.columns.iter().map(|(n, _)| n.as_str()).collect());
    if color {
        let _ = writeln!(out, "{DIM}{header}{RESET}");
    } else {
        let _ = writeln!(out, "{header}");
    }
    for row in &t.rows {
        let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
    }
    if t.rows.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
}

/// Renders every table and key/value block as CSV, each preceded by a `# title` line and
/// separated by a blank line. Text blocks (charts) are left out.
pub fn csv(doc: &Document) -> String {
    let mut out = String::new();
    let mut first = true;
    for block in &doc.blocks {
        let (title, header, rows): (&str, Vec<&str>, Vec<Vec<&str>>) = match block {
            Block::Table(t) => (
                &t.title,
                t.columns.iter().map(|(n, _)| n.as_str()).collect(),
                t.rows
                    .iter()
                    .map(|r| r.iter().map(String::as_str).collect())
                    .collect(),
            ),
            Block::Pairs { title, pairs } => (
                title,
                vec!["name", "value"],
                pairs
                    .iter()
                    .map(|(k, v)| vec![k.as_str(), v.as_str()])
                    .collect(),
            ),
            Block::Text { .. } => continue,
        };
        if !first {
            out.push('\n');
        }
        first = false;
        let _ = writeln!(out, "# {title}");
        for r in std::iter::once(header).chain(rows) {
            let cells: Vec<String> = r.into_iter().map(csv_cell).collect();
            let _ = writeln!(out, "{}", cells.join(","));
        }
    }
    out
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The footer: lines read, matched, filtered, malformed; read errors; with `show_bad`,
/// the first malformed lines with file and line number.
pub fn footer(inputs: &[InputInfo], tally: &Tally, show_bad: bool) -> String {
    let mut out = String::new();
    let files: Vec<String> = inputs
        .iter()
        .map(|i| format!("{} ({})", i.name, i.format.map_or("?", |f| f.name())))
        .collect();
    let _ = write!(
        out,
        "-- {} lines from {}: {} matched, {} filtered out, {} malformed",
        tally.lines,
        files.join(", "),
        tally.matched,
        tally.filtered_out,
        tally.malformed
    );
    if tally.malformed > 0 && !show_bad {
        out.push_str(" (--show-bad to see them)");
    }
    out.push('\n');
    for i in inputs {
        if let Some(e) = &i.error {
            let _ = writeln!(
                out,
                "-- {}: read error, kept what was read before it: {e}",
                i.name
            );
        }
    }
    if show_bad {
        for s in &tally.bad_samples {
            let _ = writeln!(out, "-- bad {}:{}: {}", s.file, s.line, s.text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_and_quotes() {
        let mut t = Table::new("t", &[("n", Align::Right), ("key", Align::Left)]);
        t.rows.push(vec!["5".into(), "a,b".into()]);
        t.rows.push(vec!["12".into(), "c\"d".into()]);
        let doc = Document {
            blocks: vec![Block::Table(t)],
        };
        assert_eq!(text(&doc, false), "t\n   n  key\n   5  a,b\n  12  c\"d\n");
        assert_eq!(csv(&doc), "# t\nn,key\n5,\"a,b\"\n12,\"c\"\"d\"\n");
        assert!(text(&doc, true).contains(BOLD));
    }
}
