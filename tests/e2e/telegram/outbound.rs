//! Outbound through the bridge (API → outbox → channel → fake Bot API).

use std::time::Duration;

use omnibridge_telegram::fake::Failure;
use serde_json::json;

use super::{conversation_with_customer, spawn_tg};
use crate::whatsapp::{send, settled};

const SPECIALS: &str = "_*[]()~`>#+-=|{}.!\\ <b>&amp;</b>";

#[tokio::test]
async fn special_characters_and_a_5000_character_text_pass_markdown_v2_validation() {
    let tg = spawn_tg(json!({"parse_mode": "markdown_v2"})).await;
    let conversation = conversation_with_customer(&tg).await;
    let long: String = SPECIALS.chars().cycle().take(5000).collect();
    for text in [SPECIALS.to_owned(), long] {
        let (status, accepted) = send(&tg.app, &conversation, json!({"text": text})).await;
        assert_eq!(status, 202, "{accepted}");
        let outbound = settled(&tg.app, accepted["outbound_id"].as_str().unwrap()).await;
        assert_eq!(
            outbound["state"],
            "sent",
            "{outbound}: {:#?}",
            tg.fake.calls()
        );
    }
    let sent = tg.fake.accepted("sendMessage");
    assert_eq!(sent.len(), 3, "one, then two parts");
    assert!(sent.iter().all(|m| m["parse_mode"] == "MarkdownV2"));
    tg.app.stop().await;
}

#[tokio::test]
async fn a_429_is_resent_after_retry_after() {
    let tg = spawn_tg(json!({})).await;
    let conversation = conversation_with_customer(&tg).await;
    tg.fake.fail_next(Failure::RetryAfter(2));
    let (_, accepted) = send(&tg.app, &conversation, json!({"text": "patience"})).await;
    let id = accepted["outbound_id"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tg.fake.accepted("sendMessage").is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "never resent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let calls: Vec<_> = tg
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.method == "sendMessage")
        .collect();
    assert_eq!(calls[0].status, 429);
    assert_eq!(calls[1].status, 200);
    let waited = calls[1].at.duration_since(calls[0].at);
    assert!(waited >= Duration::from_secs(2), "resent after {waited:?}");
    assert_eq!(settled(&tg.app, &id).await["state"], "sent");
    tg.app.stop().await;
}

#[tokio::test]
async fn a_block_dead_letters_with_a_failed_delivery_and_the_next_send_fails_at_once() {
    let tg = spawn_tg(json!({})).await;
    let conversation = conversation_with_customer(&tg).await;
    tg.fake.fail_next(Failure::Blocked);
    let (_, accepted) = send(&tg.app, &conversation, json!({"text": "hi"})).await;
    let id = accepted["outbound_id"].as_str().unwrap().to_owned();
    let outbound = settled(&tg.app, &id).await;
    assert_eq!(outbound["state"], "dead", "{outbound}");
    assert_eq!(outbound["attempts"], 1, "{outbound}");
    let events = tg
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
    assert_eq!(failed["data"]["code"], "bot_blocked");
    let calls = tg.fake.calls().len();
    let (_, again) = send(&tg.app, &conversation, json!({"text": "hello?"})).await;
    let again = settled(&tg.app, again["outbound_id"].as_str().unwrap()).await;
    assert_eq!(again["state"], "dead", "{again}");
    assert_eq!(tg.fake.calls().len(), calls, "nothing reached Telegram");
    tg.app.stop().await;
}
