//! The fake's HTTP side: authentication, latency, idempotency and the routes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::wire::{self, Answer, Params, error};
use super::{FakeState, Fault, Recorded, issued_tokens, lock, payment_intents, refunds};

/// 401 without the secret key in `Authorization` (`Bearer <key>`, or HTTP Basic with the key
/// as user name, as Stripe accepts both); otherwise the answer, delayed by the
/// configured latency.
pub(crate) async fn authenticate(
    State(state): State<Arc<Mutex<FakeState>>>,
    request: Request,
    next: Next,
) -> Response {
    let (secret_key, latency) = {
        let state = lock(&state);
        (state.secret_key.clone(), state.latency)
    };
    let presented = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(presented_key);
    if presented.as_deref() != Some(secret_key.as_str()) {
        let body = error(
            "invalid_request_error",
            None,
            None,
            "You did not provide a valid API key.",
            None,
        );
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let spoilable = request.uri().path().starts_with("/v1/payment_intents");
    let response = next.run(request).await;
    // After the work, before the answer: a client that times out meanwhile has been charged
    // and must find out by retrying with the same idempotency key.
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = if spoilable { take_fault(&state) } else { None };
    match fault {
        None => response,
        Some(Fault::Slow(hold)) => {
            tokio::time::sleep(hold).await;
            response
        }
        Some(Fault::ServerError) => {
            let body = error(
                "api_error",
                None,
                None,
                "An unknown error occurred while processing your request.",
                None,
            );
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
        }
        Some(Fault::Unreadable) => (
            StatusCode::OK,
            [("content-type", "application/json")],
            "{\"object\": \"payment_intent\", \"id\": 17, \"status\": [",
        )
            .into_response(),
    }
}

/// The configured fault, counting down its budget.
fn take_fault(state: &Mutex<FakeState>) -> Option<Fault> {
    let mut state = lock(state);
    let (fault, budget) = state.fault?;
    match budget {
        None => Some(fault),
        Some(0) => {
            state.fault = None;
            None
        }
        Some(left) => {
            state.fault = Some((fault, Some(left - 1)));
            Some(fault)
        }
    }
}

/// `GET /v1/payment_intents/search?query=metadata['key']:'value'`: Stripe's search result
/// list of the PaymentIntents whose metadata matches.
pub(crate) async fn search_payment_intents(
    State(state): State<Arc<Mutex<FakeState>>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let mut state = lock(&state);
    let query = params.get("query").cloned().unwrap_or_default();
    let parsed = query
        .strip_prefix("metadata['")
        .and_then(|rest| rest.split_once("']:'"))
        .and_then(|(key, value)| Some((key.to_owned(), value.strip_suffix('\'')?.to_owned())));
    let answer = match parsed {
        Some((key, value)) => {
            let data: Vec<serde_json::Value> = state
                .payment_intents
                .values()
                .filter(|pi| pi["metadata"][key.as_str()] == value.as_str())
                .cloned()
                .collect();
            Answer::ok(serde_json::json!({
                "object": "search_result", "url": "/v1/payment_intents/search",
                "has_more": false, "next_page": null, "data": data,
            }))
        }
        None => Answer::not_saved(
            400,
            error(
                "invalid_request_error",
                Some("parameter_invalid_string"),
                None,
                "This fake only understands metadata['key']:'value' queries.",
                Some("query"),
            ),
        ),
    };
    record(
        &mut state,
        Method::GET,
        "/v1/payment_intents/search",
        Vec::new(),
        None,
        answer.status,
    );
    answer.into_response()
}

/// The secret key of `Bearer <key>` or `Basic base64(<key>:)` (the `mpp` crate's own Stripe
/// client sends Basic).
fn presented_key(value: &str) -> Option<String> {
    if let Some(key) = value.strip_prefix("Bearer ") {
        return Some(key.to_owned());
    }
    let decoded = STANDARD.decode(value.strip_prefix("Basic ")?).ok()?;
    let user_pass = String::from_utf8(decoded).ok()?;
    let (user, _password) = user_pass.split_once(':')?;
    Some(user.to_owned())
}

pub(crate) async fn create_payment_intent(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = lock(&state);
    idempotent(
        &mut state,
        "/v1/payment_intents",
        &headers,
        &body,
        payment_intents::create_payment_intent,
    )
}

pub(crate) async fn create_refund(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = lock(&state);
    idempotent(
        &mut state,
        "/v1/refunds",
        &headers,
        &body,
        refunds::create_refund,
    )
}

pub(crate) async fn create_issued_token(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = lock(&state);
    idempotent(
        &mut state,
        "/v1/shared_payment/issued_tokens",
        &headers,
        &body,
        issued_tokens::create_issued_token,
    )
}

pub(crate) async fn retrieve_payment_intent(
    State(state): State<Arc<Mutex<FakeState>>>,
    Path(id): Path<String>,
) -> Response {
    let mut state = lock(&state);
    let answer = match state.payment_intents.get(&id) {
        Some(intent) => Answer::ok(intent.clone()),
        None => Answer::not_saved(
            404,
            error(
                "invalid_request_error",
                Some("resource_missing"),
                None,
                &format!("No such payment_intent: '{id}'"),
                Some("intent"),
            ),
        ),
    };
    record(
        &mut state,
        Method::GET,
        &format!("/v1/payment_intents/{id}"),
        Vec::new(),
        None,
        answer.status,
    );
    answer.into_response()
}

/// Runs `handler` under Stripe's idempotency rules.
fn idempotent(
    state: &mut FakeState,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
    handler: fn(&mut FakeState, &Params) -> Answer,
) -> Response {
    let params = wire::parse_form(body);
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let slot = key.clone().map(|k| (path.to_owned(), k));
    let answer = match slot.as_ref().and_then(|slot| state.idempotent.get(slot)) {
        Some((first, status, body)) if wire::same_params(first, &params) => {
            Answer::replay(*status, body.clone())
        }
        Some(_) => Answer::not_saved(
            400,
            error(
                "idempotency_error",
                None,
                None,
                "Keys for idempotent requests can only be used with the same parameters they were first used with. \
             Try using a key other than the one used in this request.",
                None,
            ),
        ),
        None => {
            let answer = handler(state, &params);
            if let (Some(slot), true) = (slot, answer.saved) {
                state
                    .idempotent
                    .insert(slot, (params.clone(), answer.status, answer.body.clone()));
            }
            answer
        }
    };
    record(state, Method::POST, path, params, key, answer.status);
    answer.into_response()
}

fn record(
    state: &mut FakeState,
    method: Method,
    path: &str,
    params: Params,
    idempotency_key: Option<String>,
    status: u16,
) {
    state.recorded.push(Recorded {
        method: method.to_string(),
        path: path.to_owned(),
        params,
        idempotency_key,
        status,
    });
}
