//! Outpost's access-log schema and the log analytics behind `outpost logs`.
//!
//! This crate has no async runtime: the proxy hands it finished records, and the
//! CLI feeds it files. `record` owns the JSON access-log line format.

pub mod record;
