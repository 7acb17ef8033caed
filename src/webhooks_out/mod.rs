//! Outbound business webhooks: every bus event POSTed to each configured URL, signed, retried
//! with backoff, and dead-lettered (and counted) when the receiver stays down.
//!
//! Each endpoint is a consumer group on the bus (`webhook:<name>`), so delivery is
//! at-least-once, in bus order, and survives restarts.

pub mod dispatcher;
pub mod signature;

pub use dispatcher::{WebhookDispatcher, WebhookEndpoint};
pub use signature::{SIGNATURE_HEADER, sign, verify};
