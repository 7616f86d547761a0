//! Cache keys: query modes, headers, cookies, host normalization, Vary.

use http::{HeaderName, Uri};
use outpost_cache::key::{CacheKey, MAX_KEY_BYTES, VariantKey, Vary};
use outpost_cache::{KeyError, KeySettings, QueryMode};

use crate::util::headers;

fn key(settings: &KeySettings, host: &str, url: &str, h: &[(&str, &str)]) -> CacheKey {
    let uri: Uri = url.parse().unwrap();
    CacheKey::new(settings, "https", host, &uri, &headers(h)).unwrap()
}

fn with_query(mode: QueryMode) -> KeySettings {
    KeySettings {
        query: mode,
        ..KeySettings::default()
    }
}

#[test]
fn query_all_is_byte_exact() {
    let s = with_query(QueryMode::All);
    assert_ne!(
        key(&s, "a.com", "/p?x=1&y=2", &[]),
        key(&s, "a.com", "/p?y=2&x=1", &[])
    );
    assert_eq!(
        key(&s, "a.com", "/p?x=1", &[]).as_str(),
        "https://a.com/p?x=1"
    );
}

#[test]
fn query_none_drops_it() {
    let s = with_query(QueryMode::None);
    assert_eq!(key(&s, "a.com", "/p?x=1", &[]), key(&s, "a.com", "/p", &[]));
}

#[test]
fn query_sorted_ignores_order() {
    let s = with_query(QueryMode::Sorted);
    let a = key(&s, "a.com", "/p?y=2&x=1", &[]);
    assert_eq!(a, key(&s, "a.com", "/p?x=1&y=2", &[]));
    assert_eq!(a.url(), "/p?x=1&y=2");
}

#[test]
fn query_allow_list_keeps_only_named() {
    let s = with_query(QueryMode::AllowList(vec!["id".into(), "lang".into()]));
    let a = key(&s, "a.com", "/p?utm=1&lang=en&id=7", &[]);
    assert_eq!(a, key(&s, "a.com", "/p?id=7&lang=en&utm=2", &[]));
    assert_eq!(a.as_str(), "https://a.com/p?id=7&lang=en");
    assert_ne!(a, key(&s, "a.com", "/p?id=8&lang=en", &[]));
}

#[test]
fn host_is_lowercased_default_port_dropped_scheme_optional() {
    let s = KeySettings::default();
    assert_eq!(key(&s, "A.com:443", "/", &[]), key(&s, "a.com", "/", &[]));
    assert_ne!(key(&s, "a.com:8443", "/", &[]), key(&s, "a.com", "/", &[]));
    assert_eq!(key(&s, "a.com:8443", "/", &[]).host(), "a.com");
    let no_scheme = KeySettings {
        scheme: false,
        host: false,
        ..KeySettings::default()
    };
    assert_eq!(key(&no_scheme, "a.com", "/x", &[]).as_str(), "/x");
}

#[test]
fn chosen_headers_and_cookies_join_the_key() {
    let s = KeySettings {
        headers: vec![HeaderName::from_static("x-device")],
        cookies: vec!["lang".into()],
        ..KeySettings::default()
    };
    let mobile = key(
        &s,
        "a.com",
        "/",
        &[("x-device", "mobile"), ("cookie", "sid=1; lang=fr")],
    );
    let desktop = key(
        &s,
        "a.com",
        "/",
        &[("x-device", "desktop"), ("cookie", "lang=fr")],
    );
    assert_ne!(mobile, desktop);
    // Other cookies do not matter; a missing header differs from an empty one.
    assert_eq!(
        mobile,
        key(
            &s,
            "a.com",
            "/",
            &[("x-device", "mobile"), ("cookie", "lang=fr; sid=2")]
        )
    );
    assert_ne!(
        key(&s, "a.com", "/", &[]),
        key(&s, "a.com", "/", &[("x-device", "")])
    );
    assert_ne!(
        mobile,
        key(
            &s,
            "a.com",
            "/",
            &[("x-device", "mobile"), ("cookie", "lang=de")]
        )
    );
}

#[test]
fn keys_hash_stably() {
    let s = KeySettings::default();
    let a = key(&s, "a.com", "/x", &[]);
    assert_eq!(a.hash(), key(&s, "a.com", "/x", &[]).hash());
    assert_eq!(a.hash(), outpost_cache::key::stable_hash(a.as_str()));
}

#[test]
fn key_length_is_bounded() {
    let s = KeySettings::default();
    let at_limit = format!("/{}", "a".repeat(MAX_KEY_BYTES - "https://a.com/".len()));
    let uri: Uri = at_limit.parse().unwrap();
    assert!(CacheKey::new(&s, "https", "a.com", &uri, &headers(&[])).is_ok());
    let over: Uri = format!("{at_limit}a").parse().unwrap();
    assert_eq!(
        CacheKey::new(&s, "https", "a.com", &over, &headers(&[])),
        Err(KeyError::TooLong)
    );
    assert_eq!(
        CacheKey::new(&s, "https", "", &uri, &headers(&[])),
        Err(KeyError::NoHost)
    );
}

#[test]
fn vary_normalizes_names_and_values() {
    let v = Vary::parse(&headers(&[
        ("vary", "Accept-Encoding, accept"),
        ("vary", "accept-encoding"),
    ]));
    assert_eq!(v.names().len(), 2);
    assert_eq!(Vary::parse(&headers(&[("vary", "*")])), Vary::Any);
    let a = VariantKey::new(
        &v,
        &headers(&[("accept-encoding", "gzip,  br"), ("accept", "*/*")]),
    );
    let b = VariantKey::new(
        &v,
        &headers(&[
            ("accept-encoding", "gzip"),
            ("accept-encoding", "br"),
            ("accept", "*/*"),
        ]),
    );
    assert_eq!(a, b);
    assert_ne!(a, VariantKey::new(&v, &headers(&[("accept", "*/*")])));
    assert_eq!(VariantKey::new(&Vary::Any, &headers(&[])), None);
}
