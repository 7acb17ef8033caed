//! Sends against the fake Bot API: escaping accepted by its entity checks, splitting, long
//! button payloads round-tripping through a tap, 429 and 403 mapped, media download capped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use omnibridge_sdk::testkit::WebhookFixture;
use omnibridge_sdk::{
    Button, Channel, ChannelError, ConversationRef, EventBody, Media, MediaKind, OutboundId,
    OutboundMessage, ProviderMessageId,
};
use omnibridge_telegram::errors::BOT_BLOCKED;
use omnibridge_telegram::fake::{Failure, FakeBotApi};
use omnibridge_telegram::outbound::render::ParseMode;
use serde_json::json;
use support::{MemoryState, SECRET, channel};

const SPECIALS: &str = "_*[]()~`>#+-=|{}.!\\ & <b> &amp;";

fn message(text: &str) -> OutboundMessage {
    OutboundMessage::text(
        OutboundId::new("ob_1"),
        ConversationRef::new("acme-tg", "777"),
        text,
    )
}

#[tokio::test]
async fn special_characters_and_long_texts_pass_the_entity_checks_in_both_modes() {
    for mode in [ParseMode::MarkdownV2, ParseMode::Html] {
        let fake = FakeBotApi::start().await.unwrap();
        let channel = channel(&fake, Arc::new(MemoryState::default()), |mut c| {
            c.parse_mode = mode;
            c
        });
        channel.send(&message(SPECIALS)).await.unwrap();
        let long: String = SPECIALS.chars().cycle().take(5000).collect();
        let receipt = channel.send(&message(&long)).await.unwrap();
        assert!(
            receipt
                .provider_message_id
                .unwrap()
                .as_str()
                .starts_with("777:")
        );
        let sent = fake.accepted("sendMessage");
        assert_eq!(
            sent.len(),
            3,
            "{mode:?}: one short, two parts: {:#?}",
            fake.calls()
        );
        let expected = if mode == ParseMode::Html {
            "HTML"
        } else {
            "MarkdownV2"
        };
        assert!(sent.iter().all(|m| m["parse_mode"] == expected));
    }
}

#[tokio::test]
async fn a_payload_over_64_bytes_round_trips_through_a_tap() {
    let fake = FakeBotApi::start().await.unwrap();
    let state = Arc::new(MemoryState::default());
    let channel = channel(&fake, state, |c| c);
    let long = format!("order:{}", "é".repeat(60));
    let msg = message("Choose").with_buttons(vec![
        Button::payload("Long", long.clone()),
        Button::url("Site", "https://acme.test/"),
    ]);
    channel.send(&msg).await.unwrap();
    let sent = &fake.accepted("sendMessage")[0];
    let keyboard = &sent["reply_markup"]["inline_keyboard"];
    let data = keyboard[0][0]["callback_data"].as_str().unwrap().to_owned();
    assert!(data.len() <= 64, "{data}");
    assert_eq!(keyboard[1][0]["url"], "https://acme.test/");
    let tap = json!({"update_id": 5, "callback_query": {"id": "q1",
        "from": {"id": 777, "is_bot": false, "first_name": "Ada"}, "chat_instance": "c",
        "message": {"message_id": 1001, "date": 1, "chat": {"id": 777, "type": "private"},
            "text": "Choose", "reply_markup": sent["reply_markup"]},
        "data": data}});
    let fixture =
        WebhookFixture::post(tap.to_string()).header("X-Telegram-Bot-Api-Secret-Token", SECRET);
    let events = channel.receive(&fixture.request()).await.unwrap();
    let EventBody::ActionInvoked(action) = &events[0].body else {
        panic!("{events:?}")
    };
    assert_eq!(action.payload, long);
    assert_eq!(action.label.as_deref(), Some("Long"));
}

#[tokio::test]
async fn rate_limits_carry_telegrams_retry_after() {
    let fake = FakeBotApi::start().await.unwrap();
    let channel = channel(&fake, Arc::new(MemoryState::default()), |c| c);
    fake.fail_next(Failure::RetryAfter(2));
    let error = channel.send(&message("hi")).await.unwrap_err();
    assert!(error.is_retryable());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
    channel.send(&message("hi")).await.unwrap();
}

#[tokio::test]
async fn a_block_is_permanent_and_later_sends_fail_at_once() {
    let fake = FakeBotApi::start().await.unwrap();
    let channel = channel(&fake, Arc::new(MemoryState::default()), |c| c);
    fake.fail_next(Failure::Blocked);
    let error = channel.send(&message("hi")).await.unwrap_err();
    assert!(!error.is_retryable());
    assert_eq!(error.code(), BOT_BLOCKED);
    let calls = fake.calls().len();
    let again = channel.send(&message("still there?")).await.unwrap_err();
    assert_eq!(again.code(), BOT_BLOCKED);
    assert_eq!(fake.calls().len(), calls, "no call reached Telegram");
    let other = OutboundMessage::text(
        OutboundId::new("o2"),
        ConversationRef::new("acme-tg", "778"),
        "hi",
    );
    channel.send(&other).await.unwrap();
}

#[tokio::test]
async fn other_refusals_are_typed_and_replies_quote() {
    let fake = FakeBotApi::start().await.unwrap();
    let channel = channel(&fake, Arc::new(MemoryState::default()), |c| c);
    fake.fail_next(Failure::Other {
        code: 400,
        description: "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message".into(),
    });
    let error = channel.send(&message("hi")).await.unwrap_err();
    assert!(
        matches!(error, ChannelError::Rejected { ref code, .. } if code == "message_not_modified"),
        "{error:?}"
    );
    let mut reply = message("answer");
    reply.reply_to = Some(ProviderMessageId::new("777:42"));
    channel.send(&reply).await.unwrap();
    let sent = fake.accepted("sendMessage");
    assert_eq!(sent[0]["reply_parameters"]["message_id"], 42);
}

#[tokio::test]
async fn media_downloads_are_capped_by_file_size_first() {
    let fake = FakeBotApi::start().await.unwrap();
    let channel = channel(&fake, Arc::new(MemoryState::default()), |c| c);
    fake.add_file("doc1", b"%PDF-1.7 hello");
    let mut media = Media::new(MediaKind::Document);
    media.provider_media_id = Some("doc1".into());
    media.mime_type = Some("application/pdf".into());
    let fetched = channel.fetch_media(&media, 1024).await.unwrap().unwrap();
    assert_eq!(&fetched.bytes[..], b"%PDF-1.7 hello");
    assert_eq!(fetched.mime_type.as_deref(), Some("application/pdf"));
    assert_eq!(fake.downloads(), 1);
    let error = channel.fetch_media(&media, 4).await.unwrap_err();
    assert_eq!(error.code(), omnibridge_sdk::MEDIA_TOO_LARGE);
    assert_eq!(
        fake.downloads(),
        1,
        "getFile's file_size refused it before downloading"
    );
    assert!(
        !error
            .to_string()
            .contains(omnibridge_telegram::fake::FAKE_TOKEN)
    );
}

#[tokio::test]
async fn stored_files_go_up_by_their_kind_after_the_text() {
    let fake = FakeBotApi::start().await.unwrap();
    let channel = channel(&fake, Arc::new(MemoryState::default()), |c| c);
    let mut msg = message("Your documents");
    for (id, mime, name) in [
        ("m1", "image/png", "damage.png"),
        ("m2", "application/pdf", "invoice.pdf"),
    ] {
        let mut attachment = omnibridge_sdk::OutboundAttachment::new(id);
        attachment.mime_type = Some(mime.into());
        attachment.filename = Some(name.into());
        attachment.bytes = Some(bytes::Bytes::from_static(b"0123456789"));
        msg.attachments.push(attachment);
    }
    channel.send(&msg).await.unwrap();
    let methods: Vec<String> = fake.calls().into_iter().map(|c| c.method).collect();
    assert_eq!(methods, ["sendMessage", "sendPhoto", "sendDocument"]);
    let document = &fake.accepted("sendDocument")[0];
    assert_eq!(document["document"]["file_name"], "invoice.pdf");
    assert_eq!(document["document"]["size"], 10);
    msg.attachments[0].bytes = None;
    let error = channel.send(&msg).await.unwrap_err();
    assert_eq!(error.code(), "attachment_missing");
}
