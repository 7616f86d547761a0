//! Tests of `outpost_rules::lang`.
