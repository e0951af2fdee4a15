//! Placeholder replaced by the validation benchmarks.
fn main() {}
