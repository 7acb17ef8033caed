//! Guardrails on money, through the REST API: a guarded key's `max_amount`, currencies and
//! daily limits (under 20 concurrent creates), `approval_above` (nothing reaches the customer
//! until a person approves; after a rejection nothing ever does), and refund rights.

use std::time::Duration;

use omnibridge::config::{ApiKeyHash, Guardrails, Scope, Settings, Sha256Hex};
use serde_json::{Value, json};

use super::{SUCCESS, challenge, challenges, credential, get_intent, of_type, pay, probe};
use crate::helpers::{API_KEY, TestApp, spawn_app_with};

/// The guarded key's secret (scope `payments`, so it can use the REST API).
const GUARDED: &str = "guarded-key-0123456789";

/// A bridge with the usual all-scopes key plus `guarded`, whose guardrails are `rails`.
async fn app_with(rails: Value) -> TestApp {
    let guardrails: Guardrails = serde_json::from_value(rails).unwrap();
    spawn_app_with(move |settings: &mut Settings| {
        settings.payments.reconcile.interval_ms = 100;
        settings.api.keys.push(ApiKeyHash {
            name: "guarded".into(),
            sha256: Sha256Hex::of(GUARDED.as_bytes()),
            scopes: Scope::Payments.into(),
            guardrails: Some(guardrails),
        });
    })
    .await
}

async fn create_as(app: &TestApp, key: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/v1/payment-intents"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or_default(),
    )
}

fn order(conversation: &str, amount: i64, currency: &str) -> Value {
    json!({"conversation_id": conversation, "amount": amount, "currency": currency,
        "description": "Order 42"})
}

async fn post_as(app: &TestApp, key: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app.client.post(app.url(path)).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or_default(),
    )
}

/// Sends a plain message and waits until the channel sent it: whatever was queued for the
/// conversation before it has been sent by then. Returns the texts sent so far.
async fn flush(app: &TestApp, conversation: &str, text: &str) -> Vec<String> {
    let accepted = app
        .send_message(conversation, json!({ "text": text }))
        .await;
    assert_eq!(accepted.status(), 202);
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
        if texts.iter().any(|t| t == text) {
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
async fn over_max_amount_or_in_another_currency_is_refused_naming_the_limit() {
    let app = app_with(json!({"currencies": ["EUR"], "max_amount": {"EUR": 50000}})).await;
    let conversation = app.conversation_from("guard-max").await;

    let (status, body) = create_as(&app, GUARDED, order(&conversation, 60000, "eur")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("guardrail_exceeded")),
        "{body}"
    );
    assert_eq!(
        body["detail"],
        "amount 60000 EUR is over this key's max_amount of 50000 EUR"
    );
    assert_eq!(
        (
            &body["limit"],
            &body["currency"],
            &body["limit_minor"],
            &body["remaining_minor"]
        ),
        (
            &json!("max_amount"),
            &json!("EUR"),
            &json!(50000),
            &json!(50000)
        )
    );
    let (status, body) = create_as(&app, GUARDED, order(&conversation, 100, "USD")).await;
    assert_eq!(
        (status, body["limit"].as_str()),
        (403, Some("currencies")),
        "{body}"
    );
    assert!(body["detail"].as_str().unwrap().contains("USD"), "{body}");

    let (status, body) = create_as(&app, GUARDED, order(&conversation, 50000, "EUR")).await;
    assert_eq!(
        (status, body["state"].as_str()),
        (201, Some("requires_confirmation"))
    );
    // A key without guardrails is not limited.
    let (status, _) = create_as(&app, API_KEY, order(&conversation, 60000, "USD")).await;
    assert_eq!(status, 201);
    let list: Value = app
        .get(&format!(
            "/v1/payment-intents?conversation_id={conversation}"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn twenty_concurrent_creates_cannot_exceed_the_daily_limit() {
    let app = app_with(json!({"daily_limit": {"per_key": {"EUR": 5000}}})).await;
    let conversations = [
        app.conversation_from("guard-daily-a").await,
        app.conversation_from("guard-daily-b").await,
    ];
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (client, url, barrier) = (
                app.client.clone(),
                app.url("/v1/payment-intents"),
                barrier.clone(),
            );
            let body = order(&conversations[i % 2], 1000, "EUR");
            tokio::spawn(async move {
                barrier.wait().await;
                let response = client
                    .post(url)
                    .bearer_auth(GUARDED)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let (mut created, mut refused) = (Vec::new(), 0);
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            201 => created.push(body["id"].as_str().unwrap().to_owned()),
            403 => {
                assert_eq!(body["code"], "guardrail_exceeded", "{body}");
                assert_eq!(body["limit"], "daily_limit.per_key", "{body}");
                assert_eq!(body["remaining_minor"], 0, "{body}");
                assert!(
                    body["detail"]
                        .as_str()
                        .unwrap()
                        .starts_with("daily_limit.per_key: 0 of 5000 EUR left in the last 24 h"),
                    "{body}"
                );
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((created.len(), refused), (5, 15));
    let listed: usize = {
        let mut n = 0;
        for conversation in &conversations {
            let list: Value = app
                .get(&format!(
                    "/v1/payment-intents?conversation_id={conversation}"
                ))
                .await
                .json()
                .await
                .unwrap();
            n += list["data"].as_array().unwrap().len();
        }
        n
    };
    assert_eq!(listed, 5);
    // A canceled intent no longer counts: its room is free again, and only its room.
    let (status, _) = post_as(
        &app,
        API_KEY,
        &format!("/v1/payment-intents/{}/cancel", created[0]),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = create_as(&app, GUARDED, order(&conversations[0], 1000, "EUR")).await;
    assert_eq!(status, 201);
    let (status, body) = create_as(&app, GUARDED, order(&conversations[0], 1, "EUR")).await;
    assert_eq!(
        (status, body["limit"].as_str()),
        (403, Some("daily_limit.per_key"))
    );
    app.stop().await;
}

#[tokio::test]
async fn the_per_conversation_limit_leaves_other_conversations_alone() {
    let app = app_with(json!({"daily_limit": {"per_conversation": {"EUR": 2500}}})).await;
    let a = app.conversation_from("guard-conv-a").await;
    let b = app.conversation_from("guard-conv-b").await;
    for _ in 0..2 {
        assert_eq!(
            create_as(&app, GUARDED, order(&a, 1000, "EUR")).await.0,
            201
        );
    }
    let (status, body) = create_as(&app, GUARDED, order(&a, 1000, "EUR")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        (
            &body["limit"],
            &body["limit_minor"],
            &body["remaining_minor"]
        ),
        (
            &json!("daily_limit.per_conversation"),
            &json!(2500),
            &json!(500)
        )
    );
    assert_eq!(create_as(&app, GUARDED, order(&a, 500, "EUR")).await.0, 201);
    assert_eq!(
        create_as(&app, GUARDED, order(&b, 1000, "EUR")).await.0,
        201
    );
    // Another currency has no limit here, nor does another key.
    assert_eq!(
        create_as(&app, GUARDED, order(&a, 9000, "USD")).await.0,
        201
    );
    assert_eq!(
        create_as(&app, API_KEY, order(&a, 9000, "EUR")).await.0,
        201
    );
    app.stop().await;
}

#[tokio::test]
async fn above_approval_above_nothing_reaches_the_customer_until_approved() {
    let app = app_with(json!({"approval_above": {"EUR": 20000}})).await;
    let conversation = app.conversation_from("guard-approve").await;
    let (status, intent) = create_as(&app, GUARDED, order(&conversation, 30000, "EUR")).await;
    assert_eq!(
        (status, intent["state"].as_str()),
        (201, Some("requires_approval"))
    );
    let id = intent["id"].as_str().unwrap().to_owned();

    // Not payable: no challenge is issued.
    let response = probe(&app, &id, None).await;
    assert_eq!(response.status(), 409);
    assert!(challenges(&response).is_empty());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "payment_intent_awaiting_approval");
    // Nothing was queued for the customer: the next message out is the only one.
    assert_eq!(flush(&app, &conversation, "first").await, ["first"]);
    let events = app.history(&conversation).await;
    assert_eq!(of_type(&events, "payment.approval_requested").len(), 1);
    assert!(of_type(&events, "payment.requested").is_empty());
    assert_eq!(
        of_type(&events, "payment.approval_requested")[0]["data"]["state"],
        "requires_approval"
    );

    let (status, approved) = post_as(
        &app,
        API_KEY,
        &format!("/v1/payment-intents/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(
        (status, approved["state"].as_str()),
        (200, Some("requires_confirmation"))
    );
    let texts = flush(&app, &conversation, "second").await;
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(texts[1].contains(&format!("/pay/{id}")), "{texts:?}");
    let events = app.history(&conversation).await;
    assert_eq!(of_type(&events, "payment.requested").len(), 1);
    // Payable now, exactly like any intent.
    let paid = pay(
        &app,
        &id,
        &credential(&challenge(&app, &id).await, SUCCESS),
        None,
    )
    .await;
    assert_eq!(paid.status(), 200);
    let (status, again) = post_as(
        &app,
        API_KEY,
        &format!("/v1/payment-intents/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(
        (status, again["code"].as_str()),
        (409, Some("invalid_payment_intent_state"))
    );
    // Below the threshold an intent is offered at once.
    let (_, small) = create_as(&app, GUARDED, order(&conversation, 20000, "EUR")).await;
    assert_eq!(small["state"], "requires_confirmation");
    app.stop().await;
}

#[tokio::test]
async fn after_a_rejection_nothing_is_ever_sent_and_the_intent_cannot_be_paid() {
    let app = app_with(json!({"approval_above": {"EUR": 20000}})).await;
    let conversation = app.conversation_from("guard-reject").await;
    let (_, intent) = create_as(&app, GUARDED, order(&conversation, 30000, "EUR")).await;
    let id = intent["id"].as_str().unwrap().to_owned();
    let (status, rejected) = post_as(
        &app,
        API_KEY,
        &format!("/v1/payment-intents/{id}/reject"),
        Some(json!({"reason": "too large for a chat order"})),
    )
    .await;
    assert_eq!(
        (status, rejected["state"].as_str()),
        (200, Some("rejected"))
    );
    for action in ["approve", "reject", "cancel"] {
        let (status, body) = post_as(
            &app,
            API_KEY,
            &format!("/v1/payment-intents/{id}/{action}"),
            None,
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("invalid_payment_intent_state")),
            "{action}"
        );
    }
    let response = probe(&app, &id, None).await;
    assert_eq!(response.status(), 410);
    assert!(challenges(&response).is_empty());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "payment_intent_rejected");
    assert_eq!(flush(&app, &conversation, "later").await, ["later"]);
    let events = app.history(&conversation).await;
    let rejected = of_type(&events, "payment.rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["data"]["reason"], "too large for a chat order");
    assert!(of_type(&events, "payment.requested").is_empty());
    assert_eq!(get_intent(&app, &id).await["state"], "rejected");
    // An intent not waiting for approval cannot be approved or rejected.
    let (_, plain) = create_as(&app, API_KEY, order(&conversation, 100, "EUR")).await;
    let plain = plain["id"].as_str().unwrap();
    let (status, _) = post_as(
        &app,
        API_KEY,
        &format!("/v1/payment-intents/{plain}/reject"),
        None,
    )
    .await;
    assert_eq!(status, 409);
    app.stop().await;
}

#[tokio::test]
async fn an_unapproved_intent_expires_without_being_sent() {
    let app = app_with(json!({"approval_above": {"EUR": 20000}})).await;
    let conversation = app.conversation_from("guard-expire").await;
    let mut body = order(&conversation, 30000, "EUR");
    body["expires_in"] = json!(1);
    let (_, intent) = create_as(&app, GUARDED, body).await;
    let id = intent["id"].as_str().unwrap().to_owned();
    // Nobody reads it: the sweeper expires it.
    let events = app
        .wait_for_history(&conversation, |e| !of_type(e, "payment.expired").is_empty())
        .await;
    assert_eq!(
        of_type(&events, "payment.expired")[0]["data"]["state"],
        "expired"
    );
    let (status, _) = post_as(
        &app,
        API_KEY,
        &format!("/v1/payment-intents/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(probe(&app, &id, None).await.status(), 410);
    assert_eq!(flush(&app, &conversation, "after").await, ["after"]);
    app.stop().await;
}

#[tokio::test]
async fn a_key_without_refund_rights_cannot_refund() {
    let app = app_with(json!({})).await;
    let conversation = app.conversation_from("guard-refund").await;
    let (_, intent) = create_as(&app, GUARDED, order(&conversation, 1000, "EUR")).await;
    let id = intent["id"].as_str().unwrap().to_owned();
    let paid = pay(
        &app,
        &id,
        &credential(&challenge(&app, &id).await, SUCCESS),
        None,
    )
    .await;
    assert_eq!(paid.status(), 200);
    let refund = format!("/v1/payment-intents/{id}/refund");
    let (status, body) = post_as(&app, GUARDED, &refund, Some(json!({"amount": 100}))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("guardrail_exceeded")),
        "{body}"
    );
    assert_eq!(
        (&body["limit"], &body["remaining_minor"]),
        (&json!("refunds"), &json!(0))
    );
    assert_eq!(get_intent(&app, &id).await["refunded_minor"], 0);
    let (status, body) = post_as(&app, API_KEY, &refund, Some(json!({"amount": 100}))).await;
    assert_eq!((status, body["refunded_minor"].as_i64()), (200, Some(100)));
    app.stop().await;
}

#[tokio::test]
async fn a_refund_cap_bounds_what_the_key_refunds_per_intent() {
    let app = app_with(json!({"refunds": {"EUR": 500}})).await;
    let conversation = app.conversation_from("guard-refund-cap").await;
    let (_, intent) = create_as(&app, GUARDED, order(&conversation, 1000, "EUR")).await;
    let id = intent["id"].as_str().unwrap().to_owned();
    let paid = pay(
        &app,
        &id,
        &credential(&challenge(&app, &id).await, SUCCESS),
        None,
    )
    .await;
    assert_eq!(paid.status(), 200);
    let refund = format!("/v1/payment-intents/{id}/refund");
    assert_eq!(
        post_as(&app, GUARDED, &refund, Some(json!({"amount": 300})))
            .await
            .0,
        200
    );
    let (status, body) = post_as(&app, GUARDED, &refund, Some(json!({"amount": 300}))).await;
    assert_eq!(
        (status, body["remaining_minor"].as_i64()),
        (403, Some(200)),
        "{body}"
    );
    // A full refund (no amount) is the rest of the payment: over the cap too.
    assert_eq!(post_as(&app, GUARDED, &refund, None).await.0, 403);
    let (status, body) = post_as(&app, GUARDED, &refund, Some(json!({"amount": 200}))).await;
    assert_eq!((status, body["refunded_minor"].as_i64()), (200, Some(500)));
    app.stop().await;
}
