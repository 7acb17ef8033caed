//! `GET|POST /pay/{intent_id}`: no credential → 402 with challenges; a credential →
//! checks in the spec's order, the challenge consumed exactly once (atomically with the
//! intent's move to `processing`), settlement by the named method, and 200 with a receipt.
//! Spans carry `payment_intent_id`, never credentials, tokens or receipts.

use ::mpp::protocol::core::extract_payment_scheme;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use super::Mpp;
use super::answers::{engine_error, intent_json, not_payable, unknown};
use super::challenge::{Rejection, verify};
use super::response::{PaymentProblem, paid, payment_required};
use crate::payments::engine::PaymentEngine;
use crate::payments::intent::{IntentState, PaymentIntent};
use crate::payments::method::SettleError;
use crate::payments::outcome::{Resolution, TRY_AGAIN, failure_reason};
use crate::payments::routes::PaymentsState;
use crate::payments::store::BeginOutcome;
use crate::store::IdempotentResponse;
use crate::web::extract::idempotency_key;
use crate::web::problem::ApiError;

/// The pay endpoint (GET probes, POST pays; both answer the same way).
pub async fn pay(
    State(state): State<PaymentsState>,
    Path(intent_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let span = tracing::info_span!("mpp.pay", payment_intent_id = %intent_id);
    let mpp = state.mpp.clone();
    async move {
        // Boxed: the confirmation's state machine is large, and every layer between here and
        // the connection would otherwise copy it whole when it wraps this future.
        match Box::pin(handle(&mpp, &state, &intent_id, &headers)).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        }
    }
    .instrument(span)
    .await
}

async fn handle(
    mpp: &Mpp,
    state: &PaymentsState,
    intent_id: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    if !PaymentIntent::is_valid_id(intent_id) {
        return Err(unknown(intent_id));
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(extract_payment_scheme);
    let idempotency = idempotency(intent_id, headers, authorization)?;
    if let Some((key, fingerprint)) = &idempotency
        && let Some(stored) = state
            .store
            .idempotent_response(&scope(intent_id), key)
            .await?
    {
        return replay(&stored, fingerprint);
    }
    let intent = mpp.engine.get(intent_id).await.map_err(engine_error)?;
    if intent.state == IntentState::Processing
        && let Some(authorization) = authorization
        && let Ok(verified) = verify(&mpp.keys, &mpp.realm, &mpp.engine, &intent, authorization)
        && mpp.engine.is_in_doubt(&intent.id, &verified.challenge_id)
    {
        // The payer retries the very credential whose answer was lost: find the outcome now
        // (same idempotency key), never charge anew.
        let resolution = mpp
            .engine
            .resolve(&intent.id, chrono::Utc::now())
            .await
            .map_err(engine_error)?;
        return match resolution {
            Resolution::Paid(paid_intent) => {
                paid_answer(mpp, state, intent_id, &paid_intent, idempotency.as_ref()).await
            }
            Resolution::Reopened(back) => Ok(payment_required(
                mpp,
                &back,
                headers,
                PaymentProblem::VerificationFailed,
                TRY_AGAIN,
            )),
            Resolution::Pending | Resolution::Busy => Ok(outcome_unknown(mpp)),
            Resolution::Moved(now) => Ok(not_payable(now, retry_after(mpp))),
        };
    }
    if intent.state != IntentState::RequiresConfirmation {
        return Ok(not_payable(intent.state, retry_after(mpp)));
    }
    let Some(authorization) = authorization else {
        return Ok(payment_required(
            mpp,
            &intent,
            headers,
            PaymentProblem::PaymentRequired,
            "This payment needs a Payment credential for one of the offered challenges.",
        ));
    };
    let verified = match verify(&mpp.keys, &mpp.realm, &mpp.engine, &intent, authorization) {
        Ok(verified) => verified,
        Err(rejection) => {
            let (problem, detail) = match &rejection {
                Rejection::Malformed(_) => {
                    (PaymentProblem::MalformedCredential, rejection.to_string())
                }
                Rejection::InvalidChallenge(_) => {
                    (PaymentProblem::InvalidChallenge, rejection.to_string())
                }
                Rejection::Expired(_) => (PaymentProblem::PaymentExpired, rejection.to_string()),
            };
            tracing::info!(problem = problem.slug(), "payment credential refused");
            return Ok(payment_required(mpp, &intent, headers, problem, &detail));
        }
    };
    let started = match mpp
        .engine
        .begin(&intent, &verified.challenge_id, verified.expires)
        .await
        .map_err(engine_error)?
    {
        BeginOutcome::Started(started) => *started,
        BeginOutcome::ChallengeUsed => {
            return Ok(payment_required(
                mpp,
                &intent,
                headers,
                PaymentProblem::InvalidChallenge,
                "This challenge was already used; pay with a fresh one.",
            ));
        }
        BeginOutcome::NotConfirmable(now) => return Ok(not_payable(now, retry_after(mpp))),
        BeginOutcome::UnknownIntent => return Err(unknown(intent_id)),
    };
    // Held while settling, so the sweeper leaves this settlement alone.
    let _busy = mpp.engine.claim(&started.id);
    let method = mpp
        .engine
        .method(&verified.method)
        .cloned()
        .ok_or_else(|| ApiError::internal("verified method vanished"))?;
    let charge = PaymentEngine::charge(&started).map_err(engine_error)?;
    let outcome = method
        .settle(&charge, &verified.challenge_id, &verified.payload)
        .await;
    let metrics = mpp.engine.metrics();
    match outcome {
        Ok(settlement) => {
            metrics.count_settlement(method.name(), "succeeded");
            let paid_intent = mpp
                .engine
                .succeeded(&started, method.name(), &settlement)
                .await
                .map_err(engine_error)?;
            tracing::info!(method = method.name(), "payment settled");
            paid_answer(mpp, state, intent_id, &paid_intent, idempotency.as_ref()).await
        }
        Err(error @ SettleError::Unknown(_)) => {
            metrics.count_settlement(method.name(), "unknown");
            tracing::warn!(method = method.name(), %error,
                "payment outcome unknown; the intent stays processing until it is resolved");
            mpp.engine.remember_unknown(
                &started.id,
                method.name(),
                &verified.challenge_id,
                &verified.payload,
            );
            Ok(outcome_unknown(mpp))
        }
        Err(error) => {
            let (outcome, problem) = match &error {
                SettleError::MalformedPayload(_) => {
                    ("malformed", PaymentProblem::MalformedCredential)
                }
                SettleError::Refused { .. } => ("refused", PaymentProblem::VerificationFailed),
                _ => ("unavailable", PaymentProblem::VerificationFailed),
            };
            let reason = failure_reason(&error);
            let detail = match (&error, &reason) {
                (SettleError::MalformedPayload(detail), _) => detail.clone(),
                (_, Some(reason)) => reason.clone(),
                (_, None) => TRY_AGAIN.to_owned(),
            };
            metrics.count_settlement(method.name(), outcome);
            tracing::info!(method = method.name(), %error, "payment not settled");
            let back = mpp
                .engine
                .retryable_failure(&started, reason.as_deref())
                .await
                .map_err(engine_error)?;
            let mut response = payment_required(mpp, &back, headers, problem, &detail);
            if outcome == "unavailable" {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Ok(response)
        }
    }
}

/// 200 with the receipt for a paid intent, saved for the request's `Idempotency-Key`.
async fn paid_answer(
    mpp: &Mpp,
    state: &PaymentsState,
    intent_id: &str,
    paid_intent: &PaymentIntent,
    idempotency: Option<&(String, String)>,
) -> Result<Response, ApiError> {
    let body = intent_json(&mpp.engine, paid_intent);
    if let Some((key, fingerprint)) = idempotency {
        let record = IdempotentResponse {
            fingerprint: fingerprint.clone(),
            status: 200,
            body: body.clone(),
        };
        state
            .store
            .save_idempotent_response(&scope(intent_id), key, &record)
            .await?;
    }
    Ok(paid(paid_intent, body))
}

/// The `Retry-After` of answers about a `processing` intent.
fn retry_after(mpp: &Mpp) -> u64 {
    mpp.engine.reconcile_settings().retry_after_secs.max(1)
}

/// 503 `payment_outcome_unknown` with `Retry-After`: the processor has not told us whether
/// it took the money; the intent stays `processing` and will not be charged again.
fn outcome_unknown(mpp: &Mpp) -> Response {
    let retry_after = retry_after(mpp);
    let mut response = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "payment_outcome_unknown",
        "The payment processor has not confirmed whether this payment went through. It will \
         not be taken twice: retry this request, or read the intent, after Retry-After seconds.",
    )
    .into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn scope(intent_id: &str) -> String {
    format!("mpp:{intent_id}")
}

/// `(key, fingerprint)` of a request with an `Idempotency-Key`; the fingerprint covers the
/// intent and the credential, so the key cannot replay a result for another credential.
fn idempotency(
    intent_id: &str,
    headers: &HeaderMap,
    authorization: Option<&str>,
) -> Result<Option<(String, String)>, ApiError> {
    let Some(key) = idempotency_key(headers)? else {
        return Ok(None);
    };
    let digest = Sha256::digest(
        [
            intent_id.as_bytes(),
            b"\0",
            authorization.unwrap_or("").as_bytes(),
        ]
        .concat(),
    );
    Ok(Some((key, hex::encode(digest))))
}

fn replay(stored: &IdempotentResponse, fingerprint: &str) -> Result<Response, ApiError> {
    if stored.fingerprint != fingerprint {
        return Err(crate::store::StoreError::IdempotencyConflict.into());
    }
    let intent: PaymentIntent = serde_json::from_value(stored.body.clone())
        .map_err(|error| ApiError::internal(format!("stored pay response: {error}")))?;
    Ok(paid(&intent, stored.body.clone()))
}
