//! End-to-end tests of `dsr-server`: the real binary on a loopback port, driven by a
//! real HTTP client (one harness: `harness.rs`).

mod harness;

mod auth;
mod callbacks;
mod errors;
mod import;
mod isolation;
mod limits;
mod metrics;
mod multinode;
mod notify;
mod opendsr;
mod portal;
mod tenants;
mod tls;
mod workflow;
