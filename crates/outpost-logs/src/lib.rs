//! Outpost's access-log schema and the log analytics behind `outpost logs`.
//!
//! This crate has no async runtime: the proxy hands it finished records, and the
//! CLI feeds it files. `record` owns the JSON access-log line format. The analyzer reads
//! inputs (`input`, `follow`), parses lines without allocating (`format`, `template`,
//! `json`, `fields`), filters them (`filter`), folds them in parallel into a report's
//! accumulator (`engine`, `report`) with bounded memory (`counter`, `keymap`, `hll`), and
//! renders the result (`render`). `analysis` is the entry point that ties them together.

pub mod analysis;
pub mod counter;
pub mod engine;
pub mod fields;
pub mod filter;
pub mod follow;
pub mod format;
pub mod hll;
pub mod input;
pub mod json;
pub mod keymap;
pub mod record;
pub mod render;
pub mod report;
pub mod template;
pub mod time;

pub use analysis::{Analysis, JsonOutput, Report, ReportSpec};
pub use engine::ScanConfig;
pub use filter::{Filter, FilterArgs};
pub use format::FormatChoice;
