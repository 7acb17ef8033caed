//! The payment-intent API: validation problems, idempotent creation, listing, OpenAPI.

use serde_json::{Value, json};

use crate::helpers::{API_KEY, TestApp, spawn_app};

async fn create(app: &TestApp, body: Value, key: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/v1/payment-intents"))
        .bearer_auth(API_KEY)
        .json(&body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request.send().await.unwrap()
}

async fn code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn invalid_intents_get_clear_problems() {
    let app = spawn_app().await;
    let conversation = app.conversation_from("api-invalid").await;
    let base = json!({"conversation_id": conversation, "amount": 100, "currency": "EUR", "description": "x"});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let cases = [
        (
            with("conversation_id", json!("cv_nope")),
            404,
            "unknown_conversation",
        ),
        (with("amount", json!(0)), 422, "invalid_amount"),
        (with("amount", json!(-5)), 422, "invalid_amount"),
        (with("amount", json!(12.5)), 422, "invalid_body"),
        (with("currency", json!("XYZ")), 422, "invalid_currency"),
        (with("description", json!("")), 422, "invalid_body"),
        (with("expires_in", json!(0)), 422, "invalid_body"),
        (with("metadata", json!([1])), 422, "invalid_body"),
        (with("surprise", json!(1)), 422, "invalid_body"),
    ];
    for (body, status, expected) in cases {
        assert_eq!(
            code(create(&app, body.clone(), None).await).await,
            (status, expected.to_owned()),
            "{body}"
        );
    }
    assert_eq!(
        code(app.get("/v1/payment-intents/payint_nope").await).await,
        (404, "unknown_payment_intent".to_owned())
    );
    let pay = app
        .client
        .get(app.url("/pay/payint_nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(pay.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn creation_is_idempotent_and_intents_are_listed() {
    let app = spawn_app().await;
    let conversation = app.conversation_from("api-idem").await;
    let body = json!({"conversation_id": conversation, "amount": 1500, "currency": "usd",
        "description": "Dinner", "external_id": "order-9", "metadata": {"table": 4}});
    let first = create(&app, body.clone(), Some("k1")).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again: Value = create(&app, body.clone(), Some("k1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(first["currency"], "USD");
    assert_eq!(first["state"], "requires_confirmation");
    assert_eq!(first["metadata"]["table"], 4);
    assert!(
        first["pay_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/pay/{}", first["id"].as_str().unwrap()))
    );
    let mut other = body.clone();
    other["amount"] = json!(1);
    assert_eq!(create(&app, other, Some("k1")).await.status(), 422);
    assert_eq!(create(&app, body, None).await.status(), 201);
    let list: Value = app
        .get(&format!(
            "/v1/payment-intents?conversation_id={conversation}"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    let requested = app
        .wait_for_history(&conversation, |events| {
            events
                .iter()
                .filter(|e| e["type"] == "payment.requested")
                .count()
                == 2
        })
        .await;
    assert!(!requested.is_empty());
    let openapi: Value = app.get("/v1/openapi.json").await.json().await.unwrap();
    for path in ["/v1/payment-intents", "/v1/payment-intents/{id}/refund"] {
        assert!(openapi["paths"][path].is_object(), "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn live_mode_refuses_the_sandbox_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::test_settings(dir.path());
    settings.payments.live = true;
    settings.payments.secret = Some(omnibridge::config::Secret::new(
        "live-secret-live-secret-live-secret-01",
    ));
    let error = omnibridge::startup::Application::build(settings.clone())
        .await
        .err()
        .expect("live + sandbox must not start")
        .to_string();
    assert!(
        error.contains("payments.live") && error.contains("sandbox"),
        "{error}"
    );
    // Live without the secret in env: refused too, naming the variable.
    settings.payments.sandbox = false;
    settings.payments.secret = None;
    let error = omnibridge::startup::Application::build(settings)
        .await
        .err()
        .expect("live needs its secret")
        .to_string();
    assert!(error.contains("OMNIBRIDGE_PAYMENTS_SECRET"), "{error}");
}

/// The events of `kind` in the conversation's history.
async fn count_events(app: &TestApp, conversation: &str, kind: &str) -> usize {
    app.history(conversation)
        .await
        .iter()
        .filter(|e| e["type"] == kind)
        .count()
}

#[tokio::test]
async fn one_idempotency_key_gives_random_ids_on_two_fresh_bridges() {
    let mut ids = Vec::new();
    for _ in 0..2 {
        let app = spawn_app().await;
        let conversation = app.conversation_from("api-random-id").await;
        let body = json!({"conversation_id": conversation, "amount": 700, "currency": "EUR",
            "description": "Lunch"});
        let created: Value = create(&app, body, Some("order-1"))
            .await
            .json()
            .await
            .unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("payint_"), "{id}");
        ids.push(id);
        app.stop().await;
    }
    assert_ne!(
        ids[0], ids[1],
        "the same key must not name the same id twice"
    );
}

#[tokio::test]
async fn one_key_twice_is_one_intent_and_one_request() {
    let app = spawn_app().await;
    let conversation = app.conversation_from("api-key-twice").await;
    let body = json!({"conversation_id": conversation, "amount": 900, "currency": "EUR",
        "description": "Wine"});
    let first = create(&app, body.clone(), Some("order-2")).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = create(&app, body.clone(), Some("order-2")).await;
    assert_eq!(again.status(), 201);
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    let mut other = body;
    other["description"] = json!("Beer");
    let conflict = create(&app, other, Some("order-2")).await;
    assert_eq!(
        code(conflict).await,
        (422, "idempotency_key_reused".to_owned())
    );
    assert_eq!(
        count_events(&app, &conversation, "payment.requested").await,
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn twenty_concurrent_creates_with_one_key_make_one_intent() {
    let app = spawn_app().await;
    let conversation = app.conversation_from("api-key-race").await;
    let body = json!({"conversation_id": conversation, "amount": 1100, "currency": "EUR",
        "description": "Taxi"});
    let answers = futures_util::future::join_all(
        (0..20).map(|_| async { create(&app, body.clone(), Some("order-3")).await }),
    )
    .await;
    let mut ids = std::collections::BTreeSet::new();
    for answer in answers {
        assert_eq!(answer.status(), 201);
        let answer: Value = answer.json().await.unwrap();
        ids.insert(answer["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    let list: Value = app
        .get(&format!(
            "/v1/payment-intents?conversation_id={conversation}"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        count_events(&app, &conversation, "payment.requested").await,
        1
    );
    app.stop().await;
}
