//! Outpost's load balancing, as pure logic: choosing a backend for a request
//! ([`Selector`], built once per health change from a [`Policy`] and the
//! eligible [`BackendSpec`]s), extracting the request key that the hashing
//! policies hash ([`HashOn`]), and limiting retries ([`RetryBudget`]).
//! No tokio, no sockets and no clock: live loads come in through [`Loads`]
//! and time through `now` arguments, so every part is testable on its own.

mod backend;
pub mod hash;
mod hash_on;
mod load;
mod retry_budget;
pub mod rng;
mod selector;

pub use backend::{
    BackendSpec, BuildError, BuildProblem, MAX_BACKENDS, MAX_BALANCE_FACTOR, MAX_CHOICES,
    MAX_WEIGHT, Policy, validate,
};
pub use hash::hash_key;
pub use hash_on::{HashOn, MAX_KEY_NAME_LEN, ParseHashOnError};
pub use load::{Loads, NoLoads};
pub use retry_budget::{MAX_RETRY_RATIO, RETRY_WINDOW, RetryBudget};
pub use selector::{
    HASH_WALK_LIMIT, MAGLEV_MIN_TABLE_SIZE, MAGLEV_TABLE_PER_BACKEND, MAX_RING_POINTS,
    MAX_RR_SEQUENCE, PICK_ATTEMPTS, RING_POINTS_PER_BACKEND, Selector,
};
