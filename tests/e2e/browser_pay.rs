//! Paying in the web chat with a real browser: the business creates an intent through the
//! API, the payment request with its Pay button appears in the widget, pressing Pay settles
//! through the wallet and the MPP endpoint (sandbox source), and the receipt appears.

use std::time::Duration;

use serde_json::{Value, json};

use crate::browser::{Browser, open_demo, type_and_send};
use crate::helpers::{TestApp, next_event, spawn_app};
use crate::payments::wallet::link;
use crate::payments::{DECLINE, create_intent, get_intent};

/// Opens the demo, says hello, and returns (conversation id, web-chat user id) from the
/// `message.received` on `/v1/events`.
async fn start_chat(
    app: &TestApp,
    browser: &Browser,
    events: &mut (impl futures_util::Stream<Item = eventsource_stream::Event> + Unpin),
) -> (String, String) {
    open_demo(app, browser).await;
    type_and_send(browser, "I'd like to order").await;
    loop {
        let event = next_event(events).await;
        if event.event == "message.received" {
            let envelope: Value = serde_json::from_str(&event.data).unwrap();
            return (
                envelope["conversation_id"].as_str().unwrap().to_owned(),
                envelope["sender"]["id"].as_str().unwrap().to_owned(),
            );
        }
    }
}

/// Waits on `/v1/events` for a `kind` event about `intent`; returns its envelope.
async fn wait_event(
    events: &mut (impl futures_util::Stream<Item = eventsource_stream::Event> + Unpin),
    kind: &str,
    intent: &str,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let event = next_event(events).await;
        let envelope: Value = serde_json::from_str(&event.data).unwrap();
        if event.event == kind && envelope["data"]["intent_id"] == intent {
            return envelope;
        }
        assert!(tokio::time::Instant::now() < deadline, "no {kind}");
    }
}

async fn press_pay(browser: &Browser) {
    let pay = browser.wait_for_text("button.ob-action", "Pay").await;
    pay.click().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pressing_pay_in_the_widget_settles_and_shows_the_receipt() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    let mut events = app.sse("", None).await;
    let (conversation, _) = start_chat(&app, &browser, &mut events).await;

    let intent = create_intent(&app, &conversation, 1250, "EUR").await;
    let id = intent["id"].as_str().unwrap().to_owned();
    browser.wait_for_text(".ob-msg.ob-in", "Order 42").await;
    press_pay(&browser).await;

    browser
        .wait_for_text(".ob-msg.ob-in", "Payment received")
        .await;
    let paid = wait_event(&mut events, "payment.succeeded", &id).await;
    assert_eq!(paid["conversation_id"], conversation.as_str());
    assert_eq!(paid["data"]["intent_id"], id.as_str());
    assert_eq!(get_intent(&app, &id).await["state"], "succeeded");
    browser.stop().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declining_source_fails_in_the_widget_and_the_intent_stays_payable() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    let mut events = app.sse("", None).await;
    let (conversation, user) = start_chat(&app, &browser, &mut events).await;
    link(
        &app,
        "webchat",
        &user,
        json!({"source": "sandbox", "token": DECLINE}),
    )
    .await;

    let intent = create_intent(&app, &conversation, 1250, "EUR").await;
    let id = intent["id"].as_str().unwrap().to_owned();
    browser.wait_for_text(".ob-msg.ob-in", "Order 42").await;
    press_pay(&browser).await;
    browser
        .wait_for_text(".ob-msg.ob-in", "did not go through")
        .await;
    let failed = wait_event(&mut events, "payment.failed", &id).await;
    assert_eq!(failed["conversation_id"], conversation.as_str());
    assert_eq!(
        get_intent(&app, &id).await["state"],
        "requires_confirmation"
    );

    // The customer fixes their card and presses Pay again.
    link(&app, "webchat", &user, json!({"source": "sandbox"})).await;
    press_pay(&browser).await;
    browser
        .wait_for_text(".ob-msg.ob-in", "Payment received")
        .await;
    wait_event(&mut events, "payment.succeeded", &id).await;
    assert_eq!(get_intent(&app, &id).await["state"], "succeeded");
    browser.stop().await;
    app.stop().await;
}
