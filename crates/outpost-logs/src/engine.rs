//! The scan engine: splits a buffer at newline boundaries into chunks, parses and filters
//! them in parallel on rayon's pool, and folds each line into a report's accumulator. An
//! `Analyzer` is a report's per-line logic; `Session` feeds it every input and keeps the
//! input tallies (lines, malformed lines and their first samples, read errors).

use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::fields::{Fields, Need};
use crate::filter::Filter;
use crate::format::{Format, FormatChoice, LineParser};
use crate::input::{self, Opened, Source};

/// Chunk size for parallel parsing (4 MiB): large enough to amortise scheduling, small
/// enough to balance two to dozens of threads.
pub const DEFAULT_CHUNK: usize = 4 << 20;
/// Malformed lines kept as samples for `--show-bad`.
pub const MAX_BAD_SAMPLES: usize = 20;
/// Longest sample line kept, in bytes.
const SAMPLE_BYTES: usize = 400;

/// A report's per-line logic.
pub trait Analyzer: Sync {
    type Acc: Send;
    /// The fields the report reads.
    fn need(&self) -> Need;
    fn new_acc(&self) -> Self::Acc;
    /// Folds one parsed, filtered line into `acc`.
    fn add(&self, acc: &mut Self::Acc, f: &Fields<'_>, line: &LineRef<'_>);
    /// Merges `from` into `into`; `from` holds lines that come after `into`'s.
    fn merge(&self, into: &mut Self::Acc, from: Self::Acc);
    /// Sample lines held by `acc`, so the engine can give them line numbers.
    fn samples<'s>(&self, _acc: &'s mut Self::Acc) -> Vec<&'s mut Sample> {
        Vec::new()
    }
}

/// Where a line is: its input, byte offset in that input, and text.
#[derive(Debug, Clone, Copy)]
pub struct LineRef<'a> {
    pub input: u32,
    pub offset: u64,
    pub text: &'a [u8],
}

/// A line kept as evidence, with its place in the input.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sample {
    #[serde(skip)]
    pub input: u32,
    #[serde(skip)]
    pub offset: u64,
    /// Input name (filled when the report is built).
    pub file: String,
    /// 1-based line number (0 until resolved).
    pub line: u64,
    pub text: String,
}

impl Sample {
    pub fn new(line: &LineRef<'_>) -> Sample {
        let cut = line.text.len().min(SAMPLE_BYTES);
        Sample {
            input: line.input,
            offset: line.offset,
            file: String::new(),
            line: 0,
            text: String::from_utf8_lossy(&line.text[..cut]).into_owned(),
        }
    }
}

/// Keeps the `max` earliest samples (by input, offset) from `b` and `a`.
pub fn merge_samples(a: &mut Vec<Sample>, b: Vec<Sample>, max: usize) {
    a.extend(b);
    a.sort_by_key(|s| (s.input, s.offset));
    a.truncate(max);
}

/// Per-input accounting.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Tally {
    /// Non-empty lines read.
    pub lines: u64,
    /// Lines that parsed and passed the filters.
    pub matched: u64,
    pub filtered_out: u64,
    pub malformed: u64,
    #[serde(skip)]
    pub raw_lines: u64,
    pub bad_samples: Vec<Sample>,
}

impl Tally {
    fn merge(&mut self, b: Tally) {
        self.lines += b.lines;
        self.matched += b.matched;
        self.filtered_out += b.filtered_out;
        self.malformed += b.malformed;
        self.raw_lines += b.raw_lines;
        merge_samples(&mut self.bad_samples, b.bad_samples, MAX_BAD_SAMPLES);
    }
}

/// An input as it was read.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InputInfo {
    pub name: String,
    pub format: Option<Format>,
    pub bytes: u64,
    /// A read or decompression error that cut the input short.
    pub error: Option<String>,
}

/// Settings shared by every input of a run.
pub struct ScanConfig<'a> {
    pub format: &'a FormatChoice,
    pub filter: &'a Filter,
    /// Bytes processed so far, for a progress bar.
    pub progress: Option<&'a AtomicU64>,
    /// Bytes per parallel chunk (`DEFAULT_CHUNK`; tests use tiny chunks to exercise merges).
    pub chunk: usize,
}

/// One run of one analyzer over any number of inputs.
pub struct Session<A: Analyzer> {
    pub analyzer: A,
    pub acc: A::Acc,
    pub tally: Tally,
    pub inputs: Vec<InputInfo>,
    need: Need,
}

impl<A: Analyzer> Session<A> {
    pub fn new(analyzer: A, filter: &Filter) -> Session<A> {
        let need = analyzer.need() | filter.need();
        let acc = analyzer.new_acc();
        Session {
            analyzer,
            acc,
            tally: Tally::default(),
            inputs: Vec::new(),
            need,
        }
    }

    /// Reads a whole source. Errors opening it are returned; errors while reading a
    /// stream (a truncated gzip) are recorded in `inputs` and what was read is kept.
    pub fn read_source(
        &mut self,
        source: &Source,
        cfg: &ScanConfig<'_>,
    ) -> Result<(), input::InputError> {
        let opened = input::open(source)?;
        let idx = self.add_input(source.name());
        match opened {
            Opened::Mapped(map) => {
                self.feed(idx, &map, 0, 0, cfg);
            }
            Opened::Stream(mut r) => {
                let (mut offset, mut line) = (0u64, 0u64);
                let err = input::for_each_block(&mut *r, |block| {
                    let lines = self.feed(idx, block, offset, line, cfg);
                    offset += block.len() as u64;
                    line += lines;
                });
                if let Some(e) = err {
                    self.inputs[idx as usize].error = Some(e.to_string());
                }
            }
        }
        Ok(())
    }

    /// Registers an input and returns its index.
    pub fn add_input(&mut self, name: String) -> u32 {
        self.inputs.push(InputInfo {
            name,
            format: None,
            bytes: 0,
            error: None,
        });
        (self.inputs.len() - 1) as u32
    }

    /// Scans `buf`, which starts at byte `base_offset` and line `base_line` of input `idx`;
    /// returns the number of lines in `buf`.
    pub fn feed(
        &mut self,
        idx: u32,
        buf: &[u8],
        base_offset: u64,
        base_line: u64,
        cfg: &ScanConfig<'_>,
    ) -> u64 {
        let info = &mut self.inputs[idx as usize];
        // A stream's later blocks keep the format detected on its first block.
        let choice = match (cfg.format, info.format) {
            (FormatChoice::Auto, Some(Format::Json)) => &FormatChoice::Json,
            (FormatChoice::Auto, Some(Format::Common)) => &FormatChoice::Common,
            (FormatChoice::Auto, Some(_)) => &FormatChoice::Combined,
            (choice, _) => choice,
        };
        let parser = match LineParser::new(choice, &buf[..buf.len().min(64 << 10)], self.need) {
            Ok(p) => p,
            Err(e) => {
                info.error = Some(e.to_string());
                return 0;
            }
        };
        info.format = Some(parser.format);
        info.bytes += buf.len() as u64;
        let scan = Scan {
            analyzer: &self.analyzer,
            parser: &parser,
            filter: cfg.filter,
            input: idx,
            progress: cfg.progress,
            chunk: cfg.chunk.max(1),
        };
        let (mut acc, mut tally) = scan.run(buf, base_offset);
        let lines = tally.raw_lines;
        let mut pending: Vec<&mut Sample> = self.analyzer.samples(&mut acc);
        pending.extend(tally.bad_samples.iter_mut());
        resolve_lines(buf, idx, base_offset, base_line, pending);
        let name = &self.inputs[idx as usize].name;
        for s in self
            .analyzer
            .samples(&mut acc)
            .into_iter()
            .chain(tally.bad_samples.iter_mut())
        {
            if s.input == idx && s.file.is_empty() {
                s.file.clone_from(name);
            }
        }
        self.analyzer.merge(&mut self.acc, acc);
        self.tally.merge(tally);
        lines
    }
}

/// Gives line numbers to the samples of this buffer that have none yet.
fn resolve_lines(
    buf: &[u8],
    input: u32,
    base_offset: u64,
    base_line: u64,
    samples: Vec<&mut Sample>,
) {
    let end = base_offset + buf.len() as u64;
    let mut todo: Vec<&mut Sample> = samples
        .into_iter()
        .filter(|s| s.input == input && s.line == 0 && s.offset >= base_offset && s.offset < end)
        .collect();
    todo.sort_by_key(|s| s.offset);
    let (mut pos, mut line) = (0usize, base_line + 1);
    for s in todo {
        let at = (s.offset - base_offset) as usize;
        line += memchr::memchr_iter(b'\n', &buf[pos..at]).count() as u64;
        pos = at;
        s.line = line;
    }
}

struct Scan<'a, A: Analyzer> {
    analyzer: &'a A,
    parser: &'a LineParser,
    filter: &'a Filter,
    input: u32,
    progress: Option<&'a AtomicU64>,
    chunk: usize,
}

impl<A: Analyzer> Scan<'_, A> {
    /// Scans `buf` as one contiguous part per worker thread (few accumulators, few
    /// merges); with chunks smaller than `DEFAULT_CHUNK` (tests) every chunk is its own
    /// part, so merging is exercised as much as possible.
    fn run(&self, buf: &[u8], base_offset: u64) -> (A::Acc, Tally) {
        let chunks = chunk_bounds(buf, self.chunk);
        let parts = if self.chunk < DEFAULT_CHUNK {
            chunks.len()
        } else {
            rayon::current_num_threads().clamp(1, chunks.len().max(1))
        };
        let results: Vec<(A::Acc, Tally)> = (0..parts)
            .into_par_iter()
            .map(|p| {
                let (lo, hi) = (p * chunks.len() / parts, (p + 1) * chunks.len() / parts);
                let (mut acc, mut tally) = (self.analyzer.new_acc(), Tally::default());
                for &(start, end) in &chunks[lo..hi] {
                    let off = base_offset + start as u64;
                    self.chunk(&buf[start..end], off, &mut acc, &mut tally);
                    if let Some(p) = self.progress {
                        p.fetch_add((end - start) as u64, Ordering::Relaxed);
                    }
                }
                (acc, tally)
            })
            .collect();
        let mut results = results.into_iter();
        let (mut acc, mut tally) = results
            .next()
            .unwrap_or_else(|| (self.analyzer.new_acc(), Tally::default()));
        for (b, tb) in results {
            self.analyzer.merge(&mut acc, b);
            tally.merge(tb);
        }
        (acc, tally)
    }

    fn chunk(&self, chunk: &[u8], base: u64, acc: &mut A::Acc, tally: &mut Tally) {
        let mut pos = 0;
        while pos < chunk.len() {
            let end = memchr::memchr(b'\n', &chunk[pos..]).map_or(chunk.len(), |i| pos + i);
            let raw = &chunk[pos..end];
            let start = pos;
            pos = end + 1;
            tally.raw_lines += 1;
            let text = raw.strip_suffix(b"\r").unwrap_or(raw);
            if text.is_empty() {
                continue;
            }
            tally.lines += 1;
            let line = LineRef {
                input: self.input,
                offset: base + start as u64,
                text,
            };
            let mut f = Fields::default();
            if self.parser.parse(text, &mut f).is_none() {
                tally.malformed += 1;
                if tally.bad_samples.len() < MAX_BAD_SAMPLES {
                    tally.bad_samples.push(Sample::new(&line));
                }
                continue;
            }
            if !self.filter.matches(&f) {
                tally.filtered_out += 1;
                continue;
            }
            tally.matched += 1;
            self.analyzer.add(acc, &f, &line);
        }
    }
}

/// Splits `buf` into ranges of about `chunk` bytes, each ending just after a newline
/// (or at the end of the buffer).
fn chunk_bounds(buf: &[u8], chunk: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(buf.len() / chunk + 1);
    let mut start = 0;
    while start < buf.len() {
        let mut end = (start + chunk).min(buf.len());
        if end < buf.len() {
            end = memchr::memchr(b'\n', &buf[end..]).map_or(buf.len(), |i| end + i + 1);
        }
        out.push((start, end));
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_buffer_on_line_boundaries() {
        let buf: Vec<u8> = (0..2_000_000u32)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let chunks = chunk_bounds(&buf, DEFAULT_CHUNK);
        assert!(chunks.len() > 1);
        assert_eq!(chunks[0].0, 0);
        assert_eq!(chunks.last().map(|c| c.1), Some(buf.len()));
        for w in chunks.windows(2) {
            assert_eq!(w[0].1, w[1].0);
            assert_eq!(buf[w[0].1 - 1], b'\n');
        }
    }

    #[test]
    fn line_numbers_are_resolved() {
        let buf = b"a\nb\n\nc\nd";
        let mut s1 = Sample {
            input: 0,
            offset: 5,
            file: String::new(),
            line: 0,
            text: "c".into(),
        };
        let mut s2 = Sample {
            input: 0,
            offset: 0,
            file: String::new(),
            line: 0,
            text: "a".into(),
        };
        resolve_lines(buf, 0, 0, 10, vec![&mut s1, &mut s2]);
        assert_eq!((s1.line, s2.line), (14, 11));
    }
}
