//! Integration tests for the data path, on real sockets bound to 127.0.0.1:0.

#![allow(clippy::unwrap_used, reason = "test helpers fail loudly by design")]

mod balance;
mod basics;
mod cache;
mod limits;
mod origin_wire;
mod reload;
mod rules;
mod statics;
mod streaming;
mod tls;
mod util;
