//! omnibridge: an omnichannel messaging bridge with payments built in.
//!
//! # Layout
//! - [`bus`]: the durable event log (SQLite or Redis Streams) with consumer groups.
//! - [`store`]: conversations, outbox, idempotency records, dead letters.
#![forbid(unsafe_code)]

pub mod bus;
pub mod store;
