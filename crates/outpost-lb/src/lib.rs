//! Outpost's load balancing, as pure logic: choosing a backend for a request
//! ([`Selector`], built once per health change from a [`Policy`] and the
//! eligible [`BackendSpec`]s), extracting the request key that the hashing
//! policies hash ([`HashOn`]), and limiting retries ([`RetryBudget`]).
//! No tokio, no sockets and no clock: live loads come in through [`Loads`]
//! and time through `now` arguments, so every part is testable on its own.
//!
//! ```
//! use outpost_lb::{BackendSpec, HashOn, NoLoads, Policy, Selector};
//!
//! let backends: Vec<BackendSpec> = ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"]
//!     .into_iter()
//!     .map(|id| BackendSpec { id: id.into(), weight: 1 })
//!     .collect();
//! // Backend 1 failed its health checks.
//! let selector = Selector::build(&Policy::Maglev { bounded_load: Some(1.25) }, &backends, &[0, 2]);
//!
//! let key: HashOn = "header:x-user".parse()?;
//! let (parts, ()) = http::Request::get("/").header("x-user", "alice").body(())?.into_parts();
//! let hash = key.hash(&parts, "192.0.2.7".parse()?);
//! let first = selector.pick(hash, &NoLoads, &[]).expect("two eligible backends");
//! // The retry goes elsewhere.
//! let retry = selector.pick(hash, &NoLoads, &[first]).expect("one left");
//! assert!(first != retry && first != 1 && retry != 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
