//! `POST /v1/shared_payment/issued_tokens` in the fake: the agent side of Shared Payment
//! Tokens, following Stripe's documented request (`payment_method`,
//! `seller_details[network_business_profile]`, `usage_limits[currency|max_amount|expires_at]`)
//! and answer (`shared_payment.issued_token` object). The token id is a magic SPT the fake's
//! PaymentIntents understand: `spt_success_…`, or `spt_decline_…` when the PaymentMethod id
//! starts with `pm_card_decline` (so a linked declining card declines end to end).

use serde_json::{Value, json};

use super::FakeState;
use super::wire::{Answer, Params, id, invalid, now, param};

/// `POST /v1/shared_payment/issued_tokens`.
pub(crate) fn create_issued_token(state: &mut FakeState, params: &Params) -> Answer {
    let Some(payment_method) = param(params, "payment_method").map(str::to_owned) else {
        return invalid(
            "parameter_missing",
            "Missing required param: payment_method.",
            "payment_method",
        );
    };
    let Some(profile) = param(params, "seller_details[network_business_profile]") else {
        return invalid(
            "parameter_missing",
            "Missing required param: seller_details.",
            "seller_details",
        );
    };
    let currency = param(params, "usage_limits[currency]").unwrap_or_default();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
        return invalid(
            "parameter_missing",
            "Missing required param: usage_limits[currency].",
            "usage_limits[currency]",
        );
    }
    let Some(max_amount) = param(params, "usage_limits[max_amount]")
        .and_then(|a| a.parse::<i64>().ok())
        .filter(|a| *a > 0)
    else {
        return invalid(
            "parameter_invalid_integer",
            "Invalid integer: usage_limits[max_amount]",
            "usage_limits[max_amount]",
        );
    };
    let expires_at = param(params, "usage_limits[expires_at]").and_then(|t| t.parse::<i64>().ok());
    let kind = if payment_method.starts_with("pm_card_decline") {
        "decline"
    } else {
        "success"
    };
    let token = id(&format!("spt_{kind}"));
    state.issued_tokens += 1;
    let object: Value = json!({
        "id": token, "object": "shared_payment.issued_token", "livemode": false,
        "created": now(), "deactivated_at": null, "deactivated_reason": null,
        "payment_method": payment_method,
        "seller_details": {"external_id": null, "network_business_profile": profile},
        "setup_future_usage": null, "shared_metadata": {}, "status": "active",
        "usage_details": {"amount_captured": {"value": 0, "currency": currency}},
        "usage_limits": {"currency": currency, "expires_at": expires_at, "max_amount": max_amount},
    });
    Answer::ok(object)
}
