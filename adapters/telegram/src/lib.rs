//! The Telegram channel of omnibridge: bot webhooks or `getUpdates` long polling in, Bot API
//! out (through `teloxide-core`, whose `Bot::set_api_url` points tests at the fake).
//!
//! The bridge mounts `POST /webhooks/{channel id}`; this crate compares
//! `X-Telegram-Bot-Api-Secret-Token` in constant time before parsing, turns every update into
//! canonical events (unknown ones become `unsupported`), and de-duplicates on `update_id`.
//! Outbound, it sends HTML-escaped text with inline keyboards, keeps long button payloads
//! server-side, and maps Bot API answers to the SDK's typed errors. See the crate README.
//!
//! # Layout
//! - [`config`]: [`TelegramConfig`] (the `[[channels]]` table) and [`TelegramSecrets`].
//! - [`channel`]: [`TelegramChannel`], the [`omnibridge_sdk::Channel`] implementation.
//! - [`inbound`]: secret check and normalisation (pure), the callback-data format.
//! - [`outbound`]: rendering (escaping, splitting, keyboards).
//! - [`poll`]: polling mode's `getUpdates` loop.
//! - [`errors`]: config errors and the Bot API → `ChannelError` mapping.
//! - `fake` (feature `fake`): a local Bot API for tests.
#![forbid(unsafe_code)]

pub mod channel;
pub mod config;
pub mod errors;
pub mod factory;
#[cfg(feature = "fake")]
pub mod fake;
pub mod inbound;
pub mod outbound;
pub mod poll;

pub use channel::{KIND, TelegramChannel, capabilities};
pub use config::{Mode, TelegramConfig, TelegramSecrets};
pub use errors::ConfigError;
pub use factory::TelegramFactory;
