//! Requests per second end to end (written below).
fn main() {}
