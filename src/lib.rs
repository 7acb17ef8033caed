//! omnibridge: an omnichannel messaging bridge with payments built in.
//!
//! # Layout
//! - [`Bridge`] ([`bridge`]): the bridge as a library; a binary is `main` + `Bridge`, with
//!   its own channel kinds added by [`Bridge::with_channel_factory`].
//! - [`cli`], [`startup`], [`telemetry`]: the binary's command line, wiring and logging;
//!   [`check`]: what `omnibridge check` verifies.
//! - [`config`]: settings layered from embedded defaults, a TOML file and env; secrets, API keys.
//! - [`bus`]: the durable event log (SQLite or Redis Streams) with consumer groups.
//! - [`store`]: conversations, outbox, idempotency records, dead letters.
//! - [`ingest`]: the one path onto the bus (stamp, record the conversation, append).
//! - [`deliveries`]: delivery statuses linked to outbound messages, never downgraded.
//! - [`media`]: inbound media downloaded, stored behind [`media::MediaStore`], served by the API.
//! - [`channels`]: the channel factories by kind (the one registration seam), configured
//!   channels, and fitting messages to their capabilities.
//! - [`outbox`]: queued outbound messages, the dispatch worker, retry policy.
//! - [`webhooks_out`]: signed business webhooks with retry and dead letters.
//! - [`http`]: the axum server: composes the routers (business API, SSE, channel webhooks,
//!   web chat, health, and the payment routes from [`payments`]).
//! - [`web`]: the handlers' shared helpers (problem+json, body and header parsing, API keys).
//! - [`templates`], [`render`]: handlebars message templates per channel and locale, with checks.
//! - [`payments`]: payment intents and the MPP endpoint (`/pay/{intent_id}`), the sandbox method.
//! - [`money`]: integer minor-unit amounts in ISO 4217 currencies, and their display.
//! - [`metrics`]: Prometheus metrics.
//! - [`retention`]: the periodic job that keeps the log and the bookkeeping tables bounded.
//! - [`sqlite`]: the embedded SQLite database (WAL, single writer with group commit) shared
//!   by the SQLite bus and store.
#![forbid(unsafe_code)]

pub mod bridge;
pub mod bus;
pub mod channels;
pub mod check;
pub mod cli;
pub mod config;
pub mod deliveries;
pub mod http;
pub mod ingest;
pub mod mcp_stdio;
pub mod media;
pub mod metrics;
pub mod money;
pub mod outbox;
pub mod payments;
pub mod render;
pub mod retention;
pub mod sqlite;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod templates;
pub mod web;
pub mod webhooks_out;

pub use bridge::Bridge;
