//! `/v1/events`: live delivery, filters, and resume with Last-Event-ID.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use crate::helpers::{next_event, spawn_app};

#[tokio::test]
async fn resume_with_last_event_id_delivers_every_event_once_in_order() {
    let app = spawn_app().await;
    let mut stream = app.sse("", None).await;
    for i in 0..10 {
        assert_eq!(
            app.inbound("sse", &format!("m{i}"), &format!("n{i}"))
                .await
                .status(),
            200
        );
    }
    let mut seen = Vec::new();
    for _ in 0..4 {
        let event = next_event(&mut stream).await;
        seen.push(event);
    }
    let last_id: u64 = seen.last().unwrap().id.parse().unwrap();
    drop(stream);
    for i in 10..20 {
        assert_eq!(
            app.inbound("sse", &format!("m{i}"), &format!("n{i}"))
                .await
                .status(),
            200
        );
    }
    let mut resumed = app.sse("", Some(last_id)).await;
    for _ in 0..16 {
        seen.push(next_event(&mut resumed).await);
    }
    let bodies: Vec<String> = seen
        .iter()
        .map(|e| {
            let envelope: Value = serde_json::from_str(&e.data).unwrap();
            envelope["data"]["content"]["body"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let expected: Vec<String> = (0..20).map(|i| format!("n{i}")).collect();
    assert_eq!(bodies, expected);
    let ids: Vec<u64> = seen.iter().map(|e| e.id.parse().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "ids not consecutive: {ids:?}"
    );
    let extra = tokio::time::timeout(Duration::from_millis(300), resumed.next()).await;
    assert!(extra.is_err(), "an event arrived twice: {extra:?}");
    app.stop().await;
}

#[tokio::test]
async fn filters_by_type_and_channel() {
    let app = spawn_app().await;
    let mut only_actions = app.sse("?type=action.invoked", None).await;
    let mut other_channel = app.sse("?channel=whatsapp", None).await;
    assert_eq!(app.inbound("f", "m1", "text first").await.status(), 200);
    let action = app
        .client
        .post(app.url("/webhooks/tc"))
        .header("x-test-secret", crate::test_channel::SECRET)
        .json(&serde_json::json!({ "thread": "f", "id": "a1", "action": "pay:1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(action.status(), 200);
    let event = next_event(&mut only_actions).await;
    assert_eq!(event.event, "action.invoked");
    let envelope: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(envelope["data"]["payload"], "pay:1");
    assert_eq!(envelope["channel"], "testchan");
    let none = tokio::time::timeout(Duration::from_millis(300), other_channel.next()).await;
    assert!(
        none.is_err(),
        "the whatsapp filter let a testchan event through"
    );
    app.stop().await;
}
