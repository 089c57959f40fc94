//! Developer tasks for Gregor.
fn main() {}
