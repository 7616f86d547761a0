//! RFC 9111 policy as pure functions: storability ([`admit`]), freshness
//! and age ([`lifetime`], [`current_age`]), the reuse [`Decision`] for a
//! request, validation and 304 merging, invalidation after unsafe methods,
//! `Range` answers from stored responses, and the `Cache-Status` and `Age`
//! header values. No clock is read here: every time is an argument.

mod freshness;
mod invalidate;
mod range;
mod revalidate;
mod status;
mod storable;

pub use freshness::{
    Decision, ExchangeTimes, Freshness, HEURISTIC_STATUSES, LifetimeSource, corrected_initial_age,
    current_age, decide, explicit_lifetime, heuristic_lifetime, heuristically_cacheable, lifetime,
};
pub use invalidate::{UrlTarget, invalidation_targets, is_safe};
pub use range::{RangeAnswer, answer_range, content_range};
pub use revalidate::{
    client_not_modified, conditional_headers, fill_request_headers, merge_not_modified,
    not_modified_matches,
};
pub use status::{CacheStatus, Forward, age_value, is_sf_token, ttl_seconds};
pub use storable::{Admission, NotStorable, RequestFacts, admit, declared_length};
