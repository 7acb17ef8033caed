//! The channel's inbound path on real-world shaped mails: thread joined, quoted history
//! stripped, attachments listed and readable, automatic mail flagged (never confirmable),
//! a bounce of our mail → a failed delivery on that mail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use omnibridge_email::channel::EmailChannel;
use omnibridge_email::config::EmailConfig;
use omnibridge_email::inbound::media_kind;
use omnibridge_email::outbound::{Sender, compose};
use omnibridge_email::threading::ThreadIndex;
use omnibridge_sdk::{
    Channel, ChannelContext, ChannelState, Content, DeliveryStatus, EventBody, InboundEvent,
    MediaKind, OutboundId, OutboundMessage,
};
use support::memory_state::MemoryState;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn config() -> EmailConfig {
    serde_json::from_value(serde_json::json!({
        "address": "support@acme.test",
        "display_name": "Acme Support",
        "smtp": {"host": "127.0.0.1", "port": 2525, "tls": "none"},
        "sender_check": {"mode": "none"},
    }))
    .unwrap()
}

fn channel(state: Arc<MemoryState>) -> EmailChannel {
    let config = config();
    let secrets = config.resolve_secrets(&|_| None).unwrap();
    let cx = ChannelContext::new("acme-mail", "http://127.0.0.1:8080").with_state(state);
    EmailChannel::new(config, secrets, &cx).unwrap()
}

fn message(event: &InboundEvent) -> &omnibridge_sdk::Message {
    match &event.body {
        EventBody::MessageReceived(message) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn text(event: &InboundEvent) -> &str {
    match &message(event).content {
        Content::Text { body, .. } => body,
        other => panic!("expected text, got {other:?}"),
    }
}

/// What `send` records for a mail it sent on `thread`: returns our Message-ID.
async fn pretend_sent(state: &Arc<MemoryState>, thread: &str, text: &str) -> String {
    let threads = ThreadIndex::new(
        state.clone() as Arc<dyn ChannelState>,
        "support",
        "acme.test",
    );
    let mut info = threads.thread(thread).await.unwrap().unwrap();
    let msg = OutboundMessage::text(
        OutboundId::new("ob_1"),
        omnibridge_sdk::ConversationRef::new("acme-mail", thread),
        text,
    );
    let sender = Sender {
        from: "Acme Support <support@acme.test>".into(),
        subject_token: true,
    };
    let mail = compose(&msg, thread, &info, &threads, &sender);
    info.remember(&mail.message_id);
    threads.link(&mail.message_id, thread).await.unwrap();
    threads.save_thread(thread, &info).await.unwrap();
    mail.message_id
}

#[tokio::test]
async fn a_new_mail_starts_a_thread_and_a_gmail_reply_joins_it_stripped() {
    let state = Arc::new(MemoryState::default());
    let channel = channel(state.clone());
    let events = channel
        .events_for(fixture("plain_new.eml").as_bytes())
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    let first = &events[0];
    let thread = first.conversation.thread.clone();
    assert_eq!(first.conversation.account, "acme-mail");
    let sender = first.sender.as_ref().unwrap();
    assert_eq!(sender.id.as_deref(), Some("anna.schmidt@example.org"));
    assert_eq!(sender.display_name.as_deref(), Some("Anna Schmidt"));
    assert_eq!(
        message(first).subject.as_deref(),
        Some("Question about order #1042")
    );
    assert!(message(first).automated.is_none());
    let check = message(first).confirmation.as_ref().unwrap();
    assert!(!check.allowed, "a mail to the plain address never pays");
    assert_eq!(check.reason.as_deref(), Some("not_sent_to_payment_address"));

    // The same mail again lands in the same thread with the same id (the bus de-duplicates).
    let again = channel
        .events_for(fixture("plain_new.eml").as_bytes())
        .await
        .unwrap();
    assert_eq!(again[0].conversation, first.conversation);
    assert_eq!(again[0].provider_message_id, first.provider_message_id);

    let ours = pretend_sent(&state, &thread, "Your order ships tomorrow.").await;
    let reply = fixture("gmail_reply.eml").replace("ob.01JABC@mail.acme.test", &ours);
    let events = channel.events_for(reply.as_bytes()).await.unwrap();
    assert_eq!(events.len(), 1);
    let reply = &events[0];
    assert_eq!(reply.conversation.thread, thread, "joined by In-Reply-To");
    let body = text(reply);
    assert!(!body.is_empty());
    assert!(!body.contains("wrote:"), "quoted history stripped: {body}");
    assert!(!body.contains("> "), "{body}");
    let full = message(reply).full_text.as_deref().unwrap();
    assert!(full.contains("wrote:"), "the full body is kept: {full}");
    assert_eq!(
        reply.reply_to.as_ref().map(|id| id.as_str()),
        Some(ours.as_str())
    );
}

#[tokio::test]
async fn an_outlook_reply_joins_by_references_and_lists_its_attachments() {
    let state = Arc::new(MemoryState::default());
    let channel = channel(state.clone());
    let thread = channel
        .events_for(fixture("plain_new.eml").as_bytes())
        .await
        .unwrap()[0]
        .conversation
        .thread
        .clone();
    let ours = pretend_sent(&state, &thread, "Sorry to hear that.").await;
    // In-Reply-To names a mail we never saw; References has ours.
    let reply = fixture("outlook_reply.eml").replace("ob.01JAB9@mail.acme.test", &ours);
    let events = channel.events_for(reply.as_bytes()).await.unwrap();
    assert!(
        events.iter().all(|e| e.conversation.thread == thread),
        "joined by References"
    );
    let first = &events[0];
    assert_eq!(
        first.sender.as_ref().unwrap().display_name.as_deref(),
        Some("Jörg Müller"),
        "RFC 2047 ISO-8859-1 name decoded"
    );
    let subject = message(first).subject.as_deref().unwrap();
    assert!(
        subject.contains("Gehäuse beschädi"),
        "windows-1252 subject decoded: {subject}"
    );
    let media: Vec<_> = events[1..]
        .iter()
        .map(|e| match &message(e).content {
            Content::Media(media) => media.clone(),
            other => panic!("expected media, got {other:?}"),
        })
        .collect();
    assert_eq!(media.len(), 2, "the PDF and the inline image");
    assert!(media.iter().any(
        |m| m.kind == MediaKind::Document && m.mime_type.as_deref() == Some("application/pdf")
    ));
    assert!(media.iter().any(|m| m.kind == MediaKind::Image));
    // Each attachment is its own event (own de-duplication key) and can be fetched.
    let keys: std::collections::HashSet<_> = events.iter().map(|e| e.dedup_key.clone()).collect();
    assert_eq!(keys.len(), events.len());
    for m in &media {
        let fetched = channel
            .fetch_media(m, 10 * 1024 * 1024)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(Some(fetched.bytes.len() as u64), m.size_bytes);
        if m.kind == MediaKind::Document {
            assert!(fetched.bytes.starts_with(b"%PDF"), "decoded PDF bytes");
        }
        let refused = channel.fetch_media(m, 10).await.unwrap_err();
        assert!(
            refused
                .to_string()
                .contains(omnibridge_sdk::MEDIA_TOO_LARGE),
            "{refused}"
        );
    }
    assert_eq!(media_kind("image/png"), MediaKind::Image);
}

#[tokio::test]
async fn auto_replies_and_list_mail_are_recorded_flagged_and_never_confirm() {
    let state = Arc::new(MemoryState::default());
    let channel = channel(state);
    let ooo = channel
        .events_for(fixture("out_of_office.eml").as_bytes())
        .await
        .unwrap();
    assert_eq!(ooo.len(), 1);
    assert_eq!(
        message(&ooo[0]).automated.as_deref(),
        Some("auto_submitted")
    );
    let check = message(&ooo[0]).confirmation.as_ref().unwrap();
    assert!(!check.allowed);
    assert!(check.reason.as_deref().unwrap().starts_with("automated"));

    let list = channel
        .events_for(fixture("mailing_list.eml").as_bytes())
        .await
        .unwrap();
    assert!(message(&list[0]).automated.is_some(), "list mail flagged");
}

#[tokio::test]
async fn a_bounce_of_our_mail_fails_that_mail() {
    let state = Arc::new(MemoryState::default());
    let channel = channel(state.clone());
    let thread = channel
        .events_for(fixture("plain_new.eml").as_bytes())
        .await
        .unwrap()[0]
        .conversation
        .thread
        .clone();
    let ours = pretend_sent(&state, &thread, "Shipped!").await;
    let bounce = fixture("bounce_dsn.eml").replace("ob.01JABC@mail.acme.test", &ours);
    let events = channel.events_for(bounce.as_bytes()).await.unwrap();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.conversation.thread, thread);
    assert_eq!(
        event.provider_message_id.as_ref().map(|id| id.as_str()),
        Some(ours.as_str())
    );
    match &event.body {
        EventBody::DeliveryUpdated(delivery) => {
            assert_eq!(delivery.status, DeliveryStatus::Failed);
            assert_eq!(delivery.code.as_deref(), Some("bounced"));
            assert!(
                delivery.reason.as_deref().unwrap().contains("5."),
                "{delivery:?}"
            );
        }
        other => panic!("expected a delivery, got {other:?}"),
    }
}

#[tokio::test]
async fn garbage_is_malformed_not_a_panic() {
    let channel = channel(Arc::new(MemoryState::default()));
    let error = channel.events_for(b"").await.unwrap_err();
    assert!(
        matches!(error, omnibridge_sdk::ChannelError::Malformed(_)),
        "{error}"
    );
}
