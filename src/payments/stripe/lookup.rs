//! What Stripe holds for one of our intents, found by the `metadata[intent_id]` every
//! PaymentIntent we create carries (Stripe's Search API; `settle::create_request`). Used when
//! a settlement's answer was lost, and for intents a crash left `processing`.
//!
//! Search is eventually consistent (Stripe: "under normal operating conditions, data is
//! searchable in less than a minute"), so "nothing found" is only trusted by the caller after
//! a grace period.

use stripe_core::{PaymentIntent, PaymentIntentStatus};

use crate::payments::method::{Lookup, Settlement};

/// The Search API query for the PaymentIntents of `intent_id`. Our ids are `payint_` and
/// ASCII letters and digits ([`PaymentIntent::is_valid_id`](crate::payments::intent)), so
/// nothing needs quoting.
pub(super) fn query(intent_id: &str) -> String {
    format!("metadata['intent_id']:'{intent_id}'")
}

/// What the lookup reads of one PaymentIntent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Found {
    /// `pi_…`.
    pub(super) id: String,
    /// Its status.
    pub(super) status: PaymentIntentStatus,
    /// Its `metadata[intent_id]`.
    pub(super) intent_id: Option<String>,
    /// The code of its last payment error.
    pub(super) error_code: Option<String>,
}

impl From<&PaymentIntent> for Found {
    fn from(pi: &PaymentIntent) -> Found {
        Found {
            id: pi.id.to_string(),
            status: pi.status.clone(),
            intent_id: pi.metadata.get("intent_id").cloned(),
            error_code: pi
                .last_payment_error
                .as_deref()
                .and_then(|e| e.code.as_ref().map(|c| c.as_str().to_owned())),
        }
    }
}

/// The outcome of the PaymentIntents found for `intent_id`: paid if one succeeded, unknown
/// while one may still succeed, refused if all failed for good, not found if none.
pub(super) fn outcome(intent_id: &str, found: &[Found]) -> Lookup {
    let ours: Vec<&Found> = found
        .iter()
        .filter(|pi| pi.intent_id.as_deref() == Some(intent_id))
        .collect();
    let succeeded: Vec<&&Found> = ours
        .iter()
        .filter(|pi| pi.status == PaymentIntentStatus::Succeeded)
        .collect();
    if let Some(first) = succeeded.first() {
        if succeeded.len() > 1 {
            let ids: Vec<&str> = succeeded.iter().map(|pi| pi.id.as_str()).collect();
            tracing::error!(intent_id, payment_intents = ?ids,
                "stripe holds more than one succeeded PaymentIntent for one intent; refund all \
                 but the first");
        }
        return Lookup::Paid(Settlement {
            reference: first.id.clone(),
        });
    }
    if let Some(pending) = ours.iter().find(|pi| {
        matches!(
            pi.status,
            PaymentIntentStatus::Processing
                | PaymentIntentStatus::RequiresCapture
                | PaymentIntentStatus::RequiresConfirmation
        )
    }) {
        return Lookup::Unknown(format!(
            "stripe payment {} is {}",
            pending.id,
            pending.status.as_str()
        ));
    }
    match ours.last() {
        Some(failed) => Lookup::Refused {
            code: failed
                .error_code
                .clone()
                .unwrap_or_else(|| failed.status.as_str().to_owned()),
        },
        None => Lookup::NotFound,
    }
}

/// A short name of a lookup result, for logs.
pub(super) fn name(lookup: &Lookup) -> &'static str {
    match lookup {
        Lookup::Paid(_) => "paid",
        Lookup::Refused { .. } => "refused",
        Lookup::NotFound => "not_found",
        Lookup::Unknown(_) => "unknown",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pi(id: &str, intent_id: &str, status: &str) -> Found {
        Found {
            id: id.to_owned(),
            status: status.parse().unwrap(),
            intent_id: Some(intent_id.to_owned()),
            error_code: None,
        }
    }

    #[test]
    fn a_success_wins_pending_waits_failures_refuse() {
        assert_eq!(query("payint_01ab"), "metadata['intent_id']:'payint_01ab'");
        let paid = outcome(
            "payint_1",
            &[
                pi("pi_a", "payint_1", "requires_payment_method"),
                pi("pi_b", "payint_1", "succeeded"),
            ],
        );
        assert_eq!(
            paid,
            Lookup::Paid(Settlement {
                reference: "pi_b".into()
            })
        );
        assert!(matches!(
            outcome("payint_1", &[pi("pi_a", "payint_1", "processing")]),
            Lookup::Unknown(_)
        ));
        assert!(matches!(
            outcome("payint_1", &[pi("pi_a", "payint_1", "canceled")]),
            Lookup::Refused { .. }
        ));
        assert_eq!(
            outcome("payint_1", &[pi("pi_a", "payint_2", "succeeded")]),
            Lookup::NotFound
        );
        assert_eq!(outcome("payint_1", &[]), Lookup::NotFound);
    }
}
