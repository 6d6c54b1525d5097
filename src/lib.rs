//! calltrack: a call-tracking system built into a SIP B2BUA (see `../shared/DESIGN.md`).
//!
//! The crate is a library with a thin binary on top so that `tests/` and `benches/` can use
//! every layer directly. Dependency rules: `sip` depends on nothing else in the crate; `sip`,
//! `call` and `lease` never await, never read the clock and never touch a socket.

pub mod app;
pub mod b2bua;
pub mod call;
pub mod cli;
pub mod config;
pub mod display;
pub mod edge;
pub mod health;
pub mod http;
pub mod lease;
pub mod routing;
pub mod shutdown;
pub mod sip;
pub mod store;
pub mod telemetry;
pub mod transport;
