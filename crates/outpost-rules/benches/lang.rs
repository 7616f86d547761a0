//! Criterion benchmarks for `outpost_rules::lang`.

fn main() {}
