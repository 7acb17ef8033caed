//! Settlement methods behind the MPP endpoint. The endpoint owns the protocol (challenge,
//! binding, single use, receipts); a method only describes its `methodDetails` and turns a
//! verified credential payload into money moved, or a reason it did not.

use serde_json::Value;

use crate::money::Money;

/// The charge a challenge is issued for and a credential settles: taken from the stored
/// payment intent, never from the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charge {
    /// The bridge's payment-intent id (`pi_…` is Stripe's; ours are `payint_…`).
    pub intent_id: String,
    /// The conversation the charge was offered in.
    pub conversation_id: String,
    /// Amount and currency, integer minor units.
    pub amount: Money,
    /// What the customer is paying for.
    pub description: String,
    /// The business's own reference, if any.
    pub external_id: Option<String>,
}

/// What a method reports after moving the money.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// The method's reference for the payment (Stripe PaymentIntent id `pi_…`).
    pub reference: String,
}

/// A refund the method made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refunded {
    /// The method's refund id (`re_…`).
    pub reference: String,
    /// Minor units refunded by this refund.
    pub amount_minor: i64,
}

/// Why a method did not settle. Every variant is safe to show: no secret, no token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettleError {
    /// The credential payload is not what this method takes (e.g. no `spt`):
    /// `malformed-credential`.
    #[error("malformed payload: {0}")]
    MalformedPayload(String),
    /// The payment was refused (decline, insufficient funds, token already used, needs
    /// customer action): `verification-failed` with `customer_message`; the intent may be
    /// confirmed again with a fresh challenge.
    #[error("payment refused: {code}")]
    Refused {
        /// The processor's code (`card_declined`, `requires_action`, ...).
        code: String,
        /// What the customer can do, in their words.
        customer_message: String,
    },
    /// The processor could not be reached or failed after our retries: the intent goes back
    /// to `requires_confirmation`; the payer may retry.
    #[error("payment processor unavailable: {0}")]
    Unavailable(String),
}

/// A way to settle charges (`stripe`, `sandbox`).
#[async_trait::async_trait]
pub trait PaymentMethod: Send + Sync + 'static {
    /// The MPP method name in challenges (`stripe`).
    fn name(&self) -> &'static str;

    /// The `methodDetails` object of the challenge's `request` for `charge` (for Stripe:
    /// `networkId`, non-empty `paymentMethodTypes`).
    fn method_details(&self, charge: &Charge) -> Value;

    /// Settles `charge` with a credential payload already bound to a valid, unexpired,
    /// unused challenge `challenge_id`. Must be idempotent per (challenge id, payload): a
    /// retry after a timeout must never charge twice.
    async fn settle(
        &self,
        charge: &Charge,
        challenge_id: &str,
        payload: &Value,
    ) -> Result<Settlement, SettleError>;

    /// Refunds `amount_minor` (or the rest, when `None`) of a settled payment.
    async fn refund(
        &self,
        settlement_reference: &str,
        amount_minor: Option<i64>,
        idempotency_key: &str,
    ) -> Result<Refunded, SettleError>;
}
