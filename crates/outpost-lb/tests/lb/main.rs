//! Integration tests for `outpost-lb`, one binary: every policy through the
//! public `Selector` API, `HashOn` over real `http` requests, and the retry
//! budget on a clock the tests own. Shared helpers live in `util`.

mod bounded_load;
mod exclusion;
mod hash_on;
mod hashing;
mod least_request;
mod limits;
mod retry_budget;
mod round_robin;
mod util;
