//! Stripe webhooks: the `Stripe-Signature` check and the events we reconcile.
//!
//! Signature scheme (Stripe's documented one): the header is `t=<unix seconds>` and one or
//! more `v1=<hex HMAC-SHA256>` (several during a secret roll; `v0` and unknown schemes are
//! ignored). The signed payload is `"<t>.<raw body>"`, the key the endpoint's `whsec_…`
//! secret as bytes. A body verifies when any `v1` matches (compared in constant time) and
//! `t` is within the tolerance of our clock (Stripe's libraries use 300 s).

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::messages::customer_message;

/// The header carrying Stripe's signature.
pub const STRIPE_SIGNATURE_HEADER: &str = "stripe-signature";

/// Stripe's default tolerance for webhook timestamps, in seconds.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Why a webhook was not accepted. Never contains the secret or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// No `t=` timestamp, or not a number.
    #[error("Stripe-Signature has no valid timestamp")]
    NoTimestamp,
    /// No `v1=` signature.
    #[error("Stripe-Signature has no v1 signature")]
    NoSignature,
    /// The timestamp is further from our clock than the tolerance (replay protection).
    #[error("Stripe-Signature timestamp outside the tolerance")]
    Stale,
    /// No `v1` signature matches the body.
    #[error("Stripe-Signature does not match the body")]
    Mismatch,
    /// No webhook secret is configured.
    #[error("no Stripe webhook secret configured")]
    NotConfigured,
}

/// Verifies `payload` (the raw body, before any parsing) against a `Stripe-Signature`
/// `header` with the endpoint `secret`, allowing `tolerance_secs` around `now`.
pub fn verify_stripe_signature(
    payload: &[u8],
    header: &str,
    secret: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), WebhookError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.trim().parse::<i64>().ok(),
            Some(("v1", value)) => {
                if let Ok(signature) = hex::decode(value.trim()) {
                    signatures.push(signature);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(WebhookError::NoTimestamp)?;
    if signatures.is_empty() {
        return Err(WebhookError::NoSignature);
    }
    if now.abs_diff(timestamp) > tolerance_secs.unsigned_abs() {
        return Err(WebhookError::Stale);
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return Err(WebhookError::Mismatch);
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    // Check every candidate (no early exit), each in constant time.
    let mut matched = false;
    for signature in &signatures {
        matched |= mac.clone().verify_slice(signature).is_ok();
    }
    if matched {
        Ok(())
    } else {
        Err(WebhookError::Mismatch)
    }
}

/// What a Stripe event says about one of our payment intents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StripeUpdate {
    /// Our intent id (`metadata.intent_id` set at settlement), when the object carries it.
    pub intent_id: Option<String>,
    /// Stripe's PaymentIntent id (`pi_…`), to find the intent by its settlement reference
    /// when there is no metadata (disputes, some charges).
    pub payment_intent: Option<String>,
    /// The MPP challenge the payment was made for (`metadata.challenge_id`), if any.
    pub challenge_id: Option<String>,
    /// What happened.
    pub kind: UpdateKind,
    /// Stripe's event id (`evt_…`), for de-duplication and logs.
    pub event_id: String,
    /// When Stripe created the event (unix seconds).
    pub created: i64,
}

/// The kinds of update we reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateKind {
    /// `payment_intent.succeeded`: money moved; `reference` is the PaymentIntent id.
    Succeeded {
        /// PaymentIntent id (`pi_…`).
        reference: String,
    },
    /// `payment_intent.payment_failed`: the attempt failed.
    Failed {
        /// Decline or error code (`card_declined`, `insufficient_funds` ...).
        code: String,
        /// What the customer can do, in their words.
        message: String,
    },
    /// `charge.refunded`: the total refunded so far on the charge (cumulative, so late and
    /// duplicated events are harmless).
    Refunded {
        /// Minor units refunded in total.
        amount_refunded_total: i64,
    },
    /// `charge.dispute.created`: the customer disputed the payment.
    Disputed {
        /// Stripe's dispute reason (`fraudulent`, `product_not_received` ...).
        reason: String,
    },
}

/// Turns a verified Stripe event into an update, or `None` for event types we do not
/// reconcile and objects that name neither our intent nor a PaymentIntent.
pub fn reconcile(event: &Value) -> Option<StripeUpdate> {
    let object = event.pointer("/data/object")?;
    let event_id = event.get("id")?.as_str()?.to_owned();
    let created = event.get("created").and_then(Value::as_i64).unwrap_or(0);
    let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
    let (payment_intent, kind) = match event.get("type")?.as_str()? {
        "payment_intent.succeeded" => {
            let id = text("/id")?.to_owned();
            (Some(id.clone()), UpdateKind::Succeeded { reference: id })
        }
        "payment_intent.payment_failed" => {
            let code = text("/last_payment_error/decline_code")
                .or_else(|| text("/last_payment_error/code"))
                .unwrap_or("payment_failed")
                .to_owned();
            let message = customer_message(&code).to_owned();
            (
                text("/id").map(str::to_owned),
                UpdateKind::Failed { code, message },
            )
        }
        "charge.refunded" => {
            let total = object.get("amount_refunded")?.as_i64()?;
            (
                id_of(object.get("payment_intent")),
                UpdateKind::Refunded {
                    amount_refunded_total: total,
                },
            )
        }
        "charge.dispute.created" => {
            let reason = text("/reason").unwrap_or("general").to_owned();
            (
                id_of(object.get("payment_intent")),
                UpdateKind::Disputed { reason },
            )
        }
        _ => return None,
    };
    let intent_id = text("/metadata/intent_id").map(str::to_owned);
    if intent_id.is_none() && payment_intent.is_none() {
        return None;
    }
    Some(StripeUpdate {
        intent_id,
        payment_intent,
        challenge_id: text("/metadata/challenge_id").map(str::to_owned),
        kind,
        event_id,
        created,
    })
}

/// The id of a field that is an id string or an expanded object.
fn id_of(field: Option<&Value>) -> Option<String> {
    match field? {
        Value::String(id) => Some(id.clone()),
        Value::Object(object) => object.get("id")?.as_str().map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
#[path = "webhook_tests.rs"]
mod tests;
