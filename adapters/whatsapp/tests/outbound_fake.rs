//! Outbound shapes against the fake Graph API, and Graph errors → `ChannelError`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use omnibridge_sdk::{
    Button, Channel, ChannelError, ConversationRef, OutboundId, OutboundMessage, ProviderMessageId,
};
use omnibridge_whatsapp::fake::{FAKE_TOKEN, Failure, FakeGraph};
use omnibridge_whatsapp::{
    ButtonParam, TemplateMapping, WhatsAppChannel, WhatsAppConfig, WhatsAppSecrets,
};
use serde_json::{Value, json};

const PN: &str = "106540352242922";
const CUSTOMER: &str = "16505551234";

fn channel_with(
    fake: &FakeGraph,
    config: impl FnOnce(WhatsAppConfig) -> WhatsAppConfig,
) -> WhatsAppChannel {
    let config = config(WhatsAppConfig::new(PN).with_api_base(fake.base_url()));
    WhatsAppChannel::new(config, WhatsAppSecrets::new(FAKE_TOKEN, "secret", "verify")).unwrap()
}

fn message(text: &str) -> OutboundMessage {
    OutboundMessage::text(
        OutboundId::new("ob_1"),
        ConversationRef::new(PN, CUSTOMER),
        text,
    )
}

fn payload_buttons(n: usize) -> Vec<Button> {
    (1..=n)
        .map(|i| Button::payload(format!("Option {i}"), format!("opt:{i}")))
        .collect()
}

#[tokio::test]
async fn text_reply_is_accepted_and_returns_the_wamid() {
    let fake = FakeGraph::start().await.unwrap();
    let channel = channel_with(&fake, |c| c);
    let mut msg = message("Hello *there*");
    msg.reply_to = Some(ProviderMessageId::new("wamid.IN1"));
    let receipt = channel.send(&msg).await.unwrap();
    assert_eq!(
        receipt.provider_message_id.unwrap().as_str(),
        "wamid.FAKE00000001"
    );
    let requests = fake.requests();
    assert_eq!(requests[0].phone_number_id, PN);
    assert_eq!(
        requests[0].body,
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
               "context": {"message_id": "wamid.IN1"}, "type": "text",
               "text": {"body": "Hello *there*", "preview_url": false}})
    );
}

#[tokio::test]
async fn three_buttons_stay_reply_buttons_and_four_become_a_list() {
    let fake = FakeGraph::start().await.unwrap();
    let channel = channel_with(&fake, |c| c);
    channel
        .send(&message("Pick one").with_buttons(payload_buttons(3)))
        .await
        .unwrap();
    channel
        .send(&message("Pick one").with_buttons(payload_buttons(4)))
        .await
        .unwrap();
    let sent = fake.accepted();
    assert_eq!(sent.len(), 2, "{:#?}", fake.requests());
    let buttons = &sent[0]["interactive"];
    assert_eq!(buttons["type"], "button");
    assert_eq!(buttons["action"]["buttons"].as_array().unwrap().len(), 3);
    assert_eq!(
        buttons["action"]["buttons"][0],
        json!({"type": "reply", "reply": {"id": "opt:1", "title": "Option 1"}})
    );
    let list = &sent[1]["interactive"];
    assert_eq!(list["type"], "list");
    assert_eq!(list["action"]["button"], "Options");
    assert_eq!(
        list["action"]["sections"][0]["rows"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(list["action"]["sections"][0]["rows"][3]["id"], "opt:4");
}

#[tokio::test]
async fn url_buttons_become_text_lines_and_long_bodies_go_first() {
    let fake = FakeGraph::start().await.unwrap();
    let channel = channel_with(&fake, |c| c);
    let buttons = vec![Button::url("Receipt", "https://example.com/r/1")];
    channel
        .send(&message("Paid.").with_buttons(buttons))
        .await
        .unwrap();
    let long = "x".repeat(1500);
    channel
        .send(&message(&long).with_buttons(payload_buttons(2)))
        .await
        .unwrap();
    let sent = fake.accepted();
    assert_eq!(
        sent[0]["text"]["body"],
        "Paid.\nReceipt: https://example.com/r/1"
    );
    assert_eq!(sent[0]["text"]["preview_url"], true);
    assert_eq!(sent[1]["type"], "text");
    assert_eq!(sent[2]["type"], "interactive");
    assert_eq!(sent[2]["interactive"]["body"]["text"], "Please choose:");
}

#[tokio::test]
async fn the_fake_refuses_what_meta_refuses() {
    let fake = FakeGraph::start().await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/v21.0/{PN}/messages", fake.base_url());
    let too_many = json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "interactive",
        "interactive": {"type": "button", "body": {"text": "b"}, "action": {"buttons":
            (1..=4).map(|i| json!({"type": "reply", "reply": {"id": i.to_string(), "title": i.to_string()}})).collect::<Vec<_>>()}}});
    let long_title = json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "interactive",
        "interactive": {"type": "button", "body": {"text": "b"}, "action": {"buttons":
            [{"type": "reply", "reply": {"id": "1", "title": "this title is far too long"}}]}}});
    let no_to = json!({"messaging_product": "whatsapp", "type": "text", "text": {"body": "hi"}});
    for body in [too_many, long_title, no_to] {
        let answer = client
            .post(&url)
            .bearer_auth(FAKE_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400);
        let error: Value = answer.json().await.unwrap();
        assert!(error["error"]["code"].as_i64().is_some());
        assert!(error["error"]["fbtrace_id"].is_string());
    }
    let unauthenticated = client.post(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
}

#[tokio::test]
async fn graph_errors_map_to_what_the_outbox_does_next() {
    let fake = FakeGraph::start().await.unwrap();
    let channel = channel_with(&fake, |c| c);
    let msg = message("hi");
    fake.fail_next(Failure::RateLimited(Some(7)));
    let limited = channel.send(&msg).await.unwrap_err();
    assert!(matches!(limited, ChannelError::RateLimited { .. }));
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(7)));
    fake.fail_next(Failure::TemplateMissing);
    assert!(
        matches!(channel.send(&msg).await, Err(ChannelError::Rejected { code, .. }) if code == "132001")
    );
    fake.fail_next(Failure::WindowClosed);
    match channel.send(&msg).await {
        Err(ChannelError::Rejected { code, reason }) => {
            assert_eq!(code, omnibridge_sdk::REPLY_WINDOW_CLOSED);
            assert!(reason.contains("131047"), "{reason}");
        }
        other => panic!("expected window closed, got {other:?}"),
    }
    fake.fail_next(Failure::TokenExpired);
    assert!(
        matches!(channel.send(&msg).await, Err(ChannelError::Rejected { code, .. }) if code == "190")
    );
    fake.fail_next(Failure::ServerError);
    assert!(matches!(
        channel.send(&msg).await,
        Err(ChannelError::Transient(_))
    ));
    fake.fail_next(Failure::Code {
        status: 400,
        code: 100,
    });
    assert!(
        matches!(channel.send(&msg).await, Err(ChannelError::Rejected { code, .. }) if code == "100")
    );
    assert!(channel.send(&msg).await.is_ok(), "the script is used up");
}

#[tokio::test]
async fn a_wrong_token_is_rejected_and_network_errors_are_transient() {
    let fake = FakeGraph::start().await.unwrap();
    let config = WhatsAppConfig::new(PN).with_api_base(fake.base_url());
    let wrong = WhatsAppChannel::new(config, WhatsAppSecrets::new("stale", "s", "v")).unwrap();
    assert!(
        matches!(wrong.send(&message("hi")).await, Err(ChannelError::Rejected { code, .. }) if code == "190")
    );
    let config = WhatsAppConfig::new(PN).with_api_base("http://127.0.0.1:9");
    let offline = WhatsAppChannel::new(config, WhatsAppSecrets::new("t", "s", "v")).unwrap();
    assert!(
        offline
            .send(&message("hi"))
            .await
            .unwrap_err()
            .is_retryable()
    );
}

fn pay_mapping() -> TemplateMapping {
    TemplateMapping::new("payment_request_v2", "en_US")
        .with_body_params(&["data.amount", "data.merchant"])
        .with_button_param(ButtonParam::quick_reply("button.0"))
}

fn pay_message() -> OutboundMessage {
    let mut msg = message("Pay $12.00 to Acme?").with_buttons(vec![
        Button::payload("Pay $12.00", "pay:pi_1"),
        Button::payload("Cancel", "cancel:pi_1"),
    ]);
    msg.template = Some("payment_request".into());
    msg
}

#[tokio::test]
async fn window_closed_falls_back_to_the_mapped_template() {
    let fake = FakeGraph::start().await.unwrap();
    fake.approve_template("payment_request_v2", 0);
    let mapping = TemplateMapping::new("payment_request_v2", "en_US")
        .with_button_param(ButtonParam::quick_reply("button.0"));
    let channel = channel_with(&fake, |c| c.with_template("payment_request", mapping));
    fake.fail_next(Failure::WindowClosed);
    let receipt = channel.send(&pay_message()).await.unwrap();
    assert!(receipt.provider_message_id.is_some());
    let sent = fake.accepted();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0]["template"],
        json!({"name": "payment_request_v2", "language": {"code": "en_US"}, "components": [
            {"type": "button", "sub_type": "quick_reply", "index": "0",
             "parameters": [{"type": "payload", "payload": "pay:pi_1"}]}]})
    );
    let mut part_two = pay_message();
    part_two.id = OutboundId::new("ob_1.2");
    channel.send(&part_two).await.unwrap();
    assert_eq!(
        fake.accepted().len(),
        1,
        "later parts of a templated message are skipped"
    );
}

#[tokio::test]
async fn send_template_fills_data_parameters_and_the_gap_is_meta_s_132000() {
    let fake = FakeGraph::start().await.unwrap();
    fake.approve_template("payment_request_v2", 2);
    let channel = channel_with(&fake, |c| c.with_template("payment_request", pay_mapping()));
    let data = json!({"amount": "$12.00", "merchant": "Acme"});
    channel
        .send_template(&pay_message(), Some(&data))
        .await
        .unwrap();
    let sent = fake.accepted();
    assert_eq!(
        sent[0]["template"]["components"][0],
        json!({"type": "body", "parameters": [{"type": "text", "text": "$12.00"}, {"type": "text", "text": "Acme"}]})
    );
    let without = channel
        .send_template(&pay_message(), None)
        .await
        .unwrap_err();
    assert_eq!(without.code(), "132000");
    let mut unmapped = pay_message();
    unmapped.template = Some("other".into());
    assert_eq!(
        channel
            .send_template(&unmapped, None)
            .await
            .unwrap_err()
            .code(),
        "no_template_mapping"
    );
}

#[tokio::test]
async fn always_mappings_send_the_template_inside_the_window_too() {
    let fake = FakeGraph::start().await.unwrap();
    let mut mapping = TemplateMapping::new("receipt_v1", "en");
    mapping.always = true;
    let channel = channel_with(&fake, |c| c.with_template("payment_receipt", mapping));
    let mut msg = message("Thanks!");
    msg.template = Some("payment_receipt".into());
    channel.send(&msg).await.unwrap();
    assert_eq!(fake.accepted()[0]["type"], "template");
}

#[tokio::test]
async fn mark_read_and_the_two_step_media_download() {
    let fake = FakeGraph::start().await.unwrap();
    let channel = channel_with(&fake, |c| c);
    channel.mark_read("wamid.IN1").await.unwrap();
    assert_eq!(
        fake.accepted()[0],
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN1"})
    );
    fake.add_media("1003383421387256", "image/jpeg", vec![1, 2, 3, 4]);
    let info = channel.media_info("1003383421387256").await.unwrap();
    assert_eq!((info.mime_type.as_str(), info.file_size), ("image/jpeg", 4));
    let bytes = channel.download_media(&info.url, 10).await.unwrap();
    assert_eq!(bytes.as_ref(), &[1, 2, 3, 4]);
    assert_eq!(
        channel
            .download_media(&info.url, 3)
            .await
            .unwrap_err()
            .code(),
        "media_too_large"
    );
    let anonymous = reqwest::get(&info.url).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(channel.media_info("nope").await.unwrap_err().code(), "100");
}

#[tokio::test]
async fn media_lookups_read_file_size_as_a_string_or_a_number() {
    let fake = FakeGraph::start().await.unwrap();
    let channel = channel_with(&fake, |c| c);
    fake.add_media("3000000000000001", "image/png", vec![7; 303]);
    fake.add_media_with_numeric_size("3000000000000002", "image/png", vec![7; 42]);
    let documented = channel.media_info("3000000000000001").await.unwrap();
    assert_eq!(
        documented.file_size, 303,
        "Meta's shape: \"file_size\": \"303\""
    );
    let numeric = channel.media_info("3000000000000002").await.unwrap();
    assert_eq!(numeric.file_size, 42);
    let media = |id: &str| {
        let mut media = omnibridge_sdk::Media::new(omnibridge_sdk::MediaKind::Image);
        media.provider_media_id = Some(id.to_owned());
        media
    };
    for (id, len) in [("3000000000000001", 303), ("3000000000000002", 42)] {
        let fetched = channel
            .fetch_media(&media(id), 1_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(fetched.bytes.len(), len, "{id}");
    }
    let refused = channel
        .fetch_media(&media("3000000000000001"), 300)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "media_too_large");
}

#[tokio::test]
async fn a_refused_or_unreadable_media_lookup_is_permanent() {
    let fake = FakeGraph::start().await.unwrap();
    let channel = channel_with(&fake, |c| c);
    fake.fail_media_lookup(
        "4000000000000001",
        Failure::Code {
            status: 400,
            code: 100,
        },
    );
    fake.fail_media_lookup("4000000000000002", Failure::Unreadable);
    fake.fail_media_lookup("4000000000000003", Failure::ServerError);
    let refused = channel.media_info("4000000000000001").await.unwrap_err();
    assert!(!refused.is_retryable(), "{refused}");
    assert_eq!(refused.code(), "100");
    let unreadable = channel.media_info("4000000000000002").await.unwrap_err();
    assert!(!unreadable.is_retryable(), "{unreadable}");
    assert_eq!(
        unreadable.code(),
        omnibridge_whatsapp::outbound::UNREADABLE_MEDIA_INFO
    );
    assert!(unreadable.to_string().contains("url"), "{unreadable}");
    let meta_down = channel.media_info("4000000000000003").await.unwrap_err();
    assert!(meta_down.is_retryable(), "{meta_down}");
    assert_eq!(fake.media_lookups_of("4000000000000001"), 1);
}

#[tokio::test]
async fn network_errors_never_carry_the_signed_download_url() {
    let fake = FakeGraph::start().await.unwrap();
    let channel = channel_with(&fake, |c| c);
    let unreachable = "http://127.0.0.1:9/media-download/1?hash=SIGNED-SECRET";
    let error = channel.download_media(unreachable, 10).await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    let text = format!("{error} {error:?} {:?}", std::error::Error::source(&error));
    assert!(!text.contains("SIGNED-SECRET"), "{text}");
}
