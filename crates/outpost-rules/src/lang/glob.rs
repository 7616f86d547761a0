//! `wildcard` patterns: `*` matches any run of bytes, `?` any one byte,
//! everything else itself ignoring ASCII case.
//!
//! A pattern compiles to the text before the first `*`, the text after the
//! last `*`, and the pieces between. Matching checks the two ends and then
//! finds each piece leftmost in what remains: the stars absorb everything
//! else, so leftmost is always right and no backtracking is needed. Cost is
//! at most input length times piece length.

/// A compiled `wildcard` pattern.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    head: Piece,
    middle: Vec<Piece>,
    /// `None` when the pattern has no `*`: the head must be the whole input.
    tail: Option<Piece>,
}

/// Lowercased bytes; `None` is `?`.
type Piece = Vec<Option<u8>>;

impl Glob {
    pub(crate) fn new(pattern: &[u8]) -> Glob {
        let mut parts = pattern.split(|&b| b == b'*').map(|p| {
            p.iter()
                .map(|&b| (b != b'?').then_some(b.to_ascii_lowercase()))
                .collect::<Piece>()
        });
        let head = parts.next().unwrap_or_default();
        let mut middle: Vec<Piece> = parts.collect();
        let tail = middle.pop();
        middle.retain(|p| !p.is_empty());
        Glob { head, middle, tail }
    }

    pub(crate) fn matches(&self, v: &[u8]) -> bool {
        let Some(tail) = &self.tail else {
            return v.len() == self.head.len() && piece_at(&self.head, v);
        };
        if v.len() < self.head.len() + tail.len() {
            return false;
        }
        let (start, end) = (self.head.len(), v.len() - tail.len());
        if !piece_at(&self.head, v) || !piece_at(tail, &v[end..]) {
            return false;
        }
        let mut rest = &v[start..end];
        for piece in &self.middle {
            match find(piece, rest) {
                Some(i) => rest = &rest[i + piece.len()..],
                None => return false,
            }
        }
        true
    }
}

/// Whether `v` starts with `piece`.
fn piece_at(piece: &[Option<u8>], v: &[u8]) -> bool {
    v.len() >= piece.len()
        && piece
            .iter()
            .zip(v)
            .all(|(p, b)| p.is_none_or(|p| p == b.to_ascii_lowercase()))
}

fn find(piece: &[Option<u8>], v: &[u8]) -> Option<usize> {
    (0..=v.len().checked_sub(piece.len())?).find(|&i| piece_at(piece, &v[i..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, v: &str) -> bool {
        Glob::new(p.as_bytes()).matches(v.as_bytes())
    }

    #[test]
    fn globs() {
        assert!(m("*.example.com", "www.EXAMPLE.com"));
        assert!(!m("*.example.com", "example.com"));
        assert!(m("/a/*/c", "/a/b/x/c"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*", ""));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("a*b*c", "abc"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxcyyb"));
        assert!(m("**a**", "xay"));
        assert!(!m("ab*ba", "aba"));
        assert!(m("*?", "x"));
        assert!(!m("*?", ""));
    }
}
