//! `POST /v1/payment_intents` in the fake: validation, magic SPTs, single use.

use serde_json::{Value, json};

use super::FakeState;
use super::wire::{Answer, Params, error, id, invalid, now, param};

/// `POST /v1/payment_intents`.
pub(crate) fn create_payment_intent(state: &mut FakeState, params: &Params) -> Answer {
    let Some(amount) = param(params, "amount")
        .and_then(|a| a.parse::<i64>().ok())
        .filter(|a| *a > 0)
    else {
        return invalid(
            "parameter_invalid_integer",
            "Invalid integer: amount",
            "amount",
        );
    };
    let currency = param(params, "currency").unwrap_or_default().to_owned();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
        return invalid(
            "parameter_missing",
            "Missing or invalid currency.",
            "currency",
        );
    }
    if param(params, "confirm") != Some("true") {
        return invalid(
            "parameter_missing",
            "This fake only takes confirm=true.",
            "confirm",
        );
    }
    if param(params, "automatic_payment_methods[enabled]") != Some("true") {
        return invalid(
            "parameter_missing",
            "Missing required param: automatic_payment_methods[enabled].",
            "automatic_payment_methods[enabled]",
        );
    }
    let Some(spt) = param(params, "shared_payment_granted_token").map(str::to_owned) else {
        return invalid(
            "parameter_missing",
            "Missing required param: shared_payment_granted_token.",
            "shared_payment_granted_token",
        );
    };
    if state.used_spts.contains(&spt) {
        return Answer::saved(
            400,
            error(
                "invalid_request_error",
                Some("token_already_used"),
                None,
                "The shared payment token provided has already been used. Obtain a new one.",
                Some("shared_payment_granted_token"),
            ),
        );
    }
    let server_error = || {
        Answer::not_saved(
            500,
            error(
                "api_error",
                None,
                None,
                "An unknown error occurred while processing your request.",
                None,
            ),
        )
    };
    if spt.starts_with("spt_fail_5xx_always") {
        return server_error();
    }
    if spt.starts_with("spt_fail_5xx_once") && state.failed_once.insert(spt.clone()) {
        return server_error();
    }
    let (status, last_error) =
        if spt.starts_with("spt_success") || spt.starts_with("spt_fail_5xx_once") {
            ("succeeded", None)
        } else if spt.starts_with("spt_action") {
            ("requires_action", None)
        } else if spt.starts_with("spt_decline") {
            (
                "requires_payment_method",
                Some(("generic_decline", "Your card was declined.")),
            )
        } else if spt.starts_with("spt_insufficient") {
            (
                "requires_payment_method",
                Some(("insufficient_funds", "Your card has insufficient funds.")),
            )
        } else {
            return Answer::saved(
                400,
                error(
                    "invalid_request_error",
                    Some("resource_missing"),
                    None,
                    &format!("No such shared_payment_granted_token: '{spt}'"),
                    Some("shared_payment_granted_token"),
                ),
            );
        };
    state.used_spts.insert(spt);
    state.payment_intents_created += 1;
    let intent = payment_intent(params, amount, &currency, status, last_error);
    let id = intent["id"].as_str().unwrap_or_default().to_owned();
    state.payment_intents.insert(id, intent.clone());
    match last_error {
        None => Answer::ok(intent),
        Some((decline_code, message)) => {
            let mut body = error(
                "card_error",
                Some("card_declined"),
                Some(decline_code),
                message,
                None,
            );
            body["error"]["payment_intent"] = intent;
            Answer::saved(402, body)
        }
    }
}

fn payment_intent(
    params: &Params,
    amount: i64,
    currency: &str,
    status: &str,
    last_error: Option<(&str, &str)>,
) -> Value {
    let id = id("pi");
    let metadata: serde_json::Map<String, Value> = params
        .iter()
        .filter_map(|(name, value)| {
            let key = name.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_owned(), json!(value)))
        })
        .collect();
    let succeeded = status == "succeeded";
    json!({
        "id": id, "object": "payment_intent", "amount": amount,
        "amount_capturable": 0, "amount_received": if succeeded { amount } else { 0 },
        "automatic_payment_methods": {"enabled": true,
            "allow_redirects": param(params, "automatic_payment_methods[allow_redirects]").unwrap_or("always")},
        "capture_method": "automatic_async", "client_secret": format!("{id}_secret_fake"),
        "confirmation_method": "automatic", "created": now(), "currency": currency,
        "description": param(params, "description"), "livemode": false,
        "latest_charge": if succeeded { json!(id.replacen("pi_", "ch_", 1)) } else { Value::Null },
        "last_payment_error": last_error.map(|(decline_code, message)| json!({
            "type": "card_error", "code": "card_declined", "decline_code": decline_code, "message": message})),
        "metadata": metadata,
        "next_action": if status == "requires_action" {
            json!({"type": "use_stripe_sdk", "use_stripe_sdk": {}}) } else { Value::Null },
        "payment_method": if succeeded { json!(id.replacen("pi_", "pm_", 1)) } else { Value::Null },
        "payment_method_types": ["card"], "status": status,
    })
}
