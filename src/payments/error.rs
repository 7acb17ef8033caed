//! Why a payment-engine operation did not happen.

use crate::ingest::IngestError;
use crate::store::StoreError;

use super::guardrails::GuardrailRefusal;
use super::intent::IntentState;
use super::method::SettleError;

/// Errors of the payment engine; each maps to one API problem code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PaymentError {
    /// The conversation does not exist.
    #[error("no conversation {0:?}")]
    UnknownConversation(String),
    /// The intent does not exist.
    #[error("no payment intent {0:?}")]
    UnknownIntent(String),
    /// A request field is invalid (amount, currency, description, expiry, metadata).
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, e.g. `amount`.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The intent is not in a state that allows this.
    #[error("the payment intent is {}", .0.as_str())]
    WrongState(IntentState),
    /// A refund larger than what is left to refund.
    #[error("refund of {requested} exceeds the refundable {refundable} minor units")]
    RefundTooLarge {
        /// Asked for.
        requested: i64,
        /// Left to refund.
        refundable: i64,
    },
    /// A guardrail of the caller's API key refused it (which limit, how much room is left).
    #[error("{0}")]
    Guardrail(GuardrailRefusal),
    /// The method that settled the intent is not enabled on this bridge.
    #[error("payment method {0:?} is not enabled")]
    MethodUnavailable(String),
    /// The method refused or failed.
    #[error(transparent)]
    Method(#[from] SettleError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bus failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
}
