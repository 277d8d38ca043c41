//! Placeholder until the media benchmarks land.
fn main() {}
