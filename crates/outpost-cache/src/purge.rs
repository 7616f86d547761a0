//! Purge requests as serializable values, so a node can take them from its
//! admin API and a fleet can fan them out unchanged. A [`Purge`] names what
//! to purge (one URL with all its variants, a URL prefix, a host, a tag, or
//! everything) and how: hard (delete) or soft (mark stale, so the next
//! request revalidates while stale-if-error still protects the origin).

use serde::{Deserialize, Serialize};

use crate::key::{MAX_KEY_BYTES, index_host, index_url};
use crate::store::MAX_TAG_BYTES;

/// One purge request.
///
/// JSON form: `{"target": {"kind": "tag", "tag": "product-42"}, "mode": "soft"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purge {
    /// What to purge.
    pub target: PurgeTarget,
    /// Delete or mark stale. Default: hard.
    #[serde(default)]
    pub mode: PurgeMode,
}

/// What a purge selects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PurgeTarget {
    /// One URL, every scheme, variant and key header/cookie value:
    /// `https://example.com/a?x=1` or `example.com/a`. The query matches
    /// the cache key's query order-insensitively.
    Url {
        /// The URL.
        url: String,
    },
    /// Every URL on a host whose path-and-query starts with the given one:
    /// `example.com/static/` (a plain string prefix, like the key's path).
    Prefix {
        /// Host and path prefix.
        prefix: String,
    },
    /// Every object of a host (any port).
    Host {
        /// The host name.
        host: String,
    },
    /// Every object whose tag header listed this tag.
    Tag {
        /// The tag, exactly as the origin sent it.
        tag: String,
    },
    /// Everything.
    All,
}

/// How a purge treats what it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurgeMode {
    /// Delete: the next request is a miss.
    #[default]
    Hard,
    /// Mark stale: the next request revalidates (and may fall back on the
    /// stale object per stale-if-error when the origin fails).
    Soft,
}

/// A purge that cannot be carried out as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PurgeError {
    /// The URL or prefix has no host, or is not printable ASCII.
    #[error("invalid purge url {0:?}")]
    InvalidUrl(String),
    /// The tag is empty or longer than the longest stored tag.
    #[error("invalid purge tag {0:?}")]
    InvalidTag(String),
    /// The host is empty.
    #[error("invalid purge host {0:?}")]
    InvalidHost(String),
}

/// What a purge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PurgeOutcome {
    /// Objects deleted or marked stale.
    pub objects: u64,
}

/// A validated purge target in the form the store's indexes use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Url { host: String, url: String },
    Prefix { host: String, prefix: String },
    Host(String),
    Tag(String),
    All,
}

impl PurgeTarget {
    /// Validates and normalizes the target.
    pub(crate) fn parse(&self) -> Result<Target, PurgeError> {
        match self {
            PurgeTarget::Url { url } => {
                let (host, rest) = split_url(url)?;
                let (path, query) = rest.split_once('?').unwrap_or((&rest, ""));
                Ok(Target::Url {
                    host,
                    url: index_url(path, query),
                })
            }
            PurgeTarget::Prefix { prefix } => {
                let (host, rest) = split_url(prefix)?;
                Ok(Target::Prefix { host, prefix: rest })
            }
            PurgeTarget::Host { host } => {
                let h = index_host(host);
                if h.is_empty() || h.contains('/') {
                    return Err(PurgeError::InvalidHost(host.clone()));
                }
                Ok(Target::Host(h))
            }
            PurgeTarget::Tag { tag } => {
                let t = tag.trim();
                if t.is_empty() || t.len() > MAX_TAG_BYTES {
                    return Err(PurgeError::InvalidTag(tag.clone()));
                }
                Ok(Target::Tag(t.to_owned()))
            }
            PurgeTarget::All => Ok(Target::All),
        }
    }
}

/// Splits `[scheme://]host[:port]/path?query` into the index host and the
/// path-and-query (`/` when there is none).
fn split_url(url: &str) -> Result<(String, String), PurgeError> {
    let invalid = || PurgeError::InvalidUrl(url.to_owned());
    if url.len() > MAX_KEY_BYTES || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid());
    }
    let rest = ["https://", "http://", "//"]
        .iter()
        .find_map(|p| url.strip_prefix(p))
        .unwrap_or(url);
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_owned()),
    };
    let host = index_host(authority);
    if host.is_empty() {
        return Err(invalid());
    }
    Ok((host, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_normalize() {
        let t = PurgeTarget::Url {
            url: "https://Example.com:443/a?b=2&a=1".into(),
        };
        assert_eq!(
            t.parse().unwrap(),
            Target::Url {
                host: "example.com".into(),
                url: "/a?a=1&b=2".into()
            }
        );
        let t = PurgeTarget::Url {
            url: "example.com".into(),
        };
        assert_eq!(
            t.parse().unwrap(),
            Target::Url {
                host: "example.com".into(),
                url: "/".into()
            }
        );
        assert!(PurgeTarget::Url { url: "/a".into() }.parse().is_err());
    }
}
