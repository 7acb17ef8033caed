//! omnibridge: an omnichannel messaging bridge with payments built in.
//!
//! # Layout
//! - [`bus`]: the durable event log (SQLite or Redis Streams) with consumer groups.
//! - [`store`]: conversations, outbox, idempotency records, dead letters.
//! - [`ingest`]: the one path onto the bus (stamp, record the conversation, append).
//! - [`channels`]: configured channels and fitting messages to their capabilities.
//! - [`outbox`]: queued outbound messages, the dispatch worker, retry policy.
//! - [`webhooks_out`]: signed business webhooks with retry and dead letters.
//! - [`http`]: the axum server: business API, SSE, channel webhooks, web chat, health.
//! - [`metrics`]: Prometheus metrics.
#![forbid(unsafe_code)]

pub mod bus;
pub mod channels;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod outbox;
pub mod store;
pub mod webhooks_out;
