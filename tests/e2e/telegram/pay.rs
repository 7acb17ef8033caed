//! Pay inside Telegram: the payment request goes out with inline Pay / Cancel buttons, the
//! tap (a `callback_query`) comes back as an action, is answered, the wallet settles through
//! the MPP endpoint, the receipt goes to the chat; a second tap charges nothing.

use std::time::Duration;

use serde_json::{Value, json};

use super::{CUSTOMER, SECRET, Tg, conversation_with_customer, post, spawn_tg};
use crate::helpers::next_event;
use crate::payments::create_intent;

async fn accepted(tg: &Tg, predicate: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(found) = tg
            .fake
            .accepted("sendMessage")
            .into_iter()
            .find(|m| predicate(m))
        {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fake never got it: {:#?}",
            tg.fake.calls()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn tap(update_id: u32, query: &str, request: &Value, data: &str) -> Value {
    json!({"update_id": update_id, "callback_query": {"id": query,
        "from": {"id": CUSTOMER, "is_bot": false, "first_name": "Ada"}, "chat_instance": "ci",
        "message": {"message_id": 1001, "date": 1_700_000_000,
            "chat": {"id": CUSTOMER, "type": "private"}, "text": request["text"],
            "reply_markup": request["reply_markup"]},
        "data": data}})
}

#[tokio::test]
async fn tapping_pay_in_telegram_settles_through_mpp_and_a_second_tap_charges_nothing() {
    let tg = spawn_tg(json!({"parse_mode": "markdown_v2"})).await;
    let app = &tg.app;
    let mut events = app.sse("?type=payment.succeeded", None).await;
    let conversation = conversation_with_customer(&tg).await;
    let intent = create_intent(app, &conversation, 1250, "USD").await;
    let intent_id = intent["id"].as_str().unwrap().to_owned();

    let request = accepted(&tg, |m| m.get("reply_markup").is_some()).await;
    assert_eq!(request["chat_id"].to_string(), CUSTOMER.to_string());
    let buttons: Vec<Value> = request["reply_markup"]["inline_keyboard"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().clone())
        .collect();
    let pay = buttons
        .iter()
        .find(|b| b["text"].as_str().unwrap().contains("12.50"))
        .expect("a Pay button");
    let data = pay["callback_data"].as_str().unwrap().to_owned();
    assert!(
        data.contains(&intent_id) || data.starts_with("t:"),
        "{data}"
    );
    assert!(
        buttons
            .iter()
            .any(|b| b["text"].as_str().unwrap().contains("Cancel"))
    );

    assert_eq!(
        post(app, &tap(900, "q-pay-1", &request, &data), Some(SECRET))
            .await
            .status(),
        200
    );
    let succeeded = next_event(&mut events).await;
    let envelope: Value = serde_json::from_str(&succeeded.data).unwrap();
    assert_eq!(envelope["type"], "payment.succeeded");
    assert_eq!(envelope["data"]["intent_id"], intent_id.as_str());
    assert_eq!(app.sandbox.as_ref().unwrap().settlements(), 1);
    let answers = tg.fake.accepted("answerCallbackQuery");
    assert_eq!(answers[0]["callback_query_id"], "q-pay-1");

    accepted(&tg, |m| {
        m["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Payment received"))
    })
    .await;

    // A second tap on the paid request: answered, nothing charged.
    assert_eq!(
        post(app, &tap(901, "q-pay-2", &request, &data), Some(SECRET))
            .await
            .status(),
        200
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tg.fake.accepted("answerCallbackQuery").len() < 2 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.sandbox.as_ref().unwrap().settlements(),
        1,
        "charged once"
    );
    tg.app.stop().await;
}
