//! Refusals and what the customer is told: Stripe's code stays machine-readable, the
//! message is ours (Stripe's own texts may name tokens, and are not translated).

use crate::payments::method::SettleError;

/// A refusal with the customer's message for `code`.
pub(crate) fn refused(code: &str) -> SettleError {
    refused_because(code, code)
}

/// A refusal with `code` (`card_declined`) and the customer's message for the more precise
/// `reason` (the decline code, e.g. `insufficient_funds`).
pub(crate) fn refused_because(code: &str, reason: &str) -> SettleError {
    SettleError::Refused {
        code: code.to_owned(),
        customer_message: customer_message(reason).to_owned(),
    }
}

/// What the customer can do about a refusal, in their words (English; templates may
/// translate by code).
pub fn customer_message(code: &str) -> &'static str {
    match code {
        "insufficient_funds" => {
            "Your card has insufficient funds. Please try another card or payment method."
        }
        "expired_card" => "Your card has expired. Please use another card.",
        "incorrect_cvc" | "invalid_cvc" => {
            "The card's security code is incorrect. Please check it and try again."
        }
        "incorrect_number" | "invalid_number" => {
            "The card number is incorrect. Please check it and try again."
        }
        "lost_card" | "stolen_card" | "pickup_card" => {
            "Your card was declined. Please use another card or contact your bank."
        }
        "requires_action" | "authentication_required" => {
            "Your bank needs an extra confirmation that cannot be completed here. Please try \
             another card or payment method."
        }
        "token_already_used" | "resource_missing" | "token_invalid" => {
            "This payment authorization has already been used or is no longer valid. Please \
             start the payment again."
        }
        "payment_intent_canceled" => "The payment was canceled. Please start it again.",
        "processing_error" => {
            "An error occurred while processing your card. Please try again in a moment."
        }
        _ => {
            "Your payment was declined. Please try another card or payment method, or contact \
              your bank."
        }
    }
}
