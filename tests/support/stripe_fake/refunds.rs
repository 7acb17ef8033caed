//! `POST /v1/refunds` in the fake: full and partial refunds, over-refund and
//! already-refunded errors.

use serde_json::json;

use super::FakeState;
use super::wire::{Answer, Params, error, id, invalid, now, param};

/// `POST /v1/refunds`.
pub(crate) fn create_refund(state: &mut FakeState, params: &Params) -> Answer {
    let intent_id = match (param(params, "payment_intent"), param(params, "charge")) {
        (Some(pi), _) => pi.to_owned(),
        (None, Some(charge)) => charge.replacen("ch_", "pi_", 1),
        (None, None) => {
            return invalid(
                "parameter_missing",
                "One of charge or payment_intent is required.",
                "payment_intent",
            );
        }
    };
    let Some(intent) = state.payment_intents.get(&intent_id).cloned() else {
        return Answer::saved(
            400,
            error(
                "invalid_request_error",
                Some("resource_missing"),
                None,
                &format!("No such payment_intent: '{intent_id}'"),
                Some("payment_intent"),
            ),
        );
    };
    if intent["status"] != "succeeded" {
        return Answer::saved(
            400,
            error(
                "invalid_request_error",
                Some("charge_not_refundable"),
                None,
                "This PaymentIntent does not have a successful charge to refund.",
                Some("payment_intent"),
            ),
        );
    }
    let total = intent["amount"].as_i64().unwrap_or_default();
    let refunded = state.refunded.get(&intent_id).copied().unwrap_or_default();
    let remaining = total - refunded;
    let charge = intent["latest_charge"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if remaining == 0 {
        return Answer::saved(
            400,
            error(
                "invalid_request_error",
                Some("charge_already_refunded"),
                None,
                &format!("Charge {charge} has already been refunded."),
                Some("charge"),
            ),
        );
    }
    let amount = match param(params, "amount").map(|a| a.parse::<i64>()) {
        None => remaining,
        Some(Ok(amount)) if amount > 0 => amount,
        Some(_) => {
            return invalid(
                "parameter_invalid_integer",
                "Invalid positive integer",
                "amount",
            );
        }
    };
    if amount > remaining {
        return Answer::saved(
            400,
            error(
                "invalid_request_error",
                Some("amount_too_large"),
                None,
                &format!(
                    "Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})"
                ),
                Some("amount"),
            ),
        );
    }
    state.refunded.insert(intent_id.clone(), refunded + amount);
    state.refunds_created += 1;
    let refund = json!({
        "id": id("re"), "object": "refund", "amount": amount, "charge": charge,
        "created": now(), "currency": intent["currency"], "metadata": {},
        "payment_intent": intent_id, "reason": param(params, "reason"), "status": "succeeded",
    });
    state.refunds.push(refund.clone());
    Answer::ok(refund)
}
