//! RFC 9457 `application/problem+json` errors with a stable snake_case `code`.
//!
//! Handlers return [`ApiError`]; client errors are answered as they are, internal errors get
//! a generic body and are logged once by the response logging middleware (which finds the
//! cause in the response extensions), never in the conversion itself.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The problem+json body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`about:blank` style, stable).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short human summary.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened in this instance, secret-free.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The stable machine-readable code (`unknown_conversation`, `invalid_json`, ...).
    pub code: String,
}

/// An error a handler answers with.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable snake_case code.
    pub code: &'static str,
    /// Human detail; for 5xx a generic text (the cause is in `internal`).
    pub detail: String,
    /// The internal cause of a 5xx, logged by middleware, never sent.
    pub internal: Option<String>,
    /// Extra members of the problem+json body (RFC 9457 extension members), e.g. the limit
    /// a guardrail refusal names; never overrides the standard members.
    pub extra: Option<Box<serde_json::Map<String, serde_json::Value>>>,
}

/// The internal cause of a 5xx answer, attached to the response for the logging middleware.
#[derive(Clone, Debug)]
pub struct InternalCause(pub String);

impl ApiError {
    /// A client error.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            internal: None,
            extra: None,
        }
    }

    /// The same error with extension members added to its body.
    #[must_use]
    pub fn with_extra(mut self, extra: serde_json::Map<String, serde_json::Value>) -> Self {
        self.extra = Some(Box::new(extra));
        self
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 404 with `code`.
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    /// 500 (or 503 when `unavailable`) with the cause kept for the logs only.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal_error",
            detail: "an internal error occurred; it has been logged".into(),
            internal: Some(cause.to_string()),
            extra: None,
        }
    }

    /// 503 `unavailable`: a backend is down; the client may retry.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            detail: "a backend is unavailable; retry later".into(),
            internal: Some(cause.to_string()),
            extra: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let Some(extra) = self.extra else {
            return problem_response(self.status, self.code, Some(self.detail), self.internal);
        };
        let problem = problem_body(self.status, self.code, Some(self.detail));
        let mut body = serde_json::to_value(&problem).unwrap_or_default();
        if let Some(members) = body.as_object_mut() {
            for (name, value) in *extra {
                members.entry(name).or_insert(value);
            }
        }
        finish(self.status, Json(body).into_response(), self.internal)
    }
}

/// Builds a problem+json response.
pub fn problem_response(
    status: StatusCode,
    code: &str,
    detail: Option<String>,
    internal: Option<String>,
) -> Response {
    let body = problem_body(status, code, detail);
    finish(status, Json(body).into_response(), internal)
}

fn problem_body(status: StatusCode, code: &str, detail: Option<String>) -> Problem {
    Problem {
        kind: format!("https://omnibridge.dev/problems/{code}"),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        code: code.to_owned(),
    }
}

/// Sets the status, the problem+json content type and the internal cause on `response`.
fn finish(status: StatusCode, mut response: Response, internal: Option<String>) -> Response {
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some(cause) = internal {
        response.extensions_mut().insert(InternalCause(cause));
    }
    response
}

impl From<crate::bus::BusError> for ApiError {
    fn from(error: crate::bus::BusError) -> Self {
        Self::unavailable(error)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        match error {
            crate::store::StoreError::IdempotencyConflict => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request",
            ),
            other => Self::unavailable(other),
        }
    }
}
