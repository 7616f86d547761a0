//! Integration tests of outpost-rules' public API: one binary, one module per area.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod engine;
mod ip;
mod lang;
