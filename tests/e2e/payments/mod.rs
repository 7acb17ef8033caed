//! Payments end to end with the sandbox method: intents, the MPP endpoint, events and
//! messages. Credentials are built with the `mpp` crate, as an outside agent would.

mod api;
mod concurrency;
mod conformance;
mod crash;
mod guardrails;
mod lifecycle;
pub mod processes;
pub mod stripe;
mod unknown;
pub mod wallet;

use mpp::protocol::core::{
    PaymentChallenge, PaymentCredential, format_authorization, parse_www_authenticate,
};
use serde_json::{Value, json};

use crate::helpers::{API_KEY, TestApp};

pub const SUCCESS: &str = "tok_sandbox_success";
pub const DECLINE: &str = "tok_sandbox_decline";

/// Creates an intent on `conversation`; returns its JSON.
pub async fn create_intent(
    app: &TestApp,
    conversation: &str,
    amount: i64,
    currency: &str,
) -> Value {
    let response = app
        .client
        .post(app.url("/v1/payment-intents"))
        .bearer_auth(API_KEY)
        .json(&json!({
            "conversation_id": conversation,
            "amount": amount,
            "currency": currency,
            "description": "Order 42",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

/// A conversation and an intent of €12.50 on it.
pub async fn intent(app: &TestApp, thread: &str) -> (String, String) {
    let conversation = app.conversation_from(thread).await;
    let intent = create_intent(app, &conversation, 1250, "EUR").await;
    (conversation, intent["id"].as_str().unwrap().to_owned())
}

/// `GET /pay/{id}` with optional extra headers.
pub async fn probe(app: &TestApp, intent: &str, accept: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url(&format!("/pay/{intent}")));
    if let Some(accept) = accept {
        request = request.header("accept-payment", accept);
    }
    request.send().await.unwrap()
}

/// The challenges of a 402.
pub fn challenges(response: &reqwest::Response) -> Vec<PaymentChallenge> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|value| parse_www_authenticate(value.to_str().unwrap()).unwrap())
        .collect()
}

/// A fresh challenge for `intent`.
pub async fn challenge(app: &TestApp, intent: &str) -> PaymentChallenge {
    let response = probe(app, intent, None).await;
    assert_eq!(response.status(), 402);
    challenges(&response).remove(0)
}

/// The `Authorization` value paying `challenge` with a sandbox token.
pub fn credential(challenge: &PaymentChallenge, token: &str) -> String {
    let credential = PaymentCredential::new(challenge.to_echo(), json!({ "token": token }));
    format_authorization(&credential).unwrap()
}

/// `POST /pay/{id}` with `authorization` (and an Idempotency-Key when given).
pub async fn pay(
    app: &TestApp,
    intent: &str,
    authorization: &str,
    idempotency_key: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(&format!("/pay/{intent}")))
        .header("authorization", authorization);
    if let Some(key) = idempotency_key {
        request = request.header("idempotency-key", key);
    }
    request.send().await.unwrap()
}

/// The problem `type` slug of a 402 (`invalid-challenge`), checking the 402 shape.
pub async fn problem(response: reqwest::Response) -> (String, Value) {
    assert_eq!(response.status(), 402);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(
        !challenges(&response).is_empty(),
        "a 402 always carries a fresh challenge"
    );
    assert!(response.headers().get("payment-receipt").is_none());
    let body: Value = response.json().await.unwrap();
    let kind = body["type"].as_str().unwrap();
    let slug = kind
        .strip_prefix("https://paymentauth.org/problems/")
        .unwrap_or_else(|| panic!("problem type {kind}"));
    (slug.to_owned(), body)
}

/// The intent's JSON from the API.
pub async fn get_intent(app: &TestApp, intent: &str) -> Value {
    app.get(&format!("/v1/payment-intents/{intent}"))
        .await
        .json()
        .await
        .unwrap()
}

/// Events of `type` in the conversation's history.
pub fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}
