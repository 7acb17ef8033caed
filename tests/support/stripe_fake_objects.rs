//! The fake's objects and answers: form decoding, Stripe's error shape, PaymentIntents and
//! refunds.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::FakeState;

/// Decoded form parameters, in request order.
pub(crate) type Params = Vec<(String, String)>;

/// An answer and whether Stripe would save it for idempotent replay.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
    pub(crate) saved: bool,
    replayed: bool,
}

impl Answer {
    pub(crate) fn ok(body: Value) -> Answer {
        Answer {
            status: 200,
            body,
            saved: true,
            replayed: false,
        }
    }
    pub(crate) fn saved(status: u16, body: Value) -> Answer {
        Answer {
            status,
            body,
            saved: true,
            replayed: false,
        }
    }
    pub(crate) fn not_saved(status: u16, body: Value) -> Answer {
        Answer {
            status,
            body,
            saved: false,
            replayed: false,
        }
    }
    pub(crate) fn replay(status: u16, body: Value) -> Answer {
        Answer {
            status,
            body,
            saved: true,
            replayed: true,
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(self.body)).into_response();
        let headers = response.headers_mut();
        headers.insert("request-id", HeaderValue::from_static("req_fake"));
        if self.replayed {
            headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        if self.status >= 500 {
            headers.insert("stripe-should-retry", HeaderValue::from_static("true"));
        }
        response
    }
}

/// Stripe's error body.
pub(crate) fn error(
    kind: &str,
    code: Option<&str>,
    decline_code: Option<&str>,
    message: &str,
    param: Option<&str>,
) -> Value {
    let mut error = json!({"type": kind, "message": message});
    for (field, value) in [
        ("code", code),
        ("decline_code", decline_code),
        ("param", param),
    ] {
        if let Some(value) = value {
            error[field] = json!(value);
        }
    }
    if let Some(code) = code {
        error["doc_url"] = json!(format!(
            "https://stripe.com/docs/error-codes/{}",
            code.replace('_', "-")
        ));
    }
    json!({"error": error})
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A Stripe-looking id with `prefix`.
pub(crate) fn id(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        ulid::Ulid::new().to_string().to_ascii_lowercase()
    )
}

/// Hex HMAC-SHA256 of `"<t>.<body>"` (Stripe's `v1` scheme).
pub(crate) fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Decodes an `application/x-www-form-urlencoded` body.
pub(crate) fn parse_form(body: &[u8]) -> Params {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(high), Some(low)) => {
                        out.push((high * 16 + low) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Same parameters, whatever their order.
pub(crate) fn same_params(a: &Params, b: &Params) -> bool {
    let mut a = a.clone();
    let mut b = b.clone();
    a.sort();
    b.sort();
    a == b
}

fn invalid(code: &str, message: &str, param: &str) -> Answer {
    Answer::not_saved(
        400,
        error(
            "invalid_request_error",
            Some(code),
            None,
            message,
            Some(param),
        ),
    )
}

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
