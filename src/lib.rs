//! calltrack: a call-tracking system built into a SIP B2BUA (see `../shared/DESIGN.md`).
//!
//! The crate is a library with a thin binary on top so that `tests/` and `benches/` can use
//! every layer directly. The rooms follow the call (`transport` > `edge` > `sip` > `b2bua` >
//! `call` > `routing` > `store`); `tests/architecture.rs` keeps their rules: `sip` depends on
//! nothing else in the crate, the decision and protocol rooms never await, read the clock or
//! touch a socket, and no two rooms import each other in a circle.

pub mod app;
pub mod b2bua;
pub mod call;
pub mod cli;
pub mod config;
pub mod display;
pub mod edge;
pub mod export;
pub mod health;
pub mod http;
pub mod lease;
pub mod media;
pub mod report;
pub mod routing;
pub mod shutdown;
pub mod simulate;
pub mod sip;
pub mod speech;
pub mod store;
pub mod telemetry;
pub mod transport;
