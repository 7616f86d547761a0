//! A scanner for Outpost's JSON access-log lines (see `record`). It walks the top-level
//! object once, without serde and without allocating, and borrows the raw (still escaped)
//! string values of the keys a run needs. It stops as soon as those keys are found.

use crate::fields::{Fields, Need, parse_status};
use crate::time::{parse_decimal, parse_iso8601};

/// Parses one JSON line. Returns `None` when the line is not a JSON object or a needed
/// key is missing or has the wrong type.
pub fn parse<'a>(line: &'a [u8], need: Need, f: &mut Fields<'a>) -> Option<()> {
    let mut p = skip_ws(line, 0);
    if line.get(p) != Some(&b'{') {
        return None;
    }
    let mut found = Need(0);
    p += 1;
    loop {
        p = skip_ws(line, p);
        match line.get(p)? {
            b'}' => break,
            b'"' => {}
            _ => return None,
        }
        let (key, after) = string(line, p)?;
        p = skip_ws(line, after);
        if line.get(p) != Some(&b':') {
            return None;
        }
        p = skip_ws(line, p + 1);
        let (value, is_str, after) = value(line, p)?;
        found |= assign(key, value, is_str, f)?;
        if found.0 & need.0 == need.0 && need.0 != 0 {
            return Some(());
        }
        p = skip_ws(line, after);
        match line.get(p)? {
            b',' => p += 1,
            b'}' => break,
            _ => return None,
        }
    }
    // Required fields that never appeared make the line malformed; `query`, `referer`,
    // `user_agent` and `duration_ms` may be absent.
    let required = Need::IP | Need::TIME | Need::REQUEST | Need::STATUS | Need::BYTES;
    (need.0 & required.0 & !found.0 == 0).then_some(())
}

/// Stores a key's value; returns which field it provided.
fn assign<'a>(key: &[u8], v: &'a [u8], is_str: bool, f: &mut Fields<'a>) -> Option<Need> {
    let null = !is_str && v == b"null";
    let s = |v: &'a [u8]| {
        if is_str {
            Some(v)
        } else if null {
            Some(&b""[..])
        } else {
            None
        }
    };
    Some(match key {
        b"client_ip" => {
            f.ip = s(v)?;
            Need::IP
        }
        b"ts" => {
            f.time_ms = Some(parse_iso8601(s(v)?)?);
            Need::TIME
        }
        b"method" => {
            f.method = s(v)?;
            Need(0)
        }
        b"path" => {
            f.path = s(v)?;
            Need::REQUEST
        }
        b"query" => {
            f.query = s(v)?;
            Need(0)
        }
        b"status" if !is_str => {
            f.status = parse_status(v)?;
            Need::STATUS
        }
        b"bytes_out" if !is_str => {
            f.bytes = crate::fields::parse_bytes(v)?;
            Need::BYTES
        }
        b"user_agent" => {
            f.ua = s(v)?;
            Need::UA
        }
        b"referer" => {
            f.referer = s(v)?;
            Need::REFERER
        }
        b"host" => {
            f.host = s(v)?;
            Need::HOST
        }
        b"duration_ms" if !is_str => {
            f.duration_ms = parse_decimal(v);
            Need::DURATION
        }
        _ => Need(0),
    })
}

fn skip_ws(b: &[u8], mut p: usize) -> usize {
    while matches!(b.get(p), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        p += 1;
    }
    p
}

/// The string starting at the quote at `p`: (raw contents, index after the closing quote).
fn string(b: &[u8], p: usize) -> Option<(&[u8], usize)> {
    let start = p + 1;
    let mut i = start;
    loop {
        i += memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        if b[i] == b'"' {
            return Some((&b[start..i], i + 1));
        }
        i += 2; // skip the escaped character
    }
}

/// A value at `p`: (raw bytes, whether it was a string, index after it).
fn value(b: &[u8], p: usize) -> Option<(&[u8], bool, usize)> {
    match b.get(p)? {
        b'"' => string(b, p).map(|(s, e)| (s, true, e)),
        b'{' | b'[' => {
            let end = skip_nested(b, p)?;
            Some((&b[p..end], false, end))
        }
        _ => {
            let len = b[p..]
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b' ' | b'\t' | b'\r' | b'\n'))
                .unwrap_or(b.len() - p);
            (len > 0).then(|| (&b[p..p + len], false, p + len))
        }
    }
}

/// Skips a nested object or array; returns the index after it.
fn skip_nested(b: &[u8], mut p: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        match b.get(p)? {
            b'"' => {
                p = string(b, p)?.1;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(p + 1);
                }
            }
            _ => {}
        }
        p += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::AccessRecord;

    fn line() -> Vec<u8> {
        let r = AccessRecord {
            ts: "2026-11-27T21:40:30.123Z".into(),
            client_ip: "198.51.100.7".into(),
            method: "POST".into(),
            host: "ex.com".into(),
            path: "/login".into(),
            query: Some("a=\"b\"".into()),
            status: 401,
            bytes_out: 512,
            duration_ms: 12.5,
            user_agent: Some("curl/8".into()),
            ..Default::default()
        };
        let mut out = Vec::new();
        r.to_json_line(&mut out);
        out.pop();
        out
    }

    #[test]
    fn parses_what_the_proxy_writes() {
        let l = line();
        let mut f = Fields::default();
        parse(&l, Need::ALL, &mut f).expect("parses");
        assert_eq!(f.ip, b"198.51.100.7");
        assert_eq!(f.time_ms, Some(1_795_815_630_123));
        assert_eq!(
            (f.method, f.path, f.query),
            (&b"POST"[..], &b"/login"[..], &br#"a=\"b\""#[..])
        );
        assert_eq!((f.status, f.bytes, f.duration_ms), (401, 512, Some(12.5)));
        assert_eq!(
            (f.ua, f.referer, f.host),
            (&b"curl/8"[..], &b""[..], &b"ex.com"[..])
        );
    }

    #[test]
    fn stops_early_and_rejects_garbage() {
        let mut f = Fields::default();
        parse(br#"{"client_ip":"1.2.3.4", broken"#, Need::IP, &mut f).expect("ip found first");
        assert!(parse(br#"{"client_ip":"1.2.3.4", broken"#, Need::STATUS, &mut f).is_none());
        assert!(parse(b"not json", Need::IP, &mut f).is_none());
        assert!(parse(br#"{"status":"200"}"#, Need::STATUS, &mut f).is_none());
        assert!(parse(br#"{"x":{"y":[1,"}"]},"status":204}"#, Need::STATUS, &mut f).is_some());
        assert_eq!(f.status, 204);
        assert!(parse(br#"{"client_ip":"1.2.3.4"}"#, Need::STATUS, &mut f).is_none());
    }
}
