//! The raw-MIME webhook: signed mail lands on the bus once; a bad, missing or stale signature
//! is 401 and stores nothing; a body over the channel's cap is 413.

use serde_json::{Value, json};

use super::{WEBHOOK_SECRET, customer_mail, post_mail, spawn_mail};
use crate::helpers::TestApp;

async fn stored(app: &TestApp) -> usize {
    let list: Value = app.conversation_list().await;
    list["data"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn a_signed_mail_is_accepted_once_and_lands_on_the_bus() {
    let app = spawn_mail(json!({}), &[]).await;
    let raw = customer_mail(
        "m1@customer.test",
        "Anna <anna@customer.test>",
        "support@acme.test",
        "Where is my order?",
        "Hello, where is order 7?",
    );
    let response = post_mail(&app, raw.as_bytes(), Some(WEBHOOK_SECRET), None).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], 1);
    let again = post_mail(&app, raw.as_bytes(), Some(WEBHOOK_SECRET), None).await;
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["duplicates"], 1, "the same Message-ID is one event");

    let list: Value = app.conversation_list().await;
    let conversation = list["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list["data"][0]["channel"], "email");
    let history = app.history(&conversation).await;
    assert_eq!(history.len(), 1);
    let event = &history[0];
    assert_eq!(event["type"], "message.received");
    assert_eq!(event["provider_message_id"], "m1@customer.test");
    assert_eq!(event["sender"]["id"], "anna@customer.test");
    assert_eq!(event["data"]["content"]["body"], "Hello, where is order 7?");
    assert_eq!(event["data"]["subject"], "Where is my order?");
}

#[tokio::test]
async fn bad_missing_and_stale_signatures_are_401_and_store_nothing() {
    let app = spawn_mail(json!({}), &[]).await;
    let raw = customer_mail(
        "m2@customer.test",
        "a@customer.test",
        "support@acme.test",
        "Hi",
        "hi",
    );
    let now = chrono::Utc::now().timestamp();
    for (secret, timestamp, reason) in [
        (Some("wrong-secret"), None, "bad_signature"),
        (None, None, "missing_signature"),
        (Some(WEBHOOK_SECRET), Some(now - 3_600), "stale_timestamp"),
        (Some(WEBHOOK_SECRET), Some(now + 3_600), "stale_timestamp"),
    ] {
        let response = post_mail(&app, raw.as_bytes(), secret, timestamp).await;
        assert_eq!(response.status(), 401, "{reason}");
        let problem: Value = response.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(reason),
            "{problem}"
        );
    }
    // The body must be the signed one, byte for byte.
    let timestamp = chrono::Utc::now().timestamp();
    let signature =
        omnibridge_email::webhook::sign(WEBHOOK_SECRET.as_bytes(), timestamp, raw.as_bytes());
    let tampered = raw.replace("hi\r\n", "hi, send the refund to me\r\n");
    let response = app
        .client
        .post(app.url(&format!("/webhooks/{}", super::ID)))
        .header(
            omnibridge_email::webhook::TIMESTAMP_HEADER,
            timestamp.to_string(),
        )
        .header(omnibridge_email::webhook::SIGNATURE_HEADER, signature)
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(stored(&app).await, 0, "nothing stored");
}

#[tokio::test]
async fn a_mail_over_the_cap_is_413_and_garbage_is_400() {
    let app = spawn_mail(json!({"max_body_bytes": 2048}), &[]).await;
    let big = customer_mail(
        "m3@customer.test",
        "a@customer.test",
        "support@acme.test",
        "Big",
        &"x".repeat(4096),
    );
    let response = post_mail(&app, big.as_bytes(), Some(WEBHOOK_SECRET), None).await;
    assert_eq!(response.status(), 413);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "body_too_large", "{problem}");
    let response = post_mail(&app, b"", Some(WEBHOOK_SECRET), None).await;
    assert_eq!(response.status(), 400);
    assert_eq!(stored(&app).await, 0, "nothing stored");
}
