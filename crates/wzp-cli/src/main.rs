//! `wzp`: the headless command-line tool.
fn main() {}
