//! Every update type we handle, normalised; the secret token checked before parsing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use omnibridge_sdk::testkit::WebhookFixture;
use omnibridge_sdk::{Channel, ChannelError, Content, EventBody, InboundEvent, MediaKind};
use omnibridge_telegram::fake::FakeBotApi;
use serde_json::{Value, json};
use support::{MemoryState, SECRET, channel};

const HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

fn user() -> Value {
    json!({"id": 777, "is_bot": false, "first_name": "Ada", "last_name": "L", "username": "ada"})
}

fn private() -> Value {
    json!({"id": 777, "type": "private", "first_name": "Ada"})
}

fn message(id: i64, extra: Value) -> Value {
    let mut msg =
        json!({"message_id": id, "date": 1_700_000_000, "chat": private(), "from": user()});
    for (k, v) in extra.as_object().unwrap() {
        msg[k] = v.clone();
    }
    msg
}

async fn receive(update: Value) -> (InboundEvent, FakeBotApi, Arc<MemoryState>) {
    let fake = FakeBotApi::start().await.unwrap();
    let state = Arc::new(MemoryState::default());
    let channel = channel(&fake, state.clone(), |c| c);
    let fixture = WebhookFixture::post(update.to_string()).header(HEADER, SECRET);
    channel.verify(&fixture.request()).unwrap();
    let mut events = channel.receive(&fixture.request()).await.unwrap();
    assert_eq!(events.len(), 1);
    (events.remove(0), fake, state)
}

fn content(event: &InboundEvent) -> &Content {
    match &event.body {
        EventBody::MessageReceived(m) => &m.content,
        other => panic!("not a message: {other:?}"),
    }
}

#[tokio::test]
async fn text_in_a_private_chat() {
    let (event, ..) =
        receive(json!({"update_id": 10, "message": message(5, json!({"text": "hi <there>"}))}))
            .await;
    assert_eq!(content(&event), &Content::text("hi <there>"));
    assert_eq!(event.conversation.account, "acme-tg");
    assert_eq!(event.conversation.thread, "777");
    let sender = event.sender.as_ref().unwrap();
    assert_eq!(sender.id.as_deref(), Some("777"));
    assert_eq!(sender.display_name.as_deref(), Some("Ada L"));
    assert_eq!(
        event.provider_message_id.as_ref().unwrap().as_str(),
        "777:5"
    );
    assert_eq!(event.effective_dedup_key(), Some("update:10"));
    assert!(event.occurred_at.is_some());
}

#[tokio::test]
async fn group_chats_are_the_conversation_and_the_user_the_sender() {
    let group = json!({"id": -100200, "type": "supergroup", "title": "Acme fans"});
    let mut msg = message(6, json!({"text": "hello group"}));
    msg["chat"] = group;
    let (event, ..) = receive(json!({"update_id": 11, "message": msg})).await;
    assert_eq!(event.conversation.thread, "-100200");
    assert_eq!(event.sender.unwrap().id.as_deref(), Some("777"));
    assert_eq!(event.provider_message_id.unwrap().as_str(), "-100200:6");
}

#[tokio::test]
async fn every_media_kind_keeps_file_id_mime_caption_and_size() {
    let cases = [
        (
            json!({"photo": [
            {"file_id": "small", "file_unique_id": "a", "width": 90, "height": 90, "file_size": 100},
            {"file_id": "big", "file_unique_id": "b", "width": 800, "height": 800, "file_size": 9000}],
            "caption": "receipt"}),
            MediaKind::Image,
            "big",
            Some("image/jpeg"),
            Some("receipt"),
            9000,
        ),
        (
            json!({"document": {"file_id": "doc", "file_unique_id": "d", "file_name": "inv.pdf",
            "mime_type": "application/pdf", "file_size": 1234}, "caption": "invoice"}),
            MediaKind::Document,
            "doc",
            Some("application/pdf"),
            Some("invoice"),
            1234,
        ),
        (
            json!({"voice": {"file_id": "v", "file_unique_id": "v", "duration": 3,
            "mime_type": "audio/ogg", "file_size": 300}}),
            MediaKind::Audio,
            "v",
            Some("audio/ogg"),
            None,
            300,
        ),
        (
            json!({"audio": {"file_id": "au", "file_unique_id": "au", "duration": 30,
            "mime_type": "audio/mpeg", "file_size": 3000}}),
            MediaKind::Audio,
            "au",
            Some("audio/mpeg"),
            None,
            3000,
        ),
        (
            json!({"video": {"file_id": "vi", "file_unique_id": "vi", "width": 1, "height": 1,
            "duration": 3, "mime_type": "video/mp4", "file_size": 5000}, "caption": "clip"}),
            MediaKind::Video,
            "vi",
            Some("video/mp4"),
            Some("clip"),
            5000,
        ),
        (
            json!({"sticker": {"file_id": "st", "file_unique_id": "st", "type": "regular",
            "width": 512, "height": 512, "is_animated": false, "is_video": false, "emoji": "👍",
            "file_size": 700}}),
            MediaKind::Sticker,
            "st",
            Some("image/webp"),
            Some("👍"),
            700,
        ),
    ];
    for (index, (extra, kind, id, mime, caption, size)) in cases.into_iter().enumerate() {
        let (event, ..) =
            receive(json!({"update_id": 20 + index, "message": message(7, extra)})).await;
        let Content::Media(media) = content(&event) else {
            panic!("case {index}: not media: {event:?}");
        };
        assert_eq!(media.kind, kind, "case {index}");
        assert_eq!(media.provider_media_id.as_deref(), Some(id), "case {index}");
        assert_eq!(media.mime_type.as_deref(), mime, "case {index}");
        assert_eq!(media.caption.as_deref(), caption, "case {index}");
        assert_eq!(media.size_bytes, Some(size), "case {index}");
    }
}

#[tokio::test]
async fn location_and_contact() {
    let (event, ..) = receive(json!({"update_id": 30, "message": message(8,
        json!({"location": {"latitude": 52.52, "longitude": 13.405}}))}))
    .await;
    let Content::Location(location) = content(&event) else {
        panic!("{event:?}")
    };
    assert_eq!((location.latitude, location.longitude), (52.52, 13.405));
    let (event, ..) = receive(json!({"update_id": 31, "message": message(9,
        json!({"contact": {"phone_number": "+4930123", "first_name": "Bob", "last_name": "B", "user_id": 888}}))})).await;
    let Content::Contact(contact) = content(&event) else {
        panic!("{event:?}")
    };
    assert_eq!(contact.name, "Bob B");
    assert_eq!(contact.phones, ["+4930123"]);
    assert_eq!(contact.user_id.as_deref(), Some("888"));
}

#[tokio::test]
async fn replies_forwards_and_edits_link_to_their_messages() {
    let original = message(3, json!({"text": "first"}));
    let (event, ..) = receive(json!({"update_id": 40, "message": message(4,
        json!({"text": "answer", "reply_to_message": original}))}))
    .await;
    assert_eq!(event.reply_to.unwrap().as_str(), "777:3");
    let (event, ..) = receive(json!({"update_id": 41, "message": message(5, json!({"text": "fwd",
        "forward_origin": {"type": "user", "date": 1_699_000_000, "sender_user": {"id": 9, "is_bot": false, "first_name": "Eve"}}}))})).await;
    let EventBody::MessageReceived(msg) = &event.body else {
        panic!()
    };
    assert!(msg.forwarded);
    let (event, ..) = receive(json!({"update_id": 42, "edited_message": message(3,
        json!({"text": "first (fixed)", "edit_date": 1_700_000_100}))}))
    .await;
    let EventBody::MessageReceived(msg) = &event.body else {
        panic!()
    };
    assert_eq!(msg.content, Content::text("first (fixed)"));
    assert_eq!(msg.edit_of.as_ref().unwrap().as_str(), "777:3");
    assert_eq!(event.effective_dedup_key(), Some("update:42"));
    assert_eq!(event.occurred_at.unwrap().timestamp(), 1_700_000_100);
}

#[tokio::test]
async fn a_button_tap_is_an_action_and_is_always_answered() {
    let mut msg = message(50, json!({"text": "Pay?"}));
    msg["from"] = json!({"id": 123456, "is_bot": true, "first_name": "Fake"});
    msg["reply_markup"] =
        json!({"inline_keyboard": [[{"text": "Pay $12.50", "callback_data": "p:pay:payint_1"}]]});
    let (event, fake, _) = receive(json!({"update_id": 50, "callback_query": {
        "id": "cbq1", "from": user(), "message": msg, "chat_instance": "ci", "data": "p:pay:payint_1"}})).await;
    let EventBody::ActionInvoked(action) = &event.body else {
        panic!("{event:?}")
    };
    assert_eq!(action.payload, "pay:payint_1");
    assert_eq!(action.label.as_deref(), Some("Pay $12.50"));
    assert_eq!(event.conversation.thread, "777");
    assert_eq!(event.reply_to.unwrap().as_str(), "777:50");
    let answers = fake.accepted("answerCallbackQuery");
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0]["callback_query_id"], "cbq1");
    assert!(answers[0]["text"].as_str().unwrap().contains("payment"));
}

#[tokio::test]
async fn blocking_and_unblocking_the_bot_show_on_the_conversation() {
    let change = |status: &str, update_id: u32| {
        json!({"update_id": update_id, "my_chat_member": {
        "chat": private(), "from": user(), "date": 1_700_000_000,
        "old_chat_member": {"status": "member", "user": {"id": 123456, "is_bot": true, "first_name": "Fake"}},
        "new_chat_member": if status == "kicked" {
            json!({"status": "kicked", "until_date": 0, "user": {"id": 123456, "is_bot": true, "first_name": "Fake"}})
        } else {
            json!({"status": "member", "user": {"id": 123456, "is_bot": true, "first_name": "Fake"}})
        }}})
    };
    let (event, _, state) = receive(change("kicked", 60)).await;
    assert_eq!(
        content(&event),
        &Content::ChatMember {
            status: "blocked".into()
        }
    );
    assert!(state.0.lock().unwrap().contains_key("blocked:777"));
    let (event, ..) = receive(change("member", 61)).await;
    assert_eq!(
        content(&event),
        &Content::ChatMember {
            status: "unblocked".into()
        }
    );
}

#[tokio::test]
async fn anything_else_is_unsupported_never_dropped() {
    let (event, ..) = receive(json!({"update_id": 70, "message": message(9,
        json!({"dice": {"emoji": "🎲", "value": 4}}))}))
    .await;
    assert_eq!(content(&event), &Content::unsupported("dice"));
    let (event, ..) = receive(json!({"update_id": 71, "poll_answer": {"poll_id": "p",
        "user": user(), "option_ids": [0]}}))
    .await;
    assert_eq!(content(&event), &Content::unsupported("poll_answer"));
    assert_eq!(event.effective_dedup_key(), Some("update:71"));
}

#[tokio::test]
async fn a_missing_or_wrong_secret_is_refused_before_parsing() {
    let fake = FakeBotApi::start().await.unwrap();
    let channel = channel(&fake, Arc::new(MemoryState::default()), |c| c);
    let garbage = WebhookFixture::post("not json at all");
    assert!(matches!(
        channel.verify(&garbage.request()),
        Err(ChannelError::Unauthorized {
            reason: "missing_secret_token"
        })
    ));
    let wrong = WebhookFixture::post("not json").header(HEADER, "s3cret_token-ABD");
    assert!(matches!(
        channel.verify(&wrong.request()),
        Err(ChannelError::Unauthorized {
            reason: "bad_secret_token"
        })
    ));
    let right = WebhookFixture::post("not json").header(HEADER, SECRET);
    channel.verify(&right.request()).unwrap();
    assert!(matches!(
        channel.receive(&right.request()).await,
        Err(ChannelError::Malformed(_))
    ));
}

#[tokio::test]
async fn the_channel_conforms_to_the_sdk_contract() {
    let fake = FakeBotApi::start().await.unwrap();
    let channel = channel(&fake, Arc::new(MemoryState::default()), |c| c);
    let fixtures: Vec<WebhookFixture> = [
        json!({"update_id": 1, "message": message(1, json!({"text": "hi"}))}),
        json!({"update_id": 2, "edited_message": message(1, json!({"text": "hi!", "edit_date": 1_700_000_001}))}),
        json!({"update_id": 3, "poll_answer": {"poll_id": "p", "user": user(), "option_ids": [0]}}),
        json!({"update_id": 4, "callback_query": {"id": "cbq4", "from": user(),
            "message": message(2, json!({"text": "Pay?"})), "chat_instance": "ci",
            "data": "p:pay:payint_1"}}),
    ]
    .iter()
    .map(|update| WebhookFixture::post(update.to_string()).header(HEADER, SECRET))
    .collect();
    omnibridge_sdk::testkit::assert_conforms(
        &channel,
        &fixtures,
        &omnibridge_sdk::testkit::Conformance::secret_header(&[HEADER]),
    );
    // Through `receive` too (what the bridge calls: it completes button taps from state).
    omnibridge_sdk::testkit::assert_conforms_async(
        &channel,
        &fixtures,
        &omnibridge_sdk::testkit::Conformance::secret_header(&[HEADER]),
    )
    .await;
}

/// The channel as the bridge builds it: through its factory, from a `[[channels]]` table,
/// with every secret named when unset.
#[tokio::test]
async fn the_factory_builds_from_its_table_and_names_each_secret() {
    let fake = FakeBotApi::start().await.unwrap();
    let table = json!({
        "id": "acme-tg",
        "type": "telegram",
        "bot_token_env": "ACME_TG_BOT_TOKEN",
        "webhook_secret_env": "ACME_TG_WEBHOOK_SECRET",
        "api_base": fake.base_url(),
    });
    let channel = omnibridge_sdk::testkit::assert_factory_builds(
        &omnibridge_telegram::TelegramFactory,
        table,
        &[
            ("ACME_TG_BOT_TOKEN", omnibridge_telegram::fake::FAKE_TOKEN),
            ("ACME_TG_WEBHOOK_SECRET", SECRET),
        ],
    );
    let fixture = WebhookFixture::post(
        json!({"update_id": 1, "message": message(1, json!({"text": "hi"}))}).to_string(),
    )
    .header(HEADER, SECRET);
    omnibridge_sdk::testkit::assert_conforms_async(
        channel.as_ref(),
        &[fixture],
        &omnibridge_sdk::testkit::Conformance::secret_header(&[HEADER]),
    )
    .await;
}
