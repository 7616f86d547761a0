//! Tests of `outpost_rules::engine`.
