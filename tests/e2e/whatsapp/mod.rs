//! WhatsApp through the bridge's generic webhook route: signed batches land on the bus once,
//! bad signatures store nothing, the GET handshake answers Meta's challenge.

mod media;
mod outbound;
mod pay;
mod statuses;
mod window;

use std::sync::Arc;
use std::time::Duration;

use omnibridge::channels::ChannelFactories;
use omnibridge::config::ChannelSettings;
use omnibridge_whatsapp::fake::{FAKE_TOKEN, FakeGraph};
use omnibridge_whatsapp::inbound::sign;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with_channels};

const ID: &str = "acme-wa";
pub const PN: &str = "106540352242922";
const APP_SECRET: &str = "e2e-app-secret";
const VERIFY: &str = "e2e-verify-token";

/// The bridge with one WhatsApp channel pointed at a fake Graph API.
pub struct Wa {
    pub app: TestApp,
    pub fake: FakeGraph,
}

async fn spawn() -> TestApp {
    spawn_wa(json!({})).await.app
}

/// A bridge whose WhatsApp channel has these extra config keys (`template_mappings`...).
/// The channel is built from its `[[channels]]` table as the bridge builds it, with secrets
/// from a test env, and registered in code (so its media cap is the default 16 MiB).
pub async fn spawn_wa(extra: Value) -> Wa {
    spawn_wa_with(extra, |_| {}).await
}

/// Like [`spawn_wa`], with the bridge's settings adjusted by `configure`.
pub async fn spawn_wa_with(
    extra: Value,
    configure: impl FnOnce(&mut omnibridge::config::Settings),
) -> Wa {
    let fake = FakeGraph::start().await.unwrap();
    let mut rest = json!({
        "phone_number_id": PN,
        "access_token_env": "E2E_WA_TOKEN",
        "app_secret_env": "E2E_WA_SECRET",
        "verify_token_env": "E2E_WA_VERIFY",
        "api_base": fake.base_url(),
    });
    for (key, value) in extra.as_object().cloned().unwrap_or_default() {
        rest[key] = value;
    }
    let settings = ChannelSettings::new(ID, "whatsapp", rest.as_object().cloned().unwrap());
    let env = |name: &str| match name {
        "E2E_WA_TOKEN" => Some(FAKE_TOKEN.to_owned()),
        "E2E_WA_SECRET" => Some(APP_SECRET.to_owned()),
        "E2E_WA_VERIFY" => Some(VERIFY.to_owned()),
        _ => None,
    };
    let cx =
        omnibridge_sdk::ChannelContext::new(ID, "http://127.0.0.1").with_secrets(Arc::new(env));
    let channel = ChannelFactories::builtin().build(&settings, &cx).unwrap();
    let app = spawn_app_with_channels(configure, vec![(ID.to_owned(), Arc::clone(&channel))]).await;
    Wa { app, fake }
}

/// One Cloud API webhook: `messages` and `statuses` in one change of one entry.
pub fn envelope(customer: &str, messages: Vec<Value>, statuses: Vec<Value>) -> Vec<u8> {
    let mut value = json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PN},
        "contacts": [{"profile": {"name": "Sheena"}, "wa_id": customer}]});
    if !messages.is_empty() {
        value["messages"] = Value::Array(messages);
    }
    if !statuses.is_empty() {
        value["statuses"] = Value::Array(statuses);
    }
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
        "changes": [{"field": "messages", "value": value}]}]})
    .to_string()
    .into_bytes()
}

/// A customer's text `age` ago.
pub fn text_message(customer: &str, id: &str, age: Duration) -> Value {
    let at = chrono::Utc::now().timestamp() - age.as_secs() as i64;
    json!({"from": customer, "id": id, "timestamp": at.to_string(), "type": "text",
        "text": {"body": format!("hello {id}")}})
}

/// A status of our message `wamid`.
pub fn status(customer: &str, wamid: &str, status: &str) -> Value {
    json!({"id": wamid, "status": status, "timestamp": chrono::Utc::now().timestamp().to_string(),
        "recipient_id": customer})
}

/// Posts `body` signed with the app secret; asserts 200.
pub async fn post_signed(app: &TestApp, body: Vec<u8>) {
    let signature = sign(APP_SECRET.as_bytes(), &body);
    let response = post(app, body, Some(signature)).await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

/// The conversation of `customer`, created by a text the customer sent `age` ago.
pub async fn conversation_with(app: &TestApp, customer: &str, age: Duration) -> String {
    let id = format!("wamid.IN{customer}{}", age.as_secs());
    post_signed(
        app,
        envelope(customer, vec![text_message(customer, &id, age)], vec![]),
    )
    .await;
    conversation_of(app, customer).await.expect("conversation")
}

/// Polls `GET /v1/outbound/{id}` until it is no longer pending (10 s at most).
pub async fn settled(app: &TestApp, outbound: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let body: Value = app
            .get(&format!("/v1/outbound/{outbound}"))
            .await
            .json()
            .await
            .unwrap();
        if body["state"] != "pending" {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still pending: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Posts a message; returns (status, body).
pub async fn send(app: &TestApp, conversation: &str, body: Value) -> (u16, Value) {
    let response = app.send_message(conversation, body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn webhook(customer: &str, ids: &[&str]) -> Vec<u8> {
    let messages: Vec<Value> = ids
        .iter()
        .map(|id| {
            json!({"from": customer, "id": id, "timestamp": "1749416383", "type": "text",
                         "text": {"body": format!("hello {id}")}})
        })
        .collect();
    envelope(customer, messages, vec![])
}

async fn post(app: &TestApp, body: Vec<u8>, signature: Option<String>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(&format!("/webhooks/{ID}")))
        .header("content-type", "application/json")
        .body(body);
    if let Some(signature) = signature {
        request = request.header("x-hub-signature-256", signature);
    }
    request.send().await.unwrap()
}

async fn conversation_of(app: &TestApp, customer: &str) -> Option<String> {
    let list = app.conversation_list().await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["conversation"]["thread"] == customer && c["conversation"]["account"] == PN)
        .map(|c| c["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn signed_batches_land_once_even_when_redelivered_concurrently() {
    let app = spawn().await;
    let body = webhook("16505551234", &["wamid.E1", "wamid.E2"]);
    let signature = sign(APP_SECRET.as_bytes(), &body);
    let deliveries = (0..10).map(|_| post(&app, body.clone(), Some(signature.clone())));
    let answers = futures_util::future::join_all(deliveries).await;
    assert!(answers.iter().all(|a| a.status() == 200));
    let conversation = conversation_of(&app, "16505551234")
        .await
        .expect("conversation");
    let history = app.history(&conversation).await;
    for id in ["wamid.E1", "wamid.E2"] {
        let copies: Vec<&Value> = history
            .iter()
            .filter(|e| e["provider_message_id"] == id)
            .collect();
        assert_eq!(copies.len(), 1, "{id}: {history:#?}");
        assert_eq!(copies[0]["type"], "message.received");
        assert_eq!(copies[0]["channel"], "whatsapp");
        assert_eq!(copies[0]["data"]["content"]["body"], format!("hello {id}"));
        assert_eq!(copies[0]["sender"]["display_name"], "Sheena");
    }
    app.stop().await;
}

#[tokio::test]
async fn bad_or_missing_signatures_get_401_and_store_nothing() {
    let app = spawn().await;
    let body = webhook("447700900123", &["wamid.X1"]);
    let wrong = sign(b"not the app secret", &body);
    assert_eq!(post(&app, body.clone(), Some(wrong)).await.status(), 401);
    assert_eq!(post(&app, body.clone(), None).await.status(), 401);
    let mut tampered = body.clone();
    tampered.push(b' ');
    let signature = sign(APP_SECRET.as_bytes(), &body);
    assert_eq!(post(&app, tampered, Some(signature)).await.status(), 401);
    assert!(conversation_of(&app, "447700900123").await.is_none());
    app.stop().await;
}

#[tokio::test]
async fn the_get_handshake_answers_the_challenge() {
    let app = spawn().await;
    let url = |token: &str| {
        app.url(&format!(
            "/webhooks/{ID}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
        ))
    };
    let ok = app.client.get(url(VERIFY)).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let refused = app.client.get(url("wrong")).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    app.stop().await;
}

#[tokio::test]
async fn a_shared_contact_keeps_its_wa_id() {
    let app = spawn().await;
    let customer = "16505550050";
    let card = json!({"from": customer, "id": "wamid.CARD1", "timestamp": "1749416383",
        "type": "contacts", "contacts": [{"name": {"formatted_name": "Barbara J. Johnson"},
        "phones": [{"phone": "+1 (940) 555-1234", "type": "HOME", "wa_id": "19405551234"}]}]});
    post_signed(&app, envelope(customer, vec![card], vec![])).await;
    let conversation = conversation_of(&app, customer).await.expect("conversation");
    let history = app.history(&conversation).await;
    let content = &history[0]["data"]["content"];
    assert_eq!(content["kind"], "contact", "{history:#?}");
    assert_eq!(content["phones"], json!(["+1 (940) 555-1234"]));
    assert_eq!(content["user_id"], "19405551234", "the card's wa_id");
    app.stop().await;
}
