//! Telegram through the whole bridge, against the fake Bot API: the webhook route checks the
//! secret token before parsing and stores each update once, `setWebhook` registers our URL,
//! polling delivers and shows a blocking webhook on `/readyz`, outbound honours 429 and
//! dead-letters a block, media is fetched, and paying works by tapping an inline button.

mod crash;
mod instances;
mod logs;
mod outbound;
mod pay;

use std::sync::Arc;

use std::time::Duration;

use omnibridge::config::ChannelSettings;
use omnibridge_telegram::fake::{FAKE_TOKEN, FakeBotApi};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with_env};

pub const ID: &str = "acme-tg";
pub const SECRET: &str = "e2e-tg_webhook-secret";
pub const HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";
pub const CUSTOMER: i64 = 777_000_111;

/// The bridge with one Telegram channel (configured as `[[channels]]`, so it has durable
/// state) pointed at a fake Bot API.
pub struct Tg {
    pub app: TestApp,
    pub fake: FakeBotApi,
}

pub async fn spawn_tg(extra: Value) -> Tg {
    let fake = FakeBotApi::start().await.unwrap();
    let mut rest = json!({
        "bot_token_env": "E2E_TG_TOKEN",
        "webhook_secret_env": "E2E_TG_SECRET",
        "api_base": fake.base_url(),
    });
    for (key, value) in extra.as_object().cloned().unwrap_or_default() {
        rest[key] = value;
    }
    let mut entry = ChannelSettings::new(ID, "telegram", rest.as_object().cloned().unwrap());
    if let Some(cap) = entry
        .rest
        .remove("max_media_bytes")
        .and_then(|v| v.as_u64())
    {
        entry.max_media_bytes = cap;
    }
    let env = |name: &str| match name {
        "E2E_TG_TOKEN" => Some(FAKE_TOKEN.to_owned()),
        "E2E_TG_SECRET" => Some(SECRET.to_owned()),
        _ => None,
    };
    let app = spawn_app_with_env(|s| s.channels.push(entry), Vec::new(), Arc::new(env)).await;
    Tg { app, fake }
}

/// A customer's text update.
pub fn text_update(update_id: u32, message_id: i64, text: &str) -> Value {
    json!({"update_id": update_id, "message": {"message_id": message_id,
        "date": chrono::Utc::now().timestamp(), "text": text,
        "chat": {"id": CUSTOMER, "type": "private", "first_name": "Ada"},
        "from": {"id": CUSTOMER, "is_bot": false, "first_name": "Ada"}}})
}

pub async fn post(app: &TestApp, update: &Value, secret: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(&format!("/webhooks/{ID}")))
        .header("content-type", "application/json")
        .body(update.to_string());
    if let Some(secret) = secret {
        request = request.header(HEADER, secret);
    }
    request.send().await.unwrap()
}

/// The conversation of our customer's chat, if any.
pub async fn conversation(app: &TestApp) -> Option<String> {
    let list = app.conversation_list().await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["conversation"]["thread"] == CUSTOMER.to_string().as_str()
                && c["conversation"]["account"] == ID
        })
        .map(|c| c["id"].as_str().unwrap().to_owned())
}

/// The conversation, created by a customer's text.
pub async fn conversation_with_customer(tg: &Tg) -> String {
    let response = post(&tg.app, &text_update(1, 1, "hello"), Some(SECRET)).await;
    assert_eq!(response.status(), 200);
    conversation(&tg.app).await.expect("conversation")
}

/// Waits until `check` holds (10 s at most).
pub async fn until(mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_wrong_or_missing_secret_gets_401_and_nothing_is_stored() {
    let tg = spawn_tg(json!({})).await;
    let update = text_update(5, 5, "sneaky");
    for secret in [None, Some("e2e-tg_webhook-secreT"), Some("")] {
        let response = post(&tg.app, &update, secret).await;
        assert_eq!(response.status(), 401, "{secret:?}");
    }
    assert!(conversation(&tg.app).await.is_none());
    let garbage = tg
        .app
        .client
        .post(tg.app.url(&format!("/webhooks/{ID}")))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        garbage.status(),
        401,
        "the secret is checked before parsing"
    );
    tg.app.stop().await;
}

#[tokio::test]
async fn ten_concurrent_deliveries_of_one_update_give_one_event() {
    let tg = spawn_tg(json!({})).await;
    let update = text_update(42, 9, "once please");
    let deliveries = (0..10).map(|_| post(&tg.app, &update, Some(SECRET)));
    let answers = futures_util::future::join_all(deliveries).await;
    assert!(answers.iter().all(|a| a.status() == 200));
    let conversation = conversation(&tg.app).await.expect("conversation");
    let history = tg.app.history(&conversation).await;
    let copies: Vec<&Value> = history
        .iter()
        .filter(|e| e["provider_message_id"] == format!("{CUSTOMER}:9").as_str())
        .collect();
    assert_eq!(copies.len(), 1, "{history:#?}");
    assert_eq!(copies[0]["channel"], "telegram");
    assert_eq!(copies[0]["data"]["content"]["body"], "once please");
    tg.app.stop().await;
}

#[tokio::test]
async fn the_webhook_is_registered_at_start_with_our_url_and_secret() {
    let tg = spawn_tg(json!({})).await;
    until(|| tg.fake.webhook().is_some()).await;
    let hook = tg.fake.webhook().unwrap();
    assert_eq!(hook.url, format!("{}/webhooks/{ID}", tg.app.base));
    assert_eq!(hook.secret_token.as_deref(), Some(SECRET));
    assert_eq!(
        hook.allowed_updates,
        [
            "message",
            "edited_message",
            "callback_query",
            "my_chat_member"
        ]
    );
    let ready: Value = tg.app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["channels"][ID], "ok", "{ready}");
    tg.app.stop().await;
}

#[tokio::test]
async fn polling_delivers_updates_and_readyz_names_a_webhook_in_the_way() {
    let fake_hook = "https://someone-else.example/hook";
    let tg = spawn_tg(json!({"mode": "polling", "poll_timeout_secs": 1})).await;
    tg.fake.push_update(text_update(100, 100, "polled"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while conversation(&tg.app).await.is_none() {
        assert!(tokio::time::Instant::now() < deadline, "never polled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tg.fake.set_webhook(fake_hook);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let report = loop {
        let ready: Value = tg.app.get("/readyz").await.json().await.unwrap();
        if ready["channels"][ID] != "ok" {
            break ready;
        }
        assert!(tokio::time::Instant::now() < deadline, "{ready}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(report["status"], "degraded");
    assert_eq!(
        report["channels"][ID]["error"], "webhook_conflict",
        "{report}"
    );
    assert!(!report.to_string().contains(FAKE_TOKEN));
    assert_eq!(
        tg.fake.webhook().unwrap().url,
        fake_hook,
        "never deleted unasked"
    );
    tg.app.stop().await;
}

#[tokio::test]
async fn inbound_media_is_fetched_with_get_file_stored_and_sent_back_by_reference() {
    let tg = spawn_tg(json!({})).await;
    tg.fake.add_file("doc-e2e", b"%PDF-1.7 invoice");
    let update = json!({"update_id": 7, "message": {"message_id": 7, "date": 1_700_000_000,
        "chat": {"id": CUSTOMER, "type": "private"}, "from": {"id": CUSTOMER, "is_bot": false, "first_name": "Ada"},
        "document": {"file_id": "doc-e2e", "file_unique_id": "u", "file_name": "invoice.pdf",
            "mime_type": "application/pdf", "file_size": 16}, "caption": "my invoice"}});
    assert_eq!(post(&tg.app, &update, Some(SECRET)).await.status(), 200);
    let conversation = conversation(&tg.app).await.unwrap();
    let history = tg
        .app
        .wait_for_history(&conversation, |events| {
            events.iter().any(|e| e["type"] == "media.stored")
        })
        .await;
    let stored = history
        .iter()
        .find(|e| e["type"] == "media.stored")
        .unwrap();
    assert_eq!(stored["data"]["media"]["mime_type"], "application/pdf");
    assert_eq!(tg.fake.downloads(), 1);

    // Sent back by stored media reference: a document upload after the text.
    let media_id = stored["data"]["media"]["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let response = tg
        .app
        .send_message(
            &conversation,
            json!({"text": "Your invoice", "attachments": [{"media_id": media_id, "filename": "copy.pdf"}]}),
        )
        .await;
    assert_eq!(response.status(), 202, "{:?}", response.text().await);
    until(|| !tg.fake.accepted("sendDocument").is_empty()).await;
    let document = &tg.fake.accepted("sendDocument")[0];
    assert_eq!(document["document"]["file_name"], "copy.pdf");
    assert_eq!(document["document"]["size"], 16);
    tg.app.stop().await;
}

fn document(update_id: u32, file_id: &str, size: u64) -> Value {
    json!({"update_id": update_id, "message": {"message_id": update_id, "date": 1_700_000_000,
        "chat": {"id": CUSTOMER, "type": "private"}, "from": {"id": CUSTOMER, "is_bot": false, "first_name": "Ada"},
        "document": {"file_id": file_id, "file_unique_id": file_id, "file_name": format!("{file_id}.pdf"),
            "mime_type": "application/pdf", "file_size": size}}})
}

#[tokio::test]
async fn media_over_the_cap_or_gone_fails_alone_without_a_download() {
    let tg = spawn_tg(json!({"max_media_bytes": 100})).await;
    tg.fake.add_file("small", b"%PDF-1.7 ok");
    for update in [
        document(11, "huge", 5_000_000),
        document(12, "gone", 10),
        document(13, "small", 11),
    ] {
        assert_eq!(post(&tg.app, &update, Some(SECRET)).await.status(), 200);
    }
    let conversation = conversation(&tg.app).await.unwrap();
    let history = tg
        .app
        .wait_for_history(&conversation, |events| {
            events
                .iter()
                .filter(|e| e["type"] == "media.failed")
                .count()
                == 2
                && events.iter().any(|e| e["type"] == "media.stored")
        })
        .await;
    let failed: Vec<&Value> = history
        .iter()
        .filter(|e| e["type"] == "media.failed")
        .collect();
    let code_of = |id: &str| {
        failed
            .iter()
            .find(|e| e["data"]["media"]["provider_media_id"] == id)
            .map(|e| e["data"]["code"].clone())
    };
    assert_eq!(code_of("huge"), Some(json!("media_too_large")));
    assert_eq!(code_of("gone"), Some(json!("bad_request")));
    let stored = history
        .iter()
        .find(|e| e["type"] == "media.stored")
        .unwrap();
    assert_eq!(stored["data"]["media"]["provider_media_id"], "small");
    assert_eq!(tg.fake.downloads(), 1, "only the small file was downloaded");
    assert!(
        !tg.fake
            .calls()
            .iter()
            .any(|c| c.method == "getFile" && c.params["file_id"] == "huge"),
        "the size in the update refused it before getFile"
    );
    tg.app.stop().await;
}
