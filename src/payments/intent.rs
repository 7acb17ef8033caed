//! Payment intents: one charge offer on one conversation, and the states it moves through.
//!
//! ```text
//! requires_confirmation ──▶ processing ──▶ succeeded ──▶ partially_refunded ──▶ refunded
//!        ▲   │   │               │
//!        │   │   │               └──▶ (refused / unavailable: payment.failed) ─┐
//!        │   │   └──▶ canceled                                                   │
//!        │   └──▶ expired                                                        │
//!        └───────────────────────────────────────────────────────────────────────┘
//!
//! requires_approval ──(approve)──▶ requires_confirmation (offered to the customer)
//!        │   │   └───(reject)───▶ rejected
//!        │   └──▶ canceled
//!        └──▶ expired
//! ```
//!
//! An intent a guarded API key creates above its `approval_above` starts `requires_approval`:
//! nothing reaches the customer until a person approves it (then it is offered exactly as a
//! new intent is) or rejects it (then nothing ever is). Every move is a compare-and-set in the
//! store, so two settlements can never both succeed and a canceled, expired, rejected or
//! unapproved intent is never charged.

use omnibridge_sdk::{ConversationId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::money::{Money, MoneyError};

/// Where a payment intent is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntentState {
    /// Waiting for a payer to present a credential at the pay URL.
    RequiresConfirmation,
    /// A credential was accepted and the method is settling it.
    Processing,
    /// Paid.
    Succeeded,
    /// Settlement failed for good (retryable failures go back to `requires_confirmation`).
    Failed,
    /// Canceled by the business or the customer before payment.
    Canceled,
    /// Not paid before `expires_at`.
    Expired,
    /// Paid, then refunded in full.
    Refunded,
    /// Paid, then refunded in part.
    PartiallyRefunded,
    /// Above its API key's `approval_above`: waits for a person; nothing sent to the customer.
    RequiresApproval,
    /// Rejected by a person while waiting for approval; never offered, never payable.
    Rejected,
}

impl IntentState {
    /// The snake_case name used in JSON, events and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequiresConfirmation => "requires_confirmation",
            Self::Processing => "processing",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
            Self::Refunded => "refunded",
            Self::PartiallyRefunded => "partially_refunded",
            Self::RequiresApproval => "requires_approval",
            Self::Rejected => "rejected",
        }
    }

    /// Parses [`IntentState::as_str`]'s output.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::RequiresConfirmation,
            Self::Processing,
            Self::Succeeded,
            Self::Failed,
            Self::Canceled,
            Self::Expired,
            Self::Refunded,
            Self::PartiallyRefunded,
            Self::RequiresApproval,
            Self::Rejected,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }

    /// Whether the intent is unpaid and may still be offered or paid: `requires_confirmation`
    /// or `requires_approval` (the states expiry and cancel apply to).
    pub fn is_open(self) -> bool {
        matches!(self, Self::RequiresConfirmation | Self::RequiresApproval)
    }

    /// Whether money was captured (refunds are possible).
    pub fn is_paid(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::PartiallyRefunded | Self::Refunded
        )
    }
}

/// A payment intent as stored and as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentIntent {
    /// `payint_<ulid>`.
    pub id: String,
    /// The conversation the charge is offered in.
    #[schema(value_type = String)]
    pub conversation_id: ConversationId,
    /// Amount in minor units of `currency` (cents for EUR, yen for JPY).
    pub amount: i64,
    /// ISO 4217 code, upper case.
    pub currency: String,
    /// What the customer pays for.
    pub description: String,
    /// The business's own reference (order id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The locale messages about this intent are rendered in.
    pub locale: String,
    /// After this the intent can no longer be paid.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    /// The business's own data, returned as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// Where the intent is.
    pub state: IntentState,
    /// Minor units refunded so far.
    pub refunded_minor: i64,
    /// The method that settled it (`stripe`, `sandbox`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The method's reference for the payment (`pi_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// When it was settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub settled_at: Option<Timestamp>,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When it last changed.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl PaymentIntent {
    /// A fresh intent id.
    pub fn new_id() -> String {
        format!(
            "payint_{}",
            ulid::Ulid::new().to_string().to_ascii_lowercase()
        )
    }

    /// Whether `id` looks like one of ours (before any store lookup).
    pub fn is_valid_id(id: &str) -> bool {
        id.strip_prefix("payint_").is_some_and(|rest| {
            !rest.is_empty() && rest.len() <= 64 && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        })
    }

    /// Amount and currency as [`Money`].
    pub fn money(&self) -> Result<Money, MoneyError> {
        Money::new(self.amount, &self.currency)
    }

    /// Minor units still refundable.
    pub fn refundable(&self) -> i64 {
        if self.state.is_paid() {
            self.amount - self.refunded_minor
        } else {
            0
        }
    }

    /// Whether `now` is past the intent's expiry.
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }
}

/// Extra fields a transition sets along with the new state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransitionPatch {
    /// The settling method.
    pub method: Option<String>,
    /// The method's reference.
    pub reference: Option<String>,
    /// Sets the settlement time.
    pub settled_at: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn states_round_trip_and_ids_validate() {
        for state in [
            IntentState::RequiresConfirmation,
            IntentState::PartiallyRefunded,
            IntentState::Expired,
            IntentState::RequiresApproval,
            IntentState::Rejected,
        ] {
            assert_eq!(IntentState::parse(state.as_str()), Some(state));
            let json = serde_json::to_value(state).unwrap();
            assert_eq!(json, state.as_str());
        }
        let id = PaymentIntent::new_id();
        assert!(PaymentIntent::is_valid_id(&id), "{id}");
        assert!(!PaymentIntent::is_valid_id("payint_"));
        assert!(!PaymentIntent::is_valid_id("pi_123"));
        assert!(!PaymentIntent::is_valid_id("payint_a/b"));
    }
}
