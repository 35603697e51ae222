//! End-to-end tests of dsr-server (written next).
