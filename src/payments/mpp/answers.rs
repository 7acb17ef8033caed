//! Answers shared by the MPP endpoint and the payment-intent API: engine errors as
//! problems, intents as JSON, and the non-402 answers for intents that cannot be paid.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::payments::engine::PaymentEngine;
use crate::payments::error::PaymentError;
use crate::payments::guardrails::GuardrailRefusal;
use crate::payments::intent::{IntentState, PaymentIntent};
use crate::payments::method::SettleError;
use crate::web::problem::ApiError;

/// The problem code of a request a guardrail of the API key refused (403).
pub const GUARDRAIL_EXCEEDED: &str = "guardrail_exceeded";

/// 404 `unknown_payment_intent`.
pub(crate) fn unknown(intent_id: &str) -> ApiError {
    ApiError::not_found(
        "unknown_payment_intent",
        format!("no payment intent {intent_id:?}"),
    )
}

/// The answer for an intent that cannot be paid now: no challenge (nothing to pay). A
/// `processing` one carries `Retry-After: retry_after_secs` (its outcome comes soon).
pub(crate) fn not_payable(state: IntentState, retry_after_secs: u64) -> Response {
    let (status, code, detail) = match state {
        IntentState::Processing => (
            StatusCode::CONFLICT,
            "payment_in_progress",
            "a payment for this intent is being settled",
        ),
        IntentState::Canceled => (
            StatusCode::GONE,
            "payment_intent_canceled",
            "this payment intent was canceled",
        ),
        IntentState::Expired => (
            StatusCode::GONE,
            "payment_intent_expired",
            "this payment intent expired",
        ),
        IntentState::Failed => (
            StatusCode::GONE,
            "payment_intent_failed",
            "this payment intent failed for good",
        ),
        IntentState::RequiresApproval => (
            StatusCode::CONFLICT,
            "payment_intent_awaiting_approval",
            "this payment intent waits for the business's approval and cannot be paid yet",
        ),
        IntentState::Rejected => (
            StatusCode::GONE,
            "payment_intent_rejected",
            "this payment intent was rejected",
        ),
        _ => (
            StatusCode::CONFLICT,
            "payment_intent_paid",
            "this payment intent is already paid",
        ),
    };
    let mut response = ApiError::new(status, code, detail).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if state == IntentState::Processing {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(retry_after_secs.max(1)),
        );
    }
    response
}

/// Maps engine errors to API problems (shared with the business API).
pub(crate) fn engine_error(error: PaymentError) -> ApiError {
    let unprocessable =
        |code, detail: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail);
    match error {
        PaymentError::UnknownConversation(id) => {
            ApiError::not_found("unknown_conversation", format!("no conversation {id:?}"))
        }
        PaymentError::UnknownIntent(id) => unknown(&id),
        PaymentError::Invalid { field, reason } => match field {
            "amount" => unprocessable("invalid_amount", format!("amount {reason}")),
            "currency" => unprocessable("invalid_currency", reason),
            _ => unprocessable("invalid_body", format!("{field} {reason}")),
        },
        PaymentError::WrongState(state) => ApiError::new(
            StatusCode::CONFLICT,
            "invalid_payment_intent_state",
            format!("the payment intent is {}", state.as_str()),
        ),
        error @ PaymentError::RefundTooLarge { .. } => {
            unprocessable("refund_exceeds_captured", error.to_string())
        }
        PaymentError::Guardrail(refusal) => guardrail_error(&refusal),
        PaymentError::MethodUnavailable(name) => ApiError::new(
            StatusCode::CONFLICT,
            "payment_method_unavailable",
            format!("the payment method {name:?} is not enabled on this bridge"),
        ),
        PaymentError::Method(SettleError::Refused {
            code,
            customer_message,
        }) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "payment_method_refused",
            format!("{code}: {customer_message}"),
        ),
        PaymentError::Method(other) => ApiError::unavailable(other),
        PaymentError::Store(error) => error.into(),
        PaymentError::Ingest(error) => ApiError::unavailable(error),
    }
}

/// 403 `guardrail_exceeded`: the detail says which limit and how much room is left, and the
/// body carries `limit`, `currency`, `limit_minor` and `remaining_minor`.
fn guardrail_error(refusal: &GuardrailRefusal) -> ApiError {
    let mut extra = serde_json::Map::new();
    extra.insert("limit".into(), json!(refusal.limit));
    extra.insert("currency".into(), json!(refusal.currency));
    extra.insert("limit_minor".into(), json!(refusal.limit_minor));
    extra.insert("remaining_minor".into(), json!(refusal.remaining_minor));
    ApiError::new(
        StatusCode::FORBIDDEN,
        GUARDRAIL_EXCEEDED,
        refusal.to_string(),
    )
    .with_extra(extra)
}

/// `json!` of an intent with its pay URL, as the API shows it.
pub(crate) fn intent_json(engine: &PaymentEngine, intent: &PaymentIntent) -> serde_json::Value {
    let mut body = json!(intent);
    body["pay_url"] = json!(engine.pay_url(&intent.id));
    body
}

/// A JSON response of `body` with `status`.
pub(crate) fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}
