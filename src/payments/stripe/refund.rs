//! Refunds of settled PaymentIntents through async-stripe's `Refund` create, with the
//! idempotency key the engine chose for the refund.

use ::stripe::{ApiErrors, IdempotencyKey};
use stripe_core::Refund;
use stripe_core::refund::CreateRefund;

use super::client::redact;
use crate::payments::method::{Refunded, SettleError};

/// The key async-stripe sends, from the engine's key (1–255 characters).
pub(crate) fn key(idempotency_key: &str) -> Result<IdempotencyKey, SettleError> {
    IdempotencyKey::new(idempotency_key)
        .map_err(|e| SettleError::MalformedPayload(format!("refund idempotency key: {e}")))
}

/// The refund request for `settlement_reference` (a PaymentIntent `pi_…`, or a charge
/// `ch_…`): `amount_minor` of it, or what is left when `None`.
pub(crate) fn create_request(
    settlement_reference: &str,
    amount_minor: Option<i64>,
) -> Result<CreateRefund, SettleError> {
    let mut request = if settlement_reference.starts_with("pi_") {
        CreateRefund::new().payment_intent(settlement_reference)
    } else if settlement_reference.starts_with("ch_") {
        CreateRefund::new().charge(settlement_reference)
    } else {
        return Err(SettleError::MalformedPayload(
            "refund reference is not a stripe PaymentIntent (pi_…) or charge (ch_…)".into(),
        ));
    };
    if let Some(amount) = amount_minor {
        if amount <= 0 {
            return Err(SettleError::MalformedPayload(
                "refund amount must be positive".into(),
            ));
        }
        request = request.amount(amount);
    }
    Ok(request)
}

/// What a refund object returned with HTTP 200 means. `pending` counts: Stripe will finish
/// it (and `charge.refunded` reconciles the total).
pub(crate) fn outcome(refund: &Refund) -> Result<Refunded, SettleError> {
    match refund.status.as_deref() {
        Some("failed") | Some("canceled") => Err(SettleError::Refused {
            code: format!("refund_{}", refund.status.as_deref().unwrap_or("failed")),
            customer_message: "The refund could not be made.".to_owned(),
        }),
        _ => Ok(Refunded {
            reference: refund.id.to_string(),
            amount_minor: refund.amount,
        }),
    }
}

/// What a Stripe error answer to a refund means: a refusal naming Stripe's code (already
/// refunded, amount over what is left, disputed ...) or, for anything else, `Unavailable`.
pub(crate) fn from_api_error(status: u16, error: &ApiErrors) -> SettleError {
    let code = error.code.as_ref().map(|c| c.as_str().to_owned());
    let message = redact(error.message.as_deref().unwrap_or_default());
    tracing::warn!(status, error_type = error.type_.as_str(),
        code = code.as_deref().unwrap_or("-"), %message, "stripe refused the refund");
    if (400..500).contains(&status) && status != 401 && status != 403 {
        SettleError::Refused {
            code: code.unwrap_or_else(|| error.type_.as_str().to_owned()),
            customer_message: if message.is_empty() {
                "The refund could not be made.".to_owned()
            } else {
                message
            },
        }
    } else {
        SettleError::Unavailable(format!("stripe refused the refund ({status})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_amounts_are_checked() {
        assert!(create_request("pi_1", Some(100)).is_ok());
        assert!(create_request("ch_1", None).is_ok());
        assert!(create_request("payint_1", None).is_err());
        assert!(create_request("pi_1", Some(0)).is_err());
        assert!(key("").is_err());
        assert!(key(&"k".repeat(256)).is_err());
        assert!(key("refund-1").is_ok());
    }
}
