//! The payment-intent engine: one charge offer on one conversation, confirmed in whatever
//! channel the customer is in, always through the same MPP exchange (`/pay/{intent_id}`, HTTP
//! 402 with the `Payment` scheme). Channel code never touches money.
//!
//! # Layout
//! - [`method`]: the [`PaymentMethod`](method::PaymentMethod) trait settlement methods
//!   (`stripe`, `sandbox`) implement, and what they exchange with the engine.
//! - [`stripe`]: the Stripe method (PaymentIntent with a Shared Payment Token, refunds),
//!   `Stripe-Signature` verification and convergent webhook reconciliation.

pub mod method;
pub mod stripe;
