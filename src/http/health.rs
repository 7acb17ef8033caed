//! `/healthz` (the process is up), `/readyz` (store and bus reachable) and `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::web::problem::ApiError;

/// Liveness: answers as long as the process serves requests.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// How long one channel's health check may take before it counts as failed.
const CHANNEL_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Readiness: the store and the bus both answer (else 503). `channel_types` lists the
/// channel kinds this build can configure. Each channel's own health check
/// (an IMAP login refused, a reconnect in progress) is reported under `channels`; a failing
/// channel makes the status `degraded` but not unready, since the others still work.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    state.store.ping().await?;
    state.bus.ping().await?;
    let mut channels = serde_json::Map::new();
    let mut degraded = false;
    for handle in state.channels.iter() {
        let check =
            tokio::time::timeout(CHANNEL_CHECK_TIMEOUT, handle.channel.health_check()).await;
        let report = match check {
            Ok(Ok(())) => json!("ok"),
            Ok(Err(error)) => {
                degraded = true;
                json!({ "error": error.code(), "detail": error.to_string() })
            }
            Err(_) => {
                degraded = true;
                json!({ "error": "timeout", "detail": "the health check did not answer in 2 s" })
            }
        };
        channels.insert(handle.id.clone(), report);
    }
    let status = if degraded { "degraded" } else { "ready" };
    Ok(Json(json!({
        "status": status,
        "store": "ok",
        "bus": "ok",
        "channels": channels,
        "channel_types": state.channel_kinds.as_slice(),
    })))
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    if let Ok(depth) = state.store.outbox_depth().await {
        state
            .metrics
            .outbox_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}
