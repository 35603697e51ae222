//! Runnable tutorials for dsr.
//!
//! [`shop`] embeds the request engine in a small host application — an online shop
//! with two systems of its own, a newsletter (which deletes) and an order book (which
//! anonymizes) — and runs the recommended workflow of G-13 in code:
//!
//! 1. look the person up separately by each identifier they gave (a name and an email),
//! 2. keep only the subjects the identifiers corroborate,
//! 3. make one request per matching subject (a merge set counts once: the engine fans
//!    it out to related requests for every member),
//! 4. check the related requests, carry everything out with a worker, verify the signed
//!    export package as the receiving party would, erase, and verify the audit chain.
//!
//! Run it with `cargo run -p dsr-examples --example host_app`; `tests/host_app.rs` runs
//! the same code and checks what it did.

pub mod shop;
