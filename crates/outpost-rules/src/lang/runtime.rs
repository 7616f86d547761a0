//! What compiled filters call per request: field accessors, string
//! transforms and the multi-valued field walkers.
//!
//! Values are bytes (header values need not be UTF-8). Multi-valued fields
//! and transforms hand each value to a callback instead of returning a
//! collection, and transforms write into a stack buffer of
//! [`STACK_BUF`] bytes, so evaluation does not allocate unless a value is
//! longer than that.

use http::header::{COOKIE, REFERER, USER_AGENT};

use crate::Request;

/// Bytes a transform (`lower`, `upper`, `url_decode`) handles on the stack;
/// longer values go to a heap buffer. Default 256 bytes.
pub(crate) const STACK_BUF: usize = 256;

/// What a compiled closure sees: the request and, inside `any`/`all`, the
/// element `[*]` currently stands for (empty elsewhere).
#[derive(Clone, Copy)]
pub(crate) struct Env<'a> {
    pub req: &'a Request<'a>,
    pub elem: &'a [u8],
}

/// Receives each value of a string source; returning `true` stops the walk
/// (the walk then returns `true` too: "some value matched").
pub(crate) type StrSink<'s> = &'s mut dyn FnMut(&[u8]) -> bool;

/// [`StrSink`] for integers.
pub(crate) type IntSink<'s> = &'s mut dyn FnMut(i64) -> bool;

/// A single-valued field read straight from the request.
pub(crate) type Getter = for<'a> fn(&'a Request<'a>) -> &'a [u8];

pub(crate) fn host<'a>(r: &'a Request<'a>) -> &'a [u8] {
    r.host.as_bytes()
}
pub(crate) fn method<'a>(r: &'a Request<'a>) -> &'a [u8] {
    r.method.as_bytes()
}
pub(crate) fn uri<'a>(r: &'a Request<'a>) -> &'a [u8] {
    r.uri.as_bytes()
}
pub(crate) fn path<'a>(r: &'a Request<'a>) -> &'a [u8] {
    r.path.as_bytes()
}
pub(crate) fn query<'a>(r: &'a Request<'a>) -> &'a [u8] {
    r.query.unwrap_or("").as_bytes()
}
pub(crate) fn version<'a>(r: &'a Request<'a>) -> &'a [u8] {
    r.version_str().as_bytes()
}
pub(crate) fn tls_version<'a>(r: &'a Request<'a>) -> &'a [u8] {
    r.tls.map_or("", |t| t.version).as_bytes()
}
pub(crate) fn tls_sni<'a>(r: &'a Request<'a>) -> &'a [u8] {
    r.tls.and_then(|t| t.sni).unwrap_or("").as_bytes()
}
/// The first `User-Agent` header; empty when absent.
pub(crate) fn user_agent<'a>(r: &'a Request<'a>) -> &'a [u8] {
    r.headers.get(USER_AGENT).map_or(&[], |v| v.as_bytes())
}
/// The first `Referer` header; empty when absent.
pub(crate) fn referer<'a>(r: &'a Request<'a>) -> &'a [u8] {
    r.headers.get(REFERER).map_or(&[], |v| v.as_bytes())
}

/// `http.cookie`: the Cookie header; several (as HTTP/2 sends them) are
/// joined with `"; "`, which is the one case that allocates.
pub(crate) fn cookie_header(r: &Request<'_>, f: StrSink<'_>) -> bool {
    let mut all = r.headers.get_all(COOKIE).iter();
    let (Some(first), second) = (all.next(), all.next()) else {
        return f(b"");
    };
    let Some(second) = second else {
        return f(first.as_bytes());
    };
    let mut joined = [first, second].map(|v| v.as_bytes()).join(&b"; "[..]);
    for v in all {
        joined.extend_from_slice(b"; ");
        joined.extend_from_slice(v.as_bytes());
    }
    f(&joined)
}

/// `http.request.cookies["name"]`: each value of cookie `name` (names are
/// case-sensitive, values raw, as RFC 6265 has them; whitespace around
/// names and values is ignored). Walks the pairs with `memchr` and compares
/// prefixes: cheaper than a substring searcher on headers this short.
pub(crate) fn cookies(r: &Request<'_>, name: &[u8], f: StrSink<'_>) -> bool {
    // A name holding these could never be one: pairs split on them.
    if name.is_empty()
        || name
            .iter()
            .any(|&b| b == b'=' || b == b';' || b.is_ascii_whitespace())
    {
        return false;
    }
    for header in r.headers.get_all(COOKIE) {
        let mut rest = header.as_bytes();
        loop {
            let end = memchr::memchr(b';', rest).unwrap_or(rest.len());
            let pair = rest[..end].trim_ascii_start();
            if let Some(after) = pair.strip_prefix(name)
                && let Some(value) = after.trim_ascii_start().strip_prefix(b"=")
                && f(value.trim_ascii())
            {
                return true;
            }
            let Some(next) = rest.get(end + 1..) else {
                break;
            };
            rest = next;
        }
    }
    false
}

/// `http.request.uri.args["name"]`: each value of query argument `name`;
/// names and values are URL-decoded (`%xx` and `+`) before use.
pub(crate) fn args(r: &Request<'_>, name: &[u8], f: StrSink<'_>) -> bool {
    let Some(query) = r.query else { return false };
    for pair in query.as_bytes().split(|&b| b == b'&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = split_once(pair, b'=');
        let named = if needs_decoding(k) {
            url_decode(k, &mut |d| d == name)
        } else {
            k == name
        };
        if named && url_decode(v, f) {
            return true;
        }
    }
    false
}

fn split_once(s: &[u8], sep: u8) -> (&[u8], &[u8]) {
    match memchr::memchr(sep, s) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &[]),
    }
}

/// Runs `fill(src, dst)` into a buffer as long as `src` (on the stack when
/// short) and hands the first `n` bytes it reports to `f`.
fn mapped(v: &[u8], f: StrSink<'_>, fill: impl Fn(&[u8], &mut [u8]) -> usize) -> bool {
    if v.len() <= STACK_BUF {
        let mut buf = [0u8; STACK_BUF];
        let n = fill(v, &mut buf[..v.len()]);
        f(&buf[..n])
    } else {
        let mut buf = vec![0u8; v.len()];
        let n = fill(v, &mut buf);
        f(&buf[..n])
    }
}

/// ASCII lowercase (non-ASCII bytes unchanged).
pub(crate) fn lower(v: &[u8], f: StrSink<'_>) -> bool {
    if !v.iter().any(u8::is_ascii_uppercase) {
        return f(v);
    }
    mapped(v, f, |src, dst| {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = s.to_ascii_lowercase();
        }
        src.len()
    })
}

/// ASCII uppercase (non-ASCII bytes unchanged).
pub(crate) fn upper(v: &[u8], f: StrSink<'_>) -> bool {
    if !v.iter().any(u8::is_ascii_lowercase) {
        return f(v);
    }
    mapped(v, f, |src, dst| {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = s.to_ascii_uppercase();
        }
        src.len()
    })
}

/// Whether `hay` contains `needle` (lowercase) ignoring ASCII case.
pub(crate) fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    let (Some(&first), Some(last)) = (needle.first(), hay.len().checked_sub(needle.len())) else {
        return needle.is_empty();
    };
    let upper = first.to_ascii_uppercase();
    let mut from = 0;
    while let Some(p) = memchr::memchr2(first, upper, &hay[from..=last]) {
        let at = from + p;
        if hay[at..at + needle.len()].eq_ignore_ascii_case(needle) {
            return true;
        }
        from = at + 1;
        if from > last {
            break;
        }
    }
    false
}

fn needs_decoding(v: &[u8]) -> bool {
    memchr::memchr2(b'%', b'+', v).is_some()
}

/// `%xx` to its byte and `+` to a space; a `%` without two hex digits
/// stays as it is.
pub(crate) fn url_decode(v: &[u8], f: StrSink<'_>) -> bool {
    if !needs_decoding(v) {
        return f(v);
    }
    mapped(v, f, |src, dst| {
        let (mut i, mut n) = (0, 0);
        while i < src.len() {
            let hex = |j: usize| src.get(j).and_then(|&b| (b as char).to_digit(16));
            dst[n] = match (src[i], hex(i + 1), hex(i + 2)) {
                (b'%', Some(h), Some(l)) => {
                    i += 2;
                    (h * 16 + l) as u8
                }
                (b'+', ..) => b' ',
                (b, ..) => b,
            };
            i += 1;
            n += 1;
        }
        n
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(run: impl FnOnce(StrSink<'_>) -> bool) -> Vec<String> {
        let mut out = Vec::new();
        run(&mut |v| {
            out.push(String::from_utf8_lossy(v).into_owned());
            false
        });
        out
    }

    #[test]
    fn transforms() {
        assert_eq!(collect(|f| lower(b"AbC", f)), ["abc"]);
        assert_eq!(collect(|f| upper(b"AbC", f)), ["ABC"]);
        assert_eq!(collect(|f| url_decode(b"a%20b+c%2x%4", f)), ["a b c%2x%4"]);
        let long = "A".repeat(STACK_BUF + 1);
        assert_eq!(
            collect(|f| lower(long.as_bytes(), f)),
            [long.to_lowercase()]
        );
    }

    #[test]
    fn case_insensitive_contains() {
        assert!(contains_ignore_case(b"Mozilla Googlebot/2.1", b"googlebot"));
        assert!(contains_ignore_case(b"ABC", b"abc"));
        assert!(contains_ignore_case(b"xAbC", b"bc"));
        assert!(!contains_ignore_case(b"ab", b"abc"));
        assert!(!contains_ignore_case(b"a-b", b"ab"));
        assert!(contains_ignore_case(b"", b""));
        assert!(contains_ignore_case(b"1/2", b"/2"));
    }

    #[test]
    fn multi_valued_fields() {
        let ip = "1.2.3.4".parse().unwrap();
        let r = crate::OwnedRequest::parse(
            "GET http://a/?x=1&y=2&x=%41+b&&z",
            ip,
            &["Cookie: a=1; b = 2".into(), "Cookie: a=3".into()],
        )
        .unwrap();
        let v = r.view();
        assert_eq!(collect(|f| args(&v, b"x", f)), ["1", "A b"]);
        assert_eq!(collect(|f| args(&v, b"z", f)), [""]);
        assert_eq!(collect(|f| cookies(&v, b"a", f)), ["1", "3"]);
        assert_eq!(collect(|f| cookies(&v, b"b", f)), ["2"]);
        assert_eq!(collect(|f| cookie_header(&v, f)), ["a=1; b = 2; a=3"]);
    }

    /// The obvious way: split pairs, trim, split at the first `=`.
    fn cookies_by_splitting(header: &[u8], name: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for pair in header.split(|&b| b == b';') {
            let pair = pair.trim_ascii();
            let (k, v) = split_once(pair, b'=');
            if !name.is_empty()
                && memchr::memchr(b'=', pair).is_some()
                && k.trim_ascii_end() == name
            {
                out.push(v.trim_ascii_start().to_vec());
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn cookie_search_agrees_with_splitting(
            header in "[ab =;]{0,16}",
            name in "[ab =;]{0,3}",
        ) {
            let ip = "1.2.3.4".parse().unwrap();
            let line = format!("Cookie: {header}");
            let Ok(r) = crate::OwnedRequest::parse("GET http://a/", ip, &[line]) else {
                return Ok(());
            };
            let v = r.view();
            let mut got = Vec::new();
            cookies(&v, name.as_bytes(), &mut |x| {
                got.push(x.to_vec());
                false
            });
            let value = v.headers.get(COOKIE).map_or(&[][..], |h| h.as_bytes());
            let clean = !name.bytes().any(|b| b == b'=' || b == b';' || b == b' ');
            let want = if clean { cookies_by_splitting(value, name.as_bytes()) } else { Vec::new() };
            proptest::prop_assert_eq!(got, want);
        }
    }
}
