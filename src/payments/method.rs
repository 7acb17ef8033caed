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
    /// The processor did not take the charge (it refused the request before executing it, or
    /// it was never sent): the intent goes back to `requires_confirmation`; the payer may
    /// retry.
    #[error("payment processor unavailable: {0}")]
    Unavailable(String),
    /// The charge may or may not have been taken (a timeout, a lost or unreadable answer, a
    /// 5xx after our retries, a payment still processing at the processor): the intent stays
    /// `processing` until the outcome is known ([`PaymentMethod::lookup`], a retry with the
    /// same idempotency key, or the processor's webhook). Never a reason to charge again.
    #[error("payment outcome unknown: {0}")]
    Unknown(String),
}

impl SettleError {
    /// Whether the charge was definitely not taken, so the payer may be asked to pay again.
    pub fn is_definite(&self) -> bool {
        !matches!(self, SettleError::Unknown(_))
    }
}

/// What a processor says about the charges it holds for one of our intents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A charge for the intent succeeded.
    Paid(Settlement),
    /// Charges for the intent exist and every one of them failed for good.
    Refused {
        /// The processor's code of the last failure.
        code: String,
    },
    /// The processor holds no charge for the intent (as far as it can tell now).
    NotFound,
    /// The processor could not answer, or a charge is still in flight.
    Unknown(String),
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

    /// What the processor holds for `charge`'s intent, for settlements whose outcome is
    /// unknown and for intents left `processing` by a crash. Methods that keep nothing
    /// outside this process answer [`Lookup::NotFound`].
    async fn lookup(&self, charge: &Charge) -> Lookup {
        let _ = charge;
        Lookup::NotFound
    }

    /// Refunds `amount_minor` (or the rest, when `None`) of a settled payment.
    async fn refund(
        &self,
        settlement_reference: &str,
        amount_minor: Option<i64>,
        idempotency_key: &str,
    ) -> Result<Refunded, SettleError>;
}
