//! A local Stripe API for tests: an axum server on `127.0.0.1:0`, started in-process, that
//! follows Stripe's documented shapes for what the bridge calls: form-encoded requests, JSON
//! answers, `{"error": {type, code, decline_code, message, param}}` errors, bearer secret
//! key (401 without it), and `Idempotency-Key` (same key + same parameters replays the first
//! answer, errors included; same key + other parameters is a 400 `idempotency_error`).
//!
//! Endpoints: `POST /v1/payment_intents` (requires `shared_payment_granted_token`,
//! `confirm=true`, `automatic_payment_methods[enabled]=true`), `GET /v1/payment_intents/{id}`,
//! `POST /v1/refunds` (full, partial, over-refund error). Helpers: signed webhook events,
//! counters, the recorded requests.
//!
//! Magic SPTs (the prefix decides; the rest makes them unique):
//! - `spt_success…` → `succeeded`; `spt_action…` → 200 with `requires_action`;
//! - `spt_decline…` → 402 `card_error` `card_declined`/`generic_decline` (the PaymentIntent
//!   exists, in `requires_payment_method`, and is embedded in the error, like Stripe does);
//! - `spt_insufficient…` → 402 `card_declined`/`insufficient_funds`;
//! - `spt_fail_5xx_once…` → one 500 `api_error` (not saved for idempotent replay, with
//!   `Stripe-Should-Retry: true`, as for a failure before the request started executing),
//!   then normal success; `spt_fail_5xx_always…` → always that 500;
//! - anything else → 400 `resource_missing` on `shared_payment_granted_token`.
//!
//! SPTs are single use: a PaymentIntent with an SPT already used (in a request that was not
//! an idempotent replay) is a 400 `invalid_request_error` with code `token_already_used`
//! (Stripe's documented code for a reused token; Stripe publishes no SPT-specific code).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

#[path = "stripe_fake_objects.rs"]
mod objects;

use objects::{Answer, Params, error};

/// One request the fake answered.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    /// HTTP method.
    pub(crate) method: String,
    /// Path, e.g. `/v1/payment_intents`.
    pub(crate) path: String,
    /// Decoded form parameters, in order.
    pub(crate) params: Params,
    /// `Idempotency-Key`, when sent.
    pub(crate) idempotency_key: Option<String>,
    /// Status answered.
    pub(crate) status: u16,
}

impl Recorded {
    /// The value of form parameter `name` (`metadata[challenge_id]` ...).
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        objects::param(&self.params, name)
    }
}

/// The fake's state.
#[derive(Default)]
pub(crate) struct FakeState {
    secret_key: String,
    latency: Duration,
    pub(crate) payment_intents: HashMap<String, Value>,
    pub(crate) refunds: Vec<Value>,
    /// PaymentIntent id → minor units refunded so far.
    pub(crate) refunded: HashMap<String, i64>,
    pub(crate) used_spts: HashSet<String>,
    pub(crate) failed_once: HashSet<String>,
    /// (path, key) → (parameters, status, body) of the first answer.
    pub(crate) idempotent: HashMap<(String, String), (Params, u16, Value)>,
    pub(crate) recorded: Vec<Recorded>,
    pub(crate) payment_intents_created: usize,
    pub(crate) refunds_created: usize,
}

/// A running fake Stripe; stopped when dropped.
pub(crate) struct StripeFake {
    url: String,
    secret_key: String,
    webhook_secret: String,
    state: Arc<Mutex<FakeState>>,
    server: tokio::task::JoinHandle<()>,
}

impl StripeFake {
    /// Starts a zero-latency fake with secret key `sk_test_fake` and webhook secret
    /// `whsec_fake`.
    pub(crate) async fn start() -> StripeFake {
        StripeFake::start_with_latency(Duration::ZERO).await
    }

    /// Starts a fake that handles each request at once but holds its answer for `latency`
    /// (a lost or late answer to a request that did execute).
    pub(crate) async fn start_with_latency(latency: Duration) -> StripeFake {
        let secret_key = "sk_test_fake".to_owned();
        let state = Arc::new(Mutex::new(FakeState {
            secret_key: secret_key.clone(),
            latency,
            ..FakeState::default()
        }));
        let app = Router::new()
            .route("/v1/payment_intents", post(create_payment_intent))
            .route("/v1/payment_intents/{id}", get(retrieve_payment_intent))
            .route("/v1/refunds", post(create_refund))
            .layer(middleware::from_fn_with_state(state.clone(), authenticate))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Stripe fake");
        let addr = listener.local_addr().expect("fake address");
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("Stripe fake server");
        });
        StripeFake {
            url: format!("http://{addr}"),
            secret_key,
            webhook_secret: "whsec_fake".to_owned(),
            state,
            server,
        }
    }

    /// The API base to configure (`http://127.0.0.1:<port>`, no `/v1`).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The secret key the fake accepts.
    pub(crate) fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// The webhook signing secret of [`StripeFake::signed_event`].
    pub(crate) fn webhook_secret(&self) -> &str {
        &self.webhook_secret
    }

    /// The state, for assertions.
    pub(crate) fn state(&self) -> MutexGuard<'_, FakeState> {
        lock(&self.state)
    }

    /// PaymentIntents created (idempotent replays not counted).
    pub(crate) fn payment_intents_created(&self) -> usize {
        self.state().payment_intents_created
    }

    /// Refunds created (idempotent replays not counted).
    pub(crate) fn refunds_created(&self) -> usize {
        self.state().refunds_created
    }

    /// Every request answered, in order.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.state().recorded.clone()
    }

    /// A stored PaymentIntent.
    pub(crate) fn payment_intent(&self, id: &str) -> Option<Value> {
        self.state().payment_intents.get(id).cloned()
    }

    /// A Stripe event of `event_type` about `object`, created now, and its
    /// `Stripe-Signature` header (`t=…,v1=…` with this fake's webhook secret).
    pub(crate) fn signed_event(&self, event_type: &str, object: Value) -> (String, String) {
        self.signed_event_at(objects::now(), event_type, object)
    }

    /// Like [`StripeFake::signed_event`], signed at unix time `t`.
    pub(crate) fn signed_event_at(
        &self,
        t: i64,
        event_type: &str,
        object: Value,
    ) -> (String, String) {
        let event = json!({
            "id": objects::id("evt"), "object": "event", "api_version": "2025-09-30.clover",
            "created": t, "livemode": false, "pending_webhooks": 1, "type": event_type,
            "data": {"object": object}, "request": {"id": null, "idempotency_key": null},
        });
        let body = event.to_string();
        let header = format!(
            "t={t},v1={}",
            objects::sign(self.webhook_secret.as_bytes(), t, body.as_bytes())
        );
        (body, header)
    }
}

impl Drop for StripeFake {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock(state: &Mutex<FakeState>) -> MutexGuard<'_, FakeState> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// 401 without `Authorization: Bearer <secret key>`; otherwise the answer, delayed by the
/// configured latency.
async fn authenticate(
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
        .and_then(|v| v.strip_prefix("Bearer "));
    if presented != Some(secret_key.as_str()) {
        let body = error(
            "invalid_request_error",
            None,
            None,
            "You did not provide a valid API key.",
            None,
        );
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let response = next.run(request).await;
    // After the work, before the answer: a client that times out meanwhile has been charged
    // and must find out by retrying with the same idempotency key.
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    response
}

async fn create_payment_intent(
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
        objects::create_payment_intent,
    )
}

async fn create_refund(
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
        objects::create_refund,
    )
}

async fn retrieve_payment_intent(
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
    let params = objects::parse_form(body);
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let slot = key.clone().map(|k| (path.to_owned(), k));
    let answer = match slot.as_ref().and_then(|slot| state.idempotent.get(slot)) {
        Some((first, status, body)) if objects::same_params(first, &params) => {
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
