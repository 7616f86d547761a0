//! `HashOn`: each key source over real `http` request parts, absent keys,
//! IPv4-mapped clients, and the config spelling with its typed errors.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use http::Request;
use http::request::Parts;
use outpost_lb::{HashOn, MAX_KEY_NAME_LEN, ParseHashOnError, hash_key};

fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut req = Request::builder().uri(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(()).expect("valid request").into_parts().0
}

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

fn key(s: &str) -> HashOn {
    s.parse().expect("valid hash_on")
}

#[test]
fn client_ip() {
    let p = parts("/", &[]);
    let v4 = key("client_ip").hash(&p, CLIENT);
    let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
    assert_eq!(v4, Some(hash_key(&[192, 0, 2, 7])));
    assert_eq!(HashOn::ClientIp.hash(&p, mapped), v4);
    let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 8));
    assert_ne!(HashOn::ClientIp.hash(&p, other), v4);
    let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7));
    assert_eq!(
        HashOn::ClientIp.hash(&p, v6),
        Some(hash_key(&v6_octets(v6)))
    );
}

fn v6_octets(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V6(v6) => v6.octets(),
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
    }
}

#[test]
fn header() {
    let h = key("header:X-User");
    assert_eq!(h, HashOn::Header(http::HeaderName::from_static("x-user")));
    let p = parts("/", &[("x-user", "alice")]);
    assert_eq!(h.hash(&p, CLIENT), Some(hash_key(b"alice")));
    assert_eq!(h.hash(&parts("/", &[("x-other", "alice")]), CLIENT), None);
    // Two lines mean the same as one comma-joined line.
    let two = parts("/", &[("x-user", "a"), ("x-user", "b")]);
    let joined = parts("/", &[("x-user", "a, b")]);
    assert_eq!(h.hash(&two, CLIENT), h.hash(&joined, CLIENT));
    assert_eq!(h.hash(&two, CLIENT), Some(hash_key(b"a, b")));
}

#[test]
fn cookie() {
    let c = key("cookie:session");
    let p = parts("/", &[("cookie", "theme=dark; session=abc123")]);
    assert_eq!(c.hash(&p, CLIENT), Some(hash_key(b"abc123")));
    // Found in a later Cookie line; the first match wins; names are exact.
    let p = parts(
        "/",
        &[
            ("cookie", "sess=no;Session=no"),
            ("cookie", "a=1;  session=yes ; session=later"),
        ],
    );
    assert_eq!(c.hash(&p, CLIENT), Some(hash_key(b"yes")));
    assert_eq!(
        c.hash(&parts("/", &[("cookie", "sessionx=1")]), CLIENT),
        None
    );
    assert_eq!(c.hash(&parts("/", &[]), CLIENT), None);
}

#[test]
fn path() {
    let p = parts("https://example.com/a/b?x=1", &[]);
    assert_eq!(key("path").hash(&p, CLIENT), Some(hash_key(b"/a/b")));
    assert_eq!(
        key("path").hash(&parts("/", &[]), CLIENT),
        Some(hash_key(b"/"))
    );
}

#[test]
fn query() {
    let q = key("query:user");
    let p = parts("/p?a=1&user=bob%20x&user=2", &[]);
    assert_eq!(q.hash(&p, CLIENT), Some(hash_key(b"bob%20x")));
    assert_eq!(q.hash(&parts("/p?userx=1&a=2", &[]), CLIENT), None);
    assert_eq!(q.hash(&parts("/p", &[]), CLIENT), None);
    assert_eq!(q.hash(&parts("/p?user", &[]), CLIENT), Some(hash_key(b"")));
}

#[test]
fn parses_and_displays_every_form() {
    for s in [
        "client_ip",
        "path",
        "header:x-user",
        "cookie:sid",
        "query:q",
    ] {
        assert_eq!(key(s).to_string(), s);
    }
    assert_eq!(key("header:X-USER").to_string(), "header:x-user");
}

#[test]
fn parse_errors_are_typed() {
    let err = |s: &str| s.parse::<HashOn>().unwrap_err();
    assert_eq!(err("ip"), ParseHashOnError::Unknown("ip".into()));
    assert_eq!(err("body:x"), ParseHashOnError::Unknown("body:x".into()));
    assert_eq!(err("Path"), ParseHashOnError::Unknown("Path".into()));
    assert_eq!(
        err("cookie:"),
        ParseHashOnError::EmptyName { kind: "cookie" }
    );
    assert!(matches!(
        err("header:x user"),
        ParseHashOnError::InvalidName { kind: "header", .. }
    ));
    assert!(matches!(
        err("cookie:a;b"),
        ParseHashOnError::InvalidName { kind: "cookie", .. }
    ));
    assert!(matches!(
        err("query:a&b"),
        ParseHashOnError::InvalidName { kind: "query", .. }
    ));
}

#[test]
fn names_are_bounded() {
    let at_limit = "q".repeat(MAX_KEY_NAME_LEN);
    for kind in ["header", "cookie", "query"] {
        assert!(format!("{kind}:{at_limit}").parse::<HashOn>().is_ok());
        match format!("{kind}:{at_limit}q").parse::<HashOn>() {
            Err(ParseHashOnError::NameTooLong { kind: k, len }) => {
                assert_eq!((k, len), (kind, MAX_KEY_NAME_LEN + 1));
            }
            other => panic!("{kind}: {other:?}"),
        }
    }
}
