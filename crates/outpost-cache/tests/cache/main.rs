//! Integration tests of outpost-cache's public API: one binary, one module
//! per area, a shared harness in `util`.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod directives;
mod fill;
mod flow;
mod key;
mod limits;
mod policy;
mod props;
mod purge;
mod store;
mod util;
