//! Pay inside WhatsApp: the payment request goes out as an interactive reply-button message,
//! the customer's `button_reply` comes back as an `action.invoked` event, the wallet settles
//! through the same MPP endpoint as every channel, and the receipt goes back as a WhatsApp
//! message.

use std::time::Duration;

use serde_json::{Value, json};

use super::{conversation_with, envelope, post_signed, spawn_wa};
use crate::helpers::next_event;
use crate::payments::create_intent;

const CUSTOMER: &str = "15557654321";

/// Waits until the fake Graph API accepted a message matching `predicate`.
async fn accepted(
    fake: &omnibridge_whatsapp::fake::FakeGraph,
    predicate: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(found) = fake.accepted().into_iter().find(|m| predicate(m)) {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fake never got it: {:#?}",
            fake.accepted()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_button_tap_in_whatsapp_pays_through_the_mpp_endpoint_and_gets_a_receipt() {
    let wa = spawn_wa(json!({})).await;
    let app = &wa.app;
    let mut events = app.sse("?type=payment.succeeded", None).await;
    let conversation = conversation_with(app, CUSTOMER, Duration::from_secs(60)).await;
    let intent = create_intent(app, &conversation, 1250, "USD").await;
    let intent_id = intent["id"].as_str().unwrap().to_owned();

    // The payment request: interactive reply buttons "Pay $12.50" / "Cancel".
    let request = accepted(&wa.fake, |m| m["type"] == "interactive").await;
    assert_eq!(request["to"], CUSTOMER);
    assert_eq!(request["interactive"]["type"], "button");
    let buttons = request["interactive"]["action"]["buttons"]
        .as_array()
        .unwrap();
    let pay = buttons
        .iter()
        .find(|b| b["reply"]["id"] == format!("pay:{intent_id}").as_str())
        .expect("a Pay button carrying the intent");
    assert!(
        pay["reply"]["title"].as_str().unwrap().contains("$12.50"),
        "{pay}"
    );
    assert!(
        buttons
            .iter()
            .any(|b| b["reply"]["id"] == format!("cancel:{intent_id}").as_str())
    );

    // The customer taps Pay.
    let tap = json!({"from": CUSTOMER, "id": "wamid.TAP1", "timestamp": chrono::Utc::now().timestamp().to_string(),
        "type": "interactive", "context": {"from": "15550783881", "id": "wamid.REQUEST"},
        "interactive": {"type": "button_reply", "button_reply": {"id": format!("pay:{intent_id}"), "title": "Pay $12.50"}}});
    post_signed(app, envelope(CUSTOMER, vec![tap], vec![])).await;

    let succeeded = next_event(&mut events).await;
    let envelope: Value = serde_json::from_str(&succeeded.data).unwrap();
    assert_eq!(envelope["type"], "payment.succeeded");
    assert_eq!(envelope["data"]["intent_id"], intent_id.as_str());
    assert_eq!(envelope["conversation_id"], conversation.as_str());
    assert_eq!(app.sandbox.as_ref().unwrap().settlements(), 1);

    // The receipt goes back to the customer on WhatsApp.
    let receipt = accepted(&wa.fake, |m| {
        m["type"] == "text"
            && m["to"] == CUSTOMER
            && m["text"]["body"]
                .as_str()
                .is_some_and(|b| b.starts_with("Payment received: $12.50"))
    })
    .await;
    assert_eq!(receipt["messaging_product"], "whatsapp");
    wa.app.stop().await;
}
