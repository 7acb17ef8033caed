//! Cross-cutting request handling: request ids, latency metrics and logging, and turning any
//! bare error response (body limit, method not allowed, ...) into problem+json.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tower::ServiceBuilder;
use tower::layer::util::Stack;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tracing::Instrument;

use super::AppState;
use crate::metrics::HttpLabel;
use crate::web::problem::{ApiError, InternalCause, problem_response};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Makes request ids from ULIDs.
#[derive(Clone, Copy, Debug, Default)]
pub struct UlidRequestId;

impl MakeRequestId for UlidRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&format!("req_{}", ulid::Ulid::new()))
            .ok()
            .map(RequestId::new)
    }
}

/// Sets `x-request-id` on requests that lack one and echoes it on the response.
pub fn request_id_layers() -> ServiceBuilder<
    Stack<
        PropagateRequestIdLayer,
        Stack<SetRequestIdLayer<UlidRequestId>, tower::layer::util::Identity>,
    >,
> {
    ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, UlidRequestId))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
}

/// Times every request into the latency histogram (labelled by route template, never the raw
/// path), and logs server errors with their internal cause.
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().to_string();
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let span = tracing::info_span!("http", %method, route = %route, request_id = %request_id);
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    let elapsed = started.elapsed();
    state
        .metrics
        .http_latency
        .get_or_create(&HttpLabel {
            route: route.clone(),
            method,
            status: format!("{}xx", status.as_u16() / 100),
        })
        .observe(elapsed.as_secs_f64());
    let _entered = span.enter();
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        tracing::error!(status = status.as_u16(), cause = %cause, "Request failed inside the bridge.");
    } else if status.is_client_error() {
        tracing::debug!(status = status.as_u16(), "Request refused.");
    } else {
        tracing::debug!(
            status = status.as_u16(),
            elapsed_ms = elapsed.as_millis() as u64,
            "Request served."
        );
    }
    response
}

/// Rewrites error responses produced outside our handlers (axum's body limit, method not
/// allowed, ...) into problem+json with a stable code.
pub async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/problem+json"));
    if is_problem || status == StatusCode::PAYMENT_REQUIRED {
        return response;
    }
    let (code, detail) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ("body_too_large", "the request body is larger than allowed")
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method_not_allowed", "this route does not take that method")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "send application/json"),
        StatusCode::NOT_FOUND => ("not_found", "no such route"),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "the request took too long"),
        s if s.is_server_error() => ("internal_error", "an internal error occurred"),
        _ => ("bad_request", "the request was refused"),
    };
    let mut rewritten = problem_response(status, code, Some(detail.to_owned()), None);
    if let Some(id) = response.headers().get(REQUEST_ID) {
        rewritten.headers_mut().insert(REQUEST_ID, id.clone());
    }
    rewritten
}

/// The answer for unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "no such route")
}
