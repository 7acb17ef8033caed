//! Inbound provider webhooks, one route for every push channel:
//! verify (before parsing) → normalise → durable append → only then 200.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use omnibridge_sdk::{ChannelError, WebhookRequest};
use serde_json::json;
use tracing::Instrument;

use super::AppState;
use crate::channels::ChannelHandle;
use crate::web::problem::ApiError;

/// `POST /webhooks/{channel_id}`: a provider delivers events.
pub async fn receive(
    State(state): State<AppState>,
    Path(channel_id): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let received = Received {
        method,
        headers,
        query,
        body,
    };
    accept(state, &channel_id, "", received).await
}

/// `POST /webhooks/{channel_id}/{subpath}`: a channel's other webhook (a delivery-status
/// callback at `/status`), when the channel lists it in `webhook_subpaths`; else 404.
pub async fn receive_at(
    State(state): State<AppState>,
    Path((channel_id, subpath)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let handle = channel(&state, &channel_id)?;
    if !handle
        .channel
        .webhook_subpaths()
        .contains(&subpath.as_str())
    {
        return Err(ApiError::not_found(
            "unknown_webhook",
            format!("channel {channel_id:?} has no webhook at /{subpath}"),
        ));
    }
    let received = Received {
        method,
        headers,
        query,
        body,
    };
    accept(state, &channel_id, &subpath, received).await
}

/// A webhook request as it arrived.
struct Received {
    method: Method,
    headers: HeaderMap,
    query: Option<String>,
    body: Bytes,
}

/// Verify → receive → durable append → 200.
async fn accept(
    state: AppState,
    channel_id: &str,
    subpath: &str,
    received: Received,
) -> Result<Response, ApiError> {
    let Received {
        method,
        headers,
        query,
        body,
    } = received;
    let handle = channel(&state, channel_id)?.clone();
    let span = tracing::info_span!("webhook", channel = %handle.kind, channel_id = %handle.id);
    async move {
        let request =
            WebhookRequest::new(&method, &headers, query.as_deref(), &body).with_subpath(subpath);
        handle.channel.verify(&request).map_err(channel_problem)?;
        let events = handle
            .channel
            .receive(&request)
            .await
            .map_err(channel_problem)?;
        let results = state
            .ingest
            .accept(&handle.id, &handle.kind, events)
            .await
            .map_err(ApiError::unavailable)?;
        let duplicates = results
            .iter()
            .filter(|(appended, _)| appended.duplicate)
            .count();
        tracing::debug!(
            events = results.len(),
            duplicates,
            "Webhook events appended."
        );
        Ok((
            StatusCode::OK,
            Json(json!({ "accepted": results.len() - duplicates, "duplicates": duplicates })),
        )
            .into_response())
    }
    .instrument(span)
    .await
}

/// `GET /webhooks/{channel_id}`: a provider's subscription handshake.
pub async fn handshake(
    State(state): State<AppState>,
    Path(channel_id): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let handle = channel(&state, &channel_id)?;
    let body = Bytes::new();
    let request = WebhookRequest::new(&method, &headers, query.as_deref(), &body);
    match handle.channel.handshake(&request) {
        Some(response) => Ok(response.map(axum::body::Body::from)),
        None => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "handshake_refused",
            "this channel has no handshake, or the verify token did not match",
        )),
    }
}

fn channel<'a>(state: &'a AppState, id: &str) -> Result<&'a ChannelHandle, ApiError> {
    state.channels.get(id).ok_or_else(|| {
        ApiError::not_found(
            "unknown_channel",
            format!("no channel is configured as {id:?}"),
        )
    })
}

/// Maps an adapter's verdict on a webhook to a problem.
fn channel_problem(error: ChannelError) -> ApiError {
    match error {
        ChannelError::Unauthorized { reason } => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            format!("webhook refused: {reason}"),
        ),
        ChannelError::Malformed(detail) => ApiError::bad_request("malformed_payload", detail),
        ChannelError::Rejected { code, reason } if code == omnibridge_sdk::BODY_TOO_LARGE => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", reason)
        }
        // Understood but refused (an item without its sender): 422 with the channel's code.
        ChannelError::Rejected { reason, .. } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable_item",
            reason,
        ),
        ChannelError::Transient(error) => ApiError::unavailable(error),
        other => ApiError::internal(other),
    }
}
