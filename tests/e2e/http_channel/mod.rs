//! The no-code `http` channel through the whole bridge, configured only as a `[[channels]]`
//! table: an SMS gateway's signed batches in, templated and signed JSON out to a local
//! receiver, retries and dead letters by status code, mapped status callbacks, and buttons
//! as numbered text whose number comes back as the button's action.

mod receiver;

use std::sync::Arc;
use std::time::Duration;

use omnibridge::config::ChannelSettings;
use omnibridge_http_channel::SignatureEncoding;
use omnibridge_http_channel::signature::{sign_webhook, verify};
use serde_json::{Value, json};

use self::receiver::{Answer, Receiver};
use crate::helpers::{TestApp, spawn_app_with_env, types};
use crate::whatsapp::{send, settled};

const ID: &str = "sms";
const INBOUND_SECRET: &str = "gateway-webhook-secret";
const OUT_SECRET: &str = "bridge-to-gateway-secret";
const AUTH: &str = "Basic Z2F0ZXdheTprZXk=";
const CUSTOMER: &str = "+15550199";

/// An SMS gateway's shape: batches under `messages`, hex HMAC with a `sha256=` prefix,
/// a JSON send API answering `{"message": {"id": ...}}`, and `DELIVRD`-style statuses.
fn sms_table(url: &str) -> Value {
    json!({
        "inbound": {
            "secret_env": "E2E_SMS_SECRET",
            "signature_header": "X-Gateway-Signature",
            "signature": "hmac-sha256-hex",
            "signature_prefix": "sha256=",
            "signed_payload": "body",
            "items": "/messages",
            "message_id": "/id",
            "sender_id": "/from",
            "text": "/text",
            "timestamp": "/received_at"
        },
        "outbound": {
            "url": url,
            "auth_header_env": "E2E_SMS_AUTH",
            "body": "{\"to\": {{json to}}, \"text\": {{json text}}, \"ref\": {{json outbound_id}}}",
            "secret_env": "E2E_SMS_OUT_SECRET",
            "signature_header": "X-Omnibridge-Signature",
            "provider_message_id": "/message/id"
        },
        "status": {
            "message_id": "/message_id",
            "status": "/state",
            "map": {"DELIVRD": "delivered", "UNDELIV": "failed"}
        },
        "capabilities": {"max_text_len": 160, "buttons": false, "media": false}
    })
}

struct Sms {
    app: TestApp,
    receiver: Receiver,
}

async fn spawn_sms() -> Sms {
    let receiver = Receiver::start().await;
    let table = sms_table(&receiver.url("/send"));
    let entry = ChannelSettings::new(ID, "http", table.as_object().cloned().unwrap());
    let env = |name: &str| match name {
        "E2E_SMS_SECRET" => Some(INBOUND_SECRET.to_owned()),
        "E2E_SMS_AUTH" => Some(AUTH.to_owned()),
        "E2E_SMS_OUT_SECRET" => Some(OUT_SECRET.to_owned()),
        _ => None,
    };
    let app = spawn_app_with_env(|s| s.channels.push(entry), Vec::new(), Arc::new(env)).await;
    Sms { app, receiver }
}

fn signature(body: &[u8]) -> String {
    sign_webhook(
        INBOUND_SECRET.as_bytes(),
        SignatureEncoding::HmacSha256Hex,
        Some("sha256="),
        None,
        body,
    )
}

/// Posts `body` to `/webhooks/sms{path}` with `signature` (none: unsigned).
async fn post(app: &TestApp, path: &str, body: &Value, signature: Option<String>) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let mut request = app
        .client
        .post(app.url(&format!("/webhooks/{ID}{path}")))
        .header("content-type", "application/json")
        .body(bytes);
    if let Some(signature) = signature {
        request = request.header("X-Gateway-Signature", signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post_signed(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let sig = signature(&serde_json::to_vec(body).unwrap());
    post(app, path, body, Some(sig)).await
}

fn batch(ids: &[&str]) -> Value {
    let messages: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| {
            json!({"id": id, "from": CUSTOMER, "text": format!("message {n}"),
                   "received_at": 1_765_000_000 + n})
        })
        .collect();
    json!({ "messages": messages })
}

/// The conversation the customer's first message opened.
async fn conversation(app: &TestApp) -> String {
    let list = app.conversation_list().await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["conversation"]["thread"] == CUSTOMER)
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .expect("the customer's conversation")
}

async fn conversation_with_customer(sms: &Sms) -> String {
    let (status, _) = post_signed(&sms.app, "", &batch(&["first"])).await;
    assert_eq!(status, 200);
    conversation(&sms.app).await
}

#[tokio::test]
async fn a_signed_batch_of_three_is_three_events_once_and_a_bad_signature_stores_nothing() {
    let sms = spawn_sms().await;
    let body = batch(&["m1", "m2", "m3"]);
    let wrong = sign_webhook(
        b"not-the-secret",
        SignatureEncoding::HmacSha256Hex,
        Some("sha256="),
        None,
        &serde_json::to_vec(&body).unwrap(),
    );
    let (status, problem) = post(&sms.app, "", &body, Some(wrong)).await;
    assert_eq!(status, 401, "{problem}");
    let (status, _) = post(&sms.app, "", &body, None).await;
    assert_eq!(status, 401);
    assert_eq!(sms.app.conversation_list().await["data"], json!([]));

    let (status, answer) = post_signed(&sms.app, "", &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 3);
    let (status, again) = post_signed(&sms.app, "", &body).await;
    assert_eq!(status, 200);
    assert_eq!(again["accepted"], 0, "{again}");
    assert_eq!(again["duplicates"], 3, "{again}");

    let events = sms.app.history(&conversation(&sms.app).await).await;
    let received: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "message.received")
        .collect();
    assert_eq!(received.len(), 3, "{events:#?}");
    assert_eq!(received[1]["data"]["content"]["body"], "message 1");
    assert_eq!(received[1]["sender"]["id"], CUSTOMER);
    assert_eq!(received[2]["provider_message_id"], "m3");
    sms.app.stop().await;
}

#[tokio::test]
async fn an_item_without_its_sender_is_refused_with_422_naming_the_pointer() {
    let sms = spawn_sms().await;
    let body = json!({"messages": [
        {"id": "ok-1", "from": CUSTOMER, "text": "fine"},
        {"id": "bad-1", "text": "who am I"}
    ]});
    let (status, problem) = post_signed(&sms.app, "", &body).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "unprocessable_item", "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("/from"),
        "{problem}"
    );
    assert_eq!(sms.app.conversation_list().await["data"], json!([]));
    sms.app.stop().await;
}

#[tokio::test]
async fn a_reply_arrives_as_the_templated_json_escaped_and_signed() {
    let sms = spawn_sms().await;
    let conversation = conversation_with_customer(&sms).await;
    sms.receiver
        .answer(Answer::json(200, json!({"message": {"id": "gw-77"}})));
    let text = "He said \"pay\" \\ now\nline two\ttab 🙂✓";
    let (status, accepted) = send(&sms.app, &conversation, json!({"text": text})).await;
    assert_eq!(status, 202, "{accepted}");
    let outbound_id = accepted["outbound_id"].as_str().unwrap().to_owned();
    assert_eq!(settled(&sms.app, &outbound_id).await["state"], "sent");

    let requests = sms.receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    let body: Value = serde_json::from_slice(&request.body).expect("the body is JSON");
    assert_eq!(
        body,
        json!({"to": CUSTOMER, "text": text, "ref": outbound_id})
    );
    assert_eq!(request.header("authorization").as_deref(), Some(AUTH));
    let signed = request.header("x-omnibridge-signature").unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(verify(
        OUT_SECRET.as_bytes(),
        &signed,
        &request.body,
        now,
        300
    ));
    assert!(!verify(b"other", &signed, &request.body, now, 300));
    sms.app.stop().await;
}

#[tokio::test]
async fn a_503_with_retry_after_is_retried_after_at_least_that_long() {
    let sms = spawn_sms().await;
    let conversation = conversation_with_customer(&sms).await;
    sms.receiver.answer(Answer::status(503).retry_after(1));
    sms.receiver
        .answer(Answer::json(200, json!({"message": {"id": "gw-2"}})));
    let (_, accepted) = send(&sms.app, &conversation, json!({"text": "patience"})).await;
    let outbound_id = accepted["outbound_id"].as_str().unwrap().to_owned();
    let outbound = settled(&sms.app, &outbound_id).await;
    assert_eq!(outbound["state"], "sent", "{outbound}");
    let requests = sms.receiver.requests();
    assert_eq!(requests.len(), 2);
    let waited = requests[1].at.duration_since(requests[0].at);
    assert!(waited >= Duration::from_secs(1), "resent after {waited:?}");
    sms.app.stop().await;
}

#[tokio::test]
async fn a_400_is_dead_lettered_with_a_failed_delivery_carrying_the_status_and_an_excerpt() {
    let sms = spawn_sms().await;
    let conversation = conversation_with_customer(&sms).await;
    let answer = format!(
        "{{\"error\": \"invalid destination\", \"pad\": \"{}\"}}",
        "x".repeat(2000)
    );
    sms.receiver.answer(Answer::raw(400, answer));
    let (_, accepted) = send(&sms.app, &conversation, json!({"text": "hi"})).await;
    let outbound_id = accepted["outbound_id"].as_str().unwrap().to_owned();
    let outbound = settled(&sms.app, &outbound_id).await;
    assert_eq!(outbound["state"], "dead", "{outbound}");
    assert_eq!(outbound["attempts"], 1, "{outbound}");
    let events = sms
        .app
        .wait_for_history(&conversation, |events| {
            events
                .iter()
                .any(|e| e["type"] == "delivery.updated" && e["data"]["status"] == "failed")
        })
        .await;
    let failed = events
        .iter()
        .find(|e| e["type"] == "delivery.updated" && e["data"]["status"] == "failed")
        .unwrap();
    assert_eq!(failed["data"]["outbound_id"], outbound_id.as_str());
    assert_eq!(failed["data"]["code"], "http_400", "{failed}");
    let reason = failed["data"]["reason"].as_str().unwrap();
    assert!(reason.contains("invalid destination"), "{failed}");
    assert!(reason.len() < 600, "the excerpt is bounded: {failed}");
    assert_eq!(sms.receiver.requests().len(), 1, "never retried");
    sms.app.stop().await;
}

#[tokio::test]
async fn a_mapped_status_callback_moves_the_message_to_delivered() {
    let sms = spawn_sms().await;
    let conversation = conversation_with_customer(&sms).await;
    sms.receiver
        .answer(Answer::json(200, json!({"message": {"id": "gw-9"}})));
    let (_, accepted) = send(&sms.app, &conversation, json!({"text": "track me"})).await;
    let outbound_id = accepted["outbound_id"].as_str().unwrap().to_owned();
    assert_eq!(settled(&sms.app, &outbound_id).await["state"], "sent");

    let callback = json!({"message_id": "gw-9", "state": "DELIVRD", "to": CUSTOMER});
    let (status, _) = post(&sms.app, "/status", &callback, Some("sha256=00".into())).await;
    assert_eq!(status, 401, "status callbacks are signed like inbound");
    let (status, answer) = post_signed(&sms.app, "/status", &callback).await;
    assert_eq!(status, 200, "{answer}");
    let delivered = sms
        .app
        .wait_for_history(&conversation, |events| {
            events.iter().any(|e| {
                e["type"] == "delivery.updated"
                    && e["data"]["status"] == "delivered"
                    && e["data"]["outbound_id"] == outbound_id.as_str()
            })
        })
        .await;
    assert!(types(&delivered).contains(&"delivery.updated".to_owned()));
    let outbound = settled(&sms.app, &outbound_id).await;
    assert_eq!(outbound["delivery"], "delivered", "{outbound}");
    sms.app.stop().await;
}

#[tokio::test]
async fn buttons_go_out_as_numbered_text_and_the_customer_s_number_comes_back_as_the_action() {
    let sms = spawn_sms().await;
    let conversation = conversation_with_customer(&sms).await;
    sms.receiver
        .answer(Answer::json(200, json!({"message": {"id": "gw-b"}})));
    let (status, accepted) = send(
        &sms.app,
        &conversation,
        json!({"text": "Shall we ship it?", "buttons": [
            {"label": "Ship now", "payload": "ship"},
            {"label": "Wait a week", "payload": "wait"},
            {"label": "Track", "url": "https://acme.test/track"}
        ]}),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let outbound_id = accepted["outbound_id"].as_str().unwrap().to_owned();
    assert_eq!(settled(&sms.app, &outbound_id).await["state"], "sent");
    let sent: Value = serde_json::from_slice(&sms.receiver.requests()[0].body).unwrap();
    let text = sent["text"].as_str().unwrap();
    assert!(
        text.contains("1. Ship now\n2. Wait a week"),
        "numbered: {text:?}"
    );

    let answer = json!({"messages": [{"id": "reply-2", "from": CUSTOMER, "text": " 2 "}]});
    let (status, _) = post_signed(&sms.app, "", &answer).await;
    assert_eq!(status, 200);
    let other = json!({"messages": [{"id": "reply-9", "from": CUSTOMER, "text": "9"}]});
    post_signed(&sms.app, "", &other).await;
    let events = sms
        .app
        .wait_for_history(&conversation, |events| {
            events.iter().any(|e| e["provider_message_id"] == "reply-9")
        })
        .await;
    let action = events
        .iter()
        .find(|e| e["provider_message_id"] == "reply-2")
        .unwrap();
    assert_eq!(action["type"], "action.invoked", "{action}");
    assert_eq!(action["data"]["payload"], "wait");
    assert_eq!(action["data"]["label"], "Wait a week");
    let out_of_range = events
        .iter()
        .find(|e| e["provider_message_id"] == "reply-9")
        .unwrap();
    assert_eq!(out_of_range["type"], "message.received", "no option 9");
    sms.app.stop().await;
}
