//! omnibridge: an omnichannel messaging bridge with payments built in.
//!
//! # Layout
//! - [`bus`]: the durable event log (SQLite or Redis Streams) with consumer groups.
//! - [`store`]: conversations, outbox, idempotency records, dead letters.
//! - [`sqlite`]: the embedded SQLite database (WAL, single writer with group commit) shared
//!   by the SQLite bus and store.
#![forbid(unsafe_code)]

pub mod bus;
pub mod sqlite;
pub mod store;
