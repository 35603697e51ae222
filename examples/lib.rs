//! Runnable tutorials for dsr; see `host_app.rs` (`cargo run -p dsr-examples --example host_app`).
