//! Opening inputs: plain files are memory-mapped whole; `.gz`/`.zst` files (detected by
//! their magic bytes) and stdin are streamed in blocks of whole lines, so memory stays
//! bounded by `BLOCK` whatever the decompressed size. A decompression error keeps what
//! was read and is reported; a missing file is an error for the caller.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Block size for streamed inputs (32 MiB); a single line longer than this grows the block.
pub const BLOCK: usize = 32 << 20;

/// An input that could not be opened or listed.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("{pattern}: no file matches")]
    NoMatch { pattern: String },
    #[error("{pattern}: bad glob pattern: {msg}")]
    Pattern { pattern: String, msg: String },
}

/// Where lines come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Stdin,
    File(PathBuf),
}

impl Source {
    pub fn name(&self) -> String {
        match self {
            Source::Stdin => "-".to_string(),
            Source::File(p) => p.display().to_string(),
        }
    }
}

/// Expands arguments into sources: `-` is stdin, arguments with glob metacharacters are
/// expanded (sorted), others are taken as paths. No argument means stdin.
pub fn expand(args: &[String]) -> Result<Vec<Source>, InputError> {
    if args.is_empty() {
        return Ok(vec![Source::Stdin]);
    }
    let mut out = Vec::new();
    for a in args {
        if a == "-" {
            out.push(Source::Stdin);
        } else if a.contains(['*', '?', '[']) && !Path::new(a).exists() {
            let paths = glob::glob(a).map_err(|e| InputError::Pattern {
                pattern: a.clone(),
                msg: e.to_string(),
            })?;
            let mut matched: Vec<PathBuf> = paths
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            if matched.is_empty() {
                return Err(InputError::NoMatch { pattern: a.clone() });
            }
            matched.sort();
            out.extend(matched.into_iter().map(Source::File));
        } else {
            out.push(Source::File(PathBuf::from(a)));
        }
    }
    Ok(out)
}

/// An opened input.
pub enum Opened {
    /// A plain file, mapped whole.
    Mapped(Mapped),
    /// A stream (stdin or a decompressor) read in blocks.
    Stream(Box<dyn Read + Send>),
}

/// A memory-mapped file (or the bytes of an empty one).
pub struct Mapped(MapInner);

enum MapInner {
    Map(memmap2::Mmap),
    Empty,
}

impl std::ops::Deref for Mapped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            MapInner::Map(m) => m,
            MapInner::Empty => &[],
        }
    }
}

/// Opens a source. Compressed files are recognised by magic bytes, not by extension.
pub fn open(source: &Source) -> Result<Opened, InputError> {
    let path = match source {
        Source::Stdin => return Ok(Opened::Stream(decoder(Box::new(io::stdin()))?)),
        Source::File(p) => p,
    };
    let err = |e| InputError::Open {
        path: path.display().to_string(),
        source: e,
    };
    let mut file = File::open(path).map_err(err)?;
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut file, &mut magic).map_err(err)?;
    if is_gzip(&magic[..n]) || is_zstd(&magic[..n]) {
        let file = File::open(path).map_err(err)?;
        return decoder(Box::new(file)).map(Opened::Stream);
    }
    let len = file.metadata().map_err(err)?.len();
    if len == 0 {
        return Ok(Opened::Mapped(Mapped(MapInner::Empty)));
    }
    map(&file)
        .map(|m| Opened::Mapped(Mapped(MapInner::Map(m))))
        .map_err(err)
}

#[allow(unsafe_code, reason = "memory-mapping a log file; see the SAFETY note")]
fn map(file: &File) -> io::Result<memmap2::Mmap> {
    // SAFETY: the mapping is read-only. If another process truncates the file while we
    // read it, accessing the lost pages raises SIGBUS; log files are appended to, not
    // truncated in place, and `--follow` reads with `read(2)` instead of mapping.
    let map = unsafe { memmap2::MmapOptions::new().map(file)? };
    prefault(&map);
    Ok(map)
}

/// Maps every page up front, one range per worker thread (`MADV_POPULATE_READ`): far
/// cheaper than a page fault per 64 KiB, and spread over the cores. On kernels without
/// it (before Linux 5.14) pages fault in on first touch as usual.
#[cfg(target_os = "linux")]
fn prefault(map: &memmap2::Mmap) {
    use rayon::prelude::*;
    const PAGE: usize = 1 << 21; // 2 MiB: a multiple of every page size
    let parts = rayon::current_num_threads().max(1);
    let step = (map.len() / parts).div_ceil(PAGE).max(1) * PAGE;
    (0..parts).into_par_iter().for_each(|i| {
        let off = i * step;
        if off < map.len() {
            let len = step.min(map.len() - off);
            let _ = map.advise_range(memmap2::Advice::PopulateRead, off, len);
        }
    });
}

#[cfg(not(target_os = "linux"))]
fn prefault(_map: &memmap2::Mmap) {}

fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn is_gzip(b: &[u8]) -> bool {
    b.starts_with(&[0x1f, 0x8b])
}

fn is_zstd(b: &[u8]) -> bool {
    b.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
}

/// Wraps a stream in a gzip or zstd decoder when its first bytes say so.
fn decoder(inner: Box<dyn Read + Send>) -> Result<Box<dyn Read + Send>, InputError> {
    let mut r = io::BufReader::with_capacity(1 << 16, inner);
    let head = io::BufRead::fill_buf(&mut r).map_err(|e| InputError::Open {
        path: "-".into(),
        source: e,
    })?;
    if is_gzip(head) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(r)))
    } else if is_zstd(head) {
        let d = zstd::stream::read::Decoder::with_buffer(r).map_err(|e| InputError::Open {
            path: "-".into(),
            source: e,
        })?;
        Ok(Box::new(d))
    } else {
        Ok(Box::new(r))
    }
}

/// Reads a stream in blocks of whole lines. Calls `sink(block, is_last)` for each block;
/// returns the read error that ended the stream early, if any (what was read before it
/// has been passed to `sink`).
pub fn for_each_block(r: &mut dyn Read, mut sink: impl FnMut(&[u8])) -> Option<io::Error> {
    let mut buf: Vec<u8> = Vec::with_capacity(BLOCK);
    let mut error = None;
    loop {
        let start = buf.len();
        let want = (start + BLOCK / 4).max(BLOCK);
        buf.resize(want, 0);
        let mut filled = start;
        let mut eof = false;
        while filled < want {
            match r.read(&mut buf[filled..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    error = Some(e);
                    eof = true;
                    break;
                }
            }
        }
        buf.truncate(filled);
        if eof {
            if !buf.is_empty() {
                sink(&buf);
            }
            return error;
        }
        if let Some(nl) = memchr::memrchr(b'\n', &buf) {
            sink(&buf[..=nl]);
            buf.drain(..=nl);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_end_on_newlines_and_keep_everything() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let mut seen = Vec::new();
        let mut blocks = 0;
        let err = for_each_block(&mut &data[..], |b| {
            assert!(b.ends_with(b"\n"));
            seen.extend_from_slice(b);
            blocks += 1;
        });
        assert!(err.is_none());
        assert_eq!(seen, data);
    }

    #[test]
    fn missing_file_is_an_error() {
        let e = open(&Source::File("/nonexistent/x.log".into()))
            .err()
            .expect("error");
        assert!(e.to_string().starts_with("/nonexistent/x.log: "));
    }
}
