//! omnibridge: an omnichannel messaging bridge with payments built in.
//!
//! # Layout
//! - [`bus`]: the durable event log (SQLite or Redis Streams) with consumer groups.
//! - [`config`]: settings layered from embedded defaults, a TOML file and env; secrets, API keys.
//! - [`money`]: integer minor-unit amounts in ISO 4217 currencies, and their display.
//! - [`store`]: conversations, outbox, idempotency records, dead letters.
//! - [`templates`]: handlebars message templates per channel and locale, with checks.
#![forbid(unsafe_code)]

pub mod bus;
pub mod config;
pub mod money;
pub mod store;
pub mod templates;
