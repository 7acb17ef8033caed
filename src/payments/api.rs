//! Payment intents: `POST /v1/payment-intents` (with `Idempotency-Key`),
//! `GET /v1/payment-intents/{id}`, `GET /v1/payment-intents?conversation_id=`,
//! `POST /v1/payment-intents/{id}/cancel`, `POST /v1/payment-intents/{id}/refund`,
//! `POST /v1/payment-intents/{id}/approve` and `POST /v1/payment-intents/{id}/reject` (an
//! intent a guarded key created above its `approval_above`). The customer pays at the intent's
//! `pay_url` (the MPP endpoint). The caller's API-key guardrails apply to creates and refunds:
//! a refusal is 403 `guardrail_exceeded`, naming the limit and the room left.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use omnibridge_sdk::ConversationId;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::payments::engine::{NewIntent, PaymentEngine};
use crate::payments::intent::PaymentIntent;
use crate::payments::mpp::Mpp;
use crate::payments::mpp::answers::{engine_error, intent_json, json_response};
use crate::payments::routes::PaymentsState;
use crate::payments::store::IntentKey;
use crate::store::IdempotentResponse;
use crate::web::auth::ApiCaller;
use crate::web::extract::{idempotency_key, parse_body, require_json};
use crate::web::paging::clamp_limit;
use crate::web::problem::ApiError;

/// Default lifetime of an intent: 24 hours.
const DEFAULT_EXPIRES_IN_SECS: u64 = 24 * 3600;

/// A charge to offer in a conversation.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntent {
    /// The conversation to offer it in.
    pub conversation_id: String,
    /// Integer minor units (1250 = €12.50; 1200 = ¥1,200).
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// What the customer pays for (1–500 characters).
    pub description: String,
    /// Your reference (order id).
    pub external_id: Option<String>,
    /// Seconds until it can no longer be paid (default 86400, at most 30 days).
    pub expires_in: Option<u64>,
    /// Your own data, returned as given (a JSON object, at most 8 KiB).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// Locale of the messages to the customer (default: templates' default locale).
    pub locale: Option<String>,
}

/// A refund request.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Minor units to refund; the rest of the payment when absent.
    pub amount: Option<i64>,
}

/// `?conversation_id=&limit=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListIntents {
    /// The conversation whose intents to list.
    pub conversation_id: String,
    /// Items (1–500, default 50).
    pub limit: Option<usize>,
}

/// Creates an intent, sends `payment_request` to the conversation, returns it (201). With an
/// API key that has guardrails: refused 403 `guardrail_exceeded` over a limit (the body names
/// `limit`, `currency`, `limit_minor`, `remaining_minor`), and created `requires_approval`
/// (nothing sent until approved) above its `approval_above`.
#[utoipa::path(post, path = "/v1/payment-intents", request_body = CreateIntent,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry safely: the same key returns the first answer")),
    responses((status = 201, body = PaymentIntent),
        (status = 403, body = crate::web::problem::Problem, description = "`guardrail_exceeded`: over a limit of the API key's guardrails (`limit`, `currency`, `limit_minor`, `remaining_minor` in the body)"),
        (status = 404, body = crate::web::problem::Problem),
        (status = 422, body = crate::web::problem::Problem)),
    security(("api_key" = ["payments"])))]
pub async fn create(
    caller: ApiCaller,
    State(state): State<PaymentsState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_json(&headers)?;
    let key = idempotency_key(&headers)?;
    let fingerprint = hex::encode(Sha256::digest(
        [b"payment-intent\0".as_slice(), &body].concat(),
    ));
    let scope = format!("{}:payment-intents", caller.key_name);
    let engine = &state.mpp.engine;
    if let Some(key) = &key
        && let Some(stored) = state.store.idempotent_response(&scope, key).await?
    {
        return replay(engine, stored, &fingerprint).await;
    }
    let request: CreateIntent = parse_body(&body)?;
    // The id is always fresh; the key is a lookup beside it, recorded with the insert.
    let (intent, _) = engine
        .create(NewIntent {
            id: PaymentIntent::new_id(),
            key: key.map(|key| IntentKey {
                scope,
                key,
                fingerprint,
            }),
            conversation_id: ConversationId::new(request.conversation_id),
            amount: request.amount,
            currency: request.currency,
            description: request.description,
            external_id: request.external_id,
            expires_in_secs: request.expires_in.unwrap_or(DEFAULT_EXPIRES_IN_SECS),
            metadata: request.metadata,
            locale: request.locale,
            guard: caller.spend_guard(),
        })
        .await
        .map_err(engine_error)?;
    Ok(json_response(
        StatusCode::CREATED,
        intent_json(engine, &intent),
    ))
}

/// One intent.
#[utoipa::path(get, path = "/v1/payment-intents/{id}", params(("id" = String, Path)),
    responses((status = 200, body = PaymentIntent), (status = 404, body = crate::web::problem::Problem)),
    security(("api_key" = ["payments"])))]
pub async fn get_one(
    _caller: ApiCaller,
    State(mpp): State<Arc<Mpp>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let engine = &mpp.engine;
    let intent = engine.get(&id).await.map_err(engine_error)?;
    Ok(json_response(StatusCode::OK, intent_json(engine, &intent)))
}

/// The intents of a conversation, newest first.
#[utoipa::path(get, path = "/v1/payment-intents", params(ListIntents),
    responses((status = 200, description = "`{\"data\": [intent, …]}`")),
    security(("api_key" = ["payments"])))]
pub async fn list(
    _caller: ApiCaller,
    State(mpp): State<Arc<Mpp>>,
    Query(query): Query<ListIntents>,
) -> Result<Response, ApiError> {
    let engine = &mpp.engine;
    let conversation = ConversationId::new(query.conversation_id);
    let intents = engine
        .list(&conversation, clamp_limit(query.limit))
        .await
        .map_err(engine_error)?;
    let data: Vec<_> = intents.iter().map(|i| intent_json(engine, i)).collect();
    Ok(json_response(StatusCode::OK, json!({ "data": data })))
}

/// Cancels an unpaid intent; a later credential never pays it.
#[utoipa::path(post, path = "/v1/payment-intents/{id}/cancel", params(("id" = String, Path)),
    responses((status = 200, body = PaymentIntent), (status = 404, body = crate::web::problem::Problem),
        (status = 409, body = crate::web::problem::Problem)),
    security(("api_key" = ["payments"])))]
pub async fn cancel(
    _caller: ApiCaller,
    State(mpp): State<Arc<Mpp>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let engine = &mpp.engine;
    let intent = engine.cancel(&id).await.map_err(engine_error)?;
    Ok(json_response(StatusCode::OK, intent_json(engine, &intent)))
}

/// Refunds a paid intent, in full or in part, through the method that settled it. An API key
/// with guardrails refunds only what its `refunds` grants (403 `guardrail_exceeded`).
#[utoipa::path(post, path = "/v1/payment-intents/{id}/refund", request_body = RefundRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Passed to the method: a retry refunds once")),
    responses((status = 200, body = PaymentIntent),
        (status = 403, body = crate::web::problem::Problem, description = "`guardrail_exceeded`: the API key's guardrails do not grant this refund"),
        (status = 409, body = crate::web::problem::Problem),
        (status = 422, body = crate::web::problem::Problem)),
    security(("api_key" = ["payments"])))]
pub async fn refund(
    caller: ApiCaller,
    State(mpp): State<Arc<Mpp>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let request: RefundRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RefundRequest::default()
    } else {
        require_json(&headers)?;
        parse_body(&body)?
    };
    let engine = &mpp.engine;
    let intent = engine
        .refund(
            &id,
            request.amount,
            key.as_deref(),
            caller.spend_guard().as_ref(),
        )
        .await
        .map_err(engine_error)?;
    Ok(json_response(StatusCode::OK, intent_json(engine, &intent)))
}

/// Approves an intent waiting for approval: it is offered to the customer (`payment.requested`
/// and the `payment_request` message) and becomes `requires_confirmation`.
#[utoipa::path(post, path = "/v1/payment-intents/{id}/approve", params(("id" = String, Path)),
    responses((status = 200, body = PaymentIntent), (status = 404, body = crate::web::problem::Problem),
        (status = 409, body = crate::web::problem::Problem, description = "`invalid_payment_intent_state`: not `requires_approval`")),
    security(("api_key" = ["payments"])))]
pub async fn approve(
    _caller: ApiCaller,
    State(mpp): State<Arc<Mpp>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let engine = &mpp.engine;
    let intent = engine.approve(&id).await.map_err(engine_error)?;
    Ok(json_response(StatusCode::OK, intent_json(engine, &intent)))
}

/// Why an intent waiting for approval is rejected.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// Shown in the `payment.rejected` event (never to the customer); at most 500 characters.
    pub reason: Option<String>,
}

/// Rejects an intent waiting for approval: it becomes `rejected`, `payment.rejected` is
/// announced, and nothing is ever sent to the customer.
#[utoipa::path(post, path = "/v1/payment-intents/{id}/reject", request_body = Option<RejectRequest>,
    params(("id" = String, Path)),
    responses((status = 200, body = PaymentIntent), (status = 404, body = crate::web::problem::Problem),
        (status = 409, body = crate::web::problem::Problem, description = "`invalid_payment_intent_state`: not `requires_approval`"),
        (status = 422, body = crate::web::problem::Problem)),
    security(("api_key" = ["payments"])))]
pub async fn reject(
    _caller: ApiCaller,
    State(mpp): State<Arc<Mpp>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: RejectRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RejectRequest::default()
    } else {
        require_json(&headers)?;
        parse_body(&body)?
    };
    let reason = request.reason.as_deref().map(str::trim);
    if let Some(reason) = reason
        && (reason.chars().count() > 500 || reason.chars().any(char::is_control))
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "reason must be at most 500 printable characters",
        ));
    }
    let reason = reason.filter(|r| !r.is_empty());
    let engine = &mpp.engine;
    let intent = engine.reject(&id, reason).await.map_err(engine_error)?;
    Ok(json_response(StatusCode::OK, intent_json(engine, &intent)))
}

/// The answer to a retried create: the intent the key names, as it is now.
async fn replay(
    engine: &PaymentEngine,
    stored: IdempotentResponse,
    fingerprint: &str,
) -> Result<Response, ApiError> {
    if stored.fingerprint != fingerprint {
        return Err(crate::store::StoreError::IdempotencyConflict.into());
    }
    let id = stored.body["id"].as_str().unwrap_or_default();
    let intent = engine.get(id).await.map_err(engine_error)?;
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::CREATED);
    Ok(json_response(status, intent_json(engine, &intent)))
}
