//! Every documented bound, at and just past its limit.

use http::{HeaderName, HeaderValue};
use outpost_cache::key::{MAX_VARIANT_KEY_BYTES, MAX_VARY_NAMES, VariantKey, Vary};
use outpost_cache::settings::{MAX_BYPASS, MAX_KEY_COOKIES, MAX_KEY_HEADERS, MAX_QUERY_ALLOW};
use outpost_cache::store::{MAX_TAG_BYTES, MAX_TAGS, parse_tags};
use outpost_cache::{Cache, CacheConfig, ConfigError, KeySettings, QueryMode, RouteSettings};

use crate::util::headers;

fn names(n: usize) -> String {
    (0..n)
        .map(|i| format!("x-h{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn vary_names_at_the_limit() {
    let at = Vary::parse(&headers(&[("vary", &names(MAX_VARY_NAMES))]));
    assert_eq!(at.names().len(), MAX_VARY_NAMES);
    assert_eq!(
        Vary::parse(&headers(&[("vary", &names(MAX_VARY_NAMES + 1))])),
        Vary::Any
    );
}

#[test]
fn variant_key_length_at_the_limit() {
    let vary = Vary::parse(&headers(&[("vary", "x-v")]));
    // The key text is "x-v:" + value + "\n".
    let fits = "a".repeat(MAX_VARIANT_KEY_BYTES - 5);
    assert!(VariantKey::new(&vary, &headers(&[("x-v", &fits)])).is_some());
    let over = "a".repeat(MAX_VARIANT_KEY_BYTES - 4);
    assert!(VariantKey::new(&vary, &headers(&[("x-v", &over)])).is_none());
}

#[test]
fn tags_at_the_limit() {
    let tag = HeaderName::from_static("cache-tag");
    let many: Vec<String> = (0..MAX_TAGS + 5).map(|i| format!("t{i}")).collect();
    let mut h = http::HeaderMap::new();
    h.insert(&tag, HeaderValue::from_str(&many.join(",")).unwrap());
    assert_eq!(parse_tags(&h, &tag).len(), MAX_TAGS);
    let long_ok = "a".repeat(MAX_TAG_BYTES);
    let too_long = "b".repeat(MAX_TAG_BYTES + 1);
    h.insert(
        &tag,
        HeaderValue::from_str(&format!("{long_ok}, {too_long}, x, x")).unwrap(),
    );
    let tags = parse_tags(&h, &tag);
    assert_eq!(
        tags.len(),
        2,
        "the over-long tag and the duplicate are dropped"
    );
    assert_eq!(&*tags[0], long_ok);
}

#[test]
fn settings_validation_reports_every_error_at_once() {
    let ok = RouteSettings {
        key: KeySettings {
            headers: (0..MAX_KEY_HEADERS)
                .map(|i| HeaderName::from_bytes(format!("x-{i}").as_bytes()).unwrap())
                .collect(),
            cookies: (0..MAX_KEY_COOKIES).map(|i| format!("c{i}")).collect(),
            query: QueryMode::AllowList((0..MAX_QUERY_ALLOW).map(|i| format!("q{i}")).collect()),
            ..KeySettings::default()
        },
        bypass_cookies: (0..MAX_BYPASS).map(|i| format!("b{i}")).collect(),
        ..RouteSettings::default()
    };
    assert_eq!(ok.validate(), Ok(()));
    let mut bad = ok.clone();
    bad.key.headers.push(HeaderName::from_static("x-extra"));
    bad.key.cookies.push("extra".into());
    bad.bypass_headers.push(HeaderName::from_static("x-bypass"));
    bad.max_object_bytes = 0;
    let errors = bad.validate().unwrap_err();
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        ["key.headers", "key.cookies", "bypass", "max_object_bytes"]
    );
}

#[test]
fn cache_config_is_checked() {
    let bad_name = CacheConfig {
        name: "1 cache".into(),
        ..CacheConfig::default()
    };
    assert!(matches!(Cache::new(bad_name), Err(ConfigError::Name(_))));
    let small = CacheConfig {
        capacity_bytes: 1024,
        ..CacheConfig::default()
    };
    assert_eq!(Cache::new(small).err(), Some(ConfigError::Capacity));
    let no_fills = CacheConfig {
        max_fills: 0,
        ..CacheConfig::default()
    };
    assert_eq!(Cache::new(no_fills).err(), Some(ConfigError::MaxFills));
}
