//! A stored response: head, body chunks and the metadata that reuse
//! decisions need. Objects are immutable once built and shared as
//! `Arc<Object>`; the only mutable bit is the soft-purge flag.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, StatusCode};

use crate::directives::RequestDirectives;
use crate::directives::split_list;
use crate::key::{VariantKey, Vary};
use crate::policy::{
    Admission, Decision, ExchangeTimes, Freshness, current_age, decide, ttl_seconds,
};

/// Fixed bytes charged per object on top of its body, header, tag and key
/// bytes: the object, its header map, its slot, index entries and queue
/// positions. Set from `benches/store.rs`'s measurement (see the crate
/// README) so that the store's byte bound tracks real memory.
pub const OBJECT_OVERHEAD: u64 = 928;
/// Most purge tags kept per object; later ones are ignored. Default: 32.
pub const MAX_TAGS: usize = 32;
/// Longest purge tag, in bytes; longer tags are ignored. Default: 256.
pub const MAX_TAG_BYTES: usize = 256;
/// Per header line, the bytes charged on top of name and value: the
/// header map's bucket and index entry, 80 (measured with the above).
const HEADER_LINE_OVERHEAD: u64 = 80;

/// A response's status and header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Status code.
    pub status: StatusCode,
    /// Header fields, as the origin sent them (hop-by-hop removed by the
    /// proxy before they reach the cache).
    pub headers: HeaderMap,
}

impl ResponseHead {
    /// A head from its parts.
    pub fn new(status: StatusCode, headers: HeaderMap) -> Self {
        ResponseHead { status, headers }
    }
}

/// A stored response.
#[derive(Debug)]
pub struct Object {
    head: ResponseHead,
    body: Box<[Bytes]>,
    body_len: u64,
    vary: Vary,
    variant: VariantKey,
    freshness: Freshness,
    corrected_initial_age: Duration,
    times: ExchangeTimes,
    tags: Box<[Box<str>]>,
    soft_purged: AtomicBool,
    charge: u64,
}

/// Everything about a response besides head and body that storing it needs.
#[derive(Debug, Clone)]
pub struct ObjectMeta {
    /// The response's parsed `Vary`.
    pub vary: Vary,
    /// The filling request's values of the `Vary` headers.
    pub variant: VariantKey,
    /// From [`crate::policy::admit`].
    pub admission: Admission,
    /// When the origin exchange happened.
    pub times: ExchangeTimes,
    /// Purge tags (see [`parse_tags`]).
    pub tags: Vec<Box<str>>,
}

impl Object {
    /// Builds an object from a response and its metadata.
    pub fn new(head: ResponseHead, body: Vec<Bytes>, meta: ObjectMeta) -> Object {
        let body_len: u64 = body.iter().map(|c| c.len() as u64).sum();
        let header_bytes: u64 = head
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().len() + v.len()) as u64 + HEADER_LINE_OVERHEAD)
            .sum();
        let tag_bytes: u64 = meta.tags.iter().map(|t| t.len() as u64 + 16).sum();
        let charge = OBJECT_OVERHEAD
            + body_len
            + header_bytes
            + tag_bytes
            + meta.variant.heap_bytes() as u64;
        Object {
            head,
            body: body.into(),
            body_len,
            vary: meta.vary,
            variant: meta.variant,
            freshness: meta.admission.freshness,
            corrected_initial_age: meta.admission.corrected_initial_age,
            times: meta.times,
            tags: meta.tags.into(),
            soft_purged: AtomicBool::new(false),
            charge,
        }
    }

    /// Status and headers as stored (no `Age`, no `Cache-Status`).
    pub fn head(&self) -> &ResponseHead {
        &self.head
    }

    /// Body chunks as they arrived from the origin.
    pub fn body(&self) -> &[Bytes] {
        &self.body
    }

    /// Body length in bytes.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// The body bytes in `range` (clamped to the body), as zero-copy
    /// slices of the stored chunks.
    pub fn body_range(&self, range: Range<u64>) -> impl Iterator<Item = Bytes> + '_ {
        let mut offset = 0u64;
        self.body.iter().filter_map(move |chunk| {
            let start = offset;
            offset += chunk.len() as u64;
            let from = range.start.max(start);
            let to = range.end.min(offset);
            // Both bounds lie inside this chunk, so the casts cannot truncate.
            (from < to).then(|| chunk.slice((from - start) as usize..(to - start) as usize))
        })
    }

    /// Reuse rules recorded at store time.
    pub fn freshness(&self) -> &Freshness {
        &self.freshness
    }

    /// The response's `Vary`.
    pub fn vary(&self) -> &Vary {
        &self.vary
    }

    /// The variant this object answers.
    pub fn variant(&self) -> &VariantKey {
        &self.variant
    }

    /// When the origin exchange that produced it happened.
    pub fn times(&self) -> ExchangeTimes {
        self.times
    }

    /// RFC 9111 §4.2.3 current age at `now`.
    pub fn current_age(&self, now: SystemTime) -> Duration {
        current_age(self.corrected_initial_age, self.times.response_time, now)
    }

    /// Remaining freshness in seconds at `now` (negative once stale), as
    /// `Cache-Status` reports it.
    pub fn ttl(&self, now: SystemTime) -> i64 {
        ttl_seconds(self.freshness.lifetime, self.current_age(now))
    }

    /// How this object may answer a request with `req` directives at `now`.
    pub fn decide(&self, req: &RequestDirectives, now: SystemTime) -> Decision {
        decide(
            &self.freshness,
            self.current_age(now),
            self.is_soft_purged(),
            req,
        )
    }

    /// Purge tags.
    pub fn tags(&self) -> &[Box<str>] {
        &self.tags
    }

    /// Whether a soft purge marked it stale.
    pub fn is_soft_purged(&self) -> bool {
        self.soft_purged.load(Ordering::Relaxed)
    }

    pub(crate) fn mark_soft_purged(&self) {
        self.soft_purged.store(true, Ordering::Relaxed);
    }

    /// Bytes this object counts against the store's bound.
    pub fn charge(&self) -> u64 {
        self.charge
    }
}

/// Purge tags from the `tag_header` lines of a response: comma-separated,
/// trimmed, empty and over-long tags dropped, at most [`MAX_TAGS`],
/// duplicates removed.
pub fn parse_tags(headers: &HeaderMap, tag_header: &HeaderName) -> Vec<Box<str>> {
    let mut tags: Vec<Box<str>> = Vec::new();
    let items = headers
        .get_all(tag_header)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(split_list);
    for tag in items {
        if tags.len() == MAX_TAGS {
            break;
        }
        if tag.len() <= MAX_TAG_BYTES && !tags.iter().any(|t| &**t == tag) {
            tags.push(tag.into());
        }
    }
    tags
}
