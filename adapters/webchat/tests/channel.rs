//! The web-chat channel as the bridge uses it: construction, normalising frames, validating
//! sends, the SDK conformance check, and the embedded widget.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use omnibridge_sdk::testkit::{Conformance, check_conformance};
use omnibridge_sdk::{
    Button, Channel, ConversationRef, DeliveryStatus, EventBody, Formatting, OutboundId,
    OutboundMessage, Receipts, Role,
};
use omnibridge_webchat::{
    ClientFrame, DEMO_HTML, KIND, SessionId, SessionTokens, WIDGET_JS, WebChatChannel,
    WebChatConfig, parse_client_frame,
};

fn channel() -> WebChatChannel {
    let tokens = SessionTokens::new([42u8; 32], Duration::from_secs(3600)).unwrap();
    WebChatChannel::new(WebChatConfig::new("demo-site"), tokens).unwrap()
}

#[test]
fn new_builds_the_channel_of_its_site() {
    let channel = channel();
    assert_eq!(channel.kind().as_str(), KIND);
    assert_eq!(channel.kind(), channel.kind());
    assert_eq!(channel.account(), "demo-site");
    let session = SessionId::generate();
    assert_eq!(
        channel.conversation(&session),
        ConversationRef::new("demo-site", session.as_str())
    );
    let now = chrono::Utc::now();
    let (issued, token) = channel.tokens().issue(now);
    assert_eq!(channel.tokens().verify(&token, now).unwrap(), issued);
}

#[test]
fn message_frames_become_message_received_events() {
    let channel = channel();
    let session = SessionId::generate();
    let frame = parse_client_frame(r#"{"type":"message","text":"hi","client_msg_id":"c-123"}"#);
    let event = channel.normalize_frame(&session, frame.unwrap()).unwrap();
    assert_eq!(
        event.conversation,
        ConversationRef::new("demo-site", session.as_str())
    );
    let sender = event.sender.clone().unwrap();
    assert_eq!(sender.id.as_deref(), Some(session.as_str()));
    assert_eq!(sender.role, Role::Customer);
    assert_eq!(
        event.provider_message_id.as_ref().unwrap().as_str(),
        "c-123"
    );
    assert_eq!(
        event.effective_dedup_key(),
        Some(format!("{session}:c-123").as_str())
    );
    assert_eq!(event.occurred_at, None);
    match &event.body {
        EventBody::MessageReceived(message) => assert_eq!(message.content.text_body(), Some("hi")),
        other => panic!("unexpected body {other:?}"),
    }
    let again = parse_client_frame(r#"{"type":"message","text":"hi","client_msg_id":"c-123"}"#);
    assert_eq!(
        channel.normalize_frame(&session, again.unwrap()),
        Some(event)
    );
}

#[test]
fn action_frames_become_action_invoked_events() {
    let channel = channel();
    let session = SessionId::generate();
    let frame = ClientFrame::Action {
        payload: "pay:pi_1".into(),
        label: Some("Pay".into()),
        client_msg_id: "c-124".into(),
    };
    let event = channel.normalize_frame(&session, frame).unwrap();
    assert_eq!(event.conversation.thread, session.as_str());
    assert_eq!(
        event.provider_message_id.as_ref().unwrap().as_str(),
        "c-124"
    );
    match &event.body {
        EventBody::ActionInvoked(action) => {
            assert_eq!(action.payload, "pay:pi_1");
            assert_eq!(action.label.as_deref(), Some("Pay"));
        }
        other => panic!("unexpected body {other:?}"),
    }
    assert_eq!(channel.normalize_frame(&session, ClientFrame::Ping), None);
}

fn outbound(session: &SessionId) -> OutboundMessage {
    OutboundMessage::text(
        OutboundId::new("ob_1"),
        ConversationRef::new("demo-site", session.as_str()),
        "Pay 5 EUR?\nThanks",
    )
    .with_buttons(vec![
        Button::payload("Yes", "yes"),
        Button::url("Docs", "https://docs.example"),
    ])
}

#[tokio::test]
async fn send_is_sent_with_the_outbound_id_as_provider_id() {
    // Nobody is connected: the bridge delivers from the bus later and reports `delivered`
    // itself, so `send` never waits for a visitor and never fails for an offline one.
    let channel = channel();
    let session = SessionId::generate();
    let receipt = channel.send(&outbound(&session)).await.unwrap();
    assert_eq!(receipt.status, DeliveryStatus::Sent);
    assert_eq!(receipt.provider_message_id.unwrap().as_str(), "ob_1");
    let again = channel.send(&outbound(&session)).await.unwrap();
    assert_eq!(again.status, DeliveryStatus::Sent);
}

#[tokio::test]
async fn send_to_a_bad_thread_or_another_site_is_rejected() {
    let channel = channel();
    let bad = OutboundMessage::text(
        OutboundId::new("ob_2"),
        ConversationRef::new("demo-site", "not-a-session"),
        "x",
    );
    let error = channel.send(&bad).await.unwrap_err();
    assert_eq!(error.code(), "invalid_session");
    assert!(!error.is_retryable());
    let session = SessionId::generate();
    let other = OutboundMessage::text(
        OutboundId::new("ob_3"),
        ConversationRef::new("other", session.as_str()),
        "x",
    );
    assert_eq!(
        channel.send(&other).await.unwrap_err().code(),
        "wrong_account"
    );
}

#[test]
fn capabilities_and_sdk_conformance() {
    let channel = channel();
    assert_eq!(channel.kind().as_str(), "webchat");
    let caps = channel.capabilities();
    assert_eq!(caps.max_text_chars, Some(4096));
    let buttons = caps.buttons.unwrap();
    assert_eq!(
        (
            buttons.max_count,
            buttons.max_label_chars,
            buttons.url_buttons
        ),
        (10, 40, true)
    );
    assert_eq!(caps.formatting, Formatting::Plain);
    assert_eq!(caps.receipts, Receipts::Delivered);
    let breaches = check_conformance(&channel, &[], &Conformance::secret_header(&[]));
    assert!(breaches.is_empty(), "{breaches:?}");
    let tokens = SessionTokens::new([1u8; 32], Duration::from_secs(1)).unwrap();
    let small =
        WebChatChannel::new(WebChatConfig::new("s").with_max_text_chars(0), tokens).unwrap();
    assert_eq!(small.capabilities().max_text_chars, Some(1));
    let tokens = SessionTokens::new([1u8; 32], Duration::from_secs(1)).unwrap();
    let large =
        WebChatChannel::new(WebChatConfig::new("s").with_max_text_chars(100_000), tokens).unwrap();
    assert_eq!(large.capabilities().max_text_chars, Some(4096));
}

#[test]
fn config_reads_from_its_table_and_refuses_unknown_keys() {
    let config: WebChatConfig =
        serde_json::from_str(r#"{"account":"site","max_text_chars":1000}"#).unwrap();
    assert_eq!(config, WebChatConfig::new("site").with_max_text_chars(1000));
    assert!(serde_json::from_str::<WebChatConfig>(r#"{"account":"a","nope":1}"#).is_err());
}

#[test]
fn widget_and_demo_keep_their_hooks() {
    for hook in [
        "ob-chat",
        "ob-messages",
        "ob-input",
        "ob-send",
        "ob-action",
        "data-payload",
        "data-state",
        "omnibridge-chat",
        "localStorage",
        "client_msg_id",
        "after",
    ] {
        assert!(WIDGET_JS.contains(hook), "widget.js lost {hook}");
    }
    assert!(
        !WIDGET_JS.contains("innerHTML"),
        "widget.js must not use innerHTML"
    );
    assert!(DEMO_HTML.contains(r#"<script src="/webchat/widget.js" data-ws="/webchat/ws">"#));
    assert!(DEMO_HTML.contains(r#"id="omnibridge-chat""#));
    assert!(DEMO_HTML.contains("/v1/conversations/"));
}

#[test]
fn widget_is_valid_javascript_and_behaves_when_node_is_available() {
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("node not found; skipping the widget checks");
        return;
    }
    let dir = env!("CARGO_MANIFEST_DIR");
    for args in [
        vec!["--check".to_owned(), format!("{dir}/assets/widget.js")],
        vec![format!("{dir}/tests/widget_behaviour.js")],
    ] {
        let run = std::process::Command::new("node")
            .args(&args)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "node {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
    }
}
