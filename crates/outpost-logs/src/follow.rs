//! `--follow`: reads what a growing file gained since the last poll, in whole lines, and
//! survives rotation. A poll notices rotation when the path names a different file
//! (inode changed: rename-and-create) or the file got shorter (copytruncate); it finishes
//! the old file, then starts the new one from its beginning.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;

/// Bytes read per poll at most (64 MiB); the rest comes on the next poll.
const MAX_POLL: u64 = 64 << 20;

/// Whole lines read by one poll.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Chunk {
    pub data: Vec<u8>,
    /// Offset of `data` in the current file, and its first line's number - 1.
    pub base_offset: u64,
    pub base_line: u64,
    /// True when this chunk starts a new file after rotation.
    pub rotated: bool,
}

/// A followed file.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    id: Option<(u64, u64)>,
    offset: u64,
    lines: u64,
    partial: Vec<u8>,
}

impl Follower {
    pub fn new(path: PathBuf) -> Follower {
        Follower {
            path,
            file: None,
            id: None,
            offset: 0,
            lines: 0,
            partial: Vec::new(),
        }
    }

    /// Reads new whole lines. A missing file (between rotation steps) yields nothing.
    pub fn poll(&mut self) -> io::Result<Vec<Chunk>> {
        let mut out = Vec::new();
        if self.file.is_none() && !self.open()? {
            return Ok(out);
        }
        let current = std::fs::metadata(&self.path).ok();
        let rotated = match &current {
            Some(m) => file_id(m) != self.id || m.len() < self.offset + self.partial.len() as u64,
            None => false,
        };
        if let Some(c) = self.read_more(false)? {
            out.push(c);
        }
        if rotated {
            // Finish the old file, including a last line without a newline.
            if let Some(c) = self.read_more(true)? {
                out.push(c);
            }
            self.file = None;
            if self.open()? {
                if let Some(mut c) = self.read_more(false)? {
                    c.rotated = true;
                    out.push(c);
                }
            }
        }
        Ok(out)
    }

    fn open(&mut self) -> io::Result<bool> {
        match File::open(&self.path) {
            Ok(f) => {
                self.id = f.metadata().ok().as_ref().and_then(file_id);
                self.file = Some(f);
                (self.offset, self.lines) = (0, 0);
                self.partial.clear();
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn read_more(&mut self, flush: bool) -> io::Result<Option<Chunk>> {
        let Some(f) = &mut self.file else {
            return Ok(None);
        };
        let start = self.offset + self.partial.len() as u64;
        f.seek(SeekFrom::Start(start))?;
        let mut buf = std::mem::take(&mut self.partial);
        f.take(MAX_POLL).read_to_end(&mut buf)?;
        let end = if flush {
            buf.len()
        } else {
            memchr::memrchr(b'\n', &buf).map_or(0, |i| i + 1)
        };
        self.partial = buf.split_off(end);
        if buf.is_empty() {
            return Ok(None);
        }
        let chunk = Chunk {
            base_offset: self.offset,
            base_line: self.lines,
            data: buf,
            rotated: false,
        };
        self.offset += chunk.data.len() as u64;
        self.lines += memchr::memchr_iter(b'\n', &chunk.data).count() as u64;
        Ok(Some(chunk))
    }
}

#[cfg(unix)]
fn file_id(m: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_m: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn data(chunks: &[Chunk]) -> Vec<u8> {
        chunks.iter().flat_map(|c| c.data.clone()).collect()
    }

    #[test]
    fn reads_growth_in_whole_lines_and_survives_rotation() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("access.log");
        let mut f = File::create(&path)?;
        f.write_all(b"a\nb\npart")?;
        let mut fl = Follower::new(path.clone());
        assert_eq!(data(&fl.poll()?), b"a\nb\n");
        f.write_all(b"ial\nc\n")?;
        let c = fl.poll()?;
        assert_eq!(data(&c), b"partial\nc\n");
        assert_eq!((c[0].base_offset, c[0].base_line), (4, 2));
        assert!(fl.poll()?.is_empty());
        // Rotate: rename and create a new file.
        f.write_all(b"last")?;
        std::fs::rename(&path, dir.path().join("access.log.1"))?;
        let mut g = File::create(&path)?;
        g.write_all(b"new\n")?;
        let c = fl.poll()?;
        assert_eq!(data(&c), b"lastnew\n");
        assert!(c.last().is_some_and(|c| c.rotated && c.base_offset == 0));
        // Copy-truncate.
        g.set_len(0)?;
        let mut g = std::fs::OpenOptions::new().write(true).open(&path)?;
        g.write_all(b"x\n")?;
        assert_eq!(data(&fl.poll()?), b"x\n");
        Ok(())
    }
}
