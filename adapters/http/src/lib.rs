//! The no-code HTTP channel of omnibridge (`[[channels]] type = "http"`): any provider that
//! posts JSON webhooks and takes JSON requests, mapped entirely in TOML.
//!
//! Inbound, the provider's webhook (`POST /webhooks/<id>`) is verified by HMAC-SHA256 (hex or
//! base64, optional prefix, optionally over `"<timestamp>.<body>"`) in constant time before
//! anything parses it; JSON Pointers (RFC 6901) pick each message's id, sender, thread, text,
//! button payload, media URL and time. Delivery-status callbacks (`POST
//! /webhooks/<id>/status`) map provider words to our statuses. Outbound, a handlebars template
//! renders the JSON body, posted with `Idempotency-Key`, optional `Authorization` and an
//! optional `t=…,v1=…` signature; answers map to the SDK's typed errors. See the README.
//!
//! # Layout
//! - [`config`]: [`HttpChannelConfig`], the `[[channels]]` table.
//! - [`channel`]: [`HttpChannel`] and [`HttpChannelFactory`] (which checks the whole table).
//! - [`signature`]: outbound [`signature::sign`] / [`signature::verify`], and
//!   [`signature::sign_webhook`] (what a provider sends).
//! - [`inbound`], [`status`]: webhook bodies → events (pure).
//! - [`outbound`]: posting, and the answer → `ChannelError` mapping.
#![forbid(unsafe_code)]

pub mod channel;
pub mod config;
pub mod inbound;
pub mod outbound;
mod pointer;
pub mod signature;
pub mod status;
mod template;

pub use channel::{Clock, HttpChannel, HttpChannelFactory, KIND, STATUS_SUBPATH};
pub use config::{
    CapabilitiesConfig, HttpChannelConfig, InboundConfig, OutboundConfig, SignatureEncoding,
    SignedPayload, StatusConfig,
};
