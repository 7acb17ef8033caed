//! The MPP endpoint `GET|POST /pay/{intent_id}`: HTTP 402 with the `Payment` scheme (see
//! `specs/`), on the `mpp` crate's wire types.
//!
//! # Layout
//! - [`keys`]: the challenge-binding secrets (current and rotated).
//! - [`challenge`]: issuing challenges and verifying credentials.
//! - [`response`]: 402s with fresh challenges and problems; 200s with receipts.
//! - [`answers`]: problems and JSON shared with the payment-intent API.
//! - [`endpoint`]: the handler: verify → consume once → settle → answer.

pub mod answers;
pub mod challenge;
pub mod endpoint;
pub mod keys;
pub mod response;

use std::sync::Arc;

use keys::ChallengeKeys;

use super::engine::PaymentEngine;
use super::stripe::StripeMethod;
use super::wallet::LinkedSources;

/// The payments side of the HTTP state: the MPP endpoint, the Stripe webhook, linked sources.
#[derive(Clone, Debug)]
pub struct Mpp {
    /// The payment engine (intents, methods, messages).
    pub engine: PaymentEngine,
    /// The challenge-binding secrets.
    pub keys: ChallengeKeys,
    /// The `realm` of every challenge.
    pub realm: String,
    /// Challenge lifetime, in seconds.
    pub challenge_ttl_secs: u64,
    /// The Stripe method, when enabled (its webhook secret verifies Stripe webhooks).
    pub stripe: Option<Arc<StripeMethod>>,
    /// Which payment source pays for which customer (the wallet's registry).
    pub sources: Arc<LinkedSources>,
}
