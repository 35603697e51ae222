//! End-to-end tests across the crates and the binaries: the `dsr` command as a process,
//! the README walkthrough, faults (closed pipes, full disks, locked databases), JSON
//! shapes. One test binary, one harness (`harness.rs`).

mod cli;
mod compliance;
mod connectors;
mod conversations;
mod durability;
mod erasure;
mod faults;
mod harness;
mod imports;
mod manual;
mod multinode;
mod readme;
mod requests;
mod shapes;
mod subjects;
