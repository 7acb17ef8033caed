//! An intent's life in its conversation: the request message with its actions, decline and
//! retry, cancel and expiry, refunds, and the `payment.*` events on `/v1/events`.

use std::time::Duration;

use serde_json::{Value, json};

use super::{DECLINE, SUCCESS, challenge, credential, get_intent, intent, of_type, pay, problem};
use crate::helpers::{API_KEY, TestApp, next_event, spawn_app, spawn_app_with};

/// Texts the test channel was asked to send, waiting until `count` arrived.
async fn sent_texts(app: &TestApp, count: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let texts: Vec<String> = app
            .channel
            .sent()
            .iter()
            .map(|m| {
                serde_json::to_value(m).unwrap()["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        if texts.len() >= count {
            return texts;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "sent so far: {texts:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_request_goes_to_the_conversation_with_pay_and_cancel_actions() {
    let app = spawn_app().await;
    let (_, id) = intent(&app, "life-request").await;
    let texts = sent_texts(&app, 1).await;
    let request = &texts[0];
    assert!(request.contains("Order 42: €12.50."), "{request}");
    assert!(request.contains(&format!("/pay/{id}")), "{request}");
    // The test channel has no buttons: the outbox turned them into numbered text.
    assert!(request.contains("Pay €12.50"), "{request}");
    assert!(request.contains("Cancel"), "{request}");
    app.stop().await;
}

#[tokio::test]
async fn spanish_intents_speak_spanish() {
    let app = spawn_app().await;
    let conversation = app.conversation_from("life-es").await;
    let response = app
        .client
        .post(app.url("/v1/payment-intents"))
        .bearer_auth(API_KEY)
        .json(
            &json!({"conversation_id": conversation, "amount": 1250, "currency": "EUR",
            "description": "Pedido 7", "locale": "es"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let text = &sent_texts(&app, 1).await[0];
    assert!(text.contains("Pedido 7: 12,50 €."), "{text}");
    assert!(text.contains("Pagar 12,50 €"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn a_decline_sends_the_failure_and_the_intent_stays_payable() {
    let app = spawn_app().await;
    let (conversation, id) = intent(&app, "life-decline").await;
    let (slug, body) = problem(
        pay(
            &app,
            &id,
            &credential(&challenge(&app, &id).await, DECLINE),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(slug, "verification-failed");
    assert_eq!(body["detail"], "Your card was declined. Try another card.");
    assert_eq!(
        get_intent(&app, &id).await["state"],
        "requires_confirmation"
    );
    let texts = sent_texts(&app, 2).await;
    assert!(
        texts[1].contains("Your card was declined. Try another card."),
        "{texts:?}"
    );
    let events = app.history(&conversation).await;
    let failed = of_type(&events, "payment.failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0]["data"]["reason"],
        "Your card was declined. Try another card."
    );
    // A fresh challenge pays.
    let response = pay(
        &app,
        &id,
        &credential(&challenge(&app, &id).await, SUCCESS),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    let texts = sent_texts(&app, 3).await;
    assert!(
        texts[2].starts_with("Payment received: €12.50 for Order 42."),
        "{texts:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn canceled_or_expired_intents_are_never_paid() {
    let app = spawn_app().await;
    let (conversation, id) = intent(&app, "life-cancel").await;
    let auth = credential(&challenge(&app, &id).await, SUCCESS);
    let canceled = app
        .client
        .post(app.url(&format!("/v1/payment-intents/{id}/cancel")))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(canceled.status(), 200);
    assert_eq!(pay(&app, &id, &auth, None).await.status(), 410);
    let again = app
        .client
        .post(app.url(&format!("/v1/payment-intents/{id}/cancel")))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);

    let short = app
        .client
        .post(app.url("/v1/payment-intents"))
        .bearer_auth(API_KEY)
        .json(&json!({"conversation_id": conversation, "amount": 500, "currency": "JPY", "description": "Tea", "expires_in": 1}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let short_id = short["id"].as_str().unwrap();
    let auth = credential(&challenge(&app, short_id).await, SUCCESS);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let response = pay(&app, short_id, &auth, None).await;
    assert_eq!(response.status(), 410);
    assert_eq!(get_intent(&app, short_id).await["state"], "expired");
    assert_eq!(app.sandbox.as_ref().unwrap().settlements(), 0);
    let events = app.history(&conversation).await;
    assert_eq!(of_type(&events, "payment.canceled").len(), 1);
    assert_eq!(of_type(&events, "payment.expired").len(), 1);
    app.stop().await;
}

async fn refund(app: &TestApp, id: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/payment-intents/{id}/refund")))
        .bearer_auth(API_KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn partial_then_full_refunds_are_announced_and_bounded() {
    let app = spawn_app().await;
    let (conversation, id) = intent(&app, "life-refund").await;
    assert_eq!(
        refund(&app, &id, json!({})).await.status(),
        409,
        "nothing to refund yet"
    );
    assert_eq!(
        pay(
            &app,
            &id,
            &credential(&challenge(&app, &id).await, SUCCESS),
            None
        )
        .await
        .status(),
        200
    );
    let partial: Value = refund(&app, &id, json!({"amount": 250}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(partial["state"], "partially_refunded");
    assert_eq!(partial["refunded_minor"], 250);
    assert_eq!(
        refund(&app, &id, json!({"amount": 1001})).await.status(),
        422
    );
    let full: Value = refund(&app, &id, json!({})).await.json().await.unwrap();
    assert_eq!(full["state"], "refunded");
    assert_eq!(full["refunded_minor"], 1250);
    assert_eq!(
        refund(&app, &id, json!({"amount": 1})).await.status(),
        422,
        "beyond the captured amount"
    );
    let events = app.history(&conversation).await;
    let refunds = of_type(&events, "payment.refunded");
    assert_eq!(refunds.len(), 2);
    assert_eq!(refunds[0]["data"]["refunded_minor"], 250);
    assert_eq!(refunds[1]["data"]["state"], "refunded");
    let texts = sent_texts(&app, 4).await;
    assert!(
        texts.iter().any(|t| t.contains("We refunded €2.50")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.contains("We refunded €10.00")),
        "{texts:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn payment_events_on_the_stream_carry_intent_and_conversation() {
    let app = spawn_app_with(|_| {}).await;
    let conversation = app.conversation_from("life-sse").await;
    let mut stream = app
        .sse("?type=payment.requested,payment.succeeded", None)
        .await;
    let created = super::create_intent(&app, &conversation, 700, "GBP").await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        pay(
            &app,
            id,
            &credential(&challenge(&app, id).await, SUCCESS),
            None
        )
        .await
        .status(),
        200
    );
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event: Value = serde_json::from_str(&next_event(&mut stream).await.data).unwrap();
        if event["type"]
            .as_str()
            .unwrap_or_default()
            .starts_with("payment.")
        {
            seen.push(event);
        }
    }
    assert_eq!(seen[0]["type"], "payment.requested");
    assert_eq!(seen[1]["type"], "payment.succeeded");
    for event in &seen {
        assert_eq!(event["conversation_id"], conversation.as_str());
        assert_eq!(event["data"]["intent_id"], id);
        assert_eq!(event["data"]["amount_minor"], 700);
        assert_eq!(event["data"]["currency"], "GBP");
    }
    assert!(
        seen[1]["data"]["reference"]
            .as_str()
            .unwrap()
            .starts_with("sbx_")
    );
    app.stop().await;
}

#[tokio::test]
async fn an_overdue_intent_is_expired_by_the_sweeper_without_being_read() {
    let app = spawn_app_with(|s| s.payments.reconcile.interval_ms = 100).await;
    let conversation = app.conversation_from("life-sweep-expiry").await;
    let created = app
        .client
        .post(app.url("/v1/payment-intents"))
        .bearer_auth(API_KEY)
        .json(
            &json!({"conversation_id": conversation, "amount": 500, "currency": "EUR",
            "description": "Tea", "expires_in": 1}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // Nobody reads the intent: the sweeper alone must notice it is overdue.
    let events = app
        .wait_for_history(&conversation, |e| !of_type(e, "payment.expired").is_empty())
        .await;
    let expired = of_type(&events, "payment.expired");
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["data"]["state"], "expired");
    app.stop().await;
}
