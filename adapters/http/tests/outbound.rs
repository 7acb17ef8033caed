//! Sends against a local receiver standing in for the provider's API: the body arrives as
//! JSON with the text exact, signed, with its headers; answers map to the SDK's errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use omnibridge_http_channel::signature;
use omnibridge_sdk::{
    Button, Channel, ChannelError, ConversationRef, MEDIA_TOO_LARGE, Media, MediaKind, OutboundId,
    OutboundMessage, ProviderMessageId,
};
use serde_json::{Value, json};
use support::{AUTH, Answer, MEDIA, NOW, OUT_SECRET, Receiver, base_config, channel};

fn message(id: &str, text: &str) -> OutboundMessage {
    OutboundMessage::text(
        OutboundId::new(id),
        ConversationRef::new("sms", "+15550123"),
        text,
    )
}

const TRICKY: &str =
    "He said \"hi\" \\ C:\\path\nline two\r\n\ttab \u{0007} <b>&amp;</b> {{json}} 👋🏽 ✓";

#[tokio::test]
async fn the_body_arrives_as_json_signed_with_every_header() {
    let receiver = Receiver::start().await;
    let channel = channel(base_config(&receiver.url("/send")));
    let mut msg = message("ob_01", TRICKY).with_buttons(vec![Button::payload("Yes", "y")]);
    msg.reply_to = Some(ProviderMessageId::new("m-9"));
    let receipt = channel.send(&msg).await.unwrap();
    assert_eq!(
        receipt.provider_message_id,
        Some(ProviderMessageId::new("prov-1"))
    );

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/send");
    let body: Value = serde_json::from_slice(&request.body).expect("the body is JSON");
    assert_eq!(body["text"], TRICKY);
    assert_eq!(body["to"], "+15550123");
    assert_eq!(body["ref"], "ob_01");
    assert_eq!(body["reply_to"], "m-9");
    assert_eq!(
        body["buttons"],
        json!([{"label": "Yes", "payload": "y", "url": null}])
    );
    let header = |name: &str| request.headers.get(name).unwrap().to_str().unwrap();
    assert_eq!(header("content-type"), "application/json");
    assert_eq!(header("authorization"), AUTH);
    assert_eq!(header("idempotency-key"), "ob_01");
    let signed = header("x-omnibridge-signature");
    assert!(signed.starts_with(&format!("t={NOW},v1=")), "{signed}");
    assert!(signature::verify(
        OUT_SECRET.as_bytes(),
        signed,
        &request.body,
        NOW,
        300
    ));
    assert!(!signature::verify(
        b"another-secret",
        signed,
        &request.body,
        NOW,
        300
    ));
}

#[tokio::test]
async fn the_provider_id_is_read_by_pointer_or_is_the_outbound_id() {
    let receiver = Receiver::start().await;
    let channel = channel(base_config(&receiver.url("/send")));
    receiver.answer(Answer::new(201, r#"{"data": {"id": 98765}}"#));
    let receipt = channel.send(&message("ob_a", "x")).await.unwrap();
    assert_eq!(receipt.provider_message_id.unwrap().as_str(), "98765");
    // Nothing at the pointer, or no JSON at all: our outbound id links later statuses.
    receiver.answer(Answer::new(200, r#"{"ok": true}"#));
    let receipt = channel.send(&message("ob_b", "x")).await.unwrap();
    assert_eq!(receipt.provider_message_id.unwrap().as_str(), "ob_b");
    receiver.answer(Answer::new(202, "accepted"));
    let receipt = channel.send(&message("ob_c", "x")).await.unwrap();
    assert_eq!(receipt.provider_message_id.unwrap().as_str(), "ob_c");
    // No pointer configured: the outbound id, without the answer being read.
    let mut config = base_config(&receiver.url("/send"));
    config["outbound"]
        .as_object_mut()
        .unwrap()
        .remove("provider_message_id");
    let plain = support::channel(config);
    let receipt = plain.send(&message("ob_d", "x")).await.unwrap();
    assert_eq!(receipt.provider_message_id.unwrap().as_str(), "ob_d");
}

#[tokio::test]
async fn busy_and_refusing_answers_map_to_typed_errors() {
    let receiver = Receiver::start().await;
    let channel = channel(base_config(&receiver.url("/send")));

    receiver.answer(Answer::new(503, "busy").header("retry-after", "1"));
    match channel.send(&message("ob_1", "x")).await {
        Err(ChannelError::RateLimited { retry_after }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(1)));
        }
        other => panic!("{other:?}"),
    }

    receiver.answer(Answer::new(429, ""));
    assert!(matches!(
        channel.send(&message("ob_2", "x")).await,
        Err(ChannelError::RateLimited { retry_after: None })
    ));

    receiver.answer(Answer::new(500, "oops"));
    let error = channel.send(&message("ob_3", "x")).await.unwrap_err();
    assert!(matches!(error, ChannelError::Transient(_)), "{error:?}");
    assert!(error.is_retryable());

    let long = format!(
        "{{\"error\": \"invalid number\", \"detail\": \"{}\"}}",
        "é".repeat(500)
    );
    receiver.answer(Answer::new(400, long.clone()));
    match channel.send(&message("ob_4", "x")).await {
        Err(ChannelError::Rejected { code, reason }) => {
            assert_eq!(code, "http_400");
            assert!(
                reason.starts_with("{\"error\": \"invalid number\""),
                "{reason}"
            );
            assert_eq!(reason.chars().count(), 256);
            assert!(long.starts_with(&reason));
        }
        other => panic!("{other:?}"),
    }

    // Redirects are not followed: a 302 would turn the POST into a GET.
    receiver.answer(Answer::new(302, "").header("location", "/elsewhere"));
    let error = channel.send(&message("ob_5", "x")).await.unwrap_err();
    assert_eq!(error.code(), "http_302");
    assert_eq!(receiver.received().len(), 5);
}

#[tokio::test]
async fn unreachable_and_silent_providers_are_transient() {
    // A port nobody listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let channel = channel(base_config(&format!("http://{addr}/send")));
    let error = channel.send(&message("ob_1", "x")).await.unwrap_err();
    assert!(matches!(error, ChannelError::Transient(_)), "{error:?}");

    // A provider that takes the connection and never answers: the 1 s timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        loop {
            let (socket, _) = silent.accept().await.unwrap();
            open.push(socket);
        }
    });
    let channel = support::channel(base_config(&format!("http://{addr}/send")));
    let started = std::time::Instant::now();
    let error = channel.send(&message("ob_2", "x")).await.unwrap_err();
    assert!(matches!(error, ChannelError::Transient(_)), "{error:?}");
    assert!(error.to_string().contains("timeout"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));
    held.abort();
}

#[tokio::test]
async fn inbound_media_is_downloaded_within_the_cap() {
    let receiver = Receiver::start().await;
    let channel = channel(base_config(&receiver.url("/send")));
    let mut media = Media::new(MediaKind::Image);
    media.provider_media_id = Some(receiver.url("/media/photo.jpg?sig=abc"));
    let fetched = channel.fetch_media(&media, 1024).await.unwrap().unwrap();
    assert_eq!(fetched.bytes.as_ref(), MEDIA);
    assert_eq!(fetched.mime_type.as_deref(), Some("image/jpeg"));

    // Media hosts redirect to storage: followed for downloads.
    media.provider_media_id = Some(receiver.url("/moved"));
    let fetched = channel.fetch_media(&media, 1024).await.unwrap().unwrap();
    assert_eq!(fetched.bytes.as_ref(), MEDIA);

    match channel.fetch_media(&media, 4).await {
        Err(ChannelError::Rejected { code, .. }) => assert_eq!(code, MEDIA_TOO_LARGE),
        other => panic!("{other:?}"),
    }
    let exact = u64::try_from(MEDIA.len()).unwrap();
    assert!(channel.fetch_media(&media, exact).await.unwrap().is_some());

    media.provider_media_id = Some("file:///etc/passwd".into());
    assert_eq!(
        channel.fetch_media(&media, 1024).await.unwrap_err().code(),
        "invalid_media_url"
    );
    media.provider_media_id = None;
    assert!(channel.fetch_media(&media, 1024).await.unwrap().is_none());
    let downloads = receiver
        .received()
        .iter()
        .filter(|r| r.method == "GET")
        .count();
    assert_eq!(downloads, 7, "each redirect and its target count twice");
}
