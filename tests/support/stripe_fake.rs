//! A local Stripe API for tests: an axum server on `127.0.0.1:0`, started in-process, that
//! follows Stripe's documented shapes for what the bridge calls: form-encoded requests, JSON
//! answers, `{"error": {type, code, decline_code, message, param}}` errors, bearer secret
//! key (401 without it), and `Idempotency-Key` (same key + same parameters replays the first
//! answer, errors included; same key + other parameters is a 400 `idempotency_error`).
//!
//! Endpoints: `POST /v1/payment_intents` (requires `shared_payment_granted_token`,
//! `confirm=true`, `automatic_payment_methods[enabled]=true`), `GET /v1/payment_intents/{id}`,
//! `GET /v1/payment_intents/search` (only `metadata['key']:'value'` queries), `POST
//! /v1/refunds` (full, partial, over-refund error), `POST
//! /v1/shared_payment/issued_tokens` (issues magic SPTs, see `issued_tokens.rs`). Helpers: signed webhook events,
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
use axum::middleware;
use axum::routing::{get, post};
use serde_json::{Value, json};

mod handlers;
mod issued_tokens;
mod payment_intents;
mod refunds;
mod wire;

use handlers::{
    authenticate, create_issued_token, create_payment_intent, create_refund,
    retrieve_payment_intent, search_payment_intents,
};
use wire::Params;

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
        wire::param(&self.params, name)
    }
}

/// How the fake loses the answers to PaymentIntent calls (create, retrieve, search) after
/// doing the work: the charge is recorded and its idempotent answer saved, as when a real
/// Stripe charged and the answer never arrived intact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The answer is held this long (longer than the client's timeout).
    Slow(Duration),
    /// A 500 `api_error` instead of the answer.
    ServerError,
    /// A 200 whose body is not a PaymentIntent.
    Unreadable,
}

/// The fake's state.
#[derive(Default)]
pub(crate) struct FakeState {
    /// The fault applied to PaymentIntent answers, and how many more answers it spoils
    /// (`None`: until healed).
    pub(crate) fault: Option<(Fault, Option<usize>)>,
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
    /// SPTs issued through `/v1/shared_payment/issued_tokens`.
    pub(crate) issued_tokens: usize,
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
            .route("/v1/payment_intents/search", get(search_payment_intents))
            .route("/v1/payment_intents/{id}", get(retrieve_payment_intent))
            .route("/v1/refunds", post(create_refund))
            .route(
                "/v1/shared_payment/issued_tokens",
                post(create_issued_token),
            )
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

    /// Spoils the next `count` PaymentIntent answers (all until [`StripeFake::heal`] when
    /// `None`) with `fault`.
    pub(crate) fn break_answers(&self, fault: Fault, count: Option<usize>) {
        self.state().fault = Some((fault, count));
    }

    /// Answers intact again.
    pub(crate) fn heal(&self) {
        self.state().fault = None;
    }

    /// The succeeded PaymentIntents whose `metadata[intent_id]` is `intent_id`.
    pub(crate) fn succeeded_for(&self, intent_id: &str) -> usize {
        self.state()
            .payment_intents
            .values()
            .filter(|pi| pi["metadata"]["intent_id"] == intent_id && pi["status"] == "succeeded")
            .count()
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
        self.signed_event_at(wire::now(), event_type, object)
    }

    /// Like [`StripeFake::signed_event`], signed at unix time `t`.
    pub(crate) fn signed_event_at(
        &self,
        t: i64,
        event_type: &str,
        object: Value,
    ) -> (String, String) {
        let event = json!({
            "id": wire::id("evt"), "object": "event", "api_version": "2025-09-30.clover",
            "created": t, "livemode": false, "pending_webhooks": 1, "type": event_type,
            "data": {"object": object}, "request": {"id": null, "idempotency_key": null},
        });
        let body = event.to_string();
        let header = format!(
            "t={t},v1={}",
            wire::sign(self.webhook_secret.as_bytes(), t, body.as_bytes())
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
