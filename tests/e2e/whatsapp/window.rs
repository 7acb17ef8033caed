//! The 24-hour window: 25 hours after the customer's last message a reply goes out as the
//! mapped approved template (filled from the template data), fails at once without a mapping
//! (the API says so, the fake receives nothing, the payment request's failure is an event),
//! and Meta's 131047 is handled the same way.

use std::time::Duration;

use omnibridge_whatsapp::fake::Failure;
use serde_json::{Value, json};

use super::{Wa, conversation_with, send, settled, spawn_wa};
use crate::helpers::TestApp;

const DAY_AND_AN_HOUR: Duration = Duration::from_secs(25 * 60 * 60);

async fn spawn_mapped() -> Wa {
    let wa = spawn_wa(json!({"template_mappings": {"welcome": {
        "name": "welcome_v1", "language": "en_US", "body_params": ["data.name", "text"]}}}))
    .await;
    wa.fake.approve_template("welcome_v1", 2);
    wa
}

async fn failed_delivery(app: &TestApp, conversation: &str) -> Value {
    let events = app
        .wait_for_history(conversation, |events| {
            events.iter().any(|e| e["data"]["status"] == "failed")
        })
        .await;
    events
        .into_iter()
        .find(|e| e["data"]["status"] == "failed")
        .unwrap()
}

#[tokio::test]
async fn a_reply_25_hours_later_goes_out_as_the_mapped_approved_template() {
    let wa = spawn_mapped().await;
    let conversation = conversation_with(&wa.app, "16505550030", DAY_AND_AN_HOUR).await;
    let body = json!({"template": "welcome", "data": {"name": "Sheena"}});
    let (status, accepted) = send(&wa.app, &conversation, body).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["via"], "template");
    assert_eq!(accepted["provider_template"], "welcome_v1");
    let outbound = settled(&wa.app, accepted["outbound_id"].as_str().unwrap()).await;
    assert_eq!(outbound["state"], "sent", "{outbound}");
    let sent = wa.fake.accepted();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0]["type"], "template");
    assert_eq!(sent[0]["template"]["name"], "welcome_v1");
    assert_eq!(sent[0]["template"]["language"]["code"], "en_US");
    let params = &sent[0]["template"]["components"][0]["parameters"];
    assert_eq!(params[0]["text"], "Sheena", "{}", sent[0]);
    assert!(params[1]["text"].as_str().unwrap().starts_with("Hi!"));
    wa.app.stop().await;
}

#[tokio::test]
async fn without_a_mapping_it_fails_at_once_and_the_fake_receives_nothing() {
    let wa = spawn_mapped().await;
    let conversation = conversation_with(&wa.app, "16505550031", DAY_AND_AN_HOUR).await;
    let (status, problem) = send(&wa.app, &conversation, json!({"text": "Still there?"})).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "reply_window_closed", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("window is closed")
    );
    let intent = crate::payments::create_intent(&wa.app, &conversation, 1200, "USD").await;
    assert!(intent["id"].is_string());
    let failed = failed_delivery(&wa.app, &conversation).await;
    assert_eq!(failed["data"]["code"], "reply_window_closed", "{failed}");
    let reason = failed["data"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("window is closed") && reason.contains("payment_request"),
        "{reason}"
    );
    let outbound = settled(&wa.app, failed["data"]["outbound_id"].as_str().unwrap()).await;
    assert_eq!(
        (outbound["state"].as_str(), outbound["attempts"].as_u64()),
        (Some("dead"), Some(1))
    );
    assert!(wa.fake.requests().is_empty(), "{:#?}", wa.fake.requests());
    wa.app.stop().await;
}

#[tokio::test]
async fn a_meta_131047_answer_is_handled_the_same_way() {
    let wa = spawn_mapped().await;
    let conversation = conversation_with(&wa.app, "16505550032", Duration::from_secs(60)).await;
    wa.fake.fail_next(Failure::WindowClosed);
    let (status, accepted) = send(&wa.app, &conversation, json!({"text": "Free-form"})).await;
    assert_eq!(status, 202, "{accepted}");
    let failed = failed_delivery(&wa.app, &conversation).await;
    assert_eq!(failed["data"]["code"], "reply_window_closed", "{failed}");
    assert!(
        failed["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("131047")
    );
    assert_eq!(failed["data"]["outbound_id"], accepted["outbound_id"]);
    wa.fake.fail_next(Failure::WindowClosed);
    let body = json!({"template": "welcome", "data": {"name": "Sheena"}});
    let (status, accepted) = send(&wa.app, &conversation, body).await;
    assert_eq!(status, 202, "{accepted}");
    let outbound = settled(&wa.app, accepted["outbound_id"].as_str().unwrap()).await;
    assert_eq!(outbound["state"], "sent", "{outbound}");
    let answered: Vec<(u16, Value)> = wa
        .fake
        .requests()
        .into_iter()
        .map(|r| (r.status, r.body["type"].clone()))
        .collect();
    assert_eq!(
        answered,
        [
            (400, json!("text")),
            (400, json!("text")),
            (200, json!("template"))
        ]
    );
    wa.app.stop().await;
}
