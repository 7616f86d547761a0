//! Outpost's request rules, as pure logic: IP prefix tables and named IP
//! lists ([`ip`]), the rules expression language ([`lang`]: parse, type-check,
//! compile once into closures, evaluate), and rule phases with their actions
//! ([`engine`]). No tokio and no clock: anything time-dependent takes `now`
//! as an argument, so every part is testable and fuzzable without a runtime.

pub mod engine;
pub mod ip;
pub mod lang;
mod request;

pub use request::{OwnedRequest, ParseRequestError, Request, TlsFacts};
