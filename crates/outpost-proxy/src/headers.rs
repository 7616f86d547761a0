//! Header handling for forwarded messages: hop-by-hop removal (RFC 9110 §7.6.1),
//! `X-Forwarded-*` and `Via`, and request ids.

use std::cell::Cell;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Longest client-supplied `X-Request-Id` passed through; longer ones are replaced. 128 bytes.
const MAX_REQUEST_ID: usize = 128;

pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Removes hop-by-hop headers, including any named in `Connection`.
/// With `keep_upgrade`, `Connection: upgrade` and `Upgrade` survive so the
/// origin sees the protocol switch request (WebSocket). `TE: trailers` is
/// kept (Outpost forwards trailers, so it may say it accepts them) and
/// other transfer codings in `TE` are dropped; `Trailer` is end-to-end and
/// stays (an HTTP/1.1 client gets only the trailer fields it names).
pub fn strip_hop_by_hop(h: &mut HeaderMap, keep_upgrade: bool) {
    let te_trailers = has_token(h, &header::TE, "trailers");
    if let Some(conn) = h.get(header::CONNECTION) {
        // Names listed in Connection are hop-by-hop for this message.
        let listed: Vec<HeaderName> = conn
            .to_str()
            .unwrap_or("")
            .split(',')
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .filter(|n| !(keep_upgrade && n == header::UPGRADE))
            .collect();
        for name in listed {
            h.remove(&name);
        }
    }
    for name in [&KEEP_ALIVE, &PROXY_CONNECTION] {
        h.remove(name);
    }
    for name in [
        header::TE,
        header::TRANSFER_ENCODING,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
    ] {
        h.remove(name);
    }
    if te_trailers {
        h.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    if keep_upgrade {
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        h.remove(header::CONNECTION);
        h.remove(header::UPGRADE);
    }
}

/// True when a request asks to switch protocols (`Connection: upgrade` + `Upgrade`).
pub fn is_upgrade_request(h: &HeaderMap) -> bool {
    h.contains_key(header::UPGRADE) && has_token(h, &header::CONNECTION, "upgrade")
}

/// Whether any `name` field of `h` lists `token` (compared without case;
/// parameters such as `;q=1` ignored), as in `Connection: keep-alive,
/// upgrade` or `TE: gzip, trailers;q=1`.
pub fn has_token(h: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    h.get_all(name).iter().any(|v| {
        v.to_str().unwrap_or("").split(',').any(|t| {
            let bare = t.split(';').next().unwrap_or("");
            bare.trim().eq_ignore_ascii_case(token)
        })
    })
}

/// Appends the client to `X-Forwarded-For`, and sets `X-Forwarded-Proto`,
/// `X-Forwarded-Host` and `Via`.
/// `client` is the peer IP already formatted (done once per connection).
pub fn add_forwarded(h: &mut HeaderMap, client: &str, https: bool, host: &str, via: &'static str) {
    let xff = match h.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.trim().is_empty() => {
            HeaderValue::from_str(&format!("{prev}, {client}"))
        }
        _ => HeaderValue::from_str(client),
    };
    if let Ok(v) = xff {
        h.insert(X_FORWARDED_FOR.clone(), v);
    }
    h.insert(
        X_FORWARDED_PROTO.clone(),
        HeaderValue::from_static(if https { "https" } else { "http" }),
    );
    if let Ok(v) = HeaderValue::from_str(host) {
        h.insert(X_FORWARDED_HOST.clone(), v);
    }
    append_via(h, via);
}

/// Appends our `Via` entry (`1.1 outpost` or `2 outpost`) to a message.
pub fn append_via(h: &mut HeaderMap, via: &'static str) {
    h.append(header::VIA, HeaderValue::from_static(via));
}

/// The client's `X-Request-Id` when it is short and printable; otherwise a new
/// random 128-bit id in hex. The chosen id is set on the request; the value
/// returned shares its bytes, so the response gets it without a copy.
pub fn request_id(h: &mut HeaderMap) -> HeaderValue {
    if let Some(v) = h.get(&X_REQUEST_ID)
        && let Ok(s) = v.to_str()
        && !s.is_empty()
        && s.len() <= MAX_REQUEST_ID
    {
        return v.clone();
    }
    let id = HeaderValue::from_maybe_shared(bytes::Bytes::from(new_request_id()))
        .unwrap_or_else(|_| HeaderValue::from_static("-"));
    h.insert(X_REQUEST_ID.clone(), id.clone());
    id
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish()
}

/// wyrand: fast, good-quality non-cryptographic randomness; ids need
/// uniqueness, not secrecy.
fn next_u64() -> u64 {
    RNG.with(|s| {
        let x = s.get().wrapping_add(0xa076_1d64_78bd_642f);
        s.set(x);
        let t = (x as u128).wrapping_mul((x ^ 0xe703_7ed1_a0b4_28db) as u128);
        (t as u64) ^ ((t >> 64) as u64)
    })
}

/// A new random 128-bit id as 32 lower-case hex digits (no formatter on the hot path).
pub fn new_request_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for word in [next_u64(), next_u64()] {
        for shift in (0..16).rev() {
            out.push(HEX[((word >> (shift * 4)) & 0xf) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn strips_hop_by_hop_and_listed() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("te", "gzip, trailers;q=1"),
            ("upgrade", "websocket"),
            ("accept", "*/*"),
            ("trailer", "grpc-status"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 3);
        assert!(h.contains_key("accept"));
        assert_eq!(
            h["te"], "trailers",
            "only the trailers token of TE survives"
        );
        assert_eq!(h["trailer"], "grpc-status", "Trailer is end-to-end");
        let mut h = map(&[("te", "gzip"), ("accept", "*/*")]);
        strip_hop_by_hop(&mut h, false);
        assert!(!h.contains_key("te"));
    }

    #[test]
    fn keeps_upgrade_when_asked() {
        let mut h = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(is_upgrade_request(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["connection"], "upgrade");
        assert_eq!(h["upgrade"], "websocket");
    }

    #[test]
    fn appends_forwarded_for() {
        let mut h = map(&[("x-forwarded-for", "10.0.0.1")]);
        add_forwarded(&mut h, "192.0.2.7", true, "example.com", "1.1 outpost");
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 192.0.2.7");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "example.com");
        assert_eq!(h["via"], "1.1 outpost");
    }

    #[test]
    fn request_ids() {
        let mut h = map(&[("x-request-id", "abc")]);
        assert_eq!(request_id(&mut h), "abc");
        let mut h = map(&[("x-request-id", &"x".repeat(200))]);
        let id = request_id(&mut h);
        assert_eq!(id.len(), 32);
        assert_eq!(h["x-request-id"], id);
        assert_ne!(new_request_id(), new_request_id());
    }
}
