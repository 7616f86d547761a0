//! Tests of `outpost_rules::ip`.
