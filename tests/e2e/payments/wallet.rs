//! The wallet through the test channel (no channel-specific code: the same canonical
//! `action.invoked` / `message.received` events as any channel): Pay with a declining then a
//! good source, Cancel, no source → payment link, confirm keywords.

use std::time::Duration;

use serde_json::{Value, json};

use super::{get_intent, intent, of_type};
use crate::helpers::{API_KEY, CHANNEL_ID, TestApp, spawn_app, spawn_app_with};
use crate::test_channel;

/// The test channel's customer (`testchan`, user id = thread) presses a button.
async fn press(app: &TestApp, thread: &str, id: &str, payload: &str) {
    let response = app
        .client
        .post(app.url(&format!("/webhooks/{CHANNEL_ID}")))
        .header("x-test-secret", test_channel::SECRET)
        .json(&json!({ "thread": thread, "id": id, "action": payload }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// Links the test channel's customer `thread` to `link`.
pub async fn link(app: &TestApp, channel: &str, user: &str, link: Value) {
    let response = app
        .client
        .put(app.url(&format!("/v1/customers/{channel}/{user}/payment-source")))
        .bearer_auth(API_KEY)
        .json(&link)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn wait_state(app: &TestApp, id: &str, state: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = get_intent(app, id).await;
        if now["state"] == state {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "intent is {now}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_template(app: &TestApp, template: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !app
        .channel
        .sent()
        .iter()
        .any(|m| m.template.as_deref() == Some(template))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {template} message"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn pay_declines_with_a_declining_source_then_a_good_source_pays() {
    let app = spawn_app().await;
    let (conversation, id) = intent(&app, "wallet-decline").await;
    link(
        &app,
        "testchan",
        "wallet-decline",
        json!({"source": "sandbox", "token": super::DECLINE}),
    )
    .await;
    press(&app, "wallet-decline", "press-1", &format!("pay:{id}")).await;
    app.wait_for_history(&conversation, |e| !of_type(e, "payment.failed").is_empty())
        .await;
    wait_template(&app, "payment_failed").await;
    assert_eq!(
        get_intent(&app, &id).await["state"],
        "requires_confirmation"
    );

    link(
        &app,
        "testchan",
        "wallet-decline",
        json!({"source": "sandbox"}),
    )
    .await;
    press(&app, "wallet-decline", "press-2", &format!("pay:{id}")).await;
    wait_state(&app, &id, "succeeded").await;
    wait_template(&app, "payment_receipt").await;
    // A third press on a paid intent charges nothing.
    press(&app, "wallet-decline", "press-3", &format!("pay:{id}")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.sandbox.as_ref().unwrap().settlements(), 1);
    app.stop().await;
}

#[tokio::test]
async fn cancel_cancels_and_keywords_pay_the_only_open_intent() {
    let app = spawn_app().await;
    let (_, first) = intent(&app, "wallet-keyword").await;
    press(
        &app,
        "wallet-keyword",
        "cancel-1",
        &format!("cancel:{first}"),
    )
    .await;
    wait_state(&app, &first, "canceled").await;
    let (_, second) = intent(&app, "wallet-keyword").await;
    assert_eq!(
        app.inbound("wallet-keyword", "kw-1", "Pagar\nplease")
            .await
            .status(),
        200
    );
    wait_state(&app, &second, "succeeded").await;
    assert_eq!(get_intent(&app, &first).await["state"], "canceled");
    app.stop().await;
}

#[tokio::test]
async fn a_customer_without_a_source_gets_the_payment_link() {
    let app = spawn_app_with(|s| s.payments.wallet.default_source = "none".into()).await;
    let (_, id) = intent(&app, "wallet-link").await;
    press(&app, "wallet-link", "press-1", &format!("pay:{id}")).await;
    wait_template(&app, "payment_link").await;
    let link = app
        .channel
        .sent()
        .into_iter()
        .find(|m| m.template.as_deref() == Some("payment_link"))
        .unwrap();
    let text = serde_json::to_value(&link).unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains(&format!("/pay/{id}")), "{text}");
    assert_eq!(
        get_intent(&app, &id).await["state"],
        "requires_confirmation"
    );
    app.stop().await;
}
