//! The fields a report reads from one log line, borrowed from the input (no allocation),
//! and `Need`, the set of fields a run asks for so parsers can stop early.

/// A set of fields a run needs. Parsers fill at least these and may stop scanning a line
/// once all of them are read; a line is malformed only when a needed field cannot be parsed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Need(pub u16);

impl Need {
    pub const IP: Need = Need(1);
    pub const TIME: Need = Need(1 << 1);
    /// Method, path and query.
    pub const REQUEST: Need = Need(1 << 2);
    pub const STATUS: Need = Need(1 << 3);
    pub const BYTES: Need = Need(1 << 4);
    pub const REFERER: Need = Need(1 << 5);
    pub const UA: Need = Need(1 << 6);
    pub const HOST: Need = Need(1 << 7);
    pub const DURATION: Need = Need(1 << 8);
    /// Every field.
    pub const ALL: Need = Need(0x1ff);

    pub fn has(self, other: Need) -> bool {
        self.0 & other.0 != 0
    }
}

impl std::ops::BitOr for Need {
    type Output = Need;
    fn bitor(self, rhs: Need) -> Need {
        Need(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for Need {
    fn bitor_assign(&mut self, rhs: Need) {
        self.0 |= rhs.0;
    }
}

/// One parsed line. Text fields are raw bytes from the input (JSON string escapes are kept);
/// a field the format does not carry, or that was not needed, is empty / `None` / 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fields<'a> {
    pub ip: &'a [u8],
    /// Request time, Unix milliseconds.
    pub time_ms: Option<i64>,
    pub method: &'a [u8],
    /// Path without the query string.
    pub path: &'a [u8],
    /// Query without the leading `?`.
    pub query: &'a [u8],
    pub status: u16,
    /// Response bytes sent to the client.
    pub bytes: u64,
    pub referer: &'a [u8],
    pub ua: &'a [u8],
    pub host: &'a [u8],
    /// Request duration in milliseconds, when the format carries one.
    pub duration_ms: Option<f64>,
}

/// Splits `GET /a?b=1 HTTP/1.1` into method, path and query. A request line that is not
/// three space-separated parts (e.g. a TLS handshake sent to a cleartext port) keeps the
/// whole text as the path and an empty method.
pub fn split_request(req: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let Some(sp) = memchr::memchr(b' ', req) else {
        return (b"", req, b"");
    };
    let method = &req[..sp];
    let rest = &req[sp + 1..];
    let uri = match memchr::memrchr(b' ', rest) {
        Some(i) if rest[i + 1..].starts_with(b"HTTP/") => &rest[..i],
        _ => rest,
    };
    let (path, query) = split_uri(uri);
    (method, path, query)
}

/// Splits a URI at the first `?`.
pub fn split_uri(uri: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b'?', uri) {
        Some(q) => (&uri[..q], &uri[q + 1..]),
        None => (uri, b""),
    }
}

/// Parses a 3-digit HTTP status.
pub fn parse_status(b: &[u8]) -> Option<u16> {
    match b {
        [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

/// Parses a byte count; `-` (Apache's "no body") is 0.
pub fn parse_bytes(b: &[u8]) -> Option<u64> {
    if b == b"-" {
        return Some(0);
    }
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    let mut v = 0u64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(c - b'0');
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert_eq!(
            split_request(b"GET /a/b?x=1 HTTP/1.1"),
            (&b"GET"[..], &b"/a/b"[..], &b"x=1"[..])
        );
        assert_eq!(
            split_request(b"GET /a b HTTP/1.0"),
            (&b"GET"[..], &b"/a b"[..], &b""[..])
        );
        assert_eq!(split_request(b"-"), (&b""[..], &b"-"[..], &b""[..]));
        assert_eq!(
            split_request(b"GET /x"),
            (&b"GET"[..], &b"/x"[..], &b""[..])
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_status(b"404"), Some(404));
        assert_eq!(parse_status(b"40"), None);
        assert_eq!(parse_bytes(b"-"), Some(0));
        assert_eq!(parse_bytes(b"1234"), Some(1234));
        assert_eq!(parse_bytes(b"12a"), None);
        assert_eq!(parse_bytes(b"99999999999999999999"), None);
    }
}
