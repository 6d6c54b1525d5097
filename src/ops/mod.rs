//! Operations services around the daemon: config reload on SIGHUP (`reload`), the systemd
//! watchdog (`watchdog`) and what changes between two configs (`diff`).

pub mod diff;
pub mod reload;
pub mod watchdog;

pub use reload::{ReloadOutcome, Reloader};
pub use watchdog::Heartbeat;
