//! Outbound through the whole bridge (API → outbox → channel → fake Graph API): the shapes
//! the fake accepts, 4 buttons as a list, a long text split, a rate limit retried, a template
//! error dead-lettered with a failed delivery event.

use std::time::Duration;

use omnibridge_whatsapp::fake::Failure;
use serde_json::{Value, json};

use super::{conversation_with, send, settled, spawn_wa};

fn buttons(n: usize) -> Value {
    Value::Array(
        (0..n)
            .map(|i| json!({"label": format!("Option {i}"), "payload": format!("opt:{i}")}))
            .collect(),
    )
}

#[tokio::test]
async fn outbound_shapes_are_accepted_by_the_fake_through_the_bridge() {
    let wa = spawn_wa(json!({})).await;
    let conversation = conversation_with(&wa.app, "16505550001", Duration::from_secs(60)).await;
    let cases = [
        json!({"text": "Hello there", "reply_to": "wamid.ORIGINAL"}),
        json!({"text": "Pick one", "buttons": buttons(3)}),
        json!({"text": "Pick one of four", "buttons": buttons(4)}),
        json!({"text": "x".repeat(5000)}),
    ];
    for body in cases {
        let (status, accepted) = send(&wa.app, &conversation, body).await;
        assert_eq!(status, 202, "{accepted}");
        assert!(accepted.get("via").is_none(), "{accepted}");
        let outbound = settled(&wa.app, accepted["outbound_id"].as_str().unwrap()).await;
        assert_eq!(outbound["state"], "sent", "{outbound}");
    }
    let sent = wa.fake.accepted();
    let kinds: Vec<String> = sent
        .iter()
        .map(|b| match b["type"].as_str().unwrap() {
            "interactive" => format!("interactive/{}", b["interactive"]["type"].as_str().unwrap()),
            other => other.to_owned(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "text",
            "interactive/button",
            "interactive/list",
            "text",
            "text"
        ],
        "{sent:#?}"
    );
    assert!(sent[0]["context"]["message_id"].is_string(), "{}", sent[0]);
    assert_eq!(
        sent[1]["interactive"]["action"]["buttons"][2]["reply"]["id"],
        "opt:2"
    );
    let rows = &sent[2]["interactive"]["action"]["sections"][0]["rows"];
    assert_eq!(rows.as_array().unwrap().len(), 4, "{}", sent[2]);
    let split: usize = sent[3..]
        .iter()
        .map(|b| b["text"]["body"].as_str().unwrap().chars().count())
        .sum();
    assert!(split >= 5000, "the parts carry the whole text");
    assert!(sent[3..].iter().all(|b| b["to"] == "16505550001"));
    wa.app.stop().await;
}

#[tokio::test]
async fn a_rate_limit_is_retried_after_backoff_and_then_succeeds() {
    let wa = spawn_wa(json!({})).await;
    let conversation = conversation_with(&wa.app, "16505550002", Duration::from_secs(60)).await;
    wa.fake.fail_next(Failure::RateLimited(None));
    let (status, accepted) = send(&wa.app, &conversation, json!({"text": "hi"})).await;
    assert_eq!(status, 202);
    let outbound = settled(&wa.app, accepted["outbound_id"].as_str().unwrap()).await;
    assert_eq!(outbound["state"], "sent", "{outbound}");
    assert_eq!(outbound["attempts"], 2, "{outbound}");
    let statuses: Vec<u16> = wa.fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 200]);
    wa.app.stop().await;
}

#[tokio::test]
async fn a_template_error_dead_letters_with_a_failed_delivery_event() {
    let wa = spawn_wa(json!({})).await;
    let conversation = conversation_with(&wa.app, "16505550003", Duration::from_secs(60)).await;
    wa.fake.fail_next(Failure::TemplateMissing);
    let (_, accepted) = send(&wa.app, &conversation, json!({"text": "hi"})).await;
    let id = accepted["outbound_id"].as_str().unwrap().to_owned();
    let outbound = settled(&wa.app, &id).await;
    assert_eq!(outbound["state"], "dead", "{outbound}");
    assert_eq!(outbound["attempts"], 1, "{outbound}");
    let events = wa
        .app
        .wait_for_history(&conversation, |events| {
            events.iter().any(|e| e["type"] == "delivery.updated")
        })
        .await;
    let failed = events
        .iter()
        .find(|e| e["type"] == "delivery.updated")
        .unwrap();
    assert_eq!(failed["data"]["status"], "failed");
    assert_eq!(failed["data"]["code"], "132001");
    assert_eq!(failed["data"]["outbound_id"], id.as_str());
    assert_eq!(outbound["delivery"], "failed");
    wa.app.stop().await;
}
