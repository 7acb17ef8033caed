//! Polling mode against the fake: the offset advances after delivery and survives a
//! restart; a webhook left set shows on the health check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use omnibridge_sdk::testkit::RecordingInbox;
use omnibridge_sdk::{Channel, ChannelState};
use omnibridge_telegram::fake::FakeBotApi;
use omnibridge_telegram::poll::OFFSET_KEY;
use serde_json::json;
use support::{MemoryState, channel};
use tokio_util::sync::CancellationToken;

fn text(id: i64, body: &str) -> serde_json::Value {
    json!({"message": {"message_id": id, "date": 1, "text": body,
        "chat": {"id": 777, "type": "private"}, "from": {"id": 777, "is_bot": false, "first_name": "Ada"}}})
}

async fn until(mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn updates_are_delivered_and_the_offset_survives_a_restart() {
    let fake = FakeBotApi::start().await.unwrap();
    let state = Arc::new(MemoryState::default());
    let first = Arc::new(channel(&fake, state.clone(), |c| c.polling(1)));
    let inbox = Arc::new(RecordingInbox::new());
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let (first, inbox, stop) = (first.clone(), inbox.clone(), stop.clone());
        async move { first.listen(inbox, stop).await }
    });
    fake.push_update(text(1, "one"));
    fake.push_update(text(2, "two"));
    until(|| inbox.events().len() == 2).await;
    stop.cancel();
    task.await.unwrap().unwrap();
    let offset = state.get(OFFSET_KEY).await.unwrap().unwrap();
    assert_eq!(String::from_utf8(offset).unwrap(), "3");

    // A new instance on the same state starts after what was delivered.
    fake.push_update(text(3, "three"));
    let second = channel(&fake, state.clone(), |c| c.polling(1));
    let inbox2 = Arc::new(RecordingInbox::new());
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let (inbox2, stop) = (inbox2.clone(), stop.clone());
        async move { second.listen(inbox2, stop).await }
    });
    until(|| !inbox2.events().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.cancel();
    task.await.unwrap().unwrap();
    let keys: Vec<_> = inbox2
        .events()
        .iter()
        .map(|e| e.effective_dedup_key().unwrap().to_owned())
        .collect();
    assert_eq!(keys, ["update:3"]);
}

#[tokio::test]
async fn a_webhook_left_set_shows_on_the_health_check_and_is_deleted_only_when_asked() {
    let fake = FakeBotApi::start().await.unwrap();
    fake.set_webhook("https://old.example/hook");
    let state = Arc::new(MemoryState::default());
    let polling = Arc::new(channel(&fake, state.clone(), |c| c.polling(1)));
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let (polling, stop) = (polling.clone(), stop.clone());
        async move { polling.listen(Arc::new(RecordingInbox::new()), stop).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let error = loop {
        if let Err(error) = polling.health_check().await {
            break error;
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(error.code(), "webhook_conflict");
    assert!(error.to_string().contains("409"), "{error}");
    assert!(
        fake.webhook().is_some(),
        "not deleted unless config says so"
    );
    stop.cancel();
    task.await.unwrap().unwrap();

    let deleting = channel(&fake, state, |mut c| {
        c.delete_webhook = true;
        c.polling(1)
    });
    let inbox = Arc::new(RecordingInbox::new());
    let stop = CancellationToken::new();
    fake.push_update(text(9, "after"));
    let task = tokio::spawn({
        let (inbox, stop) = (inbox.clone(), stop.clone());
        async move { deleting.listen(inbox, stop).await }
    });
    until(|| inbox.events().len() == 1).await;
    assert!(fake.webhook().is_none());
    stop.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn webhook_mode_registers_url_secret_and_exactly_the_handled_updates() {
    let fake = FakeBotApi::start().await.unwrap();
    let hooked = Arc::new(channel(&fake, Arc::new(MemoryState::default()), |c| c));
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let (hooked, stop) = (hooked.clone(), stop.clone());
        async move { hooked.listen(Arc::new(RecordingInbox::new()), stop).await }
    });
    until(|| fake.webhook().is_some()).await;
    let hook = fake.webhook().unwrap();
    assert_eq!(hook.url, "https://bridge.acme.test/webhooks/acme-tg");
    assert_eq!(hook.secret_token.as_deref(), Some(support::SECRET));
    assert_eq!(
        hook.allowed_updates,
        omnibridge_telegram::inbound::ALLOWED_UPDATES
    );
    hooked.health_check().await.unwrap();
    stop.cancel();
    task.await.unwrap().unwrap();
}
