//! Fault tests (issue 5): packet loss and reordering in network namespaces, `kill -9` and
//! restart under load, and overload (503 with Retry-After, bounded memory, malformed floods).
//! Each runs the real binary with sipp peers and takes up to about two minutes.
//! The 10-minute soak is `benches/soak.sh`; fuzzing is `fuzz/run.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/mod.rs"]
mod support;

mod cdrs;
mod crash;
mod daemon;
mod http;
mod netem;
mod netns;
mod overload;
mod sipp_load;
