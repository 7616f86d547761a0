//! Property tests of the freshness calculation and the range answer.

use std::time::Duration;

use http::{Method, StatusCode};
use outpost_cache::RouteSettings;
use outpost_cache::directives::{RequestDirectives, ResponseDates};
use outpost_cache::policy::{self, Decision, ExchangeTimes, Freshness, RangeAnswer, RequestFacts};
use proptest::prelude::*;

use crate::util::{date, headers, secs, t0};

fn lifetime_of(cc: &str) -> Option<Duration> {
    let directives = RequestDirectives::default();
    let facts = RequestFacts {
        method: &Method::GET,
        directives: &directives,
        authorization: false,
    };
    let h = headers(&[("cache-control", cc), ("etag", "\"x\"")]);
    policy::admit(
        &RouteSettings::default(),
        facts,
        StatusCode::OK,
        &h,
        ExchangeTimes::at(t0()),
    )
    .ok()
    .map(|a| a.freshness.lifetime)
}

proptest! {
    #[test]
    fn lifetime_is_monotonic_in_max_age(a in 0u64..10_000_000, b in 0u64..10_000_000) {
        let (lo, hi) = (a.min(b), a.max(b));
        let (short, long) = (lifetime_of(&format!("max-age={lo}")), lifetime_of(&format!("max-age={hi}")));
        prop_assert!(short <= long);
        prop_assert_eq!(lifetime_of(&format!("max-age={a}")), Some(secs(a)));
    }

    #[test]
    fn s_maxage_takes_precedence(m in 0u64..1_000_000, s in 0u64..1_000_000) {
        prop_assert_eq!(lifetime_of(&format!("max-age={m}, s-maxage={s}")), Some(secs(s)));
        prop_assert_eq!(lifetime_of(&format!("s-maxage={s}, max-age={m}")), Some(secs(s)));
    }

    #[test]
    fn age_is_never_negative_and_grows_with_time(
        date_off in -100_000i64..100_000,
        age in proptest::option::of(0u64..100_000),
        delay in 0u64..1000,
        resident in 0u64..1_000_000,
    ) {
        let d = if date_off >= 0 { t0() + secs(date_off as u64) } else { t0() - secs(date_off.unsigned_abs()) };
        let age_s = age.map(|a| a.to_string());
        let mut pairs = vec![("date", date(d))];
        if let Some(a) = &age_s {
            pairs.push(("age", a.clone()));
        }
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let dates = ResponseDates::parse(&headers(&pairs));
        let times = ExchangeTimes { request_time: t0(), response_time: t0() + secs(delay) };
        let initial = policy::corrected_initial_age(&dates, times);
        prop_assert!(initial >= secs(age.unwrap_or(0) + delay));
        let now = times.response_time + secs(resident);
        let current = policy::current_age(initial, times.response_time, now);
        prop_assert_eq!(current, initial + secs(resident));
        prop_assert!(policy::current_age(initial, times.response_time, now + secs(1)) > current);
    }

    #[test]
    fn fresh_iff_lifetime_exceeds_current_age(lifetime in 0u64..1_000_000, age in 0u64..2_000_000) {
        let f = Freshness { lifetime: secs(lifetime), ..Freshness::default() };
        let d = policy::decide(&f, secs(age), false, &RequestDirectives::default());
        prop_assert_eq!(d == Decision::Fresh, lifetime > age);
        prop_assert_eq!(policy::ttl_seconds(secs(lifetime), secs(age)), lifetime as i64 - age as i64);
    }

    #[test]
    fn range_answers_stay_in_bounds(a in 0u64..2000, b in 0u64..2000, len in 0u64..1500, suffix in any::<bool>()) {
        let spec = if suffix { format!("bytes=-{a}") } else { format!("bytes={a}-{b}") };
        let req = headers(&[("range", &spec)]);
        match policy::answer_range(&req, &headers(&[]), len) {
            RangeAnswer::Partial(r) => prop_assert!(r.start < r.end && r.end <= len),
            RangeAnswer::Unsatisfiable | RangeAnswer::Full => {}
        }
    }
}
