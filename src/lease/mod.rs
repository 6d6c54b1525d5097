//! Leases of pool numbers to website visitors (the lease engine merges in here).

mod visit;

pub use visit::Visit;
