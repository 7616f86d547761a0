//! Criterion benchmarks for `outpost_rules::ip`.

fn main() {}
