//! The load benchmark (written next).
fn main() {}
