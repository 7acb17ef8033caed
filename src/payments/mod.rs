//! The payment-intent engine: one charge offer on one conversation, confirmed in whatever
//! channel the customer is in, always through the same MPP exchange (`/pay/{intent_id}`, HTTP
//! 402 with the `Payment` scheme). Channel code never touches money.
//!
//! # Layout
//! - [`intent`]: [`PaymentIntent`](intent::PaymentIntent) and its states.
//! - [`store`]: the [`PaymentStore`](store::PaymentStore) trait (compare-and-set transitions,
//!   single-use challenge ids); SQLite in `crate::store::sqlite`.
//! - [`engine`]: [`PaymentEngine`](engine::PaymentEngine): create, cancel, expire, settle,
//!   fail, refund (`refund.rs`), each announced as a `payment.*` event.
//! - `announce`: the event and message of a confirmation's moves, recorded in the move's own
//!   write ([`Companions`](store::Companions)) where the store can.
//! - [`notify`]: the messages to the conversation (templates, Pay/Cancel buttons).
//! - [`method`]: the [`PaymentMethod`](method::PaymentMethod) trait settlement methods
//!   (`stripe`, `sandbox`) implement, and what they exchange with the engine.
//! - [`stripe`]: the Stripe method (PaymentIntent with a Shared Payment Token, refunds),
//!   `Stripe-Signature` verification and convergent webhook reconciliation.
//! - [`sandbox`]: the keyless `sandbox` method with magic tokens.
//! - [`mpp`]: the MPP endpoint (challenges, credentials, receipts).
//! - `reconcile`: verified Stripe webhooks applied to intents through compare-and-set.
//! - [`outcome`]: settlements whose outcome is unknown (never re-opened on a guess) and how
//!   they are resolved; [`sweeper`]: the periodic job that resolves them, sweeps intents a
//!   crash left `processing` and expires overdue intents.
//! - [`wallet`]: the in-channel wallet ("Pay" buttons and confirm keywords → MPP payments
//!   from the customer's linked payment source).
//! - [`routes`]: the payment routes as a sub-router with its own state
//!   ([`PaymentsState`](routes::PaymentsState)); [`api`]: the payment-intent API;
//!   [`confirm_page`]: the confirmation page for channels without buttons.
//! - [`guardrails`]: per-API-key limits on money (currencies, `max_amount`, daily limits,
//!   refunds, `approval_above`); `approval.rs`: approving or rejecting `requires_approval`
//!   intents.
//! - [`error`]: the engine's [`PaymentError`](error::PaymentError).

mod announce;
pub mod api;
mod approval;
pub mod confirm_link;
pub mod confirm_page;
pub mod engine;
pub mod error;
mod events;
pub mod guardrails;
pub mod intent;
pub mod method;
pub mod mpp;
pub mod notify;
pub mod outcome;
pub mod reconcile;
mod refund;
pub mod routes;
pub mod sandbox;
pub mod setup;
pub mod store;
pub mod stripe;
pub mod sweeper;
mod validate;
pub mod wallet;

pub use validate::{MAX_AMOUNT_MINOR, MAX_EXPIRES_IN_SECS};
