//! `POST /payments/stripe/webhook`: Stripe's webhook endpoint. The raw body is verified
//! against `Stripe-Signature` with the configured webhook secret before it is parsed (400
//! and nothing changed otherwise); the event is then reconciled into the intent it names
//! through the engine's compare-and-set transitions. Answers 200 for events we do not
//! reconcile (Stripe stops retrying), 5xx when the store failed (Stripe retries).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use super::webhook::{DEFAULT_TOLERANCE_SECS, STRIPE_SIGNATURE_HEADER, reconcile};
use std::sync::Arc;

use crate::payments::mpp::Mpp;
use crate::web::problem::ApiError;

/// The route of Stripe's webhook endpoint (give Stripe `<public_url>` + this).
pub const STRIPE_WEBHOOK_PATH: &str = "/payments/stripe/webhook";

/// Receives one Stripe event.
pub async fn receive(
    State(mpp): State<Arc<Mpp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(stripe) = mpp.stripe.as_ref() else {
        return Err(ApiError::not_found(
            "not_found",
            "the stripe payment method is not enabled",
        ));
    };
    let header = headers
        .get(STRIPE_SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    if let Err(error) = stripe.verify_webhook(&body, header, now, DEFAULT_TOLERANCE_SECS) {
        tracing::warn!(%error, "stripe webhook refused");
        return Err(ApiError::bad_request(
            "invalid_signature",
            error.to_string(),
        ));
    }
    let event: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("invalid_json", "the body is not a JSON event"))?;
    let Some(update) = reconcile(&event) else {
        return Ok((StatusCode::OK, axum::Json(json!({ "received": true }))).into_response());
    };
    let outcome = mpp
        .engine
        .reconcile_stripe(&update)
        .await
        .map_err(ApiError::unavailable)?;
    let outcome = match outcome {
        crate::payments::reconcile::Reconciled::UnknownIntent => "unknown_intent",
        crate::payments::reconcile::Reconciled::Unchanged => "unchanged",
        crate::payments::reconcile::Reconciled::Applied(_) => "applied",
    };
    Ok((
        StatusCode::OK,
        axum::Json(json!({ "received": true, "outcome": outcome })),
    )
        .into_response())
}
