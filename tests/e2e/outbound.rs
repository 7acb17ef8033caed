//! The outbox: retry with backoff until the channel recovers; dead letter on permanent
//! failure; both visible in events and metrics.

use serde_json::{Value, json};

use crate::helpers::{spawn_app, types};
use crate::test_channel::Scripted;

#[tokio::test]
async fn retryable_failures_are_retried_until_the_channel_recovers() {
    let app = spawn_app().await;
    let conversation = app.conversation_from("retry").await;
    app.channel.script(&[
        Scripted::Transient,
        Scripted::RateLimited,
        Scripted::Transient,
    ]);
    let accepted: Value = app
        .send_message(&conversation, json!({ "text": "eventually" }))
        .await
        .json()
        .await
        .unwrap();
    let history = app
        .wait_for_history(&conversation, |e| {
            types(e).contains(&"delivery.updated".to_owned())
        })
        .await;
    assert_eq!(history.last().unwrap()["data"]["status"], "sent");
    assert_eq!(app.channel.sent().len(), 1);
    // The outbox record is finished just after the events are durable (events first, so a
    // crash in between re-sends into de-duplication instead of losing them): poll briefly.
    let path = format!("/v1/outbound/{}", accepted["outbound_id"].as_str().unwrap());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let status: Value = loop {
        let status: Value = app.get(&path).await.json().await.unwrap();
        if status["state"] == "sent" || tokio::time::Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(status["state"], "sent");
    assert_eq!(status["attempts"], 4);
    assert!(
        app.metrics()
            .await
            .contains("omnibridge_retries_total{kind=\"outbound\"} 3")
    );
    app.stop().await;
}

#[tokio::test]
async fn permanent_failure_dead_letters_with_a_failed_delivery_event() {
    let app = spawn_app().await;
    let conversation = app.conversation_from("dead").await;
    app.channel.script(&[Scripted::Rejected]);
    app.send_message(&conversation, json!({ "text": "never" }))
        .await;
    let history = app
        .wait_for_history(&conversation, |e| {
            types(e).contains(&"delivery.updated".to_owned())
        })
        .await;
    let failed = history.last().unwrap();
    assert_eq!(failed["data"]["status"], "failed");
    assert_eq!(failed["data"]["code"], "bad_recipient");
    assert!(app.channel.sent().is_empty());
    assert!(
        app.metrics()
            .await
            .contains("omnibridge_dead_letters_total{kind=\"outbound\"} 1")
    );
    app.stop().await;
}

#[tokio::test]
async fn retries_run_out_into_a_dead_letter() {
    let app = crate::helpers::spawn_app_with(|s| s.outbox.max_attempts = 2).await;
    let conversation = app.conversation_from("exhaust").await;
    app.channel.script(&[
        Scripted::Transient,
        Scripted::Transient,
        Scripted::Transient,
    ]);
    app.send_message(&conversation, json!({ "text": "lost cause" }))
        .await;
    let history = app
        .wait_for_history(&conversation, |e| {
            types(e).contains(&"delivery.updated".to_owned())
        })
        .await;
    assert_eq!(history.last().unwrap()["data"]["status"], "failed");
    assert_eq!(history.last().unwrap()["data"]["code"], "transient_failure");
    app.stop().await;
}
