//! Payment events: what the bridge's payment engine tells the bus about a payment intent.
//!
//! These bodies are **bridge-only**: the bridge refuses them from channels (an adapter can
//! never claim that a payment succeeded); only the payment engine appends them.

use serde::{Deserialize, Serialize};

/// The payload of every `payment.*` event. Amounts are integer minor units, never floats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PaymentUpdate {
    /// The bridge's payment-intent id (`payint_…`).
    pub intent_id: String,
    /// The amount of the intent, in minor units of `currency`.
    pub amount_minor: i64,
    /// The ISO 4217 code, upper case (`EUR`).
    pub currency: String,
    /// The intent's state after this event (`requires_confirmation`, `processing`,
    /// `succeeded`, `failed`, `canceled`, `expired`, `refunded`, `partially_refunded`).
    pub state: String,
    /// Why it failed or was canceled, in words the customer can act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Minor units refunded so far (refund events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded_minor: Option<i64>,
    /// The settlement method's reference (a Stripe `pi_…`, a refund `re_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl PaymentUpdate {
    /// An update for an intent in `state`.
    pub fn new(
        intent_id: impl Into<String>,
        amount_minor: i64,
        currency: impl Into<String>,
        state: impl Into<String>,
    ) -> Self {
        Self {
            intent_id: intent_id.into(),
            amount_minor,
            currency: currency.into(),
            state: state.into(),
            reason: None,
            refunded_minor: None,
            reference: None,
        }
    }

    /// Sets the reason.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Sets the refunded total.
    pub fn with_refunded_minor(mut self, refunded_minor: i64) -> Self {
        self.refunded_minor = Some(refunded_minor);
        self
    }

    /// Sets the method's reference.
    pub fn with_reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }
}
