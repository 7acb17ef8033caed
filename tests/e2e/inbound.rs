//! Channel webhooks: verification before parsing, de-duplication, nothing stored on refusal.

use serde_json::json;

use crate::helpers::{CHANNEL_ID, spawn_app, types};
use crate::test_channel::SECRET;

#[tokio::test]
async fn fifty_concurrent_redeliveries_yield_one_event() {
    let app = spawn_app().await;
    let conversation = app.conversation_from("dup").await;
    let sends = (0..50).map(|_| app.inbound("dup", "same-provider-id", "pay me"));
    let responses = futures_util::future::join_all(sends).await;
    assert!(responses.iter().all(|r| r.status() == 200));
    let history = app.history(&conversation).await;
    let copies = history
        .iter()
        .filter(|e| e["provider_message_id"] == "same-provider-id")
        .count();
    assert_eq!(copies, 1);
    assert!(
        app.metrics()
            .await
            .contains("omnibridge_duplicates_total{channel=\"testchan\"} 49")
    );
    app.stop().await;
}

#[tokio::test]
async fn unsigned_or_malformed_webhooks_are_refused_and_store_nothing() {
    let app = spawn_app().await;
    let url = app.url(&format!("/webhooks/{CHANNEL_ID}"));
    let body = json!({ "thread": "t", "id": "m1", "text": "hi" });
    let unsigned = app.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);
    let wrong = app
        .client
        .post(&url)
        .header("x-test-secret", "nope")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let malformed = app
        .client
        .post(&url)
        .header("x-test-secret", SECRET)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let problem: serde_json::Value = malformed.json().await.unwrap();
    assert_eq!(problem["code"], "malformed_payload");
    let unknown = app
        .client
        .post(app.url("/webhooks/nope"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let list = app.conversation_list().await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    app.stop().await;
}

#[tokio::test]
async fn per_conversation_order_is_kept() {
    let app = spawn_app().await;
    let conversation = app.conversation_from("order").await;
    for i in 0..20 {
        assert_eq!(
            app.inbound("order", &format!("o{i}"), &format!("n{i}"))
                .await
                .status(),
            200
        );
    }
    let history = app.history(&conversation).await;
    let bodies: Vec<_> = history[1..]
        .iter()
        .map(|e| e["data"]["content"]["body"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<_> = (0..20).map(|i| format!("n{i}")).collect();
    assert_eq!(bodies, expected);
    assert_eq!(types(&history).len(), 21);
    app.stop().await;
}
