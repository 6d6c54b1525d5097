//! The SIP protocol core (RFC 3261): message model, parser and encoder, transactions, dialogs.
//!
//! Sans-IO: nothing in here awaits, reads a clock, draws randomness or touches a socket.
//! Time (`now: Instant`) and random values are parameters; bytes go in and out as values.

pub mod dialog;
pub mod digest;
pub mod message;
pub mod peer;
pub mod shard;
pub mod transaction;

pub use message::{HeaderName, Method, SipMessage};
pub use peer::{Peer, Transmit, Transport};
