//! HTTP/1.1 on the origin side, as pure functions over buffers: the request
//! head Outpost writes, the response head it parses (RFC 9112 §4–§6), and
//! the chunked body decoder. No I/O here; `h1pool` drives the sockets.
//!
//! Parsing is strict where leniency lets one message be read two ways: a
//! response with both `Transfer-Encoding` and `Content-Length` is framed by
//! the former and its connection is not reused; differing `Content-Length`
//! values, a non-numeric length, bare-LF chunk lines and oversized chunk
//! sizes are errors (502). Limits: a response head (informational heads
//! included) of at most [`MAX_HEAD_BYTES`] with at most [`MAX_HEADERS`]
//! fields; chunk-size lines of [`MAX_CHUNK_LINE`]; trailers of
//! [`MAX_TRAILER_BYTES`] (forwarded as trailers, minus the fields that
//! must not be trailers).

use std::mem::MaybeUninit;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};

/// Largest response head read from an origin. 64 KiB.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header fields in one response head. 128.
pub const MAX_HEADERS: usize = 128;
/// Longest chunk-size line (size plus extensions). 1 KiB.
pub const MAX_CHUNK_LINE: usize = 1024;
/// Most trailer bytes after a chunked body. 16 KiB.
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// A malformed or oversized message from the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("response head larger than {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    #[error("malformed response head: {0}")]
    Head(&'static str),
    #[error("invalid Content-Length")]
    ContentLength,
    #[error("malformed chunked body: {0}")]
    Chunked(&'static str),
}

/// How the request body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFraming {
    /// No body (and no length header, except `Content-Length: 0` for
    /// methods whose requests normally carry one).
    Empty,
    Length(u64),
    Chunked,
}

/// Appends the request head: origin-form request line, the headers except
/// the framing ones (which `framing` decides), a `Host` when given and
/// missing, and the blank line.
pub fn encode_request_head(
    dst: &mut BytesMut,
    method: &Method,
    target: &str,
    headers: &HeaderMap,
    framing: RequestFraming,
) {
    dst.reserve(64 + target.len() + headers.len() * 32);
    dst.put_slice(method.as_str().as_bytes());
    dst.put_u8(b' ');
    dst.put_slice(target.as_bytes());
    dst.put_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
            continue;
        }
        dst.put_slice(name.as_str().as_bytes());
        dst.put_slice(b": ");
        dst.put_slice(value.as_bytes());
        dst.put_slice(b"\r\n");
    }
    match framing {
        RequestFraming::Empty => {
            if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
                dst.put_slice(b"content-length: 0\r\n");
            }
        }
        RequestFraming::Length(n) => {
            dst.put_slice(b"content-length: ");
            let mut itoa = itoa_buf();
            dst.put_slice(fmt_u64(&mut itoa, n));
            dst.put_slice(b"\r\n");
        }
        RequestFraming::Chunked => dst.put_slice(b"transfer-encoding: chunked\r\n"),
    }
    dst.put_slice(b"\r\n");
}

/// Appends one chunk of a chunked request body.
pub fn encode_chunk(dst: &mut BytesMut, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    dst.reserve(data.len() + 20);
    let mut n = data.len();
    let mut hex = [0u8; 16];
    let mut i = hex.len();
    while n > 0 || i == hex.len() {
        i -= 1;
        hex[i] = b"0123456789abcdef"[n & 15];
        n >>= 4;
    }
    dst.put_slice(&hex[i..]);
    dst.put_slice(b"\r\n");
    dst.put_slice(data);
    dst.put_slice(b"\r\n");
}

/// The last chunk of a chunked request body (no trailers).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The last chunk with the client's trailer fields, minus those a trailer
/// section must not carry (see [`forbidden_trailer`]).
pub fn encode_last_chunk(dst: &mut BytesMut, trailers: &HeaderMap) {
    dst.put_slice(b"0\r\n");
    for (name, value) in trailers {
        if !forbidden_trailer(name) {
            dst.put_slice(name.as_str().as_bytes());
            dst.put_slice(b": ");
            dst.put_slice(value.as_bytes());
            dst.put_slice(b"\r\n");
        }
    }
    dst.put_slice(b"\r\n");
}

fn itoa_buf() -> [u8; 20] {
    [0; 20]
}

fn fmt_u64(buf: &mut [u8; 20], mut n: u64) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// How the response body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFraming {
    /// HEAD responses, 204 and 304: no body whatever the headers say.
    Empty,
    Length(u64),
    Chunked,
    /// Read until the origin closes; the connection is not reused.
    Close,
    /// `101 Switching Protocols`: the connection now carries another protocol.
    Upgrade,
}

/// A parsed final response head.
#[derive(Debug)]
pub struct ResponseHead {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub framing: ResponseFraming,
    /// Whether the connection may carry another request after this response.
    pub reusable: bool,
}

/// Parses the response head at the start of `buf`, consuming it. Interim
/// `1xx` responses (other than 101) are consumed and skipped. Returns
/// `Ok(None)` when more bytes are needed.
pub fn parse_response_head(
    buf: &mut BytesMut,
    head_request: bool,
) -> Result<Option<ResponseHead>, ParseError> {
    loop {
        let Some(head) = parse_one(buf, head_request)? else {
            return Ok(None);
        };
        if head.status.is_informational() && head.status != StatusCode::SWITCHING_PROTOCOLS {
            continue;
        }
        return Ok(Some(head));
    }
}

/// Offsets of one header field inside the head.
#[derive(Clone, Copy, Default)]
struct Field {
    name: (usize, usize),
    value: (usize, usize),
}

fn parse_one(buf: &mut BytesMut, head_request: bool) -> Result<Option<ResponseHead>, ParseError> {
    let mut fields = [Field::default(); MAX_HEADERS];
    let (len, code, minor, count) = {
        let mut raw = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut []);
        let len = match httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut resp, buf, &mut raw)
        {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                if buf.len() > MAX_HEAD_BYTES {
                    return Err(ParseError::HeadTooLarge);
                }
                return Ok(None);
            }
            Err(httparse::Error::TooManyHeaders) => return Err(ParseError::HeadTooLarge),
            Err(e) => return Err(ParseError::Head(parse_error_text(e))),
        };
        if len > MAX_HEAD_BYTES {
            return Err(ParseError::HeadTooLarge);
        }
        let base = buf.as_ptr() as usize;
        let count = resp.headers.len();
        for (f, h) in fields.iter_mut().zip(resp.headers.iter()) {
            let n = h.name.as_ptr() as usize - base;
            let v = h.value.as_ptr() as usize - base;
            f.name = (n, n + h.name.len());
            f.value = (v, v + h.value.len());
        }
        (
            len,
            resp.code.unwrap_or(0),
            resp.version.unwrap_or(1),
            count,
        )
    };
    let head = buf.split_to(len).freeze();
    let status = StatusCode::from_u16(code).map_err(|_| ParseError::Head("invalid status code"))?;
    let version = if minor == 0 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let mut headers = HeaderMap::with_capacity(count);
    for f in &fields[..count] {
        let name = HeaderName::from_bytes(&head[f.name.0..f.name.1])
            .map_err(|_| ParseError::Head("invalid header name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice(f.value.0..f.value.1))
            .map_err(|_| ParseError::Head("invalid header value"))?;
        headers.append(name, value);
    }
    let mut reusable = keep_alive(version, &headers);
    let framing = if status == StatusCode::SWITCHING_PROTOCOLS {
        ResponseFraming::Upgrade
    } else if head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        ResponseFraming::Empty
    } else if headers.contains_key(TRANSFER_ENCODING) {
        if headers.contains_key(CONTENT_LENGTH) {
            // RFC 9112 §6.3 (3): Transfer-Encoding wins, and the connection
            // must not be reused after such a message.
            headers.remove(CONTENT_LENGTH);
            reusable = false;
        }
        if last_coding_is_chunked(&headers) {
            ResponseFraming::Chunked
        } else {
            reusable = false;
            ResponseFraming::Close
        }
    } else if headers.contains_key(CONTENT_LENGTH) {
        ResponseFraming::Length(content_length(&headers)?)
    } else {
        reusable = false;
        ResponseFraming::Close
    };
    Ok(Some(ResponseHead {
        status,
        version,
        headers,
        framing,
        reusable,
    }))
}

fn parse_error_text(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::Status => "invalid status line",
        httparse::Error::Version => "invalid HTTP version",
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        _ => "invalid response head",
    }
}

/// HTTP/1.1 keeps the connection unless `Connection: close`; HTTP/1.0 only
/// with `Connection: keep-alive`.
fn keep_alive(version: Version, headers: &HeaderMap) -> bool {
    let has = |token| crate::headers::has_token(headers, &CONNECTION, token);
    if version == Version::HTTP_10 {
        has("keep-alive")
    } else {
        !has("close")
    }
}

fn last_coding_is_chunked(headers: &HeaderMap) -> bool {
    headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked"))
}

/// Every `Content-Length` value (repeated fields and comma lists alike) must
/// be the same decimal number.
fn content_length(headers: &HeaderMap) -> Result<u64, ParseError> {
    let mut found = None;
    for v in &headers.get_all(CONTENT_LENGTH) {
        for part in v.as_bytes().split(|&b| b == b',') {
            let part = part.trim_ascii();
            if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
                return Err(ParseError::ContentLength);
            }
            let n = part.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
            if found.is_some_and(|f| f != n) {
                return Err(ParseError::ContentLength);
            }
            found = Some(n);
        }
    }
    found.ok_or(ParseError::ContentLength)
}

/// What the chunked decoder produced from the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    Data(Bytes),
    /// The buffer holds no complete next piece: read more.
    NeedMore,
    /// The last chunk and the trailers were consumed.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Trailers(usize),
    Done,
}

/// Decodes a chunked body incrementally from a read buffer.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: ChunkState,
    /// Trailer fields seen so far (allocated by the first).
    trailers: Option<HeaderMap>,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: ChunkState::Size,
            trailers: None,
        }
    }
}

impl ChunkedDecoder {
    /// Consumes from `buf` and returns the next piece of body data, `End`,
    /// or `NeedMore`.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, ParseError> {
        loop {
            match self.state {
                ChunkState::Size => {
                    let Some(line) = take_line(buf, MAX_CHUNK_LINE)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    let size = chunk_size(&line)?;
                    self.state = if size == 0 {
                        ChunkState::Trailers(0)
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    let n = (buf.len() as u64).min(left) as usize;
                    let data = buf.split_to(n).freeze();
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                    return Ok(Decoded::Data(data));
                }
                ChunkState::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(Decoded::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(ParseError::Chunked("missing CRLF after chunk data"));
                    }
                    buf.advance(2);
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailers(seen) => {
                    let Some(line) = take_line(buf, MAX_TRAILER_BYTES - seen)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    if line.is_empty() {
                        self.state = ChunkState::Done;
                    } else {
                        self.state = ChunkState::Trailers(seen + line.len() + 2);
                        self.trailer_field(line)?;
                    }
                }
                ChunkState::Done => return Ok(Decoded::End),
            }
        }
    }
}

impl ChunkedDecoder {
    /// The trailer fields, once `decode` returned `End` (`None` when there
    /// were none, or none that may be forwarded).
    pub fn take_trailers(&mut self) -> Option<HeaderMap> {
        self.trailers.take().filter(|t| !t.is_empty())
    }

    /// One `name: value` trailer line. Malformed lines (no colon, space
    /// before it, obs-fold, invalid name or value) are errors like any
    /// other framing error; fields that frame, route or control the
    /// message (RFC 9110 §6.5.1) are dropped.
    fn trailer_field(&mut self, line: Bytes) -> Result<(), ParseError> {
        const BAD: ParseError = ParseError::Chunked("malformed trailer field");
        if matches!(line.first(), Some(b' ' | b'\t')) {
            return Err(BAD);
        }
        let colon = memchr::memchr(b':', &line).ok_or(BAD)?;
        let name = HeaderName::from_bytes(&line[..colon]).map_err(|_| BAD)?;
        // Optional whitespace (SP, HTAB only) around the value.
        let ows = |b: &u8| matches!(b, b' ' | b'\t');
        let v = &line[colon + 1..];
        let start = v.iter().position(|b| !ows(b)).unwrap_or(v.len());
        let end = v.iter().rposition(|b| !ows(b)).map_or(start, |e| e + 1);
        let value = line.slice_ref(&v[start..end]);
        let value = HeaderValue::from_maybe_shared(value).map_err(|_| BAD)?;
        if !forbidden_trailer(&name) {
            self.trailers
                .get_or_insert_with(HeaderMap::new)
                .append(name, value);
        }
        Ok(())
    }
}

/// Fields a trailer section must not carry on (framing, routing, request
/// modifiers, authentication, controls): dropped rather than forwarded.
fn forbidden_trailer(name: &HeaderName) -> bool {
    use http::header::*;
    [
        CONTENT_LENGTH,
        TRANSFER_ENCODING,
        HOST,
        CONNECTION,
        TE,
        TRAILER,
        UPGRADE,
        CONTENT_TYPE,
        CONTENT_ENCODING,
        CONTENT_RANGE,
        AUTHORIZATION,
        PROXY_AUTHORIZATION,
        SET_COOKIE,
        CACHE_CONTROL,
        EXPECT,
        MAX_FORWARDS,
        PRAGMA,
        RANGE,
    ]
    .contains(name)
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// Takes one CRLF-terminated line (without the CRLF), or `None` if the
/// buffer has no complete line yet. A line longer than `max` or ended by a
/// bare LF is an error.
fn take_line(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, ParseError> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        if buf.len() > max {
            return Err(ParseError::Chunked("line too long"));
        }
        return Ok(None);
    };
    if nl > max {
        return Err(ParseError::Chunked("line too long"));
    }
    if nl == 0 || buf[nl - 1] != b'\r' {
        return Err(ParseError::Chunked("bare LF"));
    }
    let mut line = buf.split_to(nl + 1);
    line.truncate(nl - 1);
    Ok(Some(line.freeze()))
}

/// The hex size at the start of a chunk-size line; extensions are ignored.
fn chunk_size(line: &[u8]) -> Result<u64, ParseError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(ParseError::Chunked("missing chunk size"));
    }
    if digits > 15 {
        return Err(ParseError::Chunked("chunk size too large"));
    }
    let rest = &line[digits..];
    let rest = rest.trim_ascii_start();
    if !(rest.is_empty() || rest[0] == b';') {
        return Err(ParseError::Chunked("invalid chunk size"));
    }
    Ok(line[..digits].iter().fold(0u64, |n, &d| {
        n * 16 + u64::from(char::from(d).to_digit(16).unwrap_or(0))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str, head: bool) -> Result<Option<ResponseHead>, ParseError> {
        let mut b = BytesMut::from(raw.as_bytes());
        parse_response_head(&mut b, head)
    }

    #[test]
    fn request_head_framing() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("a"));
        h.insert("content-length", HeaderValue::from_static("9"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        let mut d = BytesMut::new();
        encode_request_head(&mut d, &Method::GET, "/x?y", &h, RequestFraming::Empty);
        assert_eq!(&d[..], b"GET /x?y HTTP/1.1\r\nhost: a\r\n\r\n");
        d.clear();
        encode_request_head(&mut d, &Method::POST, "/", &h, RequestFraming::Empty);
        assert_eq!(
            &d[..],
            b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\n\r\n"
        );
        d.clear();
        encode_request_head(&mut d, &Method::PUT, "/", &h, RequestFraming::Length(1234));
        assert_eq!(
            &d[..],
            b"PUT / HTTP/1.1\r\nhost: a\r\ncontent-length: 1234\r\n\r\n"
        );
        d.clear();
        encode_request_head(&mut d, &Method::PUT, "/", &h, RequestFraming::Chunked);
        assert_eq!(
            &d[..],
            b"PUT / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        d.clear();
        encode_chunk(&mut d, &[b'x'; 26]);
        assert_eq!(&d[..4], b"1a\r\n");
        assert_eq!(&d[d.len() - 2..], b"\r\n");
    }

    #[test]
    fn response_framing() {
        let r = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false)
            .unwrap()
            .unwrap();
        assert_eq!(r.framing, ResponseFraming::Length(5));
        assert!(r.reusable);
        assert_eq!(r.headers["content-length"], "5");
        let r = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true)
            .unwrap()
            .unwrap();
        assert_eq!(r.framing, ResponseFraming::Empty);
        let r = parse(
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.framing, ResponseFraming::Empty);
        let r = parse(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.framing, ResponseFraming::Chunked);
        assert!(r.reusable);
        let r = parse(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.framing, ResponseFraming::Chunked);
        assert!(!r.reusable);
        assert!(!r.headers.contains_key("content-length"));
        let r = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert_eq!(r.framing, ResponseFraming::Close);
        let r = parse(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert!(!r.reusable);
        let r = parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert!(!r.reusable);
        assert_eq!(r.version, Version::HTTP_10);
        let r = parse("HTTP/1.1 200 OK\r\n\r\n", false).unwrap().unwrap();
        assert_eq!(r.framing, ResponseFraming::Close);
        assert!(!r.reusable);
        let r = parse(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.framing, ResponseFraming::Upgrade);
    }

    #[test]
    fn content_length_must_agree() {
        let ok = parse(
            "HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\nContent-Length: 7\r\n\r\n",
            false,
        );
        assert_eq!(ok.unwrap().unwrap().framing, ResponseFraming::Length(7));
        for bad in ["7, 8", "-1", "+7", "0x10", "", "99999999999999999999"] {
            let raw = format!("HTTP/1.1 200 OK\r\nContent-Length: {bad}\r\n\r\n");
            assert_eq!(
                parse(&raw, false).unwrap_err(),
                ParseError::ContentLength,
                "{bad}"
            );
        }
    }

    #[test]
    fn interim_responses_are_skipped_and_heads_may_arrive_in_pieces() {
        let raw = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
        let mut b = BytesMut::new();
        let mut got = None;
        for byte in raw.bytes() {
            b.put_u8(byte);
            if let Some(h) = parse_response_head(&mut b, false).unwrap() {
                got = Some(h);
            }
        }
        let h = got.unwrap();
        assert_eq!(h.status, StatusCode::CREATED);
        assert!(b.is_empty());
    }

    #[test]
    fn head_limits() {
        let many: String = (0..MAX_HEADERS + 1)
            .map(|i| format!("x-{i}: v\r\n"))
            .collect();
        let raw = format!("HTTP/1.1 200 OK\r\n{many}\r\n");
        assert_eq!(parse(&raw, false).unwrap_err(), ParseError::HeadTooLarge);
        let big = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD_BYTES));
        assert_eq!(parse(&big, false).unwrap_err(), ParseError::HeadTooLarge);
        assert!(matches!(
            parse("HTTP/1.1 200 OK\r\nbad header\r\n\r\n", false),
            Err(ParseError::Head(_))
        ));
        assert!(matches!(
            parse("HTTQ/1.1 200 OK\r\n\r\n", false),
            Err(ParseError::Head(_))
        ));
    }

    fn decode_all(raw: &[u8]) -> Result<(Vec<u8>, BytesMut), ParseError> {
        let mut dec = ChunkedDecoder::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for &b in raw {
            buf.put_u8(b);
            loop {
                match dec.decode(&mut buf)? {
                    Decoded::Data(d) => out.extend_from_slice(&d),
                    Decoded::NeedMore => break,
                    Decoded::End => return Ok((out, buf)),
                }
            }
        }
        Err(ParseError::Chunked("incomplete"))
    }

    #[test]
    fn chunked_decoding() {
        let (body, rest) = decode_all(
            b"5\r\nhello\r\n1A;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-t: 1\r\n\r\nNEXT",
        )
        .unwrap();
        assert_eq!(body, b"helloabcdefghijklmnopqrstuvwxyz");
        assert!(rest.is_empty());
        for bad in [
            &b"5\nhello\r\n0\r\n\r\n"[..],
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"g\r\n",
            b"-5\r\n",
            b"1000000000000000\r\n",
            b"5 x\r\n",
        ] {
            assert!(
                decode_all(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = format!("5;{}\r\n", "e".repeat(MAX_CHUNK_LINE));
        assert!(decode_all(long.as_bytes()).is_err());
    }

    #[test]
    fn last_chunk_with_trailers_round_trips() {
        let mut t = HeaderMap::new();
        t.insert("grpc-status", HeaderValue::from_static("0"));
        t.insert("content-length", HeaderValue::from_static("9"));
        let mut out = BytesMut::new();
        encode_chunk(&mut out, b"abc");
        encode_last_chunk(&mut out, &t);
        assert_eq!(&out[..], b"3\r\nabc\r\n0\r\ngrpc-status: 0\r\n\r\n");
        let mut dec = ChunkedDecoder::default();
        assert_eq!(
            dec.decode(&mut out).unwrap(),
            Decoded::Data(Bytes::from("abc"))
        );
        assert_eq!(dec.decode(&mut out).unwrap(), Decoded::End);
        assert_eq!(dec.take_trailers().unwrap()["grpc-status"], "0");
    }

    #[test]
    fn trailers_are_kept_except_the_forbidden_ones() {
        let mut dec = ChunkedDecoder::default();
        let mut buf = BytesMut::from(
            &b"3\r\nabc\r\n0\r\nGrpc-Status:  0 \r\nContent-Length: 5\r\nx-sum:\r\nX-Sum: ab\r\n\r\n"[..],
        );
        assert_eq!(
            dec.decode(&mut buf).unwrap(),
            Decoded::Data(Bytes::from("abc"))
        );
        assert_eq!(dec.decode(&mut buf).unwrap(), Decoded::End);
        let t = dec.take_trailers().unwrap();
        assert_eq!(t["grpc-status"], "0");
        let sums: Vec<_> = t.get_all("x-sum").iter().collect();
        assert_eq!(sums, ["", "ab"]);
        assert!(!t.contains_key("content-length"));
        assert_eq!(t.len(), 3);

        // Only forbidden fields, or none: no trailers at all.
        let mut dec = ChunkedDecoder::default();
        let mut buf = BytesMut::from(&b"0\r\nTransfer-Encoding: chunked\r\n\r\n"[..]);
        assert_eq!(dec.decode(&mut buf).unwrap(), Decoded::End);
        assert!(dec.take_trailers().is_none());

        for bad in [
            &b"0\r\nno colon\r\n\r\n"[..],
            b"0\r\nname : v\r\n\r\n",
            b"0\r\nx: 1\r\n folded\r\n\r\n",
            b"0\r\nx: a\x00b\r\n\r\n",
        ] {
            assert!(
                decode_all(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
