//! The WhatsApp channel of omnibridge: Cloud API webhooks in, Graph API messages out.
//!
//! The bridge mounts `GET`/`POST /webhooks/{channel id}`; this crate verifies
//! `X-Hub-Signature-256` on the raw bytes, answers the `hub.challenge` handshake, and turns
//! every documented webhook shape into canonical events. Outbound, it sends text, reply
//! buttons, lists and approved templates through `POST /{version}/{phone-number-id}/messages`
//! and maps Graph error codes to the SDK's typed errors. See the crate README.
//!
//! # Layout
//! - [`config`]: [`WhatsAppConfig`] (the `[[channels]]` table) and [`WhatsAppSecrets`].
//! - [`channel`]: [`WhatsAppChannel`], the [`omnibridge_sdk::Channel`] implementation.
//! - [`inbound`]: signature check, handshake, normalisation (pure).
//! - [`outbound`]: the Graph API client, message shapes, templates.
//! - [`wire`]: Meta's JSON shapes.
//! - [`errors`]: config errors and the Graph error → `ChannelError` mapping.
//! - `fake` (feature `fake`): a local Graph API for tests.
#![forbid(unsafe_code)]

pub mod channel;
pub mod config;
pub mod errors;
pub mod factory;
#[cfg(feature = "fake")]
pub mod fake;
pub mod inbound;
pub mod outbound;
pub mod wire;

pub use channel::{KIND, REPLY_WINDOW, WhatsAppChannel, capabilities};
pub use config::{ButtonParam, ButtonSubType, TemplateMapping, WhatsAppConfig, WhatsAppSecrets};
pub use errors::{ConfigError, GraphError};
pub use factory::WhatsAppFactory;
